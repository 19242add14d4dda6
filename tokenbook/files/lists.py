"""Lists someone else made — SSC's delivery slips, returned bank forms, IB-card lists, carrier
tracking exports, vault scans — read as tables whose rows remember where they stood.

Every intake command reads its file here, checks every line with its location, and applies all or
nothing (see `runs.run_intake`). A list is a CSV (UTF-8, with or without BOM, or cp932 as Excel
writes it in Japan), the first sheet of a workbook, or — for scanners — plain text with one value a
line. Problems point at `slip.csv:12` for text files and `form.xlsx!申込!F7` for workbooks. A file
that is not a table at all raises `UnusableInput` (exit 2).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..problems import Problem, problem
from .sheetio import Table, UnusableInput, header_text, open_workbook, table_from_rows

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".dat", "")
MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class ListFile:
    """One list as read: `table.row_numbers` are line numbers (CSV) or sheet rows (workbook)."""

    path: Path
    table: Table
    sheet: str | None = None  # the workbook sheet the list was on; None for text files

    @property
    def where(self) -> str:
        """How problems name the file: `slip.csv` or `form.xlsx!申込`."""
        return f"{self.path.name}!{self.sheet}" if self.sheet else self.path.name

    def at(self, code: str, index: int, header: str | None, value: Any = "", **params: Any) -> Problem:
        """A problem at data row `index` (0-based) and column `header`: `slip.csv:12` or `form.xlsx!申込!F7`."""
        line = self.table.row_numbers[index]
        letter = self.table.letter(header) if header and self.sheet else None
        return problem(code, self.where, line, header, letter, value, **params)

    def whole(self, code: str, value: Any = "", **params: Any) -> Problem:
        """A problem of the list as a whole (a stated total, a form of another bank)."""
        return problem(code, self.where, None, None, None, value, **params)

    def column(self, header: str) -> list[Any]:
        return self.table.column(header)

    def __len__(self) -> int:
        return len(self.table.rows)


def read_list(path: Path, required: Iterable[str] = (), sheet: str | None = None) -> ListFile:
    """The list in `path`, with `required` headers in its first row (any column order).

    A workbook is read from `sheet` when given and present, else from its first sheet.
    """
    path = Path(path)
    required = list(required)
    if path.suffix.lower() in WORKBOOK_SUFFIXES or _is_zip(path):
        return _read_workbook(path, required, sheet)
    text = read_text(path)
    rows = list(csv.reader(io.StringIO(text, newline=""), _dialect(text)))
    if not rows or not any(header_text(v) for v in rows[0]):
        raise UnusableInput(f"表の形になっていません（1行目に見出しがありません）: {path.name}")
    return ListFile(path, _table(path.name, rows, required))


def read_lines(path: Path) -> ListFile:
    """A scanner's file: one value a line, no header. The single column is headed `値`."""
    path = Path(path)
    text = read_text(path)
    lines = text.splitlines()
    table = Table(path.name, {"値": 0})
    for number, line in enumerate(lines, start=1):
        value = line.strip().strip('"')
        if value:
            table.rows.append([value])
            table.row_numbers.append(number)
    return ListFile(path, table)


def read_text(path: Path) -> str:
    """A text file as UTF-8 (BOM allowed) or cp932; anything else is unusable input."""
    _exists(path)
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise UnusableInput(f"ファイルが大きすぎます（{len(data) // 1024 // 1024} MB）: {path.name}")
    if b"\x00" in data[:4096]:
        raise UnusableInput(f"文字のファイル（CSV）ではありません: {path.name}")
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnusableInput(f"文字コードを読めません（UTF-8 か Shift_JIS（cp932）で保存してください）: {path.name}")


def _exists(path: Path) -> None:
    if not path.exists():
        raise UnusableInput(f"ファイルがありません: {path}")
    if path.is_dir():
        raise UnusableInput(f"フォルダです。ファイルを指定してください: {path}")


def _is_zip(path: Path) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


def _dialect(text: str) -> type[csv.Dialect]:
    first = text.split("\n", 1)[0]
    return csv.excel_tab if first.count("\t") > first.count(",") else csv.excel


def _table(name: str, rows: Sequence[Sequence[Any]], required: list[str]) -> Table:
    try:
        return table_from_rows(name, [list(r) for r in rows], required)
    except UnusableInput as exc:
        raise UnusableInput(str(exc).replace(f"シート「{name}」の", f"{name} の")) from None


def _read_workbook(path: Path, required: list[str], sheet: str | None) -> ListFile:
    book = open_workbook(path)
    try:
        names = list(book.sheet_names)
        if not names:
            raise UnusableInput(f"シートがありません: {path.name}")
        chosen = sheet if sheet in names else names[0]
        grid = book.get_sheet_by_name(chosen).to_python(skip_empty_area=False)
    except UnusableInput:
        raise
    except Exception as exc:
        raise UnusableInput(f"シートを読めません（壊れている可能性があります）: {path.name}: {type(exc).__name__}") from None
    finally:
        book.close()
    if not grid or not any(header_text(v) for v in grid[0]):
        raise UnusableInput(f"表の形になっていません（1行目に見出しがありません）: {path.name}!{chosen}")
    try:
        table = table_from_rows(chosen, grid, required)
    except UnusableInput as exc:
        raise UnusableInput(f"{path.name}: {exc}") from None
    return ListFile(path, table, chosen)


# --- issue 10: a form's own facts (key / value pairs on a sheet of its own) ------------------------

def read_pairs(path: Path, sheet: str) -> dict[str, str]:
    """Column A -> column B of `sheet` in a workbook; {} when the file is a workbook without that
    sheet or not a workbook at all (a CSV). A damaged workbook is unusable input."""
    path = Path(path)
    _exists(path)
    if not (path.suffix.lower() in WORKBOOK_SUFFIXES or _is_zip(path)):
        return {}
    book = open_workbook(path)
    try:
        if sheet not in book.sheet_names:
            return {}
        grid = book.get_sheet_by_name(sheet).to_python()
    except Exception as exc:
        raise UnusableInput(f"シートを読めません（壊れている可能性があります）: {path.name}: {type(exc).__name__}") from None
    finally:
        book.close()
    return {header_text(r[0]): header_text(r[1]) for r in grid if len(r) >= 2 and header_text(r[0])}
