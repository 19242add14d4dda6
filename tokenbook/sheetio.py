"""Reading a workbook file headless: the only module that opens a ledger file for reading.

python-calamine reads whole sheets column-oriented in Rust; we keep raw cell values and where
they stood (row numbers, column letters) and leave normalising to `parse`. Anything that makes
the file unusable (not a workbook, encrypted, truncated, a missing sheet or header) raises
`UnusableInput` with a Japanese message; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import python_calamine as calamine

from . import schema

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class UnusableInput(Exception):
    """The input cannot be used at all (exit code 2). The message is for a clerk, in Japanese."""


@dataclass(slots=True)
class Table:
    """One sheet as read: header positions and data rows (row 2 onwards) with their row numbers."""

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
        if all(_blank(v) for v in row):
            continue
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


def open_grids(path: Path, sheets: Iterable[str]) -> dict[str, list[list[Any]]]:
    """Raw grids of the named sheets; UnusableInput for a file that is not a readable workbook."""
    path = Path(path)
    _check_container(path)
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for damaged files
        raise UnusableInput(f"ブックを開けません（壊れている可能性があります）: {path.name}: {type(exc).__name__}") from None
    names = {header_text(n): n for n in book.sheet_names}
    wanted = list(sheets)
    missing = [s for s in wanted if s not in names]
    if missing:
        raise UnusableInput(
            f"tokenbook のブックではありません。シート{'、'.join('「' + s + '」' for s in missing)}がありません: {path.name}"
        )
    grids = {}
    for sheet in wanted:
        try:
            grids[sheet] = book.get_sheet_by_name(names[sheet]).to_python(skip_empty_area=False)
        except Exception as exc:
            raise UnusableInput(f"シート「{sheet}」を読めません（壊れている可能性があります）: {type(exc).__name__}") from None
    book.close()
    return grids


def read_tables(path: Path) -> dict[str, Table]:
    """Every table sheet of a tokenbook workbook, strict about sheets and headers."""
    grids = open_grids(path, schema.TABLES)
    return {
        sheet: table_from_rows(sheet, grids[sheet], [c.header for c in columns])
        for sheet, columns in schema.TABLES.items()
    }
