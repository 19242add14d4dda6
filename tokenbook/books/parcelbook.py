"""The print set of a batch (発送書類, issue 10): one workbook with the picking list (A4 landscape, in
packing order) and one cover letter per parcel (送付のご案内, A4 portrait, one page each), ready to
print from Excel. A workbook rather than a PDF: Excel and LibreOffice lay out Japanese with the
fonts of the PC they print on, where a PDF would need fonts embedded or a viewer that supplies them.

Letters follow the Japanese business-letter layout: parcel number and date top right, the
addressee's block (〒, address, name with 様 / 御中) top left, the sender's block right, the title,
拝啓 … 敬具, 記 with the enclosed items (each token's serial and 使用期限, the IB card), notes, 以上.
Strings are always text (a name like `=1+1` prints as typed).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import xlsxwriter

from ..models import Settings
from ..parcels import TO_BANK, Batch, Parcel
from ..report import DATE, TEXT, Table
from .reportbook import _formats, _table_sheet

LETTER_FONT = "ＭＳ 明朝"
PAPER_A4 = 9
WIDTHS = (5, 12, 12, 14, 10, 12, 12, 11)  # A..H: about 88 characters across A4 portrait
LAST = len(WIDTHS) - 1

PICKING_COLUMNS = (("No.", TEXT, 5), ("金庫コード", TEXT, 9), ("金庫名", TEXT, 20), ("発送番号", TEXT, 15),
                   ("依頼番号", TEXT, 15), ("申込区分", TEXT, 9), ("送付先", TEXT, 7), ("送付先氏名", TEXT, 24),
                   ("シリアル番号", TEXT, 15), ("ロット番号", TEXT, 12), ("使用期限", DATE, 11), ("IBカード", TEXT, 8),
                   ("確認", TEXT, 6))


def file_name(batch_id: str) -> str:
    return f"{batch_id}_発送書類.xlsx"


def picking_table(batch: Batch) -> Table:
    """One row per token, parcel by parcel, in packing order; the IB card once per parcel."""
    rows: list[tuple[Any, ...]] = []
    for number, p in enumerate(batch.parcels, start=1):
        for i, item in enumerate(p.items):
            card = ("有" if p.ib_card else "無") if i == 0 else ""
            rows.append((str(number) if i == 0 else "", p.bank_code, p.bank_name, p.parcel_id, p.request_id, p.kind,
                         p.destination, f"{p.organisation} {p.addressee}".strip(), item.serial, item.lot, item.expires_on, card, "□"))
    return Table("ピッキングリスト", PICKING_COLUMNS, rows)


def write_parcel_book(batch: Batch, settings: Settings, folder: Path, created: dt.datetime) -> Path:
    """`{batch}_発送書類.xlsx` in `folder`: ピッキングリスト, then 送付状 (one page per parcel)."""
    path = folder / file_name(batch.batch_id)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    book = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_numbers": False,
                                          "strings_to_urls": False, "default_date_format": "yyyy/mm/dd"})
    try:
        book.set_properties({"title": path.stem, "author": settings.sender_org, "created": created})
        fmt = _formats(book)
        title = f"発送書類 {batch.batch_id}（発送日 {batch.ship_on:%Y/%m/%d}・{len(batch.parcels)}個口）"
        _table_sheet(book, fmt, picking_table(batch), title)
        _letters(book, batch, settings)
        book.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _letter_formats(book: xlsxwriter.Workbook) -> dict[str, Any]:
    base = {"font_name": LETTER_FONT, "font_size": 10.5, "valign": "top"}

    def f(**more: Any) -> Any:
        return book.add_format({**base, **more})

    return {
        "text": f(), "wrap": f(text_wrap=True), "right": f(align="right"), "small": f(font_size=9, align="right"),
        "name": f(font_size=14, text_wrap=True), "title": f(font_size=18, bold=True, align="center", valign="vcenter"),
        "center": f(align="center"),
        "head": f(bold=True, align="center", valign="vcenter", border=1, bg_color="#EDEDED"),
        "cell": f(border=1, valign="vcenter"), "cell_center": f(border=1, align="center", valign="vcenter"),
        "date": f(border=1, align="center", valign="vcenter", num_format="yyyy年m月d日"),
    }


def _letters(book: xlsxwriter.Workbook, batch: Batch, settings: Settings) -> None:
    ws = book.add_worksheet("送付状")
    fmt = _letter_formats(book)
    for col, width in enumerate(WIDTHS):
        ws.set_column(col, col, width)
    ws.hide_gridlines(2)
    ws.set_portrait()
    ws.set_paper(PAPER_A4)
    ws.set_margins(left=0.7, right=0.6, top=0.8, bottom=0.6)
    ws.fit_to_pages(1, 0)
    breaks = []
    row = 0
    for parcel in batch.parcels:
        if row:
            breaks.append(row)
        row = _letter(ws, fmt, row, parcel, settings)
    ws.set_h_pagebreaks(breaks)
    ws.print_area(0, 0, max(row - 1, 0), LAST)


def _span(ws: Any, row: int, first: int, last: int, text: str, style: Any, height: float | None = None) -> None:
    if height is not None:
        ws.set_row(row, height)
    if first == last:
        ws.write_string(row, first, text, style)
    else:
        ws.merge_range(row, first, row, last, text, style)


def _letter(ws: Any, fmt: dict[str, Any], top: int, p: Parcel, s: Settings) -> int:
    """One letter from row `top`; returns the row after it."""
    to_bank = p.destination == TO_BANK
    r = top
    _span(ws, r, 5, LAST, f"発送番号 {p.parcel_id}", fmt["small"])
    r += 1
    _span(ws, r, 5, LAST, _japanese_date(p.ship_on), fmt["right"])
    r += 2
    _span(ws, r, 0, 4, f"〒{p.postal_code}", fmt["text"])
    r += 1
    _span(ws, r, 0, 4, p.address, fmt["wrap"], height=30)
    r += 1
    if p.organisation:
        _span(ws, r, 0, 4, p.organisation, fmt["name"], height=22)
        r += 1
    _span(ws, r, 0, 4, p.addressee, fmt["name"], height=40)
    r += 2
    sender = [s.sender_org, f"〒{s.sender_postal_code}" if s.sender_postal_code else "", s.sender_address,
              f"TEL {s.sender_phone}" if s.sender_phone else "", f"担当 {s.sender_contact}" if s.sender_contact else ""]
    for line in [x for x in sender if x]:
        _span(ws, r, 5, LAST, line, fmt["text"])
        r += 1
    r += 1
    _span(ws, r, 0, LAST, "送付のご案内", fmt["title"], height=32)
    r += 2
    if to_bank:
        purpose = ("ご依頼のハードウェアトークンを下記のとおりお送りいたします。お手数ですが、内容をご確認のうえ、"
                   "窓口での手交までご保管くださいますようお願い申し上げます。")
    else:
        purpose = (f"{p.bank_name}のインターネットバンキングでご利用いただくハードウェアトークン"
                   f"{'とIBカード' if p.ib_card else ''}を、{p.bank_name}に代わり下記のとおりお送りいたします。"
                   "ご査収くださいますようお願い申し上げます。")
    body = ("拝啓　時下ますますご清栄のこととお慶び申し上げます。平素は格別のご高配を賜り、厚く御礼申し上げます。\n"
            f"　さて、{purpose}")
    _span(ws, r, 0, LAST, body, fmt["wrap"], height=15 * (3 + len(body) // 44))
    r += 1
    _span(ws, r, 6, LAST, "敬具", fmt["right"])
    r += 2
    _span(ws, r, 0, LAST, "記", fmt["center"])
    r += 2
    ws.set_row(r, 20)
    for first, last, header in ((0, 0, "No."), (1, 2, "品名"), (3, 4, "シリアル番号"), (5, 6, "使用期限"), (7, 7, "数量")):
        _span(ws, r, first, last, header, fmt["head"])
    r += 1
    lines = [("ハードウェアトークン", item.serial, item.expires_on) for item in p.items]
    if p.ib_card:
        lines.append(("IBカード", "", None))
    for number, (name, serial, expires) in enumerate(lines, start=1):
        ws.set_row(r, 20)
        ws.write_string(r, 0, str(number), fmt["cell_center"])
        ws.merge_range(r, 1, r, 2, name, fmt["cell"])
        ws.merge_range(r, 3, r, 4, serial, fmt["cell_center"])
        if expires is not None:
            ws.merge_range(r, 5, r, 6, "", fmt["date"])
            ws.write_datetime(r, 5, dt.datetime.combine(expires, dt.time()), fmt["date"])
        else:
            ws.merge_range(r, 5, r, 6, "", fmt["cell"])
        ws.write_string(r, 7, "1", fmt["cell_center"])
        r += 1
    r += 1
    notes = ["トークンは電池を内蔵しており、電池の交換はできません。使用期限までにお取替えのご案内があります。"]
    if p.ib_card:
        notes.append("IBカードは、トークンとは別に大切に保管してください。")
    if to_bank:
        notes.append("同封のトークンは、貴庫の金庫保管分として記録しております。")
    else:
        notes.append(f"お取引内容についてのお問い合わせは、{p.bank_name}の窓口へお願いいたします。")
    notes.append(f"本状の発送についてのお問い合わせは、{s.sender_org}{'（担当 ' + s.sender_contact + '）' if s.sender_contact else ''}"
                 f"{'　TEL ' + s.sender_phone if s.sender_phone else ''}へお願いいたします。")
    for note in notes:
        _span(ws, r, 0, LAST, f"・{note}", fmt["wrap"], height=28)
        r += 1
    _span(ws, r, 6, LAST, "以上", fmt["right"])
    return r + 2


def _japanese_date(day: dt.date | None) -> str:
    """`2026年11月30日`, or its 令和 form for dates from 2019-05-01."""
    if day is None:
        return ""
    if day >= dt.date(2019, 5, 1):
        year = day.year - 2018
        return f"令和{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return f"{day.year}年{day.month}月{day.day}日"
