"""The documents of a batch (issue 10 item 3): picking list, cover letters, carrier files — checked
by content (every parcel once, each letter with its own address and serials only, cp932 round trip,
the presets' column order), and the bad cases (a character a label cannot print, a missing sender)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest

from conftest import BANK
from tokenbook import schema
from tokenbook.books.carrier import B2_COLUMNS, YUPRI_COLUMNS
from tokenbook.files.sheetio import column_letter
from tokenbook.cli import main
from tokenbook.load import check_book
from tokenbook.models import setting_rows
from tokenbook.runs import Run, run_allocate, run_parcels

D = dt.date
AS_OF = D(2026, 11, 24)  # cutoff Tue 11-24 → batch 2026-W48, ★ Mon 11-30
NOW = dt.datetime(2026, 11, 24, 15, 0)
SENDER = {"発送元郵便番号": "1000005", "発送元住所": "東京都千代田区丸の内1-1-1", "発送元電話": "03-1111-2222",
          "発送元名称": "CSS株式会社 トークン管理係", "発送元担当者": "山本", "B2請求先顧客コード": "012345678901"}


def settings(**changes):
    values = {**SENDER, **changes}
    return [{"項目": s.key, "値": values.get(s.key, s.default)} for s in setting_rows()]


def stock(n, owner="CSS"):
    return {"シリアル番号": f"TK260000{n:04d}", "所有者": owner, "状態": "在庫", "納品日": D(2026, 10, 1),
            "入庫日": D(2026, 10, 2), "ロット番号": "L2610A"}


def request(n, **values):
    base = {"依頼番号": f"R20261120-00{n}", "受付日": D(2026, 11, 20), "金庫コード": "1234", "店番": "001",
            "申込区分": "新規", "数量": 1, "発送方法": "顧客郵送", "IBカード": "無", "状態": "受付"}
    return {**base, **values}


CORPORATE = request(1, 顧客番号="0000456", 顧客名="株式会社青葉商事", 顧客区分="法人", 数量=2, IBカード="有",
                    IB登録日=D(2026, 11, 20), 共同センター伝送日=D(2026, 11, 20), 送付先郵便番号="530-0001",
                    送付先住所="大阪府大阪市北区梅田1-1-1 梅田ビル3階", 送付先氏名="株式会社青葉商事 経理部",
                    送付先電話="06-1234-5678")
TO_BANK = request(2, 店番="002", 申込区分="金庫補充", 発送方法="金庫郵送")
PERSONAL = request(3, 顧客番号="0000789", 顧客名="佐藤 翔太", 顧客区分="個人", 送付先郵便番号="060-0001",
                   送付先住所="北海道札幌市中央区北一条西1-1", 送付先氏名="佐藤 翔太", 送付先電話="011-222-3333")
PHONE = column_letter([c.header for c in schema.BANK_COLUMNS].index("電話番号"))  # 金庫's 電話番号 column
BANK_WITH_PHONE = {**BANK, "電話番号": "03-5555-6666", "宛先": "事務部 トークン担当"}


@pytest.fixture
def allocated(book_file):
    def make(**changes) -> Path:
        records = {"banks": [BANK_WITH_PHONE], "tokens": [stock(n) for n in range(1, 7)],
                   "requests": [CORPORATE, TO_BANK, PERSONAL], "settings": settings()}
        records.update(changes)
        book = book_file(**records)
        outcome = run_allocate(Run(book, NOW, "test"), AS_OF)
        assert outcome.exit_code == 0, outcome.lines
        return book
    return make


def letters(path: Path) -> list[list[str]]:
    """The 送付状 sheet cut at its page breaks: each letter's texts, top to bottom."""
    ws = openpyxl.load_workbook(path)["送付状"]
    breaks = [b.id for b in ws.row_breaks.brk]
    pages, current = [], []
    for row in ws.iter_rows():
        if row[0].row - 1 in breaks and current:
            pages.append(current)
            current = []
        current += [str(c.value) for c in row if c.value not in (None, "")]
    pages.append(current)
    return pages


def test_a_batch_gives_a_picking_list_one_letter_per_parcel_and_a_carrier_file(allocated, tmp_path):
    book = allocated()
    out = tmp_path / "out"
    outcome = run_parcels(Run(book, NOW, "test"), "2026-W48", out)
    assert outcome.exit_code == 0, outcome.lines
    assert outcome.headline == "2026-W48 発送書類 3個口（4本）"
    dispatches = check_book(book, AS_OF).ledger.dispatches
    parcels = {d.dispatch_id: [] for d in dispatches}
    for d in dispatches:
        parcels[d.dispatch_id].append(d.serial)

    picking = openpyxl.load_workbook(out / "2026-W48_発送書類.xlsx")["ピッキングリスト"]
    rows = [tuple(c.value for c in r) for r in picking.iter_rows(min_row=4) if r[8].value]
    assert [(r[3], r[8]) for r in rows] == [(p, s) for p, serials in sorted(parcels.items()) for s in sorted(serials)]
    assert {r[3]: r[11] for r in rows if r[11]} == {"2026-W48-0001": "有", "2026-W48-0002": "無", "2026-W48-0003": "無"}
    assert {r[9] for r in rows} == {"L2610A"}
    assert [r[6] for r in rows if r[0]] == ["顧客", "金庫", "顧客"]

    pages = letters(out / "2026-W48_発送書類.xlsx")
    assert len(pages) == 3
    corporate, bank, personal = pages
    assert "〒530-0001" in corporate and "株式会社青葉商事 経理部　御中" in corporate
    assert "IBカード" in corporate and "送付のご案内" in corporate
    assert "〒100-0001" in bank and "事務部 トークン担当　御中" in bank  # 金庫郵送: the bank's own address
    assert bank[bank.index("〒100-0001") + 2] == "あおば信用金庫"  # the bank's name above its department
    assert "佐藤 翔太　様" in personal and "〒060-0001" in personal
    for page, parcel in zip(pages, sorted(parcels)):  # each letter: its own serials, nobody else's
        text = "\n".join(page)
        assert f"発送番号 {parcel}" in text
        assert {s for s in (x.serial for x in check_book(book, AS_OF).ledger.tokens) if s in text} == set(parcels[parcel])
    assert "IBカード" not in "\n".join(personal)
    assert "佐藤" not in "\n".join(corporate + bank) and "青葉商事" not in "\n".join(bank + personal)

    raw = (out / "2026-W48_送り状_ゆうプリR.csv").read_bytes()
    assert raw.endswith(b"\r\n") and raw.decode("cp932").encode("cp932") == raw
    lines = list(csv.reader(io.StringIO(raw.decode("cp932"), newline="")))
    assert [len(line) for line in lines] == [len(YUPRI_COLUMNS)] * 3  # no header: positional
    by_key = {line[0]: dict(zip(YUPRI_COLUMNS, line)) for line in lines}
    assert sorted(by_key) == sorted(parcels)
    first = by_key["2026-W48-0001"]
    assert (first["お届け先郵便番号"], first["お届け先住所1"], first["お届け先名称1"], first["お届け先敬称区分"],
            first["お届け先電話番号"], first["記事"], first["発送予定日"]) == (
        "5300001", "大阪府大阪市北区梅田1-1-1 梅田ビル3階", "株式会社青葉商事 経理部", "2", "06-1234-5678",
        "IBカード同封", "20261130")
    assert by_key["2026-W48-0002"]["お届け先電話番号"] == "03-5555-6666"  # the bank's phone
    assert (by_key["2026-W48-0002"]["お届け先名称1"], by_key["2026-W48-0002"]["お届け先名称2"]) == (
        "あおば信用金庫", "事務部 トークン担当")
    assert by_key["2026-W48-0003"]["お届け先敬称区分"] == "0"
    assert first["ご依頼主郵便番号"] == "1000005" and first["品名"] == "電子機器（リチウム電池内蔵）"


def test_the_b2_cloud_preset_writes_its_97_items_with_a_header(allocated, tmp_path):
    book = allocated(settings=settings(送り状形式="B2クラウド"))
    assert main(["parcels", "--batch", "2026-W48", "--book", str(book), "--out", str(tmp_path)]) == 0
    raw = (tmp_path / "2026-W48_送り状_B2クラウド.csv").read_bytes()
    lines = list(csv.reader(io.StringIO(raw.decode("cp932"), newline="")))
    assert lines[0] == list(B2_COLUMNS) and all(len(line) == 97 for line in lines)
    row = dict(zip(range(1, 98), lines[1]))
    assert (row[1], row[2], row[4], row[5], row[9], row[11], row[16], row[22], row[28], row[40], row[42]) == (
        "2026-W48-0001", "0", "", "2026/11/30", "06-1234-5678", "530-0001", "株式会社青葉商事 経理部", "100-0005",
        "電子機器（リチウム電池内蔵）", "012345678901", "01")
    assert row[12] + row[13] == "大阪府大阪市北区梅田1-1-1 梅田ビル3階"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"requests": [{**PERSONAL, "送付先氏名": "髙橋 一郎"}]}, {("発送", "J2", "parcel-not-cp932")}),
    ({"requests": [{**PERSONAL, "送付先住所": "北海道札幌市中央区北一条西1-1 ①号棟"}]}, {("発送", "I2", "parcel-not-cp932")}),
    ({"requests": [{**PERSONAL, "送付先氏名": "株式会社ものすごく長い名前の会社の担当者さま"}],
      "settings": settings(送り状形式="B2クラウド")}, {("発送", "J2", "parcel-too-long")}),  # B2: 16 全角
    ({"settings": settings(発送元住所="")}, {("設定", None, "parcel-sender-missing")}),
    ({"settings": settings(送り状形式="B2クラウド", B2請求先顧客コード="")}, {("設定", None, "parcel-sender-missing")}),
    ({"banks": [BANK], "requests": [TO_BANK]}, {("金庫", f"{PHONE}2", "parcel-address-missing")}),  # no phone for the bank
])
def test_a_label_that_cannot_be_printed_stops_the_documents(allocated, tmp_path, changes, expected):
    book = allocated(**changes)
    outcome = run_parcels(Run(book, NOW, "test"), "2026-W48", tmp_path / "out")
    assert outcome.exit_code == 1
    assert {(p.sheet, p.cell, p.code) for p in outcome.problems if p.is_error} == expected
    assert not (tmp_path / "out").exists()


def test_a_batch_without_parcels_or_a_bad_id(allocated, tmp_path, capsys):
    book = allocated()
    assert main(["parcels", "--batch", "2026-W40", "--book", str(book), "--out", str(tmp_path / "out")]) == 1
    assert "バッチ 2026-W40 の発送がありません" in capsys.readouterr().out
    assert main(["parcels", "--batch", "W48", "--book", str(book), "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()
