"""How a wide sheet prints on A4 (issue 19): one page wide while that stays readable, else groups of
columns on pages side by side, the key columns repeated at the left of each and the header row at
the top, printed "over, then down" so a page's rows are followed by the same rows' other columns.

Excel ignores manual page breaks when a sheet is set to fit to N pages, so a split sheet gets a
fixed scale chosen so that its widest group fits, and a column break before each later group.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any, Sequence

PAPER_A4 = 9
FONT = "Meiryo UI"
SIDE_MARGIN = 0.4  # inches, left and right
# An A4 landscape page's printable width at 100 %, in screen pixels (96 per inch).
PRINTABLE_PX = int((297 / 25.4 - 2 * SIDE_MARGIN) * 96)
CAUTION = "取扱注意（個人情報を含みます）"
PERSONAL = {"顧客番号", "顧客名", "送付先氏名", "送付先住所", "送付先電話", "宛先"}  # headers that make a sheet personal
READABLE = 75  # the smallest scale (%) a 10-point sheet may be shrunk to and still be read (7.5 points)
SLACK = 0.95  # what a group may fill of the page: widths differ a little between Excel and LibreOffice


def column_px(width: float) -> int:
    """Excel's pixels for a column `width` (in characters of the book's default font, Calibri 11: 7 px each)."""
    return int(width * 7 + 5)


def header_width(header: str, width: float) -> float:
    """A column at least as wide as its header on one line, up to 15 (a longer header wraps onto
    two lines): 使用可（期首） at 12 was cut as 使用可（期首 / ）.

    >>> header_width("使用可（期首）", 12), header_width("月", 6), header_width("期限に間に合わない", 12)
    (15, 6, 15)
    """
    shown = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in header)
    return max(width, min(shown + 1, 15))


def groups(widths: Sequence[float], starts: Sequence[int] = (), repeat: int = 0) -> list[range]:
    """The column groups a sheet prints as: from `starts` (the first column of each later group) when
    given, else as many columns as fit at 100 % next to the `repeat` key columns.

    >>> groups([10] * 6, starts=[2, 4]), groups([40] * 3), groups([50] * 4, repeat=1)
    ([range(0, 2), range(2, 4), range(4, 6)], [range(0, 3)], [range(0, 2), range(2, 3), range(3, 4)])
    """
    if starts:
        edges = [0, *starts, len(widths)]
        return [range(a, b) for a, b in zip(edges, edges[1:])]
    keys = sum(column_px(w) for w in widths[:repeat])
    found: list[range] = []
    first, used = 0, 0
    for col, width in enumerate(widths):
        px = column_px(width)
        if col > first and used + px > PRINTABLE_PX * SLACK:
            found.append(range(first, col))
            first, used = col, keys
        used += px
    found.append(range(first, len(widths)))
    return found


def scale_for(widths: Sequence[float], spans: Sequence[range], repeat: int = 0) -> int:
    """The largest scale, in steps of 5 % and at most 100 %, at which every group fits beside the key columns."""
    keys = sum(column_px(w) for w in widths[:repeat])
    widest = max(sum(column_px(widths[c]) for c in span) + (keys if span.start >= repeat else 0) for span in spans)
    return min(100, math.floor(PRINTABLE_PX * SLACK / widest * 100 / 5) * 5)


def lay_out(ws: Any, widths: Sequence[float], starts: Sequence[int] = (), repeat: int = 0,
            readable: int = READABLE) -> int:
    """A4 landscape, and either one page wide (when that needs no less than `readable` %) or column
    groups (`groups`) with the first `repeat` columns repeated; returns the print scale, 0 for fit to width."""
    ws.set_landscape()
    ws.set_paper(PAPER_A4)
    ws.set_margins(left=SIDE_MARGIN, right=SIDE_MARGIN, top=0.6, bottom=0.6)
    total = sum(column_px(w) for w in widths)
    if total * readable / 100 <= PRINTABLE_PX:
        ws.fit_to_pages(1, 0)  # one page wide, as long as it takes
        return 0
    spans = groups(widths, starts, repeat)
    scale = scale_for(widths, spans, repeat)
    ws.set_print_scale(scale)
    ws.set_v_pagebreaks([span.start for span in spans[1:]])
    if repeat:
        ws.repeat_columns(0, repeat - 1)
    ws.print_across()
    return scale


def starts_at(headers: Sequence[str], firsts: Sequence[str]) -> list[int]:
    """The column index of each header that begins a later group."""
    return [list(headers).index(h) for h in firsts]


def escape(text: str) -> str:
    """Text for a page header or footer (`&` is its escape character)."""
    return text.replace("&", "&&")


def header_footer(ws: Any, left: str, center: str = "", caution: str = "") -> None:
    """The page header: `left` (the book's or sheet's title), `center`, the page number on the right;
    `caution` (取扱注意) in red beside the page number (a long title would run into it in the middle)
    and in the footer's middle."""
    middle = f"&C&\"{FONT}\"&9{escape(center)}" if center else ""
    red = f"&\"{FONT},Bold\"&9&KC00000{escape(caution)}&K000000　" if caution else ""
    ws.set_header(f"&L&\"{FONT}\"&9{escape(left[:90])}{middle}&R{red}&\"{FONT}\"&9&P / &N ページ")  # Excel: 255 at most
    if caution:
        ws.set_footer(f"&C&\"{FONT},Bold\"&9&KC00000{escape(caution)}")
