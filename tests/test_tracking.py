"""Tracking numbers back from the carrier (issue 10 item 3): matched by parcel number only; unknown,
duplicate, differing or broken numbers reported and nothing written; the bank report's 当月発送
shows 店番, 送付先, IBカード and 追跡番号."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from conftest import BANK, TODAY
from tokenbook.cli import main
from tokenbook.load import check_book
from tokenbook.runs import Run, run_tracking

D = dt.date
NOW = dt.datetime.combine(TODAY, dt.time(10))


def use(serial, customer, branch="001"):
    return {"シリアル番号": serial, "所有者": "CSS", "状態": "利用中", "納品日": D(2026, 1, 10), "入庫日": D(2026, 1, 12),
            "金庫コード": "1234", "店番": branch, "顧客番号": customer, "顧客名": "顧客" + customer,
            "利用開始日": D(2026, 11, 16)}


TOKENS = [use("TK00000011", "0000011", "002"), use("TK00000012", "0000011", "002"),
          {**use("TK00000013", ""), "状態": "金庫保管", "所有者": "1234", "顧客番号": "", "顧客名": "", "利用開始日": None},
          {"シリアル番号": "TK00000014", "所有者": "CSS", "状態": "在庫", "納品日": D(2026, 1, 10)}]
REQUESTS = [
    {"依頼番号": "R20261110-001", "受付日": D(2026, 11, 10), "金庫コード": "1234", "店番": "002", "顧客番号": "0000011",
     "顧客名": "顧客0000011", "顧客区分": "法人", "申込区分": "新規", "数量": 2, "発送方法": "顧客郵送", "IBカード": "有",
     "送付先郵便番号": "530-0001", "送付先住所": "大阪府大阪市北区梅田1-1-1", "送付先氏名": "株式会社青葉商事",
     "送付先電話": "06-1234-5678", "IB登録日": D(2026, 11, 10), "共同センター伝送日": D(2026, 11, 10),
     "IBカード受領日": D(2026, 11, 13), "状態": "完了"},
    {"依頼番号": "R20261110-002", "受付日": D(2026, 11, 10), "金庫コード": "1234", "店番": "001", "申込区分": "金庫補充",
     "数量": 1, "発送方法": "金庫郵送", "状態": "完了"},
    {"依頼番号": "R20261110-003", "受付日": D(2026, 11, 10), "金庫コード": "1234", "店番": "001", "申込区分": "金庫補充",
     "数量": 1, "発送方法": "金庫郵送", "状態": "取消"},
]


def parcel(number, request, serial, state="発送済", tracking="", ib="無", shipped=D(2026, 11, 16)):
    return {"発送番号": number, "バッチ": number[:8], "依頼番号": request, "シリアル番号": serial, "金庫コード": "1234",
            "発送予定日": shipped, "発送日": shipped if state == "発送済" else None,
            "IBカード": ib, "追跡番号": tracking, "状態": state}


DISPATCHES = [parcel("2026-W46-0001", "R20261110-001", "TK00000011", ib="有"),
              parcel("2026-W46-0001", "R20261110-001", "TK00000012", ib="有"),
              parcel("2026-W46-0002", "R20261110-002", "TK00000013"),
              parcel("2026-W46-0003", "R20261110-003", "TK00000014", state="取消"),
              parcel("2026-W44-0009", "R20261110-002", "TK00000013", tracking="360100000009", shipped=D(2026, 10, 30))]


@pytest.fixture
def book(book_file):
    return book_file(banks=[BANK], tokens=TOKENS, requests=REQUESTS, dispatches=DISPATCHES)


def yupri(tmp_path: Path, rows: list[tuple[str, str]], name: str = "発送履歴.csv") -> Path:
    """ゆうパックプリントR 発送履歴 as it exports: cp932, CRLF, header お客様側管理番号,お問い合わせ番号,…"""
    path = tmp_path / name
    lines = ["お客様側管理番号,お問い合わせ番号,発送予定日,お届け先名称"] + [f"{k},{n},20261116,株式会社青葉商事" for k, n in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def tracking_numbers(path: Path) -> list[tuple[str, str]]:
    return [(d.dispatch_id, d.tracking_no) for d in check_book(path, TODAY).ledger.dispatches]


def test_every_row_of_a_parcel_gets_its_number(book, tmp_path):
    outcome = run_tracking(Run(book, NOW, "test"), yupri(tmp_path, [("2026-W46-0001", "360123456789"),
                                                                  ("2026-W46-0002", "3601-2345-6790")]))
    assert outcome.exit_code == 0, outcome.lines
    assert outcome.headline == "追跡番号 2件を記録"
    assert tracking_numbers(book) == [("2026-W46-0001", "360123456789"), ("2026-W46-0001", "360123456789"),
                                      ("2026-W46-0002", "360123456790"), ("2026-W46-0003", ""),
                                      ("2026-W44-0009", "360100000009")]
    # the same export again: recognised, nothing new, nothing overwritten
    again = run_tracking(Run(book, NOW, "test"), yupri(tmp_path, [("2026-W46-0001", "360123456789")]))
    assert again.exit_code == 0 and "記録済み 1件" in again.headline


def test_b2_cloud_export_by_its_header_names(book, tmp_path):
    path = tmp_path / "b2.csv"
    path.write_text("\ufeffお客様管理番号,送り状種類,クール区分,伝票番号,出荷予定日\n2026-W46-0002,0,0,400012345678,2026/11/16\n",
                    encoding="utf-8")
    assert main(["tracking", str(path), "--book", str(book)]) == 0
    assert ("2026-W46-0002", "400012345678") in tracking_numbers(book)


@pytest.mark.parametrize(("rows", "expected"), [  # the good first line is line 2; these follow it
    ([("2026-W99-0001", "360123456789")], {(3, "tracking-unknown-parcel")}),
    ([("2026-W46-0001", "360123456789"), ("2026-W99-0005", "360123456789")], {(4, "tracking-duplicate-number")}),
    ([("2026-W46-0001", "360123456789"), ("2026-W46-0001", "360123456780")], {(4, "tracking-duplicate-parcel")}),
    ([("2026-W46-0001", "8.11029E+11")], {(3, "tracking-bad-number")}),  # what Excel makes of it
    ([("2026-W46-0001", "36012345")], {(3, "tracking-bad-number")}),
    ([("2026-W46-0001", "360100000009")], {(3, "tracking-number-in-use")}),  # 2026-W44-0009's
    ([("2026-W44-0009", "360100000010")], {(3, "tracking-differs")}),  # never overwritten
    ([("2026-W46-0003", "360123456789")], {(3, "tracking-cancelled-parcel")}),
    ([("", "360123456789")], {(3, "required")}),
])
def test_wrong_lines_are_reported_not_guessed_and_nothing_is_written(book, tmp_path, rows, expected):
    before = book.read_bytes()
    outcome = run_tracking(Run(book, NOW, "test"), yupri(tmp_path, [("2026-W46-0002", "360123456790"), *rows]))
    assert outcome.exit_code == 1
    assert {(p.row, p.code) for p in outcome.problems if p.is_error} == expected
    assert all(p.sheet == "発送履歴.csv" for p in outcome.problems if p.is_error)
    assert book.read_bytes() == before


@pytest.mark.parametrize("content", [
    "2026-W46-0001,360123456789\r\n".encode("cp932"),  # no header row
    "発送番号,メモ\r\n2026-W46-0001,x\r\n".encode("cp932"),  # no number column
])
def test_a_file_without_known_columns_is_unusable(book, tmp_path, content, capsys):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    before = book.read_bytes()
    assert main(["tracking", str(path), "--book", str(book)]) == 2
    assert "追跡番号の列が見つかりません" in capsys.readouterr().out
    assert book.read_bytes() == before


def test_the_bank_report_shows_branch_destination_card_and_tracking(book, tmp_path):
    assert main(["tracking", str(yupri(tmp_path, [("2026-W46-0001", "360123456789")])), "--book", str(book)]) == 0
    out = tmp_path / "reports"
    assert main(["report", "--book", str(book), "--month", "2026-11", "--out", str(out)]) == 0
    ws = openpyxl.load_workbook(out / "2026-11" / "2026-11_1234_あおば信用金庫_トークン月次報告.xlsx")["当月発送"]
    assert [c.value for c in ws[3]][8:] == ["店番", "送付先", "IBカード", "追跡番号"]
    rows = [tuple(c.value for c in row) for row in ws.iter_rows(min_row=4) if row[0].value is not None]
    assert [(r[2], r[6], *r[8:]) for r in rows] == [
        ("R20261110-001", "TK00000011", "002", "顧客", "有", "360123456789"),
        ("R20261110-001", "TK00000012", "002", "顧客", "有", "360123456789"),
        ("R20261110-002", "TK00000013", "001", "金庫", "無", None)]
