"""The buttons of issue 10 (入庫取込, 申込書取込, 発送書類作成, 追跡番号取込) through the Book port: the
same functions as the command line, leaving the same ledger; a cancelled dialog changes nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from conftest import BANK, default_sheets
from test_buttons import MemoryBook, same_ledger
from test_forms import GOOD, fill
from test_parcels import BANK_WITH_PHONE, CORPORATE, PERSONAL, TO_BANK, settings, stock
from tokenbook.books.build import BUTTONS as MENU
from tokenbook.books.build import build_workbook
from tokenbook.excel.buttons import BUTTONS, press
from tokenbook.load import check_book
from tokenbook.runs import Run, run_receive, run_request_form, run_take_forms

NOW = dt.datetime(2026, 11, 24, 10, 0)
TODAY = NOW.date()


@pytest.fixture
def books(tmp_path) -> tuple[Path, Path]:
    (tmp_path / "cli").mkdir()
    (tmp_path / "excel").mkdir()
    sheets = default_sheets(banks=[BANK_WITH_PHONE], tokens=[stock(n) for n in range(1, 7)],
                            requests=[CORPORATE, TO_BANK, PERSONAL], settings=settings())
    book = build_workbook(tmp_path / "cli" / "tokenbook.xlsm", sheets)
    shutil.copyfile(book, tmp_path / "excel" / "tokenbook.xlsm")
    return book, tmp_path / "excel" / "tokenbook.xlsm"


def test_the_menu_has_the_four_buttons_bound_to_python():
    captions = dict(MENU)
    assert {captions[c] for c in ("入庫取込", "申込書取込", "発送書類作成", "追跡番号取込")} == {
        "ReceiveStock", "TakeRequestForms", "MakeParcelDocuments", "TakeTrackingNumbers"}
    source = (Path(__file__).parents[1] / "macros" / "Tokenbook.bas").read_text(encoding="utf-8")
    for sub, name in (("ReceiveStock", "receive"), ("TakeRequestForms", "intake"), ("MakeParcelDocuments", "parcels"),
                      ("TakeTrackingNumbers", "tracking")):
        assert f"Public Sub {sub}()" in source and f"x.button('{name}')" in source and name in BUTTONS


def test_receive_button_leaves_the_ledger_the_cli_leaves(books, tmp_path):
    cli_book, excel_book = books
    slip = tmp_path / "slip.csv"
    slip.write_text("シリアル番号,ロット番号,納品日\nTK2700000001-TK2700000010,L27A,2026/11/20\n", encoding="utf-8")
    assert run_receive(Run(cli_book, NOW, "clerk"), slip).exit_code == 0
    memory = MemoryBook(excel_book)
    memory.files = [slip]
    outcome = press("receive", memory, NOW, "clerk")
    assert outcome.exit_code == 0, outcome.lines
    same_ledger(memory.ledger(), check_book(cli_book, TODAY).ledger)
    assert "入庫 10本" in memory.messages[-1][0] and "slip.csv" in memory.questions[-1]


def test_a_wrong_slip_shows_its_lines_in_the_dialog_and_writes_nothing(books, tmp_path):
    _, excel_book = books
    slip = tmp_path / "slip.csv"
    slip.write_text("シリアル番号,ロット番号,納品日\nTK260000001,L1,2026/11/20\nTK260000001,L1,2026/11/20\n", encoding="utf-8")
    memory = MemoryBook(excel_book)
    memory.files = [slip]
    before = {k: [list(r) for r in v] for k, v in memory.grids.items()}
    outcome = press("receive", memory, NOW, "clerk")
    message, error = memory.messages[-1]
    assert outcome.exit_code == 1 and error and "slip.csv:3 [duplicate-in-list]" in message
    assert memory.grids == before


def test_cancelled_dialogs_change_nothing(books):
    _, excel_book = books
    memory = MemoryBook(excel_book)
    before = {k: [list(r) for r in v] for k, v in memory.grids.items()}
    for name in ("receive", "intake", "tracking"):
        assert press(name, memory, NOW, "clerk").exit_code == 0
    assert memory.grids == before and memory.writes == 0


def test_forms_parcels_and_tracking_from_the_menu(books, tmp_path):
    cli_book, excel_book = books
    forms = tmp_path / "forms"
    assert run_request_form(Run(cli_book, NOW, "clerk"), "1234", forms).exit_code == 0
    form = fill(forms / "1234_申込書.xlsx", GOOD[:2])
    assert run_take_forms(Run(cli_book, NOW, "clerk"), [form]).exit_code == 0
    memory = MemoryBook(excel_book)
    memory.files = [form]
    assert press("intake", memory, NOW, "clerk").exit_code == 0
    same_ledger(memory.ledger(), check_book(cli_book, TODAY).ledger)

    assert press("allocate", memory, NOW, "clerk").exit_code == 0
    outcome = press("parcels", memory, NOW, "clerk")
    assert outcome.exit_code == 0, outcome.lines
    folder = excel_book.parent / "parcels" / "2026-W48"
    assert sorted(p.name for p in folder.iterdir()) == ["2026-W48_発送書類.xlsx", "2026-W48_送り状_ゆうプリR.csv"]

    export = tmp_path / "発送履歴.csv"
    parcels = sorted({d.dispatch_id for d in memory.ledger().dispatches})
    export.write_bytes(("お客様側管理番号,お問い合わせ番号\r\n" + "".join(
        f"{p},3601000000{n:02d}\r\n" for n, p in enumerate(parcels))).encode("cp932"))
    memory.files = [export]
    outcome = press("tracking", memory, NOW, "clerk")
    assert outcome.exit_code == 0, outcome.lines
    assert {d.tracking_no for d in memory.ledger().dispatches} == {f"3601000000{n:02d}" for n in range(len(parcels))}
