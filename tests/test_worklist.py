"""The week's IB work list (`tokenbook worklist`, the 作業一覧 sheet) and the 共同センター list taken
back (`tokenbook center-sent`), as input/expected pairs across one week."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import python_calamine

from conftest import BANK, POSTAL_REQUEST, default_sheets, tables_for
from tokenbook import schema
from tokenbook.batch import allocate
from tokenbook.cli import main
from tokenbook.journal import Context
from tokenbook.load import check_book
from tokenbook.parse import parse_tables
from tokenbook.runs import Run, run_allocate, run_center_sent, run_worklist
from tokenbook.worklist import work_list

D = dt.date
ALLOCATED_AT = dt.datetime(2026, 11, 26, 9, 0)  # 2026-W48: cutoff 11/24, ● 11/25, ◆ 11/27, ★ 11/30; W49 ● 12/02


def token(serial):
    return {"シリアル番号": serial, "所有者": "CSS", "状態": "在庫", "納品日": D(2025, 1, 10), "入庫日": D(2025, 1, 15)}


def ib(request_id, received, kind="個人", **more):
    return {**POSTAL_REQUEST, "依頼番号": request_id, "受付日": received, "顧客番号": request_id[-3:], "顧客区分": kind,
            "IBカード": "有", **more}


REQUESTS = [
    ib("R20261120-001", D(2026, 11, 20)),  # A: not registered: held in W48, misses its ● 11/25
    ib("R20261124-001", D(2026, 11, 24), "法人", IB登録日=D(2026, 11, 24)),  # B: registered, not transmitted
    ib("R20261126-001", D(2026, 11, 26)),  # C: received after the W48 cutoff: due for W49
    ib("R20261119-001", D(2026, 11, 19), "法人", IB登録日=D(2026, 11, 19), 共同センター伝送日=D(2026, 11, 20)),  # D
    {**POSTAL_REQUEST, "依頼番号": "R20261120-002", "顧客番号": "0000999"},  # no IB card: never on the list
]


@pytest.fixture(scope="module")
def after_w48():
    sheets = default_sheets(banks=[BANK], tokens=[token("TK00000101"), token("TK00000102")], requests=REQUESTS)
    ledger, problems = parse_tables(tables_for(sheets))
    assert not [p for p in problems if p.is_error]
    return allocate(ledger, ALLOCATED_AT.date(), Context(ALLOCATED_AT, "test")).ledger


def shown(items):
    return [(str(w.task), w.request.request_id, w.due_mark[0], w.due_on, w.overdue, w.days_waiting, w.batch)
            for w in items]


@pytest.mark.parametrize(("as_of", "expected"), [
    (D(2026, 11, 25), [
        ("IB登録", "R20261120-001", "●", D(2026, 11, 25), False, 5, "2026-W48"),
        ("共同センター伝送", "R20261124-001", "●", D(2026, 11, 25), False, 1, "2026-W48"),
        ("IBカード受領", "R20261119-001", "◆", D(2026, 11, 27), False, 6, "2026-W48"),
    ]),
    (D(2026, 11, 26), [  # the day after ●: A and B missed this week's batch and are marked
        ("IB登録", "R20261120-001", "●", D(2026, 11, 25), True, 6, "2026-W48"),
        ("共同センター伝送", "R20261124-001", "●", D(2026, 11, 25), True, 2, "2026-W48"),
        ("IBカード受領", "R20261119-001", "◆", D(2026, 11, 27), False, 7, "2026-W48"),
        ("IB登録", "R20261126-001", "●", D(2026, 12, 2), False, 0, "2026-W49"),
    ]),
    (D(2026, 11, 30), [
        ("IB登録", "R20261120-001", "●", D(2026, 11, 25), True, 10, "2026-W48"),
        ("共同センター伝送", "R20261124-001", "●", D(2026, 11, 25), True, 6, "2026-W48"),
        ("IBカード受領", "R20261119-001", "◆", D(2026, 11, 27), True, 11, "2026-W48"),
        ("IB登録", "R20261126-001", "●", D(2026, 12, 2), False, 4, "2026-W49"),
    ]),
])
def test_a_work_list_across_the_week(after_w48, as_of, expected):
    assert shown(work_list(after_w48, as_of)) == expected


def test_done_steps_leave_the_list(after_w48):
    from dataclasses import replace

    requests = tuple(r._replace(ib_registered_on=D(2026, 11, 26)) if r.request_id == "R20261120-001" else
                     r._replace(center_sent_on=D(2026, 11, 26)) if r.request_id == "R20261124-001" else
                     r._replace(ib_card_received_on=D(2026, 11, 27)) if r.request_id == "R20261119-001" else r
                     for r in after_w48.requests)
    left = work_list(replace(after_w48, requests=requests), D(2026, 11, 27))
    assert shown(left) == [("IB登録", "R20261126-001", "●", D(2026, 12, 2), False, 1, "2026-W49")]


def sheet_rows(path, sheet):
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return book.get_sheet_by_name(sheet).to_python()


@pytest.fixture
def book(book_file):
    path = book_file(tokens=[token("TK00000101"), token("TK00000102")], requests=REQUESTS)
    assert run_allocate(Run(path, ALLOCATED_AT, "test"), ALLOCATED_AT.date()).exit_code == 0
    return path


def test_every_run_that_writes_the_book_refreshes_the_work_list_sheet(book):
    rows = sheet_rows(book, schema.WORKLIST)
    assert rows[0] == [c.header for c in schema.WORKLIST_COLUMNS]
    assert [(r[0], r[1], r[3], r[5], r[13]) for r in rows[1:]] == [
        ("IB登録", D(2026, 11, 25), "超過", "R20261120-001", D(2026, 11, 26)),
        ("共同センター伝送", D(2026, 11, 25), "超過", "R20261124-001", D(2026, 11, 26)),
        ("IBカード受領", D(2026, 11, 27), "", "R20261119-001", D(2026, 11, 26)),
        ("IB登録", D(2026, 12, 2), "", "R20261126-001", D(2026, 11, 26))]
    assert rows[1][9] == POSTAL_REQUEST["顧客名"]  # the clerk's sheet has the names; the console never does


def test_the_command_line_list_json_and_the_center_list(book, tmp_path, capsys):
    assert main(["worklist", "--book", str(book), "--as-of", "2026-11-26", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "【超過】IB登録 期限 ●11/25 R20261120-001 金庫 1234 店番 001 個人 受付 11/20（6日）" in out
    assert POSTAL_REQUEST["顧客名"] not in out
    listed = tmp_path / "out" / "2026-11-26_共同センター伝送.xlsx"
    assert sheet_rows(listed, "共同センター伝送") == [
        ["金庫コード", "店番", "顧客番号", "顧客名", "依頼番号", "IB登録日"],
        ["1234", "001", "001", POSTAL_REQUEST["顧客名"], "R20261124-001", D(2026, 11, 24)]]
    assert main(["worklist", "--book", str(book), "--as-of", "2026-11-26", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [(i["作業"], i["依頼番号"], i["超過"]) for i in items] == [
        ("IB登録", "R20261120-001", True), ("共同センター伝送", "R20261124-001", True),
        ("IBカード受領", "R20261119-001", False), ("IB登録", "R20261126-001", False)]
    assert all("顧客名" not in i and "顧客番号" not in i for i in items)


def test_no_center_list_when_nothing_is_to_transmit(book_file, tmp_path):
    path = book_file(requests=[ib("R20261120-001", D(2026, 11, 20))])
    outcome = run_worklist(Run(path, ALLOCATED_AT, "test"), D(2026, 11, 25), tmp_path / "out")
    assert outcome.exit_code == 0 and "共同センター伝送の対象はないため" in outcome.lines[-1]
    assert not (tmp_path / "out").exists()


def test_a_transmission_list_stamped_twice_is_stamped_once(book, tmp_path):
    outcome = run_worklist(Run(book, ALLOCATED_AT, "test"), D(2026, 11, 25), tmp_path)
    listed = tmp_path / "2026-11-25_共同センター伝送.xlsx"
    assert listed.exists(), outcome.lines
    first = run_center_sent(Run(book, dt.datetime(2026, 11, 26, 15), "test"), listed, D(2026, 11, 25))
    assert first.exit_code == 0 and "共同センター伝送日を記録 1件" in first.headline
    second = run_center_sent(Run(book, dt.datetime(2026, 11, 27, 9), "test"), listed, D(2026, 11, 27))
    assert second.exit_code == 0
    assert "共同センター伝送日を記録 0件" in second.headline and "変更なし 1件" in second.headline
    assert [p.code for p in second.problems if p.sheet.startswith("2026-11-25_")] == ["center-already-sent"]
    sent = {r.request_id: r.center_sent_on for r in check_book(book, D(2026, 11, 26)).ledger.requests}
    assert sent == {"R20261120-001": None, "R20261124-001": D(2026, 11, 25), "R20261126-001": None,
                    "R20261119-001": D(2026, 11, 20), "R20261120-002": None}
    # and it has left the work list sheet
    assert "共同センター伝送" not in [r[0] for r in sheet_rows(book, schema.WORKLIST)[1:]]


def test_a_list_naming_a_request_not_to_transmit_changes_nothing(book, tmp_path):
    listed = tmp_path / "list.csv"
    listed.write_text("依頼番号,金庫コード\nR20261124-001,1234\nR20261120-001,1234\nR20261120-002,1234\n"
                      "R20991231-001,1234\nR20261124-001,1234\n", encoding="utf-8")
    before = book.read_bytes()
    outcome = run_center_sent(Run(book, dt.datetime(2026, 11, 26, 15), "test"), listed, D(2026, 11, 26))
    assert outcome.exit_code == 1
    assert sorted((p.row, p.code) for p in outcome.problems if p.sheet == "list.csv") == [
        (3, "center-not-waiting"), (4, "center-not-waiting"), (5, "unknown-request"), (6, "center-repeated")]
    reasons = [p.message for p in outcome.problems if p.code == "center-not-waiting"]
    assert reasons == ["依頼番号 R20261120-001 は共同センター伝送の対象ではありません（顧客区分が「個人」です（伝送は法人だけ））",
                       "依頼番号 R20261120-002 は共同センター伝送の対象ではありません（IBカードが「有」ではありません）"]
    assert book.read_bytes() == before


def test_center_sent_bad_input(book, tmp_path, capsys):
    listed = tmp_path / "list.csv"
    listed.write_text("金庫コード,顧客番号\n1234,001\n", encoding="utf-8")
    before = book.read_bytes()
    assert main(["center-sent", str(listed), "--book", str(book), "--on", "2026-11-26"]) == 2
    assert "見出し「依頼番号」がありません" in capsys.readouterr().out
    listed.write_text("依頼番号\nR20261124-001\n", encoding="utf-8")
    assert main(["center-sent", str(listed), "--book", str(book), "--on", "2099-01-01"]) == 2
    assert "--on に未来の日付は指定できません" in capsys.readouterr().out
    assert main(["center-sent", str(listed), "--book", str(book), "--on", "2026-13-01"]) == 2
    assert book.read_bytes() == before
