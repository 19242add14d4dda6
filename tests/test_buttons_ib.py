"""The buttons of the IB work and the vault count (IBカード受領, 作業一覧, 共同センター伝送済, 棚卸) on the
in-memory book of test_buttons: each leaves the ledger the command line leaves."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from conftest import POSTAL_REQUEST, default_sheets
from test_buttons import MemoryBook, same_ledger
from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.excel.buttons import press
from tokenbook.load import check_book
from tokenbook.parse import parse_tables
from tokenbook.files.sheetio import table_from_rows
from tokenbook.runs import Run, run_allocate, run_cards, run_center_sent, run_stocktake

D = dt.date
ALLOCATED_AT = dt.datetime(2026, 11, 26, 9, 0)  # 2026-W48: ● 11/25, ◆ 11/27
NOW = dt.datetime(2026, 11, 27, 10, 0)


def token(serial):
    return {"シリアル番号": serial, "所有者": "CSS", "状態": "在庫", "納品日": D(2025, 1, 10), "入庫日": D(2025, 1, 15)}


def ib(request_id, kind="個人", **more):
    return {**POSTAL_REQUEST, "依頼番号": request_id, "受付日": D(2026, 11, 20), "顧客番号": request_id[-3:],
            "顧客区分": kind, "IBカード": "有", "IB登録日": D(2026, 11, 21), **more}


@pytest.fixture
def twins(tmp_path):
    """One allocated ledger twice: for the command line and for the buttons."""
    (tmp_path / "cli").mkdir()
    (tmp_path / "excel").mkdir()
    cli = build_workbook(tmp_path / "cli" / "tokenbook.xlsm", default_sheets(
        tokens=[token("TK00000101"), token("TK00000102"), token("TK00000103")],
        requests=[ib("R20261120-001"), ib("R20261120-002"), ib("R20261120-003", "法人")]))
    assert run_allocate(Run(cli, ALLOCATED_AT, "clerk"), ALLOCATED_AT.date()).exit_code == 0
    excel = tmp_path / "excel" / "tokenbook.xlsm"
    shutil.copyfile(cli, excel)
    return cli, excel


def memory_ledger(memory):
    names = memory.sheet_names()
    tables = {sheet: table_from_rows(sheet, memory.values(sheet), [c.header for c in columns])
              for sheet, columns in (*schema.TABLES.items(), *schema.OPTIONAL_TABLES.items()) if sheet in names}
    return parse_tables(tables)[0]


def test_ib_cards_button_matches_the_cli(twins, tmp_path):
    cli, excel = twins
    cards = tmp_path / "cards.csv"
    cards.write_text("依頼番号\nR20261120-001\nR20261120-002\n", encoding="utf-8")
    assert run_cards(Run(cli, NOW, "clerk"), cards, NOW.date()).exit_code == 0
    memory = MemoryBook(excel)
    memory.files = [cards]
    outcome = press("cards", memory, NOW, "clerk")
    assert outcome.exit_code == 0, outcome.lines
    same_ledger(memory_ledger(memory), check_book(cli, NOW.date()).ledger)
    assert "IBカード受領日を記録 2件" in memory.messages[-1][0]
    # 作業一覧 was refreshed with the run: only the 法人 contract waiting for transmission is left
    assert [row[0] for row in memory.grids[schema.WORKLIST][1:] if row and row[0]] == ["共同センター伝送"]


def test_a_cancelled_file_dialog_changes_nothing(twins):
    _, excel = twins
    memory = MemoryBook(excel)
    before = {k: [list(r) for r in v] for k, v in memory.grids.items()}
    for name in ("cards", "center", "stocktake"):
        outcome = press(name, memory, NOW, "clerk")
        assert outcome.exit_code == 0 and "取りやめました" in outcome.lines[0]
    assert memory.grids == before and memory.writes == 0


def test_work_list_button_writes_the_sheet_and_the_center_list_then_center_sent(twins):
    cli, excel = twins
    memory = MemoryBook(excel)
    outcome = press("worklist", memory, NOW, "clerk")
    assert outcome.exit_code == 0, outcome.lines
    rows = [r for r in memory.grids[schema.WORKLIST][1:] if r and r[0]]
    assert [(r[0], r[5]) for r in rows] == [("共同センター伝送", "R20261120-003"), ("IBカード受領", "R20261120-001"),
                                            ("IBカード受領", "R20261120-002")]
    listed = excel.parent / "reports" / "2026-11" / "2026-11-27_共同センター伝送.xlsx"
    assert listed.exists() and str(listed) in memory.messages[-1][0]
    memory.files = [listed]
    assert press("center", memory, NOW, "clerk").exit_code == 0
    assert run_center_sent(Run(cli, NOW, "clerk"), listed, NOW.date()).exit_code == 0
    same_ledger(memory_ledger(memory), check_book(cli, NOW.date()).ledger)


def test_stocktake_button_records_the_count_like_the_cli(twins, tmp_path):
    cli, excel = twins
    box = tmp_path / "box.txt"
    box.write_text("TK00000101\nTK00000102\n", encoding="utf-8")  # TK00000103 is missing
    cli_outcome = run_stocktake(Run(cli, NOW, "clerk"), [box], NOW.date())
    assert cli_outcome.exit_code == 1
    memory = MemoryBook(excel)
    memory.files = [box]
    outcome = press("stocktake", memory, NOW, "clerk")
    assert outcome.exit_code == 1 and outcome.failures == cli_outcome.failures
    message, error = memory.messages[-1]
    assert error and "差異 1 件（不足 1）" in message and "不足 TK00000103" in message
    assert memory_ledger(memory).stocktakes == check_book(cli, NOW.date()).ledger.stocktakes
    same_ledger(memory_ledger(memory), check_book(cli, NOW.date()).ledger)
