"""Patching cell values inside an .xlsx/.xlsm package without loading it as a workbook.

A headless run changes a few thousand cells and appends rows; everything else a clerk built —
VBA project, buttons, drawings, dropdowns, conditional formats, widths, frozen panes, styles,
extra columns and sheets — must come through untouched. So instead of a load/save round trip
(openpyxl needs ~4 GB and 1.5 minutes per million rows, and rewrites parts it does not understand)
this module copies every zip member as it is and, in the sheets that change, copies every row as
it is except the rows it patches. Changed cells keep their style; new strings are written inline
(no shared-string table rewrite); the sheet's dimension, its autofilter range and the filter's
defined name grow with appended rows. What it cannot keep (a formula in a cell it must overwrite, a
table object over a sheet it appends to) is refused with `PatchRefused` before anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
import re
import struct
import tempfile
import zipfile
import zlib
from bisect import bisect_left
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Sequence
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from .sheetio import column_letter as column_letters

_EPOCH = dt.datetime(1899, 12, 30)


class PatchRefused(Exception):
    """The change cannot be made without losing something; the message is for a clerk (Japanese)."""


@dataclass
class SheetEdit:
    """Cell values to write into one sheet: row number -> {0-based column index: value}.

    A value of None clears the cell's value (its style stays). With `replace_data`, every row after
    the header row is dropped first (a sheet tokenbook owns entirely, such as チェック結果).
    `hyperlinks` are (cell reference, location inside the workbook) pairs, replacing the sheet's own.
    """

    cells: dict[int, dict[int, Any]] = field(default_factory=dict)
    replace_data: bool = False
    hyperlinks: list[tuple[str, str]] | None = None
    block: "Block | None" = None  # many whole rows after every other row (see Block)


@dataclass
class Block:
    """Whole rows given column by column, written after every row of the sheet (and after `cells`):
    the fast path for a sheet rewritten in bulk (close-year's 履歴 and its archive: a million rows).
    `columns` are (0-based column index, one value per row) pairs, rows numbered from `first_row`.
    A blank value writes no cell (the column's own style shows through)."""

    first_row: int
    columns: list[tuple[int, list[Any]]]

    @property
    def last_row(self) -> int:
        return self.first_row + (len(self.columns[0][1]) if self.columns else 0) - 1


def column_index(letters: bytes) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + (ch - 64)
    return index - 1




# --- styles -------------------------------------------------------------------------------------

_DATE_BUILTINS = {14, 15, 16, 17, 22, 27, 30, 36, 50, 57}


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


@dataclass
class Styles:
    """Which cell formats (xf indices) show dates, and one to use for dates and date-times."""

    date_xfs: set[int]
    date_xf: int
    datetime_xf: int
    xml: bytes | None = None  # the patched styles part, if a format had to be added


def read_styles(xml: bytes) -> Styles:
    """The date formats of a styles part; when a date or date-time format is missing, one is added
    to the part's bytes (edited in place: ElementTree would rename the namespace prefixes)."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        raise PatchRefused("ブックの書式（styles.xml）を読めません") from None
    formats = {int(f.get("numFmtId", "-1")): f.get("formatCode", "").encode()
               for f in root.iter(f"{{{_MAIN}}}numFmt")}
    cell_xfs_element = root.find(f"{{{_MAIN}}}cellXfs")
    xfs = list(cell_xfs_element.iter(f"{{{_MAIN}}}xf")) if cell_xfs_element is not None else []
    date_xfs, datetime_xfs = set(), set()
    for index, xf in enumerate(xfs):
        number = int(xf.get("numFmtId", "0"))
        code = formats.get(number, b"").lower().replace(b'\\', b"")
        code = re.sub(rb'"[^"]*"|\[[^\]]*\]', b"", code)
        is_date = number in _DATE_BUILTINS or (b"y" in code or b"d" in code) and b"0" not in code.split(b";")[0][:1]
        if is_date:
            date_xfs.add(index)
            if number == 22 or b"h" in code:
                datetime_xfs.add(index)
    cell_xfs = re.search(rb"<cellXfs\b[^>]*>(.*?)</cellXfs>", xml, re.S)
    plain_dates = sorted(date_xfs - datetime_xfs)
    if plain_dates and datetime_xfs:
        return Styles(date_xfs, plain_dates[0], min(datetime_xfs))
    # Add what is missing: a date format (built-in 14) and/or a date-time one (built-in 22).
    if cell_xfs is None:
        raise PatchRefused("ブックの書式（styles.xml）を読めません")
    additions = []
    date_xf = plain_dates[0] if plain_dates else len(xfs) + len(additions)
    if not plain_dates:
        additions.append(b'<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>')
    datetime_xf = min(datetime_xfs) if datetime_xfs else len(xfs) + len(additions)
    if not datetime_xfs:
        additions.append(b'<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>')
    body = cell_xfs[1] + b"".join(additions)
    head = re.sub(rb'count="\d+"', b'count="%d"' % (len(xfs) + len(additions)), xml[cell_xfs.start():cell_xfs.start(1)])
    patched = xml[:cell_xfs.start()] + head + body + b"</cellXfs>" + xml[cell_xfs.end():]
    return Styles(date_xfs | {date_xf, datetime_xf}, date_xf, datetime_xf, patched)


# --- cells --------------------------------------------------------------------------------------

# Characters XML cannot hold, and CR, which an XML reader would turn into LF: written as _xHHHH_.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")
_ESCAPED_LOOKALIKE = re.compile("_(x[0-9A-Fa-f]{4}_)")


# Text that needs none of the treatment below (the common case): written as it is.
_SPECIAL = re.compile("[<>&\x00-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_|^\\s|\\s$")


def _text(value: str) -> bytes:
    if _SPECIAL.search(value) is None:
        return b"<is><t>" + value.encode("utf-8") + b"</t></is>"
    # OOXML escapes characters XML cannot hold as _xHHHH_; a literal "_xHHHH_" must itself be escaped.
    value = _ESCAPED_LOOKALIKE.sub(r"_x005F_\1", value)
    value = _ILLEGAL.sub(lambda m: f"_x{ord(m[0]):04X}_", value)
    text = escape(value).encode("utf-8")
    space = b' xml:space="preserve"' if value != value.strip() or "\n" in value else b""
    return b"<is><t%s>%s</t></is>" % (space, text)


def excel_serial(value: dt.date | dt.datetime) -> float:
    if isinstance(value, dt.datetime):
        delta = value - _EPOCH
        return delta.days + delta.seconds / 86400
    return float((value - _EPOCH.date()).days)


def cell_xml(ref: bytes, value: Any, style: int | None, styles: Styles) -> bytes:
    """One `<c>` element; strings are always text (never formulas), dates get a date format."""
    if value.__class__ is str and value:  # the common case first: millions of cells in an appended journal
        if style is None:
            return b'<c r="%s" t="inlineStr">%s</c>' % (ref, _text(value))
        if style not in styles.date_xfs:
            return b'<c r="%s" s="%d" t="inlineStr">%s</c>' % (ref, style, _text(value))
    if isinstance(value, (dt.date, dt.datetime)):
        if style is None or style not in styles.date_xfs:
            style = styles.datetime_xf if isinstance(value, dt.datetime) else styles.date_xf
        number = excel_serial(value)
        shown = b"%d" % number if number == int(number) else repr(number).encode()
        return b'<c r="%s" s="%d"><v>%s</v></c>' % (ref, style, shown)
    if style is not None and style in styles.date_xfs:
        style = None  # a number or text in a date-formatted cell would be shown as a date
    s = b' s="%d"' % style if style is not None else b""
    if value is None or value == "":
        return b'<c r="%s"%s/>' % (ref, s) if s else b""
    if isinstance(value, bool):
        return b'<c r="%s"%s t="b"><v>%d</v></c>' % (ref, s, value)
    if isinstance(value, (int, float)):
        return b'<c r="%s"%s><v>%s</v></c>' % (ref, s, repr(value).encode())
    if isinstance(value, (tuple, list)):
        value = "; ".join(str(v) for v in value)
    return b'<c r="%s"%s t="inlineStr">%s</c>' % (ref, s, _text(str(value)))


_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_STYLE = re.compile(rb'\bs="(\d+)"')
_ROW = re.compile(rb"<row\b([^>]*?)(?:/>|>(.*?)</row>)", re.S)
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_SPANS = re.compile(rb'\sspans="[^"]*"')


def _patch_row(row_number: int, attrs: bytes, body: bytes, patch: dict[int, Any], col_styles: dict[int, int],
               styles: Styles, sheet: str) -> bytes:
    cells: dict[int, bytes] = {}
    style_of: dict[int, int | None] = {}
    implied = -1
    for m in _CELL.finditer(body):
        ref = _REF.search(m[1])
        implied = column_index(ref[1]) if ref else implied + 1
        cells[implied] = m[0]
        found = _STYLE.search(m[1])
        style_of[implied] = int(found[1]) if found else None
    for col, value in patch.items():
        old = cells.get(col)
        if old is not None and b"<f" in old:
            raise PatchRefused(f"シート「{sheet}」のセル {column_letters(col)}{row_number} に数式があるため書き込めません。"
                               "数式を値に変えてから実行してください")
        style = style_of.get(col) if old is not None else col_styles.get(col)
        ref = b"%s%d" % (column_letters(col).encode(), row_number)
        cells[col] = cell_xml(ref, value, style, styles)
    attrs = _SPANS.sub(b"", attrs)
    if not _ROW_NUMBER.search(attrs):
        attrs = b' r="%d"' % row_number + attrs
    return b"<row%s>%s</row>" % (attrs, b"".join(cells[c] for c in sorted(cells)))


@lru_cache(maxsize=None)
def _letters(col: int) -> bytes:
    return column_letters(col).encode()


def _new_row(row_number: int, patch: dict[int, Any], col_styles: dict[int, int], styles: Styles) -> bytes:
    """A row the sheet does not have yet (what `_patch_row` makes of an empty row, without parsing one)."""
    number = b"%d" % row_number
    cells = b"".join([cell_xml(_letters(col) + number, patch[col], col_styles.get(col), styles) for col in sorted(patch)])
    return b'<row r="%s">%s</row>' % (number, cells)


def _block_xml(block: Block, col_styles: dict[int, int], styles: Styles) -> list[bytes]:
    """The rows of a block, column by column: each distinct value of a column is made into its cell
    once (by `cell_xml`, around a placeholder reference), then each row is one format operation. A
    blank value writes no cell (the column's own style shows), so a sheet of many blank cells stays
    small and quick to read."""
    made = [_column_tails(values, col_styles.get(col), styles) for col, values in block.columns]
    row = b'<row r="%s">' + b"%s" * len(block.columns) + b"</row>"
    chunks: list[bytes] = []
    for start in range(0, block.last_row - block.first_row + 1, _BLOCK_ROWS):  # in pieces: less held at once
        numbers = [b"%d" % n for n in range(block.first_row + start,
                                             min(block.first_row + start + _BLOCK_ROWS, block.last_row + 1))]
        parts = []
        for (col, values), tail_of in zip(block.columns, made):
            tails = tail_of(values[start:start + _BLOCK_ROWS])
            prefix = b'<c r="' + _letters(col)
            parts.append([prefix + n + t if t else b"" for n, t in zip(numbers, tails)])
        chunks.append(b"".join([row % cells for cells in zip(numbers, *parts)]))
    return chunks


_BLOCK_ROWS = 65_536


def _column_tails(values: Sequence[Any], style: int | None, styles: Styles) -> Callable[[Sequence[Any]], list[bytes]]:
    """What makes the cell tails of a run of a column's values. A column of few distinct values
    (dates, states, banks) has each made once and looked up; a column of text that is mostly
    distinct (serials, notes, digests: a million each in 繰越) is formatted in C, one format
    operation a cell, with only its empty or special values (markup, control characters, edge
    spaces) made one by one."""
    tail = _tail_of(style, styles)
    try:
        distinct = set(values)
    except TypeError:  # an unhashable value
        return lambda run: list(map(tail, run))
    if 2 * len(distinct) <= len(values) or set(map(type, distinct)) != {str} or style in styles.date_xfs:
        return lambda run: list(map({v: tail(v) for v in distinct}.__getitem__, run))
    plain = (b'" t="inlineStr"><is><t>' if style is None else b'" s="%d" t="inlineStr"><is><t>' % style) + \
        b"%s</t></is></c>"

    def tails(run: Sequence[str]) -> list[bytes]:
        made = list(map(plain.__mod__, map(str.encode, run)))
        if "" in run or any(map(_SPECIAL.search, run)):
            for index, value in enumerate(run):
                if not value or _SPECIAL.search(value):
                    made[index] = tail(value)
        return made
    return tails


def _tail_of(style: int | None, styles: Styles) -> Callable[[Any], bytes]:
    """A value's cell without its reference (what follows `<c r="A1`); b"" for a blank value."""
    def tail(value: Any) -> bytes:
        cell = cell_xml(b"\x00", value, style, styles)
        return cell.split(b"\x00", 1)[1] if cell and (value is not None and value != "") else b""
    return tail


def _col_styles(xml: bytes) -> dict[int, int]:
    styles = {}
    for m in re.finditer(rb"<col\b([^>]*)/?>", xml):
        lo, hi, st = (re.search(pattern, m[1]) for pattern in (rb'min="(\d+)"', rb'max="(\d+)"', rb'style="(\d+)"'))
        if lo and hi and st:
            for col in range(int(lo[1]) - 1, min(int(hi[1]), 16384)):
                styles[col] = int(st[1])
    return styles


@dataclass
class SheetResult:
    parts: list[bytes | memoryview]  # the new part's bytes, in pieces (a million-row sheet is never joined whole)
    last_row: int
    autofilter: tuple[str, str] | None  # (old ref, new ref)
    numbers: list[int] | None = None  # the original's row numbers, when its rows were found by them

    @property
    def xml(self) -> bytes:
        return b"".join(self.parts)


def patch_sheet(xml: bytes, edit: SheetEdit, styles: Styles, sheet: str) -> SheetResult:
    """Apply one SheetEdit to a worksheet part."""
    if b"<sheetData/>" in xml:
        xml = xml.replace(b"<sheetData/>", b"<sheetData></sheetData>", 1)
    start, end = xml.find(b"<sheetData>"), xml.find(b"</sheetData>")
    if start < 0 or end < 0:
        raise PatchRefused(f"シート「{sheet}」の形式を読めません（Excel で保存し直してください）")
    if (edit.cells or edit.block) and b"<tableParts" in xml and (edit.replace_data or edit.block
                                                                 or _appends(xml[start:end], edit)):
        raise PatchRefused(f"シート「{sheet}」にテーブルが設定されています。tokenbook が行を追加するシートでは"
                           "テーブルを「範囲に変換」してください")
    col_styles = _col_styles(xml[:start])
    body_start = start + len(b"<sheetData>")
    pending = sorted(edit.cells.items())
    view = memoryview(xml)  # the unchanged stretches are joined from views, not copied twice
    out: list[bytes | memoryview] = [view[:body_start]]
    last_row = 0
    pos = body_start
    located = None if edit.replace_data else _located_rows(xml, body_start, end, pending)
    if located is not None:  # the rows to change found by their numbers: the others are not looked at
        last_row, pending, numbers = located
        for row_number, patch in pending:
            if row_number > last_row:
                break
            m = _ROW.match(xml, xml.find(b'<row r="%d"' % row_number, pos, end))
            out.append(view[pos:m.start()])
            out.append(_patch_row(row_number, m[1], m[2] or b"", patch, col_styles, styles, sheet))
            pos = m.end()
        pending = [p for p in pending if p[0] > last_row]
    for m in () if located is not None else _ROW.finditer(xml, body_start, end):
        number_match = _ROW_NUMBER.search(m[1])
        number = int(number_match[1]) if number_match else last_row + 1
        while pending and pending[0][0] < number:  # rows that do not exist yet come before this one
            row_number, patch = pending.pop(0)
            out.append(view[pos:m.start()])
            pos = m.start()
            out.append(_new_row(row_number, patch, col_styles, styles))
        if edit.replace_data and number > 1:  # every later row is dropped: no need to look at them
            out.append(view[pos:m.start()])
            pos = end
            break
        if pending and pending[0][0] == number:
            _, patch = pending.pop(0)
            out.append(view[pos:m.start()])
            out.append(_patch_row(number, m[1], m[2] or b"", patch, col_styles, styles, sheet))
            pos = m.end()
        last_row = max(last_row, number)
    out.append(view[pos:end])
    out.extend(_new_row(row_number, patch, col_styles, styles) for row_number, patch in pending)
    if edit.block is not None and edit.block.columns:
        if edit.block.first_row <= max([0 if edit.replace_data else last_row, *edit.cells]):
            raise ValueError("a block must come after every other row")  # a bug, not a clerk's doing
        out.extend(_block_xml(edit.block, col_styles, styles))
    if edit.replace_data:
        last_row = min(last_row, 1)
    last_row = max([last_row, *edit.cells, edit.block.last_row if edit.block is not None else 0])
    out.append(xml[end:])
    # the dimension stands before sheetData, the autofilter and the links after it: only those pieces
    # change, and the rows (hundreds of megabytes at a million tokens) are never joined or copied
    head, autofilter_head = _grow_ranges(bytes(out[0]), last_row, edit)
    tail, autofilter = _grow_ranges(out[-1], last_row, edit, dimension=False)
    if edit.hyperlinks is not None:
        tail = _replace_hyperlinks(tail, edit.hyperlinks)
    out[0], out[-1] = head, tail
    return SheetResult(out, last_row, autofilter or autofilter_head, numbers if located is not None else None)


_NUMBERED_ROW = re.compile(rb'<row r="(\d+)"')


def _located_rows(xml: bytes, start: int, end: int, pending: list[tuple[int, dict[int, Any]]]
                  ) -> tuple[int, list[tuple[int, dict[int, Any]]], list[int]] | None:
    """(the sheet's last row number, `pending`, the row numbers) when every `<row>` between `start` and `end` starts
    with its number (`<row r="…"`, as Excel and xlsxwriter write it), the numbers ascend and every
    pending row up to the last one exists: then each row to change is found by a search for its
    number, and the rest of a million-row sheet is never matched row by row. None otherwise (the
    rows are then scanned one by one, which also inserts missing rows in their place)."""
    numbers = _row_numbers(xml, start, end)
    if numbers is None:
        return None
    last = numbers[-1] if numbers else 0
    for wanted, _ in pending:
        if wanted > last:
            break
        found = bisect_left(numbers, wanted)
        if found == len(numbers) or numbers[found] != wanted:
            return None  # a row to insert between others: the scan puts it in its place
    return last, pending, numbers


def _row_numbers(xml: bytes, start: int, end: int) -> list[int] | None:
    """The row numbers between `start` and `end` when every `<row>` there starts with its number
    (no leading zero: a search for r="7" would not find "007") and they strictly ascend; else None."""
    texts = _NUMBERED_ROW.findall(xml, start, end)
    if xml.count(b"<row", start, end) != len(texts) or any(t.startswith(b"0") for t in texts):
        return None
    numbers = list(map(int, texts))
    del texts
    if any(map(int.__ge__, numbers, numbers[1:])):
        return None
    return numbers


@dataclass
class RowsApart:
    """A worksheet part split for verifying a patch: some rows taken out, the rest as a digest."""

    head: bytes  # up to and including <sheetData>
    numbers: list[int]  # the rows taken out, ascending
    rows: list[bytes]  # their elements, as written
    rest: bytes  # SHA-256 of every other byte between <sheetData> and </sheetData>
    tail: bytes  # from </sheetData>

    def xml(self) -> bytes:
        """The part with only the rows taken out: what a reader makes of them by themselves."""
        return self.head + b"".join(self.rows) + self.tail


def rows_apart(xml: bytes, wanted: Sequence[int], every: bool, numbers: list[int] | None = None
               ) -> RowsApart | None:
    """Take the rows numbered `wanted` (ascending) out of a worksheet part. With `every`, each must
    be there (the patched part: what was written); without, the sheet's rows must be numbered and
    ascending (as `_located_rows` asks) and those of `wanted` it lacks are left out (the original:
    rows appended by the patch were not there); `numbers` are its rows' numbers when the patcher
    found them already (`SheetResult.numbers`). None when the part is not like that."""
    if b"<sheetData/>" in xml:
        xml = xml.replace(b"<sheetData/>", b"<sheetData></sheetData>", 1)
    start, end = xml.find(b"<sheetData>"), xml.find(b"</sheetData>")
    if start < 0 or end < 0:
        return None
    body = start + len(b"<sheetData>")
    if not every:
        numbers = numbers if numbers is not None else _row_numbers(xml, body, end)
        if numbers is None:
            return None
        wanted = [n for n in wanted if (i := bisect_left(numbers, n)) < len(numbers) and numbers[i] == n]
        del numbers
    view = memoryview(xml)
    digest = hashlib.sha256()
    rows, pos = [], body
    for number in wanted:
        at = xml.find(b'<row r="%d"' % number, pos, end)
        m = _ROW.match(xml, at, end) if at >= 0 else None
        if m is None:
            return None
        digest.update(view[pos:at])
        rows.append(m[0])
        pos = m.end()
    digest.update(view[pos:end])
    return RowsApart(bytes(view[:body]), list(wanted), rows, digest.digest(), xml[end:])


def rows_package(source: zipfile.ZipFile, target: Path, sheets: dict[str, bytes]) -> None:
    """A package beside a written book for reading some of its rows back by themselves: `source`'s
    members as they are, but the parts of `sheets` given as their XML and every other sheet empty."""
    parts = {path: sheets.get(name) for name, (path, _) in sheet_parts(source).items()}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in source.infolist():
            if info.filename not in parts:
                copy_member(source, info, out)
            else:
                out.writestr(info.filename, parts[info.filename] or _EMPTY_SHEET)


_EMPTY_SHEET = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>')


def _appends(sheet_data: bytes, edit: SheetEdit) -> bool:
    numbers = [int(n) for n in re.findall(rb'<row\b[^>]*?\br="(\d+)"', sheet_data[-4000:])] or [0]
    return max(edit.cells, default=0) > max(numbers)


_DIMENSION = re.compile(rb'<dimension ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"\s*/>')
_AUTOFILTER = re.compile(rb'<autoFilter ref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')


def _grow_ranges(xml: bytes, last_row: int, edit: SheetEdit,
                 dimension: bool = True) -> tuple[bytes, tuple[str, str] | None]:
    max_col = max([*(c for patch in edit.cells.values() for c in patch),
                   *(c for c, _ in (edit.block.columns if edit.block is not None else ()))], default=0)
    m = _DIMENSION.search(xml) if dimension else None
    if m:
        first = m[1] + m[2]
        end_col = m[3] or m[1]
        if column_index(end_col) < max_col:
            end_col = column_letters(max_col).encode()
        rows = last_row if edit.replace_data else max(int(m[4] or m[2]), last_row)
        xml = xml[:m.start()] + b'<dimension ref="%s:%s%d"/>' % (first, end_col, max(rows, 1)) + xml[m.end():]
    autofilter = None
    m = _AUTOFILTER.search(xml)
    if m:
        old_end = int(m[4])
        new_end = max(last_row, 2) if edit.replace_data else max(old_end, last_row)
        if new_end != old_end:
            old = f"{m[1].decode()}{m[2].decode()}:{m[3].decode()}{old_end}"
            new = f"{m[1].decode()}{m[2].decode()}:{m[3].decode()}{new_end}"
            xml = xml[:m.start()] + b'<autoFilter ref="%s"' % new.encode() + xml[m.end():]
            autofilter = (old, new)
    return xml, autofilter


_AFTER_HYPERLINKS = (b"<printOptions", b"<pageMargins", b"<pageSetup", b"<headerFooter", b"<rowBreaks", b"<colBreaks",
                     b"<customProperties", b"<cellWatches", b"<ignoredErrors", b"<smartTags", b"<drawing",
                     b"<legacyDrawing", b"<picture", b"<oleObjects", b"<controls", b"<webPublishItems",
                     b"<tableParts", b"<extLst", b"</worksheet>")


def _replace_hyperlinks(xml: bytes, links: list[tuple[str, str]]) -> bytes:
    xml = re.sub(rb"<hyperlinks>.*?</hyperlinks>|<hyperlinks/>", b"", xml, flags=re.S)
    if not links:
        return xml
    element = b"<hyperlinks>" + b"".join(
        b'<hyperlink ref="%s" location="%s" display="%s"/>' % (
            ref.encode(), escape(location, {'"': "&quot;"}).encode(), escape(location, {'"': "&quot;"}).encode())
        for ref, location in links) + b"</hyperlinks>"
    at = min((i for i in (xml.find(tag) for tag in _AFTER_HYPERLINKS) if i >= 0), default=len(xml))
    return xml[:at] + element + xml[at:]


# --- the package --------------------------------------------------------------------------------

def sheet_parts(archive: zipfile.ZipFile) -> dict[str, tuple[str, int]]:
    """Sheet name -> (part path inside the package, index among the workbook's sheets)."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError) as exc:
        raise PatchRefused(f"ブックの構成（workbook.xml）を読めません: {type(exc).__name__}") from None
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{{{_PACKAGE_RELS}}}Relationship")}
    parts = {}
    for index, sheet in enumerate(workbook.iter(f"{{{_MAIN}}}sheet")):
        target = targets.get(sheet.get(f"{{{_OFFICE_RELS}}}id"), "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        parts[sheet.get("name", "")] = (path, index)
    return parts


def patch_package(source: Path, target: Path, edits: dict[str, SheetEdit],
                  seen: Callable[[str, bytes, list[int] | None], None] | None = None) -> None:
    """Write `target`: `source` with `edits` applied; every other part copied as it is. `seen` is
    shown each patched sheet's original XML and its row numbers when the patch found them (a
    write-back's verification takes the original's rows apart there instead of decompressing the
    part and scanning its rows again).

    A patched sheet larger than SPOOL_BYTES is compressed onto disk beside `target` (not kept in
    memory) until its turn in the package: at a million tokens the patched sheets are over a gigabyte
    of XML. It is compressed on a second thread (zlib lets go of the GIL) while this one shows it to
    `seen`, and written into the package as those bytes: the same bytes `ZipFile.open(..., "w")` writes."""
    with zipfile.ZipFile(source) as archive, ExitStack() as spools, \
            ThreadPoolExecutor(1, thread_name_prefix="tokenbook-deflate") as deflater:
        parts = sheet_parts(archive)
        unknown = [name for name in edits if name not in parts]
        if unknown:
            raise PatchRefused(f"シート「{unknown[0]}」がありません")
        styles = read_styles(archive.read("xl/styles.xml"))
        replaced: dict[str, list[bytes | memoryview] | _Packed] = {}
        filters: dict[int, tuple[str, str]] = {}
        for name, edit in edits.items():
            path, index = parts[name]
            xml = archive.read(path)
            result = patch_sheet(xml, edit, styles, name)
            if result.autofilter:
                filters[index] = result.autofilter
            kind = archive.getinfo(path).compress_type
            if sum(map(len, result.parts)) > SPOOL_BYTES and kind in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
                spool = spools.enter_context(tempfile.TemporaryFile(dir=Path(target).parent))
                packing = deflater.submit(_pack, result.parts, kind, spool)
                try:
                    if seen is not None:
                        seen(name, xml, result.numbers)
                finally:  # this sheet's XML and pieces are let go only once they are on disk
                    replaced[path] = packing.result()
            else:
                if seen is not None:
                    seen(name, xml, result.numbers)
                replaced[path] = result.parts
            del xml, result
        if styles.xml is not None:
            replaced["xl/styles.xml"] = [styles.xml]
        if filters:
            replaced["xl/workbook.xml"] = [_grow_filter_names(archive.read("xl/workbook.xml"), filters)]
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=3) as out:
            for info in archive.infolist():
                data = replaced.pop(info.filename, None)
                if data is None:  # its compressed bytes as they are (a write-back's CRC pass reads them)
                    copy_member(archive, info, out)
                    continue
                copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                copy.compress_type = info.compress_type
                copy.external_attr = info.external_attr
                if isinstance(data, _Packed):  # compressed already: the header `open(..., "w")` would write
                    copy.external_attr = copy.external_attr or 0o600 << 16
                    copy.CRC, copy.compress_size, copy.file_size = data.crc, data.compress_size, data.file_size
                    data.spool.seek(0)
                    _append_raw(out, copy, copy.file_size * 1.05 > zipfile.ZIP64_LIMIT,
                                iter(lambda spool=data.spool: spool.read(1 << 22), b""))
                    continue
                level = 3 if info.compress_type == zipfile.ZIP_DEFLATED else None
                copy._compresslevel = level  # what writestr sets (ZipInfo has no public level before 3.13)
                copy.file_size = sum(map(len, data))
                with out.open(copy, "w") as target_part:
                    for piece in data:
                        target_part.write(piece)
                del data


SPOOL_BYTES = 32 << 20


@dataclass
class _Packed:
    """A part's bytes compressed as the package holds them, waiting in `spool`."""

    spool: IO[bytes]
    crc: int
    compress_size: int
    file_size: int


def _pack(pieces: Sequence[bytes | memoryview], kind: int, spool: IO[bytes]) -> _Packed:
    """`pieces` compressed into `spool` as zipfile's writer compresses a part at level 3 (deflate, or
    stored as they are), with their CRC and sizes."""
    compressor = zlib.compressobj(3, zlib.DEFLATED, -15) if kind == zipfile.ZIP_DEFLATED else None
    crc = size = 0
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
        size += len(piece)
        spool.write(compressor.compress(piece) if compressor is not None else piece)
    if compressor is not None:
        spool.write(compressor.flush())
    return _Packed(spool, crc, spool.tell(), size)


def copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: zipfile.ZipFile) -> None:
    """Copy one member's compressed bytes from `archive` into `out`, not decompressing and
    compressing it again (at a million tokens 在庫 is 650 MB of XML that close-year leaves alone).

    zipfile has no public way to write raw bytes (3.11–3.13), so this does what `ZipFile.open(..., "w")`
    and its writer's `close` do around the data: the local header from a ZipInfo carrying the
    source's CRC and sizes (no data descriptor), then the bytes, then the entry in the directory."""
    fp = archive.fp
    assert fp is not None and out.fp is not None
    fp.seek(info.header_offset)
    header = fp.read(zipfile.sizeFileHeader)
    fields = struct.unpack(zipfile.structFileHeader, header)
    if header[:4] != zipfile.stringFileHeader or info.flag_bits & 0x1:
        raise zipfile.BadZipFile(f"{info.filename}: local header not found or encrypted")
    fp.seek(info.header_offset + zipfile.sizeFileHeader + fields[10] + fields[11])  # past name and extra
    copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    copy.compress_type = info.compress_type
    copy.external_attr = info.external_attr
    copy.create_system = info.create_system
    copy.flag_bits = info.flag_bits & ~0x08  # sizes and CRC are in the local header
    copy.CRC, copy.compress_size, copy.file_size = info.CRC, info.compress_size, info.file_size

    def chunks():
        remaining = info.compress_size
        while remaining:
            chunk = fp.read(min(remaining, 1 << 22))
            if not chunk:
                raise zipfile.BadZipFile(f"{info.filename}: truncated")
            yield chunk
            remaining -= len(chunk)

    _append_raw(out, copy, copy.file_size > zipfile.ZIP64_LIMIT or copy.compress_size > zipfile.ZIP64_LIMIT,
                chunks())


def _append_raw(out: zipfile.ZipFile, copy: zipfile.ZipInfo, zip64: bool, chunks: Iterable[bytes]) -> None:
    """Append a member whose CRC and sizes `copy` carries, as `chunks` of its compressed bytes."""
    assert out.fp is not None
    copy.header_offset = out.fp.tell()
    out.fp.write(copy.FileHeader(zip64))
    for chunk in chunks:
        out.fp.write(chunk)
    out.filelist.append(copy)
    out.NameToInfo[copy.filename] = copy
    out.start_dir = out.fp.tell()
    out._didModify = True


def _absolute(ref: str) -> str:
    col, row = re.fullmatch(r"([A-Z]+)(\d+)", ref).groups()
    return f"${col}${row}"


def _grow_filter_names(xml: bytes, filters: dict[int, tuple[str, str]]) -> bytes:
    """The hidden `_xlnm._FilterDatabase` names Excel keeps beside each autofilter."""
    def grow(m: re.Match[bytes]) -> bytes:
        index = int(m[1])
        if index not in filters:
            return m[0]
        old, new = (":".join(_absolute(part) for part in ref.split(":")).encode() for ref in filters[index])
        return m[0].replace(old, new)
    return re.sub(rb'<definedName\b[^>]*name="_xlnm\._FilterDatabase"[^>]*localSheetId="(\d+)"[^>]*>[^<]*</definedName>',
                  grow, xml)
