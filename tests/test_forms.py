"""Bank request forms (issue 10 item 2): made for one bank only, filled as a bank would (openpyxl,
then LibreOffice computes the form's own check column), taken back with located problems; a form
taken in twice, a form of another bank, a form from another tool."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from conftest import BANK, HELD, IN_USE, STOCK, TODAY
from tokenbook.cli import main
from tokenbook.forms import FORM_HEADERS
from tokenbook.load import check_book
from tokenbook.runs import Run, run_request_form, run_take_forms

NOW = dt.datetime.combine(TODAY, dt.time(9, 30))
OTHER = {**BANK, "金庫コード": "5678", "金庫名": "みなと信用金庫", "報告先メール": "report@minato.example"}
OTHER_CUSTOMER = {**IN_USE, "シリアル番号": "TK00000009", "金庫コード": "5678", "店番": "777", "顧客名": "港 太郎"}

GOOD = [
    {"店番": "001", "顧客番号": "0000777", "顧客名": "株式会社みどり商会", "顧客区分": "法人", "申込区分": "新規", "数量": 1,
     "発送方法": "顧客郵送", "IBカード": "有", "送付先郵便番号": "530-0001", "送付先住所": "大阪府大阪市北区梅田1-1-1",
     "送付先氏名": "株式会社みどり商会", "送付先電話": "06-1234-5678", "IB登録日": dt.datetime(2026, 11, 20),
     "共同センター伝送日": dt.datetime(2026, 11, 21)},
    {"店番": "002", "申込区分": "金庫補充", "数量": 3, "発送方法": "金庫郵送"},
    {"店番": "001", "顧客番号": "0000123", "顧客名": "佐藤 翔太", "顧客区分": "個人", "申込区分": "交換",
     "発送方法": "顧客郵送", "旧シリアル": "TK00000002", "送付先郵便番号": "100-0001", "送付先住所": "東京都千代田区千代田1-1",
     "送付先氏名": "佐藤 翔太", "送付先電話": "03-1234-5678"},
]


@pytest.fixture
def book(book_file):
    return book_file(banks=[BANK, OTHER], tokens=[STOCK, IN_USE, HELD, OTHER_CUSTOMER])


def make_form(book: Path, folder: Path, bank: str = "1234") -> Path:
    outcome = run_request_form(Run(book, NOW, "test"), bank, folder)
    assert outcome.exit_code == 0, outcome.lines
    return folder / f"{bank}_申込書.xlsx"


def fill(form: Path, rows: list[dict]) -> Path:
    """What a bank does: types rows into 申込 from row 2 and saves."""
    wb = openpyxl.load_workbook(form)
    ws = wb["申込"]
    headers = [c.value for c in ws[1]]
    for r, record in enumerate(rows, start=2):
        for header, value in record.items():
            ws.cell(r, headers.index(header) + 1, value)
    wb.save(form)
    return form


def test_the_form_holds_one_bank_only_with_dropdowns_and_instructions(book, tmp_path):
    form = make_form(book, tmp_path)
    wb = openpyxl.load_workbook(form)
    assert wb.sheetnames == ["申込", "記入方法", "店番一覧", "申込書情報"]
    assert wb["申込書情報"].sheet_state == "hidden"
    assert [c.value for c in wb["申込"][1]] == [*FORM_HEADERS, "チェック"]
    assert [r[0].value for r in wb["店番一覧"].iter_rows(min_row=2)] == ["001"]  # 1234's branches, not 5678's 777
    info = {r[0].value: r[1].value for r in wb["申込書情報"].iter_rows()}
    assert info["金庫コード"] == "1234" and info["申込書番号"].startswith("1234-20261124-")
    lists = {str(v.sqref).split(":")[0]: v.formula1 for v in wb["申込"].data_validations.dataValidation if v.type == "list"}
    assert lists["D2"] == '"法人,個人"' and lists["E2"] == '"新規,途中,交換,再発行,金庫補充"' and "店番一覧" in lists["A2"]
    assert "記入方法" in wb["記入方法"]["A1"].value
    with zipfile.ZipFile(form) as archive:
        everything = b"".join(archive.read(n) for n in archive.namelist()).decode("utf-8", "replace")
    assert "5678" not in everything and "みなと" not in everything and "港 太郎" not in everything


def test_libreoffice_shows_the_forms_own_checks(book, tmp_path, convert):
    form = fill(make_form(book, tmp_path), [GOOD[0], {**GOOD[0], "送付先電話": None}, {**GOOD[1], "IBカード": "有"}])
    computed = convert(form, "xlsx")
    grid = python_calamine.CalamineWorkbook.from_path(str(computed)).get_sheet_by_name("申込").to_python()
    checks = [row[len(FORM_HEADERS)] for row in grid[1:5]]
    assert checks == ["OK", "顧客郵送には送付先（郵便番号・住所・氏名・電話）が必要です", "IBカード「有」は新規の郵送だけです", ""]


def test_a_form_filled_well_is_taken_in_with_request_numbers_and_only_once(book, tmp_path):
    form = fill(make_form(book, tmp_path), GOOD)
    outcome = run_take_forms(Run(book, NOW, "test"), [form])
    assert outcome.exit_code == 0, outcome.lines
    assert outcome.headline == "申込書 1件から 3件を取込"
    requests = [r for r in check_book(book, TODAY).ledger.requests if r.form_ref]
    assert [(r.request_id, r.received_on, r.bank_code, r.branch_code, r.kind, r.state, r.form_ref.split(":")[1])
            for r in requests] == [
        ("R20261124-001", TODAY, "1234", "001", "新規", "受付", "2"),
        ("R20261124-002", TODAY, "1234", "002", "金庫補充", "受付", "3"),
        ("R20261124-003", TODAY, "1234", "001", "交換", "受付", "4")]
    assert requests[0].ib_registered_on == dt.date(2026, 11, 20) and requests[1].quantity == 3
    assert requests[2].old_serial == "TK00000002" and requests[0].ib_card == "有" and requests[1].ib_card == "無"
    # the same form again, with one row added by the bank: only the new row comes in
    fill(form, [*GOOD, {**GOOD[1], "店番": "001"}])
    again = run_take_forms(Run(book, NOW, "test"), [form])
    assert again.exit_code == 0 and again.headline == "申込書 1件から 1件を取込（取込済みの行 3件）"
    assert len([r for r in check_book(book, TODAY).ledger.requests if r.form_ref]) == 4
    # and once more with nothing new: nothing is duplicated
    third = run_take_forms(Run(book, NOW, "test"), [form])
    assert third.headline == "申込書 1件から 0件を取込（取込済みの行 4件）"
    assert len([r for r in check_book(book, TODAY).ledger.requests if r.form_ref]) == 4


def test_good_and_bad_rows_are_all_located_and_nothing_is_written(book, tmp_path):
    bad = [
        GOOD[0],
        {**GOOD[0], "顧客区分": "会社"},
        {**GOOD[0], "送付先郵便番号": "12-345"},
        {**GOOD[1], "IBカード": "有"},
        {**GOOD[2], "旧シリアル": "TK00000009"},  # another bank's customer's token
        {**GOOD[0], "発送方法": "窓口手交", "IBカード": "無", "手交シリアル": "TK00000003; TK00000001"},
        {**GOOD[0], "IB登録日": "2026/13/40"},
        {"顧客番号": "0000999"},
    ]
    form = fill(make_form(book, tmp_path), bad)
    before = book.read_bytes()
    outcome = run_take_forms(Run(book, NOW, "test"), [form])
    assert outcome.exit_code == 1
    where = "1234_申込書.xlsx!申込"
    assert {(p.sheet, p.cell, p.code) for p in outcome.problems if p.is_error} == {
        (where, "D3", "bad-choice"), (where, "K4", "bad-postal-code"), (where, "H5", "ib-card-not-allowed"),
        (where, "J6", "old-serial-not-in-use"), (where, "I7", "handover-count"),
        (where, "I7", "handover-not-at-bank"), (where, "O8", "bad-date"),
        (where, "A9", "required"), (where, "E9", "required"), (where, "G9", "required")}
    assert any(line.startswith(f"{where}!D3 [bad-choice]") for line in outcome.lines)
    assert book.read_bytes() == before


def test_a_form_of_another_bank_is_refused(book, tmp_path):
    form = fill(make_form(book, tmp_path), GOOD[:1])
    renamed = tmp_path / "5678_申込書.xlsx"
    shutil.copy(form, renamed)
    outcome = run_take_forms(Run(book, NOW, "test"), [renamed])
    assert outcome.exit_code == 1 and [p.code for p in outcome.problems if p.is_error] == ["form-of-another-bank"]
    wb = openpyxl.load_workbook(form)
    wb["申込書情報"]["B1"] = "9999"
    wb.save(form)
    outcome = run_take_forms(Run(book, NOW, "test"), [form])
    assert [p.code for p in outcome.problems if p.is_error] == ["form-of-unknown-bank"]
    wb["申込書情報"]["B1"] = "5678"  # the bank changed but the number still names 1234
    wb.save(tmp_path / "other.xlsx")
    outcome = run_take_forms(Run(book, NOW, "test"), [tmp_path / "other.xlsx"])
    assert [p.code for p in outcome.problems if p.is_error] == ["form-number-mismatch"]


def test_a_form_from_another_tool_is_unusable(book, tmp_path, capsys):
    other = tmp_path / "申込一覧.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(list(FORM_HEADERS))
    wb.active.append(["001", "0000777"])
    wb.save(other)
    csv_form = tmp_path / "1234_申込書.csv"
    csv_form.write_text(",".join(FORM_HEADERS) + "\n", encoding="utf-8")
    before = book.read_bytes()
    for path in (other, csv_form):
        assert main(["intake", str(path), "--book", str(book)]) == 2
        assert "tokenbook の申込書ではありません" in capsys.readouterr().out
    assert main(["request-form", "--bank", "9999", "--book", str(book), "--out", str(tmp_path)]) == 1
    assert book.read_bytes() == before
