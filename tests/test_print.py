"""How the pages a clerk or a bank prints are set up (issue 19), read back from the files with openpyxl:
A4 landscape, the header rows on every page, one page wide while that stays readable, else column
groups side by side with the key columns repeated; チェック結果's コード explained; the CSS report's
per-bank chart named by bank; one font in charts. LibreOffice shows the ledger's 申込 as the groups.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tokenbook import schema
from tokenbook.books.build import NOT_PRINTED, PRINT_GROUPS, build_workbook
from tokenbook.books.pages import PERSONAL, PRINTABLE_PX, READABLE, column_px
from tokenbook.cli import main

from conftest import BANK, IN_USE, STOCK, default_sheets
from test_report import BANKS, DISPATCHES, JOURNAL, REQUESTS, TOKENS, page_header

LEDGER_SHEETS = {**schema.ALL_TABLES, schema.WORKLIST: schema.WORKLIST_COLUMNS, schema.CHECKS: schema.CHECK_COLUMNS}


def request(n: int) -> dict:
    return {"依頼番号": f"R20261101-{n:03d}", "受付日": dt.date(2026, 11, 1), "金庫コード": "1234", "店番": "001",
            "顧客番号": f"{n:07d}", "顧客名": f"顧客{n:03d}", "顧客区分": "個人", "申込区分": "新規", "数量": 1,
            "発送方法": "顧客郵送", "送付先郵便番号": "530-0001", "送付先住所": "大阪府大阪市北区梅田1-1-1",
            "送付先氏名": f"顧客{n:03d}", "送付先電話": "06-1234-5678", "状態": "受付"}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("print")
    expired = {**STOCK, "シリアル番号": "TK00000077", "納品日": dt.date(2020, 1, 6), "使用期限": dt.date(2025, 1, 6)}
    book = build_workbook(folder / "book.xlsm", default_sheets(tokens=[STOCK, IN_USE, expired],
                                                                requests=[request(n) for n in range(1, 61)]))
    # a run that writes the book back: チェック結果 gets the expired token's warning
    assert main(["allocate", "--book", str(book), "--as-of", "2026-11-24"]) == 0
    return book


def test_every_ledger_sheet_prints_a4_landscape_with_its_header_row_on_every_page(ledger):
    wb = openpyxl.load_workbook(ledger)
    for sheet, columns in LEDGER_SHEETS.items():
        ws = wb[sheet]
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9, sheet
        assert ws.print_title_rows == "$1:$1", sheet
        printed = columns[:[c.header for c in columns].index(NOT_PRINTED[sheet])] if NOT_PRINTED.get(sheet) else columns
        header = page_header(ledger, sheet)
        assert header["L"].endswith(f"tokenbook　{sheet}") and header["R"].endswith("&P / &N ページ"), sheet
        personal = any(c.header in PERSONAL for c in printed)
        assert ("取扱注意" in header["R"]) == personal, sheet  # beside the page number, clear of the title
        px = sum(column_px(c.width) for c in printed)
        if sheet in PRINT_GROUPS:
            assert not ws.sheet_properties.pageSetUpPr.fitToPage, sheet  # Excel ignores column breaks when fitting
        elif px * READABLE / 100 <= PRINTABLE_PX:
            assert ws.sheet_properties.pageSetUpPr.fitToPage, sheet
            assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) in ((1, 0), (None, 0)), sheet
        else:
            pytest.fail(f"{sheet}: {px} px on one page would be shrunk below {READABLE} %")


@pytest.mark.parametrize("sheet, firsts, keys", [
    ("申込", ["手交シリアル", "IB登録日"], "$A:$A"),
    ("在庫", ["利用開始日"], "$A:$A"),
    ("発送", ["送付先郵便番号"], "$A:$A"),
    ("金庫", ["郵便番号", "暗号化証明書"], "$A:$B"),
    ("交換計画回答", ["依頼番号"], "$A:$C"),
])
def test_a_wide_ledger_sheet_prints_as_column_groups_with_its_key_columns_repeated(ledger, sheet, firsts, keys):
    ws = openpyxl.load_workbook(ledger)[sheet]
    headers = [c.header for c in schema.ALL_TABLES[sheet]]
    widths = [c.width for c in schema.ALL_TABLES[sheet]]
    assert [b.id for b in ws.col_breaks.brk] == [headers.index(h) for h in firsts]
    assert ws.print_title_cols == keys and ws.page_setup.pageOrder == "overThenDown"
    scale = ws.page_setup.scale or 100  # not written when 100
    assert 90 <= scale <= 100, sheet  # every group is read at nearly full size ...
    edges = [0, *(headers.index(h) for h in firsts), len(headers)]
    repeated = sum(column_px(w) for w in widths[:ord(keys[-1]) - ord("A") + 1])
    for a, b in zip(edges, edges[1:]):  # ... and fits its page beside the repeated key columns
        px = sum(column_px(w) for w in widths[a:b]) + (repeated if a else 0)
        assert px * scale / 100 <= PRINTABLE_PX, (sheet, headers[a])


def test_the_journal_prints_the_movements_not_its_seal(ledger):
    ws = openpyxl.load_workbook(ledger)["履歴"]
    last = [c.header for c in schema.JOURNAL_COLUMNS].index("ダイジェスト")  # M: for the machine
    assert ws.print_area == f"'履歴'!$A$1:${chr(ord('A') + last - 1)}$1048575"
    assert ws.sheet_properties.pageSetUpPr.fitToPage


def test_check_results_explain_the_code_column_without_changing_its_header(ledger):
    ws = openpyxl.load_workbook(ledger)["チェック結果"]
    assert [c.value for c in ws[1]][:7] == [c.header for c in schema.CHECK_COLUMNS]  # コード stays コード
    assert ws["G2"].value == "expired-stock"  # written by allocate; the explanation survived the write-back
    help_, = [dv for dv in ws.data_validations.dataValidation if "G1" in str(dv.sqref)]
    assert help_.promptTitle == "コード（問題の種類）" and "問い合わせ" in help_.prompt and help_.showInputMessage
    assert str(help_.sqref) == "G1:G1048576"
    assert "「コード」は問題の種類" in page_header(ledger, "チェック結果")["C"]  # and on paper
    assert ws.print_area == "'チェック結果'!$A$1:$G$1048575"  # the run's summary in H1 is not printed


def test_a_written_back_ledger_keeps_its_print_setup(ledger):
    ws = openpyxl.load_workbook(ledger)["申込"]  # allocate rewrote the book
    assert ws.print_title_cols == "$A:$A" and ws.print_title_rows == "$1:$1" and len(ws.col_breaks.brk) == 2


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    book = build_workbook(folder / "book.xlsm", default_sheets(banks=BANKS, tokens=TOKENS, journal=JOURNAL,
                                                                requests=REQUESTS, dispatches=DISPATCHES))
    assert main(["report", "--book", str(book), "--month", "2026-10", "--out", str(folder / "out")]) == 0
    return folder / "out" / "2026-10"


def test_the_css_per_bank_chart_and_its_table_name_the_banks(reports):
    path = reports / "2026-10_CSS_在庫月報.xlsx"
    ws = openpyxl.load_workbook(path)["概要"]
    cells = [[c.value for c in row] for row in ws.iter_rows(max_col=2)]
    at = cells.index(["金庫別 利用中", None])
    assert cells[at + 1] == ["金庫", "本数"]  # not 区分
    assert cells[at + 2][0] == "1234 あおば信用金庫" and cells[at + 3][0] == "5678 みなと信用金庫"
    band = cells.index(["CSS在庫の残存期間", None])
    assert cells[band + 1] == ["残存期間", "本数"]
    with zipfile.ZipFile(path) as book:
        charts = {n: book.read(n).decode() for n in book.namelist() if n.startswith("xl/charts/chart")}
    across = [xml for xml in charts.values() if "金庫別 利用中" in xml]
    assert len(across) == 1 and '<c:barDir val="bar"/>' in across[0]  # bank names read across, one per line


def test_chart_text_names_one_font_for_latin_and_japanese(reports):
    """xlsxwriter names a chart font for Latin text only: Excel drew a title's kana in the theme's
    Japanese font and its digits in Meiryo UI."""
    for path in reports.glob("*.xlsx"):
        with zipfile.ZipFile(path) as book:
            for name in (n for n in book.namelist() if n.startswith("xl/charts/chart")):
                xml = book.read(name).decode()
                fonts = re.findall(r'<a:(latin|ea) typeface="([^"]*)"/>', xml)
                assert fonts and set(fonts) == {("latin", "Meiryo UI"), ("ea", "Meiryo UI")}, (path.name, name)
                assert xml.count("<a:latin ") == xml.count("<a:ea "), (path.name, name)


def test_report_summaries_print_one_page_wide_as_long_as_their_data(reports):
    for path in reports.glob("*.xlsx"):
        ws = openpyxl.load_workbook(path)["概要"]
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0, path.name


def test_the_replacement_proposal_prints_as_two_pages_side_by_side(tmp_path):
    from test_replacements import proposals, wave_book

    book = wave_book(tmp_path / "book.xlsm")
    assert main(["plan-replacements", "--book", str(book), "--as-of", "2026-11-24", "--months", "3",
                 "--out", str(tmp_path / "out")]) == 0
    ws = openpyxl.load_workbook(proposals(tmp_path / "out")["1234"])["交換計画"]
    headers = [c.value for c in ws[1]]
    assert [b.id for b in ws.col_breaks.brk] == [headers.index("予定バッチ")]
    assert ws.print_title_cols == "$A:$E" and headers[4] == "顧客名" and ws.page_setup.scale >= 85
    assert "取扱注意" in page_header(proposals(tmp_path / "out")["1234"], "交換計画")["R"]


def test_the_request_form_prints_as_three_pages_side_by_side(book_file, tmp_path):
    from tokenbook.runs import Run, run_request_form

    book = book_file(banks=[BANK], tokens=[STOCK, IN_USE])
    assert run_request_form(Run(book, dt.datetime(2026, 11, 24, 9), "test"), "1234", tmp_path).exit_code == 0
    ws = openpyxl.load_workbook(tmp_path / "1234_申込書.xlsx")["申込"]
    headers = [c.value for c in ws[1]]
    assert [b.id for b in ws.col_breaks.brk] == [headers.index("送付先郵便番号"), headers.index("IB登録日")]
    assert ws.print_title_cols == "$A:$C" and ws.print_title_rows == "$1:$1" and ws.page_setup.scale >= 90


@pytest.mark.libreoffice
def test_libreoffice_prints_the_requests_as_the_column_groups(ledger, convert, tmp_path):
    """The ledger as LibreOffice prints it: 申込's pages hold the groups, 依頼番号 on every one."""
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) not installed")
    matched = subprocess.run(["fc-match", "Calibri"], capture_output=True, text=True).stdout
    if "Carlito" not in matched:  # the columns are counted in Calibri's widths; DejaVu Sans is wider
        why = f"the pages are laid out in Calibri's widths: needs fonts-crosextra-carlito (Calibri is {matched!r})"
        if os.environ.get("TOKENBOOK_REQUIRE_LIBREOFFICE") == "1":
            pytest.fail(why)
        pytest.skip(why)
    pdf = convert(ledger, "pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    pages = [page for page in text.split("\f") if re.search(r"tokenbook\s+申込\s", page)]  # the page header
    assert len(pages) == 6  # 60 requests: two pages of rows, each as three groups, over then down
    assert ["顧客名" in p and "IBカード" in p for p in pages[:3]] == [True, False, False]
    assert ["送付先住所" in p for p in pages[:3]] == [False, True, False]
    assert ["処理メモ" in p for p in pages[:3]] == [False, False, True]
    assert all("依頼番号" in p and "R20261101-001" in p for p in pages[:3])
