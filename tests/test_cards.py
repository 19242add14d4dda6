"""IB cards received (`tokenbook cards`): SSC's card list matched to the waiting requests, on real
ledger files, as input/expected pairs. Nothing is written unless every line matches exactly one."""

from __future__ import annotations

import datetime as dt

import pytest
import xlsxwriter

from conftest import BANK, POSTAL_REQUEST
from tokenbook.cli import main
from tokenbook.load import check_book
from tokenbook.runs import Run, run_allocate, run_cards

D = dt.date
ALLOCATED_AT = dt.datetime(2026, 11, 25, 9, 0)  # batch 2026-W48: cutoff 11/24, ● 11/25, ◆ 11/27, ★ 11/30
NOW = dt.datetime(2026, 11, 27, 10, 0)  # ◆: the cards arrive


def token(serial):
    return {"シリアル番号": serial, "所有者": "CSS", "状態": "在庫", "納品日": D(2025, 1, 10), "入庫日": D(2025, 1, 15)}


def ib_request(request_id, customer, **more):
    return {**POSTAL_REQUEST, "依頼番号": request_id, "顧客番号": customer, "顧客区分": "個人", "IBカード": "有",
            "IB登録日": D(2026, 11, 21), **more}


def received(path):
    return {r.request_id: r.ib_card_received_on for r in check_book(path, NOW.date()).ledger.requests}


@pytest.fixture
def allocated(book_file):
    """Three IB-card requests allocated in 2026-W48, one of them for a customer with a second open request."""
    def make(extra=()):
        path = book_file(
            tokens=[token(f"TK0000010{i}") for i in range(1, 6)],
            requests=[ib_request("R20261120-001", "0000456"), ib_request("R20261120-002", "0000789"),
                      ib_request("R20261120-003", "0000321", 店番="002"), *extra])
        outcome = run_allocate(Run(path, ALLOCATED_AT, "test"), ALLOCATED_AT.date())
        assert outcome.exit_code == 0, outcome.lines
        return path
    return make


def csv_file(tmp_path, text, name="cards.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_a_list_matched_by_request_number(allocated, tmp_path):
    path = allocated()
    cards = csv_file(tmp_path, "依頼番号,顧客名\nR20261120-001,佐藤 様\n")
    outcome = run_cards(Run(path, NOW, "test"), cards, NOW.date())
    assert outcome.exit_code == 0, outcome.lines
    assert received(path) == {"R20261120-001": D(2026, 11, 27), "R20261120-002": None, "R20261120-003": None}
    assert "IBカード受領日を記録 1件" in outcome.headline


def test_a_cp932_list_matched_by_bank_and_customer_in_any_column_order(allocated, tmp_path):
    path = allocated()
    cards = csv_file(tmp_path, "顧客名,顧客番号,店番,金庫コード\r\n山田 様,0000789,001,1234\r\n株式会社,0000321,002,1234\r\n",
                     encoding="cp932")
    assert run_cards(Run(path, NOW, "test"), cards, D(2026, 11, 26)).exit_code == 0
    assert received(path) == {"R20261120-001": None, "R20261120-002": D(2026, 11, 26),
                              "R20261120-003": D(2026, 11, 26)}


def test_a_workbook_list_is_read_from_its_first_sheet(allocated, tmp_path):
    path = allocated()
    cards = tmp_path / "cards.xlsx"
    book = xlsxwriter.Workbook(str(cards))
    sheet = book.add_worksheet("カード")
    sheet.write_row(0, 0, ["金庫コード", "顧客番号"])
    sheet.write_row(1, 0, ["1234", "0000456"])
    sheet.write_row(2, 0, ["1234", "9999999"])
    book.close()
    before = path.read_bytes()
    outcome = run_cards(Run(path, NOW, "test"), cards, NOW.date())
    assert outcome.exit_code == 1
    assert any(line.startswith("cards.xlsx!カード!B3 [card-no-request] 金庫 1234 顧客番号 9999999 のIBカードを待っている申込がありません")
               for line in outcome.lines), outcome.lines
    assert path.read_bytes() == before


def test_a_card_for_nobody_refuses_the_whole_list(allocated, tmp_path):
    path = allocated()
    before = path.read_bytes()
    cards = csv_file(tmp_path, "依頼番号,金庫コード,顧客番号\nR20261120-001,,\n,1234,9999999\nR20269999-001,,\n")
    outcome = run_cards(Run(path, NOW, "test"), cards, NOW.date())
    assert outcome.exit_code == 1
    codes = sorted((p.sheet, p.row, p.code) for p in outcome.problems if p.is_error)
    assert codes == [("cards.csv", 3, "card-no-request"), ("cards.csv", 4, "unknown-request")]
    assert "cards.csv:3 [card-no-request] 金庫 1234 顧客番号 9999999 のIBカードを待っている申込がありません: '9999999'" in outcome.lines
    assert path.read_bytes() == before  # the matching line 2 was not applied either


def test_a_card_matching_two_requests_is_refused(allocated, tmp_path):
    path = allocated([ib_request("R20261120-004", "0000789", 店番="003")])
    before = path.read_bytes()
    cards = csv_file(tmp_path, "金庫コード,顧客番号\n1234,0000789\n")
    outcome = run_cards(Run(path, NOW, "test"), cards, NOW.date())
    assert outcome.exit_code == 1
    assert [(p.row, p.code) for p in outcome.problems if p.is_error] == [(2, "card-ambiguous")]
    assert "R20261120-002、R20261120-004" in next(p.message for p in outcome.problems if p.code == "card-ambiguous")
    assert path.read_bytes() == before
    # the branch tells them apart
    with_branch = csv_file(tmp_path, "金庫コード,店番,顧客番号\n1234,003,0000789\n", name="cards2.csv")
    assert run_cards(Run(path, NOW, "test"), with_branch, NOW.date()).exit_code == 0
    assert received(path)["R20261120-004"] == NOW.date() and received(path)["R20261120-002"] is None


def test_a_card_already_received_or_listed_twice_is_an_error(allocated, tmp_path):
    path = allocated()
    first = csv_file(tmp_path, "依頼番号\nR20261120-001\n")
    assert run_cards(Run(path, NOW, "test"), first, NOW.date()).exit_code == 0
    again = csv_file(tmp_path, "依頼番号\nR20261120-001\nR20261120-002\nR20261120-002\n", name="again.csv")
    before = path.read_bytes()
    outcome = run_cards(Run(path, NOW, "test"), again, NOW.date())
    assert [(p.row, p.code) for p in outcome.problems if p.is_error] == [(2, "card-not-waiting"), (4, "card-repeated")]
    assert "IBカード受領日は既に 2026/11/27 です" in outcome.problems[0].message
    assert path.read_bytes() == before


def test_a_line_contradicting_its_request_is_an_error(allocated, tmp_path):
    path = allocated()
    cards = csv_file(tmp_path, "依頼番号,金庫コード,顧客番号\nR20261120-001,1234,0000789\n")
    outcome = run_cards(Run(path, NOW, "test"), cards, NOW.date())
    assert [(p.row, p.header, p.code) for p in outcome.problems if p.is_error] == [(2, "顧客番号", "list-line-mismatch")]


def test_a_card_before_the_batchs_card_day_is_a_warning(allocated, tmp_path):
    path = allocated()
    cards = csv_file(tmp_path, "依頼番号\nR20261120-001\n")
    outcome = run_cards(Run(path, NOW, "test"), cards, D(2026, 11, 24))
    assert outcome.exit_code == 0
    warning = next(p for p in outcome.problems if p.code == "card-before-card-day")
    assert warning.render() == ("cards.csv:2 [card-before-card-day] IBカード受領日 2026/11/24 がバッチ 2026-W48 の"
                                "カード作成日（●11/25）より前です: 'R20261120-001'")
    assert received(path)["R20261120-001"] == D(2026, 11, 24)


def test_bad_codes_and_missing_keys_are_located(allocated, tmp_path):
    path = allocated()
    cards = csv_file(tmp_path, "金庫コード,顧客番号\n12A4,0000456\n1234,\n")
    outcome = run_cards(Run(path, NOW, "test"), cards, NOW.date())
    assert sorted((p.row, p.code) for p in outcome.problems if p.is_error) == [
        (2, "bad-bank-code"), (2, "card-key-missing"), (3, "card-key-missing")]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "見出し"),
    ("顧客名,店番\n山田,001\n".encode(), "「依頼番号」か、「金庫コード」と「顧客番号」"),
    ("依頼番号\n".encode(), "データの行がありません"),
    (b"\x00\x01\x02binary", "CSV"),
])
def test_a_list_that_is_not_a_usable_table_is_exit_2(allocated, tmp_path, content, message, capsys):
    path = allocated()
    before = path.read_bytes()
    cards = tmp_path / "cards.csv"
    cards.write_bytes(content)
    assert main(["cards", str(cards), "--book", str(path), "--received-on", "2026-11-27"]) == 2
    assert message in capsys.readouterr().out
    assert path.read_bytes() == before


def test_the_command_line_refuses_a_future_date_and_a_missing_file(allocated, tmp_path, capsys):
    path = allocated()
    cards = csv_file(tmp_path, "依頼番号\nR20261120-001\n")
    assert main(["cards", str(cards), "--book", str(path), "--received-on", "2099-12-31"]) == 2
    assert "--received-on に未来の日付は指定できません: 2099-12-31" in capsys.readouterr().out
    assert main(["cards", str(tmp_path / "none.csv"), "--book", str(path), "--received-on", "2026-11-27"]) == 2
    assert "ファイルがありません" in capsys.readouterr().out
    assert main(["cards", str(cards), "--book", str(path), "--received-on", "2026-11-27"]) == 0
    assert received(path)["R20261120-001"] == D(2026, 11, 27)


def test_received_on_defaults_to_today(allocated, tmp_path):
    path = allocated()
    cards = csv_file(tmp_path, "依頼番号\nR20261120-002\n")
    assert run_cards(Run(path, NOW, "test"), cards).exit_code == 0
    assert received(path)["R20261120-002"] == NOW.date()


def test_a_request_without_ib_card_or_cancelled_is_not_waiting(book_file, tmp_path):
    path = book_file(requests=[{**POSTAL_REQUEST, "依頼番号": "R20261120-001"},
                               ib_request("R20261120-002", "0000789", 状態="取消")], banks=[BANK])
    cards = csv_file(tmp_path, "依頼番号\nR20261120-001\nR20261120-002\n")
    outcome = run_cards(Run(path, NOW, "test"), cards, NOW.date())
    assert [p.message for p in outcome.problems if p.is_error] == [
        "依頼番号 R20261120-001 はIBカード待ちではありません（IBカードが「有」ではありません）",
        "依頼番号 R20261120-002 はIBカード待ちではありません（状態が「取消」です）"]
