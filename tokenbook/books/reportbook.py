"""Writing report workbooks (design §8) with xlsxwriter: finished enough to hand to a bank.

Japanese fonts, widths, number and date formats, frozen headers, autofilters, A4 landscape fit to
one page wide with the title rows repeated, 要交換 highlighted, charts. Strings are always written as
text (a customer called `=1+1` stays `=1+1`). Bank workbooks are written on both cores.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import multiprocessing
import os
import re
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import xlsxwriter
from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from ..mail import content_digest, file_key, remember_digest
from ..models import Bank
from ..report import DATE, FLAG, INT, BankReport, CssReport, Month, Quantity, Table, marked, month_label
from .pages import CAUTION, FONT, PAPER_A4, PERSONAL, SIDE_MARGIN, header_footer, header_width, lay_out


def _formats(book: xlsxwriter.Workbook) -> dict[str, Any]:
    base = {"font_name": FONT, "font_size": 10}
    return {
        "title": book.add_format({**base, "bold": True, "font_size": 14, "font_color": "#1F4E78"}),
        "header": book.add_format({**base, "bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E78", "border": 1,
                                   "align": "center", "valign": "vcenter", "text_wrap": True}),
        "text": book.add_format({**base, "border": 1, "border_color": "#BFBFBF"}),
        "date": book.add_format({**base, "border": 1, "border_color": "#BFBFBF", "num_format": "yyyy/mm/dd",
                                 "align": "center"}),
        "datetime": book.add_format({**base, "num_format": "yyyy/mm/dd hh:mm"}),
        "int": book.add_format({**base, "border": 1, "border_color": "#BFBFBF", "num_format": "#,##0"}),
        "flag": book.add_format({**base, "border": 1, "border_color": "#BFBFBF", "bold": True,
                                 "font_color": "#9C0006", "bg_color": "#FFC7CE", "align": "center"}),
        "label": book.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1}),
        "value": book.add_format({**base, "border": 1, "num_format": "#,##0", "align": "right"}),
        "value_text": book.add_format({**base, "border": 1}),
        "value_date": book.add_format({**base, "border": 1, "num_format": "yyyy/mm/dd", "align": "left"}),
        "value_datetime": book.add_format({**base, "border": 1, "num_format": "yyyy/mm/dd hh:mm", "align": "left"}),
        "note": book.add_format({**base, "font_color": "#595959", "italic": True}),
        "count_本": book.add_format({**base, "border": 1, "num_format": '#,##0"本"', "align": "right"}),
        "count_件": book.add_format({**base, "border": 1, "num_format": '#,##0"件"', "align": "right"}),
        "caution": book.add_format({**base, "bold": True, "font_color": "#C00000"}),
    }


def _new_book(path: Path) -> tuple[xlsxwriter.Workbook, dict[str, Any]]:
    book = xlsxwriter.Workbook(str(path), {
        "constant_memory": True,  # rows go straight to disk, in order: faster and flat in memory
        "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
        "default_date_format": "yyyy/mm/dd"})
    book.set_properties({"title": path.stem, "author": "CSS トークン管理係", "company": "CSS"})
    return book, _formats(book)


def _print_setup(ws: Any, title: str, repeat_rows: int, personal: bool = False, widths: Sequence[float] = (),
                 starts: Sequence[int] = (), repeat_columns: int = 0) -> None:
    """A4 landscape, the rows down to `repeat_rows` on every page, the title and page number in the
    page header; one page wide, or the column groups of `pages.lay_out` when `widths` are too wide."""
    if widths:
        lay_out(ws, widths, starts, repeat_columns)
    else:
        ws.set_landscape()
        ws.set_paper(PAPER_A4)
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=SIDE_MARGIN, right=SIDE_MARGIN, top=0.6, bottom=0.6)
    ws.repeat_rows(0, repeat_rows)
    header_footer(ws, title, caution=CAUTION if personal else "")


_EPOCH = dt.date(1899, 12, 30)


def _rows_by_cell(ws: Any, table: Table, fmt: dict[str, Any], first: int = 3) -> None:
    """The data rows through xlsxwriter's own calls, cell by cell, from row `first` (0-based): what
    `_rows` writes faster, kept as the reference it is tested against (and used where xlsxwriter's
    internals are not as expected)."""
    text, blank = fmt["text"], ws.write_blank
    writers = []
    for _, kind, _w in table.columns:
        if kind == DATE:
            writers.append((kind, ws.write_number, fmt["date"]))
        elif kind == INT:
            writers.append((kind, ws.write_number, fmt["int"]))
        elif kind == FLAG:
            writers.append((kind, ws.write_string, fmt["flag"]))
        else:
            writers.append((kind, ws.write_string, text))
    for r, values in enumerate(table.rows, start=first):
        for col, value in enumerate(values):
            if value is None or value == "":
                blank(r, col, None, text)
                continue
            kind, write, style = writers[col]
            if kind == DATE and isinstance(value, dt.date):
                write(r, col, (value - _EPOCH).days, style)  # a date is its serial number, date-formatted
            elif kind == INT and isinstance(value, (int, float)):
                write(r, col, value, style)
            else:
                value, style = str(value), text if kind != FLAG else style
                if len(value) > ws.xls_strmax // 2 and _utf16_len(value) > ws.xls_strmax:
                    value = _utf16_truncate(value, ws.xls_strmax)  # as write_string cuts it (rich text is refused)
                if value.startswith("<r>") and value.endswith("</r>"):
                    # xlsxwriter takes such text for rich-text XML and puts it in unescaped (「<r>&</r>」
                    # in a 備考 would spoil the sheet): written as two runs of itself, it is escaped
                    ws.write_rich_string(r, col, text, value[:1], text, value[1:], style)
                else:
                    ws.write_string(r, col, value, style)


_PLAIN = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")  # what needs escaping
_FAST = all(hasattr(Worksheet, name) for name in ("_write_single_row", "_check_dimensions", "_escape_control_characters",
                                                 "_escape_data"))


def _rows(ws: Any, table: Table, fmt: dict[str, Any], first: int = 3) -> None:
    """The data rows from row `first` (0-based), written as the XML xlsxwriter writes for them in
    constant_memory mode, byte for byte (`_rows_by_cell` is the same cell by cell; tests compare the
    files), a row at a time instead of five calls per cell: this loop writes every cell of a month-end.

    A string is escaped as xlsxwriter escapes it (control characters as _xHHHH_, &<> as entities,
    xml:space="preserve" for leading or trailing space, cut at 32,767 UTF-16 units), except that a
    value that looks like rich text (`<r>…</r>`) is escaped too: xlsxwriter would put it in unescaped.
    """
    rows, columns = table.rows, table.columns
    if len(rows) < 2 or not _FAST or not ws.constant_memory or len(columns) > 16384 or len(rows) + first > 1048576:
        _rows_by_cell(ws, table, fmt, first)
        return
    ws._write_single_row(first)  # the rows before go to the sheet's file, as a write to the first row would do
    text, by_kind = fmt["text"], {DATE: fmt["date"], INT: fmt["int"], FLAG: fmt["flag"]}
    kinds = [kind for _, kind, _w in columns]
    styles = [by_kind.get(kind, text) for kind in kinds]
    letters = [xl_col_to_name(col) for col in range(len(columns))]
    escape_controls, escape_data = ws._escape_control_characters, ws._escape_data
    limit, write = ws.xls_strmax, ws.fh.write

    def string(value: str) -> str:  # the rest of a string cell after its style's number
        if len(value) > half and _utf16_len(value) > limit:
            value = _utf16_truncate(value, limit)
        value = escape_controls(value)
        space = ' xml:space="preserve"' if _preserve_whitespace(value) else ""
        return f'" t="inlineStr"><is><t{space}>{escape_data(value)}</t></is></c>'

    half, unusual, out = limit // 2, _PLAIN.search, []
    for r, values in enumerate(islice(rows, len(rows) - 1), start=first + 1):
        out.append(f'<row r="{r}">')
        for col, value in enumerate(values):
            kind = kinds[col]
            if value is None or value == "":
                out.append(f'<c r="{letters[col]}{r}" s="{text._get_xf_index()}"/>')
            elif kind == DATE and isinstance(value, dt.date):
                out.append(f'<c r="{letters[col]}{r}" s="{styles[col]._get_xf_index()}"><v>{(value - _EPOCH).days:.16G}</v></c>')
            elif kind == INT and isinstance(value, (int, float)):
                if isinstance(value, float) and not math.isfinite(value):
                    raise TypeError("NAN/INF not supported in write_number()")  # as xlsxwriter refuses it
                out.append(f'<c r="{letters[col]}{r}" s="{styles[col]._get_xf_index()}"><v>{value:.16G}</v></c>')
            else:
                style = (styles[col] if kind == FLAG else text)._get_xf_index()
                value = str(value)
                if unusual(value) is None and len(value) <= half:
                    out.append(f'<c r="{letters[col]}{r}" s="{style}" t="inlineStr"><is><t>{value}</t></is></c>')
                else:
                    out.append(f'<c r="{letters[col]}{r}" s="{style}{string(value)}')
        out.append("</row>")
        if len(out) > 4096:
            write("".join(out))
            out.clear()
    write("".join(out))
    # The last row goes in through xlsxwriter's calls, which write it when the workbook is closed (as
    # they did): formats are numbered as first written, so the styles come out in the same order.
    last = first + len(rows) - 1
    ws.previous_row = last
    _rows_by_cell(ws, Table(table.name, columns, rows[-1:]), fmt, last)


def _table_sheet(book: xlsxwriter.Workbook, fmt: dict[str, Any], table: Table, title: str) -> None:
    ws = book.add_worksheet(table.name)
    ws.write_string(0, 0, f"{title}　{table.name}", fmt["title"])
    personal = any(header in PERSONAL for header, _k, _w in table.columns)
    if personal:
        ws.write_string(1, 0, CAUTION, fmt["caution"])
    ws.set_row(2, 30)
    widths = [header_width(header, width) for header, _kind, width in table.columns]
    for col, ((header, _kind, _w), width) in enumerate(zip(table.columns, widths)):
        ws.set_column(col, col, width)
        ws.write_string(2, col, header, fmt["header"])
    _rows(ws, table, fmt)
    if not table.rows:
        ws.write_string(3, 0, "該当なし", fmt["note"])
    ws.freeze_panes(3, 0)
    ws.autofilter(2, 0, 2 + max(len(table.rows), 1), len(table.columns) - 1)
    _print_setup(ws, f"{title}　{table.name}", 2, personal, widths)


def _summary_sheet(book: xlsxwriter.Workbook, fmt: dict[str, Any], title: str, summary: list[tuple[str, Any]],
                   name: str = "概要") -> Any:
    ws = book.add_worksheet(name)
    ws.set_column(0, 0, 28)  # a bank's code and name under a chart (1273 湾岸みずほの信用金庫)
    ws.set_column(1, 1, 38)  # お問い合わせ: the team and its address
    ws.write_string(0, 0, title, fmt["title"])
    for r, (label, value) in enumerate(summary, start=2):
        ws.write_string(r, 0, label, fmt["label"])
        if isinstance(value, dt.datetime):
            ws.write_datetime(r, 1, value, fmt["value_datetime"])
        elif isinstance(value, dt.date):
            ws.write_datetime(r, 1, value, fmt["value_date"])
        elif isinstance(value, Quantity):
            ws.write_number(r, 1, value.value, fmt.get(f"count_{value.unit}", fmt["value"]))
        elif isinstance(value, (int, float)):
            ws.write_number(r, 1, value, fmt["value"])
        else:
            ws.write_string(r, 1, str(value), fmt["value_text"])
    _print_setup(ws, title, 0)  # one page wide, as long as the charts' data is (a 60-month table at 1×1 could not be read)
    return ws


def _chart_data(ws: Any, fmt: dict[str, Any], first_row: int, col: int, title: str,
                data: list[tuple[str, int]], headers: tuple[str, str]) -> tuple[int, int]:
    """Write a chart's data as a small table (so the chart has cells to point at); returns its row span."""
    ws.write_string(first_row, col, title, fmt["label"])
    ws.write_string(first_row + 1, col, headers[0], fmt["header"])
    ws.write_string(first_row + 1, col + 1, headers[1], fmt["header"])
    for r, (label, count) in enumerate(data, start=first_row + 2):
        ws.write_string(r, col, label, fmt["text"])
        ws.write_number(r, col + 1, count, fmt["int"])
    return first_row + 2, first_row + 1 + len(data)


def axis_step(counts: list[int]) -> int:
    """A whole-number step for a count axis, about five gridlines (never 0.2 of a token).

    >>> axis_step([0, 1, 2]), axis_step([]), axis_step([7]), axis_step([130])
    (1, 1, 2, 50)
    """
    top = max(counts, default=0)
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if top <= step * 5:
            return step
    return 10 ** len(str(top // 5))


def _chart(book: xlsxwriter.Workbook, kind: str) -> Any:
    """A chart whose fonts are Meiryo UI for Japanese too: xlsxwriter names a font for Latin text only
    (`<a:latin>`), so Excel drew a title's kana in the theme's Japanese font (ＭＳ Ｐゴシック) and its
    digits and letters in Meiryo UI (issue 19). The same typeface is named for East Asian text."""
    chart = book.add_chart({"type": kind})
    latin = chart._write_a_latin

    def latin_and_east_asian(attributes: list[tuple[str, Any]]) -> None:
        latin(attributes)
        chart._xml_empty_tag("a:ea", attributes)

    chart._write_a_latin = latin_and_east_asian
    return chart


ROW_PX = 20  # a default row's height in pixels (15 points)


def _column_chart(book: xlsxwriter.Workbook, sheet: str, title: str, rows: tuple[int, int], col: int,
                  axis: tuple[str, str], data: list[tuple[str, int]] = (), across: bool = False) -> Any:
    """A column chart of the data at `rows`; `across` draws bars left to right instead, one line per
    label, for long labels such as banks (30 rotated bank names under columns cannot be read)."""
    chart = _chart(book, "bar" if across else "column")
    chart.add_series({
        "name": title,
        "categories": [sheet, rows[0], col, rows[1], col],
        "values": [sheet, rows[0], col + 1, rows[1], col + 1],
        "fill": {"color": "#2E75B6"}, "gap": 60,
    })
    chart.set_title({"name": title, "name_font": {"name": FONT, "size": 12}})
    counts = {"num_font": {"name": FONT, "size": 9}, "name_font": {"name": FONT, "size": 9},
              "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
              **count_axis(max((n for _, n in data), default=0))}
    if across:  # the first label at the top, the count axis below the bars
        chart.set_x_axis({"name": axis[1], **counts})
        chart.set_y_axis({"num_font": {"name": FONT, "size": 8}, "reverse": True, "crossing": "max"})
        chart.set_size({"width": 700, "height": max(330, 16 * len(data) + 90)})
    else:
        chart.set_x_axis({"name": axis[0], "num_font": {"name": FONT, "size": 8, "rotation": -45},
                          "name_font": {"name": FONT, "size": 9}, **({"interval_unit": 3} if len(data) > 30 else {})})
        chart.set_y_axis({"name": axis[1], **counts})
        chart.set_size({"width": 700, "height": 330})  # the page stays ≥ 80 % beside the figures
    chart.set_legend({"none": True})
    return chart


Chart = tuple[str, list[tuple[str, int]], tuple[str, str], tuple[str, str]]  # name, data, headers, axis names


def _write_report(folder: Path, file_name: str, title: str, summary: list[tuple[str, Any]], charts: list[Chart],
                  tables: list[Table], forecast: list[tuple[str, int, int]] | None = None) -> Path:
    """概要 (figures, then each chart's data with its chart beside, then the stock forecast's when
    given), then one sheet per table; written beside its final name and moved into place."""
    path = folder / file_name
    tmp = folder / f".{file_name}.{os.getpid()}.tmp"
    book, fmt = _new_book(tmp)
    try:
        ws = _summary_sheet(book, fmt, title, summary)
        row, chart_row = len(summary) + 3, 2
        for name, data, headers, axis in charts:
            rows = _chart_data(ws, fmt, row, 0, name, data, headers)
            chart = _column_chart(book, "概要", name, rows, 0, axis, data, across=headers[0] == "金庫")
            ws.insert_chart(chart_row, 3, chart)
            chart_row += -(-chart.height // ROW_PX) + 1
            row = rows[1] + 2
        if forecast:
            forecast_chart(book, ws, fmt, row, chart_row, forecast)
        for table in tables:
            _table_sheet(book, fmt, table, title)
        book.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_bank_report(report: BankReport, folder: Path) -> Path:
    title = marked(f"{report.bank_name} ハードウェアトークン月次報告（{month_label(report.month)}）", report.mark)
    chart = (f"使用期限の到来（今後{len(report.expiry_chart)}か月）", report.expiry_chart, ("月", "本数"), ("月", "本数"))
    return _write_report(folder, report.file_name, title, report.summary, [chart], report.tables)


CHART_CATEGORY = {"CSS在庫の残存期間": "残存期間", "金庫別 利用中": "金庫"}  # the header over each chart's labels


def write_css_report(report: CssReport, folder: Path) -> Path:
    charts = [(name, data, (CHART_CATEGORY.get(name, "区分"), "本数"), ("", "本数")) for name, data in report.charts.items()]
    title = marked(f"CSS トークン在庫月報（{month_label(report.month)}）", report.mark)
    return _write_report(folder, report.file_name, title, report.summary, charts, report.tables, report.forecast)


# --- issue 11: the stock forecast's chart, and axes that stay readable with small counts -------------

FORECAST_TITLE = "CSS在庫の予測（使用可・26週）と発注点"


def forecast_chart(book: xlsxwriter.Workbook, ws: Any, fmt: dict[str, Any], first_row: int, chart_row: int,
                   weeks: list[tuple[str, int, int]], col: int = 0) -> None:
    """The forecast's data (週, 予測在庫, 発注点) under the sheet's figures and a chart of it beside:
    projected CSS stock as columns, the reorder point as a line."""
    ws.write_string(first_row, col, FORECAST_TITLE, fmt["label"])
    for offset, header in enumerate(("週", "予測在庫", "発注点")):
        ws.write_string(first_row + 1, col + offset, header, fmt["header"])
    for r, (label, projected, reorder) in enumerate(weeks, start=first_row + 2):
        ws.write_string(r, col, label, fmt["text"])
        ws.write_number(r, col + 1, projected, fmt["int"])
        ws.write_number(r, col + 2, reorder, fmt["int"])
    top, bottom = first_row + 2, first_row + 1 + len(weeks)
    name = ws.get_name()
    chart = _chart(book, "column")
    chart.add_series({"name": "予測在庫（使用可）", "categories": [name, top, col, bottom, col],
                      "values": [name, top, col + 1, bottom, col + 1], "fill": {"color": "#2E75B6"}, "gap": 40})
    line = _chart(book, "line")
    line.add_series({"name": "発注点", "categories": [name, top, col, bottom, col],
                     "values": [name, top, col + 2, bottom, col + 2], "line": {"color": "#C00000", "width": 2.25}})
    chart.combine(line)
    chart.set_title({"name": FORECAST_TITLE, "name_font": {"name": FONT, "size": 12}})
    chart.set_x_axis({"name": "週次バッチ", "num_font": {"name": FONT, "size": 8, "rotation": -45},
                      "name_font": {"name": FONT, "size": 9}, "interval_unit": 2})
    chart.set_y_axis({"name": "本数", "min": 0, "num_font": {"name": FONT, "size": 9}, "name_font": {"name": FONT, "size": 9},
                      "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
                      **count_axis(max([v for _, p, r in weeks for v in (p, r)], default=0))})
    chart.set_legend({"position": "bottom", "font": {"name": FONT, "size": 9}})
    chart.set_size({"width": 700, "height": 330})
    ws.insert_chart(chart_row, 3 + col, chart)


def count_axis(largest: int) -> dict[str, Any]:
    """A count axis that shows whole numbers only: with small counts (a bank with 3 tokens due in a
    month) a chart program would otherwise label 0.5 steps."""
    step = axis_step([largest])
    return {"min": 0, "max": step * max(1, -(-largest // step)), "major_unit": step, "num_format": "#,##0"}


def _portable(report: BankReport) -> BankReport:
    """The report as sent to a writer process: its rows as plain tuples (pickled at C speed; a
    named tuple is pickled through a Python call per row), every value as it was."""
    tables = [Table(t.name, t.columns, list(map(tuple, t.rows))) for t in report.tables]
    return replace(report, tables=tables)


def writer_pool(workers: int = 2) -> ProcessPoolExecutor:
    """Writer processes for `write_bank_reports`, started now. Made before a ledger is read, a
    forked writer holds nothing of it: it shares the parent's few pages of code and modules, and
    everything it writes comes to it over a pipe. Where processes cannot be forked they are spawned."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                               initializer=gc.enable)  # forked from a run, where it is paused (runs.guarded)
    if method == "fork":
        pool.submit(int).result()  # a forking pool starts all its processes at the first task
    return pool


def _write_and_read(report: BankReport, folder: Path) -> tuple[Path, Any, str]:
    """A writer process's task: the bank's workbook, and its content digest read back from it there
    (what the mail will say it holds), so the parent does not read every workbook again."""
    path = write_bank_report(report, folder)
    key = file_key(path)
    return path, key, content_digest(path)


def write_bank_reports(month: Month, banks: list[Bank], created: dt.datetime, folder: Path, workers: int = 2,
                       meanwhile: Callable[[], None] | None = None,
                       pool: ProcessPoolExecutor | None = None) -> Iterator[Path]:
    """Every bank's workbook: made here, bank by bank, and written on `workers` processes (`pool`,
    from `writer_pool` before the ledger was read, or spawned here); yields paths in the banks'
    order as they are done. `meanwhile` (the CSS report) runs here once the last bank's report is
    handed over, while the writers finish.

    A writer never has the ledger: a process forked once the ledger is in memory would copy it page
    by page as either side touched it (2.6 GB per writer at 1,000,000 tokens). It receives one bank's
    report at a time, so the processes together hold the ledger once, in the parent, and a few
    banks' rows besides: at most `2 × workers` reports are in flight, the parent making the next
    while the writers write.
    """
    if workers <= 1 or len(banks) < 4:
        for bank in banks:
            yield write_bank_report(month.bank_report(bank, created), folder)
        if meanwhile is not None:
            meanwhile()
        return
    own = pool is None
    if own:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending: deque[Future[tuple[Path, Any, str]]] = deque()

        def done() -> Path:
            path, key, digest = pending.popleft().result()
            remember_digest(key, digest)
            return path

        for bank in banks:
            pending.append(pool.submit(_write_and_read, _portable(month.bank_report(bank, created)), folder))
            while len(pending) > 2 * workers or (pending and pending[0].done()):
                yield done()
        if meanwhile is not None:
            meanwhile()
        while pending:
            yield done()
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)


# --- lists handed on and taken back (issue 17: the 共同センター transmission list) ----------------------

def write_list(path: Path, sheet: str, title: str, table: Table) -> Path:
    """A one-sheet list whose header is row 1, so that it reads back as a table (`files.lists`):
    same fonts, formats and print setup as the reports, the title in the page header."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    book, fmt = _new_book(tmp)
    try:
        ws = book.add_worksheet(sheet)
        ws.set_row(0, 22)
        for col, (header, _kind, width) in enumerate(table.columns):
            ws.set_column(col, col, width)
            ws.write_string(0, col, header, fmt["header"])
        _rows(ws, table, fmt, first=1)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(table.rows), 1), len(table.columns) - 1)
        _print_setup(ws, title, 0, any(header in PERSONAL for header, _k, _w in table.columns),
                     [width for _h, _k, width in table.columns])
        book.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
