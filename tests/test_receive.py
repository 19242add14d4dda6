"""Stock intake (issue 10 item 1): SSC's slips with ranges, custody take-over, the stated total,
duplicates, unusable files — each as input/expected, through the real file, CLI and write-back; and
stock typed into 在庫 by hand journalled by the month-end before it replays the journal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import python_calamine
import xlsxwriter

from conftest import BANK, STOCK, TODAY
from tokenbook import schema
from tokenbook.cli import main
from tokenbook.load import check_book
from tokenbook.runs import Run, run_month_end, run_receive

NOW = dt.datetime.combine(TODAY, dt.time(10, 0))


def slip_csv(tmp_path: Path, lines: list[str], name: str = "slip.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes("\r\n".join(["シリアル番号,ロット番号,納品日", *lines, ""]).encode(encoding))
    return path


def ledger(path: Path):
    return check_book(path, TODAY).ledger


def test_a_slip_with_ranges_appends_every_token_and_journals_each(book_file, tmp_path):
    book = book_file()
    slip = slip_csv(tmp_path, ["TK2600000001-TK2600000500,L2611A,2026/11/20", "TK2600000777,L2611B,令和8年11月20日"],
                    encoding="cp932")
    outcome = run_receive(Run(book, NOW, "test"), slip, count=501)
    assert outcome.exit_code == 0, outcome.lines
    after = ledger(book)
    new = [t for t in after.tokens if t.serial.startswith("TK26")]
    assert len(new) == 501 and [t.serial for t in new[:2]] == ["TK2600000001", "TK2600000002"]
    assert new[499].serial == "TK2600000500" and new[500].serial == "TK2600000777" and new[500].lot == "L2611B"
    assert {(t.owner, t.state, t.delivered_on, t.expires_on, t.received_on) for t in new} == {
        ("CSS", "在庫", dt.date(2026, 11, 20), dt.date(2031, 11, 20), TODAY)}
    received = [e for e in after.journal if e.serial.startswith("TK26")]
    assert len(received) == 501
    assert {(e.operation, e.effective_on, e.after, e.owner) for e in received} == {("入庫", TODAY, "在庫", "CSS")}
    assert outcome.headline.startswith("入庫 501本")


def test_custody_take_over_keeps_the_bank_as_owner_and_the_battery_clock_of_ssc(book_file, tmp_path):
    book = book_file()
    slip = slip_csv(tmp_path, ["AB0000000001-AB0000000005,L2201,2022/04/01"])
    assert main(["receive", str(slip), "--book", str(book), "--owner", "1234", "--received-on", "2026-11-02"]) == 0
    tokens = [t for t in ledger(book).tokens if t.serial.startswith("AB")]
    assert {(t.owner, t.state, t.expires_on, t.received_on) for t in tokens} == {
        ("1234", "在庫", dt.date(2027, 4, 1), dt.date(2026, 11, 2))}
    entries = [e for e in ledger(book).journal if e.serial.startswith("AB")]
    assert {(e.operation, e.effective_on, e.owner) for e in entries} == {("入庫", dt.date(2026, 11, 2), "1234")}
    assert all("預り在庫" in e.note for e in entries)


def test_a_workbook_slip_is_read_from_its_first_sheet_and_located_by_cell(book_file, tmp_path, capsys):
    book = book_file()
    path = tmp_path / "ssc.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("納品")
    ws.write_row(0, 0, ["納品日", "シリアル番号", "ロット番号"])
    ws.write_row(1, 0, ["2026/11/20", "TK2600000001", "L1"])
    ws.write_row(2, 0, ["2026/13/01", "TK26-0002", "L1"])
    wb.close()
    before = book.read_bytes()
    assert main(["receive", str(path), "--book", str(book)]) == 1
    out = capsys.readouterr().out
    assert "ssc.xlsx!納品!A3 [bad-date]" in out and "ssc.xlsx!納品!B3 [bad-serial]" in out
    assert book.read_bytes() == before


@pytest.mark.parametrize(("lines", "count", "expected"), [
    (["TK2600000001-TK2600000003,L1,2026/11/20", "TK2600000003,L1,2026/11/20"], None,
     {("slip.csv", 3, "duplicate-in-list")}),
    (["TK00000001,L1,2026/11/20"], None, {("slip.csv", 2, "serial-in-ledger")}),  # already in 在庫
    (["TK2600000001-TK2600000500,L1,2026/11/20"], 5000, {("slip.csv", None, "slip-count-mismatch")}),
    (["TK2600000009-TK2600000001,L1,2026/11/20"], None, {("slip.csv", 2, "bad-serial-range")}),
    (["TK2600000001-XY2600000009,L1,2026/11/20"], None, {("slip.csv", 2, "bad-serial-range")}),
    (["TK1-TK999999999,L1,2026/11/20"], None, {("slip.csv", 2, "bad-serial")}),  # TK1 is not a serial
    (["TK2600000001,,2026/11/20"], None, {("slip.csv", 2, "required")}),
    (["TK2600000001,L1,2026/12/24"], None, {("slip.csv", 2, "delivery-after-receipt")}),  # after 入庫日
    ([], None, {("slip.csv", None, "empty-list")}),
])
def test_wrong_lines_stop_the_intake_and_change_nothing(book_file, tmp_path, lines, count, expected):
    book = book_file()
    before = book.read_bytes()
    outcome = run_receive(Run(book, NOW, "test"), slip_csv(tmp_path, lines), count=count)
    assert outcome.exit_code == 1
    assert {(p.sheet, p.row, p.code) for p in outcome.problems if p.is_error} == expected
    assert book.read_bytes() == before
    assert "何も書き込んでいません" in "\n".join(outcome.lines)


def test_a_receipt_date_in_the_future_is_refused(book_file, tmp_path):
    book = book_file()
    outcome = run_receive(Run(book, NOW, "test"), slip_csv(tmp_path, ["TK2600000001,L1,2026/11/20"]),
                          received_on=TODAY + dt.timedelta(days=1))
    assert outcome.exit_code == 1 and [p.code for p in outcome.problems if p.is_error] == ["received-in-future"]


def test_the_line_renders_as_file_and_line(book_file, tmp_path):
    book = book_file()
    outcome = run_receive(Run(book, NOW, "test"), slip_csv(tmp_path, ["TK2600000001,L1,2026/11/20",
                                                                      "TK2600000001,L1,2026/11/20"]))
    assert outcome.lines[0].startswith("slip.csv:3 [duplicate-in-list] シリアル番号 TK2600000001 がこのファイルの 2 行目と重複しています")


def test_an_unknown_owner_is_an_error_and_a_bad_one_unusable(book_file, tmp_path, capsys):
    book = book_file()
    slip = slip_csv(tmp_path, ["TK2600000001,L1,2026/11/20"])
    assert main(["receive", str(slip), "--book", str(book), "--owner", "9999"]) == 1
    assert "[unknown-owner]" in capsys.readouterr().out
    assert main(["receive", str(slip), "--book", str(book), "--owner", "ABC"]) == 2


@pytest.mark.parametrize(("content", "message"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "文字のファイル"),  # a picture, not a table
    ("シリアル番号,納品日\nTK1,2026/11/20\n".encode(), "ロット番号"),  # a header missing
    (b"", "表の形"),
])
def test_a_slip_that_is_not_a_table_is_unusable(book_file, tmp_path, content, message, capsys):
    book = book_file()
    before = book.read_bytes()
    path = tmp_path / "slip.csv"
    path.write_bytes(content)
    assert main(["receive", str(path), "--book", str(book)]) == 2
    assert message in capsys.readouterr().out
    assert book.read_bytes() == before


def _summary(path: Path) -> dict[str, object]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_name("概要").to_python()
    return {r[0]: r[1] for r in rows if r and r[0]}


def test_stock_typed_by_hand_is_journalled_by_the_month_end_before_it_is_reported(book_file, tmp_path):
    """Five custody tokens typed into 在庫 in October; the month-end for October journals them as
    入庫 on their 入庫日 (written to the book), so the custody flow adds up: 0 + 5 − 0 = 5."""
    typed = [{**STOCK, "シリアル番号": f"HB000000{n:02d}", "所有者": "1234", "入庫日": dt.date(2026, 10, 15),
              "納品日": dt.date(2026, 10, 1)} for n in range(5)]
    book = book_file(tokens=typed, requests=[], banks=[BANK])
    outcome = run_month_end(Run(book, NOW, "test"), "2026-10", tmp_path / "reports", make_reports=True, make_mail=False)
    assert outcome.exit_code == 0, outcome.lines
    assert any(line.startswith("手作業の変更・追加を履歴に記録: 5件") for line in outcome.lines)
    summary = _summary(tmp_path / "reports" / "2026-10" / "2026-10_1234_あおば信用金庫_トークン月次報告.xlsx")
    assert (summary["預り在庫 期首"], summary["預り在庫 受入"], summary["預り在庫 払出"], summary["預り在庫 期末"]) == (0, 5, 0, 5)
    journal = ledger(book).journal
    assert [(e.operation, e.effective_on) for e in journal] == [("入庫", dt.date(2026, 10, 15))] * 5
    # a second month-end has nothing left to record and writes nothing
    before = book.read_bytes()
    again = run_month_end(Run(book, NOW, "test"), "2026-10", tmp_path / "reports", make_reports=True, make_mail=False)
    assert not any("手作業" in line for line in again.lines) and book.read_bytes() == before


def test_the_slip_columns_of_the_contract():
    assert {c.header for c in schema.TOKEN_COLUMNS} >= {"ロット番号"}
