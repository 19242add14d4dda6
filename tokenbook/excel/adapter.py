"""The live Excel workbook through xlwings: the only module that imports xlwings (design §10).

Every button's VBA Sub is one line, `RunPython "import tokenbook.excel as x; x.button('check')"`;
xlwings starts a fresh interpreter per click and `xw.Book.caller()` finds the book. `XlwingsBook`
adapts it to the `buttons.Book` port: whole sheets are read in one call, changes are written as
contiguous blocks, screen updating is off while writing, and messages are Excel dialogs.
Not run here (no Excel on Linux): `buttons` is tested through the same port with an in-memory book.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
from pathlib import Path
from typing import Any

from .buttons import Book, press

FORMULA_START = ("=", "+", "-", "@")


def _log_to_file() -> None:
    from ..logs import file_handler

    logging.getLogger("tokenbook").addHandler(file_handler("tokenbook-excel.log"))
    logging.getLogger("tokenbook").setLevel(logging.INFO)


def button(name: str) -> None:
    """What every button calls. Never raises into Excel: xlwings would show a traceback."""
    _log_to_file()
    try:
        import xlwings as xw

        book = XlwingsBook(xw.Book.caller())
    except Exception:  # not started from Excel, or xlwings cannot reach it
        logging.getLogger("tokenbook").exception("could not reach the calling workbook")
        return
    app = book.workbook.app
    try:
        app.screen_updating = False
        press(name, book, dt.datetime.now().replace(microsecond=0), _operator())
    finally:
        app.screen_updating = True
        app.status_bar = False


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "excel"


def _cell_value(value: Any) -> Any:
    """Text that Excel would take for a formula is written as text (a leading apostrophe)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class XlwingsBook(Book):
    def __init__(self, workbook: Any) -> None:
        self.workbook = workbook
        self.path = Path(workbook.fullname)

    def sheet_names(self) -> list[str]:
        return [sheet.name for sheet in self.workbook.sheets]

    def values(self, sheet: str) -> list[list[Any]]:
        ws = self.workbook.sheets[sheet]
        last = ws.used_range.last_cell
        return ws.range((1, 1), (max(last.row, 1), max(last.column, 1))).options(ndim=2).value

    def write(self, sheet: str, cells: dict[int, dict[int, Any]]) -> None:
        ws = self.workbook.sheets[sheet]
        for row, first, values in _runs(cells):
            ws.range((row, first)).value = [[_cell_value(v) for v in values]]

    def clear_rows(self, sheet: str, first_row: int) -> None:
        ws = self.workbook.sheets[sheet]
        last = ws.used_range.last_cell
        if last.row >= first_row:
            ws.range((first_row, 1), (last.row, max(last.column, 1))).clear()  # values, links and formats

    def links(self, sheet: str, links: list[tuple[str, str]]) -> None:
        ws = self.workbook.sheets[sheet]
        for cell, location in links:  # "#…" is a place inside this workbook, on Windows and macOS alike
            target = ws.range(cell)
            target.add_hyperlink(f"#{location}", str(target.value or cell))

    def highlight(self, sheet: str, cells: list[str], color: str | None) -> None:
        ws = self.workbook.sheets[sheet]
        for start in range(0, len(cells), 30):  # a union address must stay under 255 characters
            ws.range(",".join(cells[start:start + 30])).color = color

    def ask(self, message: str) -> bool:
        return self.workbook.app.alert(message, title="tokenbook", buttons="yes_no", mode="info") == "yes"

    def choose_files(self, title: str, kinds: str) -> list[Path]:
        """Excel's own file dialog (Application.GetOpenFilename, Windows); `kinds` is its filter text,
        e.g. "一覧 (*.csv;*.xlsx),*.csv;*.xlsx". Returns [] when the clerk cancels."""
        chosen = self.workbook.app.api.GetOpenFilename(kinds, 1, title, None, True)
        if not chosen:  # False when cancelled
            return []
        return [Path(str(p)) for p in (chosen if isinstance(chosen, (list, tuple)) else [chosen])]

    def tell(self, message: str, error: bool = False) -> None:
        self.workbook.app.alert(message, title="tokenbook", mode="critical" if error else "info")

    def status(self, text: str | None) -> None:
        self.workbook.app.status_bar = text if text else False


def _runs(cells: dict[int, dict[int, Any]]) -> list[tuple[int, int, list[Any]]]:
    """Each row's cells as runs of adjacent columns: one range write per run.

    >>> _runs({3: {1: "a", 2: "b", 5: "c"}})
    [(3, 1, ['a', 'b']), (3, 5, ['c'])]
    """
    runs = []
    for row in sorted(cells):
        columns = sorted(cells[row])
        start = previous = None
        values: list[Any] = []
        for col in columns:
            if previous is not None and col == previous + 1:
                values.append(cells[row][col])
            else:
                if values:
                    runs.append((row, start, values))
                start, values = col, [cells[row][col]]
            previous = col
        if values:
            runs.append((row, start, values))
    return runs
