"""Reading a sheet column by column through Arrow (fastexcel), giving exactly the raw cells
python-calamine's `to_python` gives, or nothing when that cannot be promised.

python-calamine builds a Python object for every cell of a sheet (a million-token 在庫 is sixteen
million) and we then transpose them. fastexcel parses the same XML with the same Rust library
(calamine) into typed Arrow columns, releasing the GIL; each column is dictionary-encoded in C++ and
only its distinct values become Python objects, which is about half the time (a text column whose
first rows are mostly distinct — serials, customer numbers, digests — is made into texts row by row
instead, five times faster than hashing them; both give the same values). A column has one type
in Arrow, so the fast path is taken only when every column holds one kind of cell (text, numbers,
TRUE/FALSE or dates, with empty cells): `dtype_coercion="strict"` over all rows refuses a mixed
column, and anything else this module cannot vouch for returns None, and the sheet is read cell by
cell as before. What is given back is what `to_python(skip_empty_area=False)` would give:

- empty and error cells as "" (python-calamine's Empty; fastexcel gives null for both);
- a date cell as `date` at midnight, else `datetime` (python-calamine decides by the serial being
  whole; fastexcel's timestamps are calamine's own conversion, to the millisecond, so a non-whole
  serial within half a millisecond of midnight reads as a date here and a datetime there: both
  normalise to the same date and datetime, only a date cell in a text column would print otherwise);
  a date before 1900 (a time of day alone, calamine's `time`) is not taken;
- the header row as written, which fastexcel gives as column names: a name it may have made up or
  changed (a blank header, a repeated one renamed `名前_1`, a number or date printed its own way) is
  not taken, since the header checks need the cell's own text;
- row numbers from row 2, so the sheet's first row must be row 1 and hold a value: calamine's range
  starts at the first cell that has one, fastexcel counts from there, and only the sheet's XML says
  where that is (its first `<row>` is read, a few bytes).

`tests/test_fast_paths.py` compares both readers on the demo ledger, on ledgers with defects and on
random sheets of every cell type.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .xlsxpatch import PatchRefused, sheet_parts

# Imported when a sheet is first read column-wise (pyarrow takes a fifth of a second to import,
# which a run on a small ledger does not need): fastexcel, pyarrow and pyarrow.compute.
fastexcel = pa = pc = None


def _load() -> bool:
    global fastexcel, pa, pc
    if fastexcel is None:
        try:
            import fastexcel as _fastexcel
            import pyarrow as _pa
            import pyarrow.compute as _pc
        except ImportError:  # both are dependencies; without them every sheet is read cell by cell
            return False
        # fastexcel logs a warning for each column with no values ("falling back to string")
        logging.getLogger("fastexcel").setLevel(logging.ERROR)
        fastexcel, pa, pc = _fastexcel, _pa, _pc
    return True


_FIRST_DAY = dt.datetime(1900, 1, 1)
# A header fastexcel may have printed its own way (a number, a date, TRUE) or renamed (a repeat: 名前_1)
# or an error cell (#N/A), which python-calamine gives as ""
_UNSURE_HEADER = re.compile(r"[-+0-9.:/ eE]+|true|false|.*_[0-9]+|#.*", re.IGNORECASE)
_SHEET_DATA = re.compile(rb"<sheetData\b[^>]*?(/?)>")
_ROW = re.compile(rb"<row\b([^>]*?)(/?)>")
_ROW_END = re.compile(rb"</row>")
_VALUE = re.compile(rb"<(?:v|is)\b")
_PEEK = 1 << 20
# What str.strip() takes away (str.isspace), so that Arrow finds the blank cells in C++:
# `tests/test_fast_paths.py` compares it with Python's own.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


@dataclass(slots=True)
class Columns:
    """A sheet read column-wise: the header row's cells by column, the non-blank data rows' numbers
    and each column's raw values for those rows (all columns as wide as the sheet)."""

    header_row: list[Any]
    row_numbers: list[int]
    columns: list[list[Any]]
    # With `texts` asked for: each column's cells for those rows as an Arrow array of texts ("" for
    # an empty cell), None for a column holding a cell that is not text (`text_digest`).
    texts: list[Any] | None = None


def first_row_is_row_one(path: Path, stored_name: str, min_bytes: int = 0) -> bool:
    """Whether the sheet's XML is at least `min_bytes` long and its first `<row>` is row 1 with a
    cell that has a value, read from the first bytes of that XML (a sheet this module cannot find
    or read: False)."""
    try:
        with zipfile.ZipFile(path) as archive:
            part = sheet_parts(archive).get(stored_name)
            if part is None or archive.getinfo(part[0]).file_size < min_bytes:
                return False
            with archive.open(part[0]) as fh:
                head = fh.read(_PEEK)
    except (OSError, KeyError, zipfile.BadZipFile, PatchRefused, RuntimeError, ValueError):
        return False
    opened = _SHEET_DATA.search(head)
    if opened is None or opened[1]:
        return False
    row = _ROW.search(head, opened.end())
    if row is None or row[2] or not re.search(rb'\br="1"', row[1]):
        return False
    end = _ROW_END.search(head, row.end())
    return end is not None and _VALUE.search(head, row.end(), end.start()) is not None


def read_columns(path: Path, stored_name: str, min_bytes: int = 0, texts: bool = False) -> Columns | None:
    """The sheet as `to_python(skip_empty_area=False)` would give it, column-wise, with blank rows
    dropped as `sheetio.table_from_rows` drops them; None where that cannot be promised, or where
    the sheet's XML is shorter than `min_bytes` (a small sheet is read faster cell by cell: Arrow's
    setting up costs a few milliseconds a sheet). `texts`: keep the columns' Arrow texts too
    (`Columns.texts`, for `text_digest`)."""
    if not first_row_is_row_one(path, stored_name, min_bytes) or not _load() or _nullish_shared_text(path):
        return None
    try:
        sheet = fastexcel.read_excel(str(path)).load_sheet(stored_name, schema_sample_rows=None,
                                                           dtype_coercion="strict")
        infos = sheet.available_columns()
        batch = sheet.to_arrow()
    except Exception:  # a mixed column (strict), or anything fastexcel does not take: read cell by cell
        return None
    del sheet  # fastexcel's own cells (800 MB for 在庫 at a million tokens), once they are in Arrow
    if not infos or batch.num_columns != len(infos):
        return None
    width = infos[-1].absolute_index + 1
    header_row: list[Any] = [""] * width
    for info in infos:
        if info.column_name_from == "generated":
            continue  # a blank header cell: "" as in to_python
        if info.column_name_from != "looked_up" or _UNSURE_HEADER.fullmatch(info.name):
            return None
        header_row[info.absolute_index] = info.name
    height = batch.num_rows
    coded: list[tuple[int, Any, list[Any]]] = []
    # Rows as `table_from_rows` keeps them: the sheet ends at its last row with a non-blank cell
    # (whitespace is blank), and before that a row is dropped only when every cell is empty ("").
    filled = _Rows()  # rows with a cell that is not ""
    visible = _Rows()  # rows with a cell that is not blank
    arrow_texts: dict[int, Any] = {}
    for info, column in zip(infos, batch.columns):
        kind = column.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_float64(kind)
                or pa.types.is_boolean(kind) or pa.types.is_timestamp(kind) or pa.types.is_null(kind)):
            return None
        if pa.types.is_float64(kind) and pc.any(pc.is_nan(column)).as_py():
            return None  # the text "NaN" (Excel has no such number), which fastexcel makes a number
        if pa.types.is_null(kind):  # no value at all
            column = pa.array([None] * height, pa.string())
            kind = column.type
        if texts:
            text = pa.types.is_string(kind) or pa.types.is_large_string(kind) or column.null_count == height
            arrow_texts[info.absolute_index] = pc.fill_null(column.cast(pa.large_string()), "") if text else None
        if (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and _mostly_distinct(column):
            # serials, customer numbers, digests: a hash table of a million distinct texts costs more
            # than making each row's text, which is what the column becomes either way
            empty, blank = _empty_and_blank(column)
            coded.append((info.absolute_index, column, None))
            filled.add_mask(empty)
            visible.add_mask(blank)
            continue
        encoded = pc.dictionary_encode(column, null_encoding="encode")
        dictionary = encoded.dictionary
        try:
            values = dictionary.to_pylist()
        except (ValueError, OverflowError):  # a timestamp Python cannot hold
            return None
        if pa.types.is_timestamp(kind):
            values = [_date_cell(v) for v in values]
            if any(v is False for v in values):
                return None
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            empty, blank = (pc.indices_nonzero(mask).to_pylist() for mask in _empty_and_blank(dictionary))
        else:
            empty = blank = [i for i, v in enumerate(values) if v is None]
        values = ["" if v is None else v for v in values]
        coded.append((info.absolute_index, encoded.indices, values))
        filled.add(encoded.indices, empty)
        visible.add(encoded.indices, blank)
    last = visible.last(height)  # rows after it are cut
    if filled.every and last == height - 1:
        positions = None
        row_numbers = list(range(2, height + 2))
    else:
        kept = filled.mask(height)
        positions = pc.indices_nonzero(kept.slice(0, last + 1))
        row_numbers = [p + 2 for p in positions.to_pylist()]
    columns: list[list[Any]] = [[""] * len(row_numbers) for _ in range(width)]
    for index, codes, values in coded:
        if positions is not None:
            codes = codes.take(positions)
        if values is None:  # the column's own texts (a string column read directly)
            columns[index] = pc.fill_null(codes, "").to_pylist()
        else:
            columns[index] = list(map(values.__getitem__, codes.to_pylist()))
    if not texts:
        return Columns(header_row, row_numbers, columns)
    kept_texts: list[Any] = [None] * width  # a column without a header is never digested
    for index, text in arrow_texts.items():
        kept_texts[index] = text if text is None or positions is None else text.take(positions)
    return Columns(header_row, row_numbers, columns, kept_texts)


def text_digest(texts: Sequence[Any], rows: int, block: int = 65_536) -> str | None:
    """`sheetio.text_fingerprint` of Arrow columns of texts (`Columns.texts`, in the order to
    digest, "" for a column the sheet lacks, None for one that is not all text): the rows' texts
    joined by U+001F, each row followed by U+001E, hashed from Arrow's buffer `block` rows at a time."""
    if any(t is None for t in texts) or all(isinstance(t, str) for t in texts):
        return None
    digest = hashlib.sha256()
    empty, unit, record = (pa.scalar(t, pa.large_string()) for t in ("", "\x1f", "\x1e"))
    for start in range(0, rows, block):
        parts = [empty if isinstance(t, str) else t.slice(start, block) for t in texts]
        row_texts = pc.binary_join_element_wise(*parts, unit) if len(parts) > 1 else parts[0]
        ended = pc.binary_join_element_wise(row_texts, empty, record)
        offsets = memoryview(ended.buffers()[1]).cast("q")  # large_string: 64-bit offsets
        digest.update(memoryview(ended.buffers()[2])[offsets[ended.offset]:offsets[ended.offset + len(ended)]])
    return digest.hexdigest()


class _Rows:
    """The rows where some column has a value outside a given set of its codes (an OR of masks
    kept in Arrow; `every` while some column had no such values at all)."""

    __slots__ = ("every", "_mask")

    def __init__(self) -> None:
        self.every = False
        self._mask = None

    def add(self, codes: Any, excluded: list[int]) -> None:
        if self.every:
            return
        if not excluded:
            self.every, self._mask = True, None
            return
        self._or(pc.invert(pc.is_in(codes, value_set=pa.array(excluded, codes.type))))

    def add_mask(self, excluded: Any) -> None:
        """As `add`, for a column given row by row: `excluded` is True where its cell is excluded."""
        if self.every:
            return
        if not pc.any(excluded).as_py():
            self.every, self._mask = True, None
            return
        self._or(pc.invert(excluded))

    def _or(self, has: Any) -> None:
        self._mask = has if self._mask is None else pc.or_(self._mask, has)

    def mask(self, height: int) -> Any:
        if self.every or self._mask is None:
            return pa.array([self.every] * height, pa.bool_())
        return self._mask

    def last(self, height: int) -> int:
        """The last such row's index (-1: none)."""
        if self.every:
            return height - 1
        if self._mask is None:
            return -1
        found = pc.indices_nonzero(self._mask)
        return found[len(found) - 1].as_py() if len(found) else -1


# Texts fastexcel reads as an empty cell in a column of numbers, dates or TRUE/FALSE (pandas' list,
# https://github.com/ToucanToco/fastexcel/pull/182), where python-calamine gives the text
NULLISH = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
           "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
_NULLISH_CELLS = tuple(b">" + t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode() + b"</t>"
                       for t in NULLISH if t)
_NULLISH_SEEN: dict[tuple[str, int, int], bool] = {}


def _nullish_shared_text(path: Path) -> bool:
    """Whether the book's shared strings hold one of NULLISH as a whole text (where Excel keeps
    every text a clerk types): then a column of dates holding it would read as blank here, and
    the sheet is read cell by cell. Texts written inline (as tokenbook writes them) are not
    looked at: the README says so. Remembered per file (path, size, modification time)."""
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _NULLISH_SEEN:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith("sharedstrings.xml")]
                xml = b"".join(archive.read(n) for n in names)
            _NULLISH_SEEN.clear()
            _NULLISH_SEEN[key] = any(cell in xml for cell in _NULLISH_CELLS)
        return _NULLISH_SEEN[key]
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError):
        return True


def _empty_and_blank(texts: Any) -> tuple[Any, Any]:
    """Where an array of texts is empty (null or "") and where it is blank (only whitespace too)."""
    empty = pc.or_kleene(pc.is_null(texts), pc.equal(pc.utf8_length(texts), 0))
    return empty, pc.or_kleene(empty, pc.equal(pc.utf8_length(pc.utf8_trim(texts, characters=WHITESPACE)), 0))


# A string column whose first rows are mostly distinct is read row by row (`_mostly_distinct`)
DISTINCT_SAMPLE, DISTINCT_SHARE = 4096, 0.5


def _mostly_distinct(column: Any) -> bool:
    sample = column.slice(0, DISTINCT_SAMPLE)
    return len(sample) > 0 and pc.count_distinct(sample).as_py() > len(sample) * DISTINCT_SHARE


def _date_cell(value: dt.datetime | None) -> dt.date | dt.datetime | None | bool:
    """A timestamp as python-calamine gives the cell: a date at midnight, else the datetime; False
    for one it would give otherwise (before 1900: a time of day, or a serial below 1)."""
    if value is None:
        return None
    if value < _FIRST_DAY:
        return False
    if value.hour == value.minute == value.second == value.microsecond == 0:
        return value.date()
    return value
