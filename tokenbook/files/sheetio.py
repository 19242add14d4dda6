"""Reading a workbook file headless: the only module that opens a ledger file for reading.

python-calamine reads whole sheets column-oriented in Rust; we keep raw cell values and where
they stood (row numbers, column letters) and leave normalising to `parse`. Anything that makes
the file unusable (not a workbook, encrypted, truncated, a missing sheet or header) raises
`UnusableInput` with a Japanese message; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import hashlib
import posixpath
import unicodedata
import zipfile
from xml.etree import ElementTree
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
    # Read from a file for one parse (`Tables`): its cells may be let go once parsed (`release`).
    transient: bool = field(default=False, compare=False)
    _columns: tuple[tuple[Any, ...], ...] | None = field(default=None, repr=False, compare=False)
    _height: int = field(default=-1, repr=False, compare=False)
    _released: bool = field(default=False, repr=False, compare=False)
    _columnar: bool = field(default=False, repr=False, compare=False)  # read column-wise: no rows kept
    fingerprint: str | None = field(default=None, compare=False)  # of a FINGERPRINTED sheet, as read

    def letter(self, header: str) -> str | None:
        index = self.headers.get(header)
        return None if index is None else column_letter(index)

    def column(self, header: str) -> list[Any]:
        """The raw values of one column, aligned with `row_numbers` (None where the row is short)."""
        if self._released:
            raise RuntimeError(f"sheet {self.sheet}: its cells were released after parsing")
        index = self.headers.get(header)
        if index is None:
            return [None] * len(self.row_numbers)
        columns = self._transposed()
        if index < len(columns):
            return list(columns[index])
        return [None] * len(self.row_numbers)

    def _transposed(self) -> tuple[tuple[Any, ...], ...]:
        """Every column at once (one C-level pass over the rows), kept while the rows are unchanged."""
        if self._columnar:
            return self._columns
        if self._columns is None or self._height != len(self.rows):
            rows = self.rows
            width = max(map(len, rows), default=0)
            if min(map(len, rows), default=0) != width:  # short rows: padded with None
                rows = [r if len(r) == width else [*r, *([None] * (width - len(r)))] for r in rows]
            self._columns = tuple(zip(*rows)) if rows else ()
            self._height = len(self.rows)
        return self._columns

    def release(self) -> None:
        """Let a transient table's cells go (its layout and row numbers stay): the parsed rows are
        all that is kept of a sheet of a million cells."""
        if self.transient:
            self.rows = []
            self._columns = None
            self._released = True


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
    table = Table(sheet, header_positions(sheet, grid[0] if grid else [], required))
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


def table_from_columns(sheet: str, read: Any, required: Iterable[str]) -> Table:
    """A table from a sheet read column-wise (`arrowread.Columns`), as `table_from_rows` makes it
    from the same sheet's grid."""
    table = Table(sheet, header_positions(sheet, read.header_row, required), row_numbers=read.row_numbers)
    table._columns, table._columnar = tuple(read.columns), True
    return table


def header_positions(sheet: str, header_row: list[Any], required: Iterable[str]) -> dict[str, int]:
    """Header text -> column index, from row 1's cells; UnusableInput for a required header missing
    or repeated (a repeated other header: the first counts)."""
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
    return headers


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
    missing = missing_parts(path)
    if missing:
        raise UnusableInput(f"ブックの中身が欠けていて Excel で開けません（{missing[0]} がありません）: {path.name}")


_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def missing_parts(path: Path) -> list[str]:
    """The parts Excel (and our package patcher) needs that the package lacks: the content types,
    the package relationships, the workbook, its relationships and styles, and every sheet the
    workbook names — each present and given a content type. calamine reads some packages Excel
    refuses, so this is checked before anything is read, and so before anything is written."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            found = [n for n in ("[Content_Types].xml", "_rels/.rels") if n not in names]
            if found:
                return found
            types = ElementTree.fromstring(archive.read("[Content_Types].xml"))
            overrides = {e.get("PartName", "").lstrip("/") for e in types.iter(f"{_CT}Override")}
            # A part is typed by its own Override; a Default for its extension counts unless it is the
            # generic XML type, which Excel does not take for a workbook, a sheet or styles.
            defaults = {e.get("Extension", "").lower() for e in types.iter(f"{_CT}Default")
                        if e.get("ContentType") not in (None, "application/xml")}
            workbook = next((_target("", e.get("Target", "")) for e in ElementTree.fromstring(archive.read("_rels/.rels")).iter(_REL)
                             if e.get("Type", "").endswith("/officeDocument")), None)
            if workbook is None:
                return ["_rels/.rels のブック本体への参照"]
            folder, _, leaf = workbook.rpartition("/")
            rels_name = f"{folder}/_rels/{leaf}.rels" if folder else f"_rels/{leaf}.rels"
            needed = [workbook, rels_name]
            if rels_name in names:
                targets = {e.get("Id"): (e.get("Type", ""), _target(folder, e.get("Target", "")))
                           for e in ElementTree.fromstring(archive.read(rels_name)).iter(_REL)
                           if e.get("TargetMode") != "External"}
                needed += [t for kind, t in targets.values() if kind.endswith("/styles")] or [f"{folder}/styles.xml"]
                if workbook in names:
                    for sheet in ElementTree.fromstring(archive.read(workbook)).iter():
                        if sheet.tag.endswith("}sheet"):
                            needed.append(targets.get(sheet.get(_R_ID), ("", f"シート「{sheet.get('name')}」の部品"))[1])
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError, OSError, ValueError) as exc:
        return [f"読める部品（{type(exc).__name__}）"]
    return [n for n in needed if n not in names or (n not in overrides and n.rpartition(".")[2].lower() not in defaults)]


def _target(folder: str, target: str) -> str:
    """A relationship's target as a part name inside the package."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(folder, target)) if folder else posixpath.normpath(target)


def open_workbook(path: Path) -> calamine.CalamineWorkbook:
    """A workbook file opened for reading; UnusableInput (in Japanese) for anything that is not one."""
    _check_container(path)
    try:
        return calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for damaged files
        raise UnusableInput(f"ブックを開けません（壊れている可能性があります）: {path.name}: {type(exc).__name__}") from None


def _sheet_names(path: Path, wanted: Iterable[str], optional: Iterable[str] = ()) -> dict[str, str]:
    """Contract sheet name -> the name as stored; UnusableInput if the file or a sheet is missing.
    Sheets in `optional` are included when present."""
    path = Path(path)
    book = open_workbook(path)
    try:
        names = {header_text(n): n for n in book.sheet_names}
    finally:
        book.close()
    missing = [s for s in wanted if s not in names]
    if missing:
        raise UnusableInput(
            f"tokenbook のブックではありません。シート{'、'.join('「' + s + '」' for s in missing)}がありません: {path.name}"
        )
    return {s: names[s] for s in (*wanted, *optional) if s in names}


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
    """The table sheets of one workbook, read on background threads (calamine parses in Rust and
    lets other threads run). 在庫 (`LONG`), the largest sheet of every ledger and the longest to
    read, is started at once on a reader of its own and taken last; the others are read in `ORDER`
    on the second reader at most `AHEAD` sheets ahead of the caller, so that the caller parses (and
    checks) them while 在庫 is still read, and at most that many grids wait in memory beside the one
    being parsed (reading every sheet ahead held all of a million-token ledger's cells at once).
    Asking for a sheet out of order reads it at once. Asking for a sheet waits for it and raises
    its UnusableInput, if any."""

    # The order parse and verify take them in: settings first, then the sheets of the chain, which
    # can be large (繰越: a row per token after a close-year; 履歴: a year of movements) and are
    # checked as soon as they are parsed (`parse.parse_tables`), 年次締め before them (its 繰越ダイジェスト
    # is what the check of 繰越 compares), 在庫 last.
    ORDER = (schema.SETTINGS, schema.BANKS, schema.CLOSINGS, schema.OPENING, schema.JOURNAL, schema.REQUESTS,
             schema.DISPATCH, schema.HOLIDAYS)
    LONG = schema.TOKENS
    AHEAD = 1

    def __init__(self, path: Path) -> None:
        self._path = path = Path(path)
        self._names = _sheet_names(path, schema.TABLES, schema.OPTIONAL_TABLES)
        self._order = [s for s in dict.fromkeys((*self.ORDER, *schema.TABLES, *schema.OPTIONAL_TABLES))
                       if s in self._names and s != self.LONG]
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tokenbook-read")
        self._futures: dict[str, Future[Table]] = {}
        self._taken: set[str] = set()
        self._start(self.LONG)
        self._read_ahead()

    def _start(self, sheet: str) -> Future[Table]:
        if sheet not in self._futures:
            self._futures[sheet] = self._pool.submit(self._table, self._path, self._names[sheet], sheet)
        return self._futures[sheet]

    def _read_ahead(self) -> None:
        """Start the next sheets in order until `AHEAD` are read or being read and not yet taken
        (`LONG` aside: it is read from the start)."""
        waiting = sum(1 for s in self._futures if s not in self._taken and s != self.LONG)
        for sheet in self._order:
            if waiting >= self.AHEAD:
                break
            if sheet not in self._futures:
                self._start(sheet)
                waiting += 1
        if len(self._futures) == len(self._order) + 1:
            self._pool.shutdown(wait=False)

    @classmethod
    def taking_order(cls, sheets: Iterable[str]) -> list[str]:
        """`sheets` in the order to take them from a Tables: as it reads them, `LONG` last."""
        order = {s: i for i, s in enumerate(dict.fromkeys((*cls.ORDER, *schema.TABLES, *schema.OPTIONAL_TABLES)))}
        order[cls.LONG] = len(order)
        return sorted(sheets, key=lambda s: order.get(s, len(order) + 1))

    @staticmethod
    def _table(path: Path, stored_name: str, sheet: str) -> Table:
        table = read_table(path, stored_name, sheet)
        table.transient = True
        return table

    def __getitem__(self, sheet: str) -> Table:
        if sheet not in self._names:
            if sheet in schema.OPTIONAL_TABLES:
                return Table(sheet, {})  # a ledger made before the sheet existed
            raise KeyError(sheet)
        future = self._start(sheet)
        if sheet not in self._taken:
            self._taken.add(sheet)
            self._read_ahead()  # the next sheet is read while this one is parsed
        return future.result()

    def __iter__(self) -> Iterator[str]:
        # the contract's tables, then the optional ones the book has
        return iter([s for s in (*schema.TABLES, *schema.OPTIONAL_TABLES) if s in self._names])

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, sheet: object) -> bool:
        return sheet in self._names or sheet in schema.OPTIONAL_TABLES  # as a Mapping whose [] gives those


def required_headers(sheet: str) -> list[str]:
    """The headers a sheet must have: every column's but those added after ledgers were in use."""
    return [c.header for c in schema.table_columns(sheet) if not c.added]


def read_tables(path: Path) -> Tables:
    """Every table sheet of a tokenbook workbook, strict about sheets and headers."""
    return Tables(path)


def read_sheet(path: Path, sheet: str, optional: bool = False) -> Table:
    """One contract sheet of any workbook that has it (an archive beside the ledger: 履歴_2026.xlsx);
    `optional`: an empty table when the workbook lacks the sheet (an archive without 繰越)."""
    path = Path(path)
    names = _sheet_names(path, () if optional else (sheet,), (sheet,))
    if sheet not in names:
        return Table(sheet, {})
    return read_table(path, names[sheet], sheet)


# Sheets whose XML is shorter are read cell by cell (about 1,500 rows of 在庫; below that Arrow's
# setting up costs more than it saves).
COLUMN_WISE_BYTES = 2 << 20


def read_table(path: Path, stored_name: str, sheet: str) -> Table:
    """One sheet of a checked workbook file as a table: column-wise through Arrow where that gives
    the same cells (`arrowread`) and the sheet is large, else from calamine's grid. A sheet in
    FINGERPRINTED gets its `fingerprint` (on the reader's thread, while the caller goes on)."""
    from . import arrowread  # imports xlsxpatch, which imports this module

    fingerprinted = FINGERPRINTED.get(sheet)
    read = arrowread.read_columns(path, stored_name, COLUMN_WISE_BYTES, texts=fingerprinted is not None)
    if read is not None:
        table = table_from_columns(sheet, read, required_headers(sheet))
        if fingerprinted is not None:  # digested in Arrow, from the same cells as the columns
            texts = [read.texts[table.headers[h]] if h in table.headers else "" for h in fingerprinted]
            try:
                table.fingerprint = arrowread.text_digest(texts, len(read.row_numbers), _FINGERPRINT_ROWS)
            except (arrowread.pa.ArrowException, ValueError, TypeError):  # no digest: checked row by row
                table.fingerprint = None
            read.texts = None
    else:
        table = table_from_rows(sheet, read_grid(path, stored_name, sheet), required_headers(sheet))
        if fingerprinted is not None:
            table.fingerprint = text_fingerprint(table, fingerprinted)
    return table


# Sheets whose cells are digested as read (`text_fingerprint`): 繰越, a million rows that only
# close-year writes, whose digest it records in 年次締め (`yearend.content_digest` of the same rows).
FINGERPRINTED = {schema.OPENING: [c.header for c in schema.OPENING_COLUMNS]}
_FINGERPRINT_ROWS = 65_536  # rows made into text at a time


def text_fingerprint(table: Table, headers: Iterable[str]) -> str | None:
    """SHA-256 of the data rows' cells under `headers` (in that order) as text: each row's texts
    joined by U+001F and followed by U+001E, an empty cell (or a missing column) as "" — what
    `yearend.content_digest` gives for rows holding those texts. None when a cell is not text (a
    number, a date: the rows as parsed may differ from the cells, and only a full check can say)."""
    columns = []
    for header in headers:
        column = table.column(header)
        if None in column:
            column = ["" if v is None else v for v in column]
        if not set(map(type, column)) <= {str}:
            return None
        columns.append(column)
    digest = hashlib.sha256()
    for start in range(0, len(table.row_numbers), _FINGERPRINT_ROWS):
        rows = map("\x1f".join, zip(*(c[start:start + _FINGERPRINT_ROWS] for c in columns)))
        digest.update("\x1e".join(rows).encode() + b"\x1e")
    return digest.hexdigest()
