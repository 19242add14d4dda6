"""Reading a workbook file headless: the only module that opens a ledger file for reading.

python-calamine reads whole sheets column-oriented in Rust; we keep raw cell values and where
they stood (row numbers, column letters) and leave normalising to `parse`. Anything that makes
the file unusable (not a workbook, encrypted, truncated, a missing sheet or header) raises
`UnusableInput` with a Japanese message; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import unicodedata
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import python_calamine as calamine

from .. import schema

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class UnusableInput(Exception):
    """The input cannot be used at all (exit code 2). The message is for a clerk, in Japanese."""


@dataclass(slots=True)
class Table:
    """One sheet as read: header positions, data rows (row 2 onwards, blank rows dropped) with their
    row numbers, and the same data column by column."""

    sheet: str
    headers: dict[str, int]
    rows: list[list[Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)

    def letter(self, header: str) -> str | None:
        index = self.headers.get(header)
        return None if index is None else column_letter(index)

    def column(self, header: str) -> list[Any]:
        """The raw values of one column, aligned with `row_numbers` (None where the row is short)."""
        index = self.headers.get(header)
        if index is None:
            return [None] * len(self.rows)
        if min(map(len, self.rows), default=0) > index:  # every row reaches it: the fast path
            return [r[index] for r in self.rows]
        return [r[index] if index < len(r) else None for r in self.rows]


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def header_text(value: Any) -> str:
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, str) and not value.strip())


def table_from_rows(sheet: str, grid: list[list[Any]], required: Iterable[str]) -> Table:
    """A table from a sheet's grid (row 1 = headers); strict about missing or repeated headers."""
    header_row = grid[0] if grid else []
    headers: dict[str, int] = {}
    repeated = []
    for index, value in enumerate(header_row):
        text = header_text(value)
        if not text:
            continue
        if text in headers:
            repeated.append(text)
            continue
        headers[text] = index
    required = list(required)
    clash = [h for h in repeated if h in required]
    if clash:
        raise UnusableInput(f"シート「{sheet}」の見出し「{clash[0]}」が2つあります")
    missing = [h for h in required if h not in headers]
    if missing:
        raise UnusableInput(f"シート「{sheet}」の1行目に見出し{'、'.join('「' + h + '」' for h in missing)}がありません")
    table = Table(sheet, headers)
    last = len(grid)
    while last > 1 and all(_blank(v) for v in grid[last - 1]):
        last -= 1
    for offset in range(1, last):
        row = grid[offset]
        if not any(row) and all(_blank(v) for v in row):
            continue  # any() first: a C-level pass that settles almost every row
        table.rows.append(row)
        table.row_numbers.append(offset + 1)
    return table


def _check_container(path: Path) -> None:
    if not path.exists():
        raise UnusableInput(f"ファイルがありません: {path}")
    if path.is_dir():
        raise UnusableInput(f"フォルダです。ブックのファイルを指定してください: {path}")
    with path.open("rb") as fh:
        head = fh.read(8)
    if head == _OLE_MAGIC:
        raise UnusableInput(
            f"パスワードで暗号化されたブックか、古い形式（.xls）のファイルです。"
            f"暗号化を外して .xlsm / .xlsx で保存してください: {path.name}"
        )
    if not zipfile.is_zipfile(path):
        raise UnusableInput(f"Excelブック（.xlsm / .xlsx）ではないか、ファイルが途中で切れています: {path.name}")


def _sheet_names(path: Path, wanted: Iterable[str], optional: Iterable[str] = ()) -> dict[str, str]:
    """Contract sheet name -> the name as stored (the `optional` ones only when present);
    UnusableInput if the file or a wanted sheet is missing."""
    path = Path(path)
    _check_container(path)
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for damaged files
        raise UnusableInput(f"ブックを開けません（壊れている可能性があります）: {path.name}: {type(exc).__name__}") from None
    try:
        names = {header_text(n): n for n in book.sheet_names}
    finally:
        book.close()
    missing = [s for s in wanted if s not in names]
    if missing:
        raise UnusableInput(
            f"tokenbook のブックではありません。シート{'、'.join('「' + s + '」' for s in missing)}がありません: {path.name}"
        )
    return {s: names[s] for s in (*wanted, *(o for o in optional if o in names))}


def read_grid(path: Path, stored_name: str, sheet: str) -> list[list[Any]]:
    """One sheet's cells as a list of rows (row 1 first); UnusableInput if it cannot be parsed."""
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
        try:
            return book.get_sheet_by_name(stored_name).to_python(skip_empty_area=False)
        finally:
            book.close()
    except Exception as exc:
        raise UnusableInput(f"シート「{sheet}」を読めません（壊れている可能性があります）: {type(exc).__name__}") from None


class Tables(Mapping[str, Table]):
    """The table sheets of one workbook, read by two background threads (calamine parses in Rust
    and lets other threads run), so a caller can work on one sheet while the next is read.
    Asking for a sheet waits for it and raises its UnusableInput, if any."""

    # Small sheets first (settings are needed before anything else), then the largest.
    ORDER = (schema.SETTINGS, schema.BANKS, schema.HOLIDAYS, schema.TOKENS, schema.JOURNAL, schema.REQUESTS,
             schema.DISPATCH)

    def __init__(self, path: Path) -> None:
        path = Path(path)
        names = _sheet_names(path, schema.TABLES, schema.OPTIONAL_TABLES)
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tokenbook-read")
        order = (*self.ORDER, *(s for s in schema.OPTIONAL_TABLES if s in names))
        self._futures: dict[str, Future[Table]] = {
            sheet: pool.submit(self._table, path, names[sheet], sheet) for sheet in order
        }
        pool.shutdown(wait=False)

    @staticmethod
    def _table(path: Path, stored_name: str, sheet: str) -> Table:
        headers = [c.header for c in schema.columns_of(sheet) if c.required or sheet in schema.TABLES]
        return table_from_rows(sheet, read_grid(path, stored_name, sheet), headers)

    def __getitem__(self, sheet: str) -> Table:
        return self._futures[sheet].result()

    def __iter__(self) -> Iterator[str]:
        return iter(self._futures)

    def __len__(self) -> int:
        return len(self._futures)


def read_tables(path: Path) -> Tables:
    """Every table sheet of a tokenbook workbook, strict about sheets and headers."""
    return Tables(path)
