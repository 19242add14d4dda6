"""Monthly reports (design §8) on a scenario ledger whose figures are worked out by hand here.

The scenario, for October 2026 (warning window 6 months, so until 2027-04-30):
bank 1234 has three tokens in use at the end of October (one started in October, one expiring in
January 2027, one already expired), one stopped in October, one held at the bank, and custody
stock that opens at 2, takes one in, gives one out and closes at 2. Bank 5678 has one token in
use and no custody stock; bank 9999 receives no report. CSS holds three tokens in three bands.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from tokenbook.books.build import build_workbook
from tokenbook.cli import main

from conftest import BANK, default_sheets

D = dt.date
BANKS = [
    BANK,
    {**BANK, "金庫コード": "5678", "金庫名": "みなと信用金庫", "報告先メール": "report@minato.example"},
    {**BANK, "金庫コード": "9999", "金庫名": "報告なし信用金庫", "報告送付": "しない"},
]


def use(serial, bank, customer, name, delivered, started, branch="001", **more):
    return {"シリアル番号": serial, "所有者": "CSS", "状態": "利用中", "納品日": delivered, "金庫コード": bank,
            "店番": branch, "顧客番号": customer, "顧客名": name, "利用開始日": started, **more}


def stock(serial, owner, delivered, state="在庫", **more):
    return {"シリアル番号": serial, "所有者": owner, "状態": state, "納品日": delivered, **more}


TOKENS = [
    use("TK00000101", "1234", "0000001", "佐藤 翔太", D(2022, 1, 15), D(2022, 2, 1)),  # expires 2027-01-15
    use("TK00000102", "1234", "0000002", "=1+1", D(2025, 6, 1), D(2026, 10, 5)),  # started in October
    use("TK00000103", "1234", "0000003", "+81-3", D(2021, 9, 30), D(2021, 10, 10)),  # expired 2026-09-30
    use("TK00000104", "1234", "0000004", "@SUM(A1)", D(2023, 1, 1), D(2023, 2, 1), 状態="停止", 停止理由="紛失"),
    stock("TK00000105", "1234", D(2025, 1, 1), "金庫保管", 金庫コード="1234", 店番="002"),
    stock("TK00000201", "1234", D(2025, 1, 1), 入庫日=D(2025, 1, 10)),
    stock("TK00000202", "1234", D(2024, 6, 1), 入庫日=D(2026, 10, 10)),
    use("TK00000203", "1234", "0000005", "株式会社青葉商事", D(2025, 3, 1), D(2026, 11, 2), 所有者="1234"),
    use("TK00000301", "5678", "0000009", "山田 花子", D(2024, 2, 1), D(2024, 3, 1)),
    stock("TK00000401", "CSS", D(2025, 10, 1)),
    stock("TK00000402", "CSS", D(2021, 8, 1)),
    stock("TK00000403", "CSS", D(2022, 3, 15)),
]


def move(day, operation, serial, before, after, owner="CSS", bank="1234", request=""):
    return {"日時": dt.datetime.combine(day, dt.time(10)), "発効日": day, "操作": operation, "シリアル番号": serial,
            "変更前": before, "変更後": after, "所有者": owner, "金庫コード": bank, "依頼番号": request}


JOURNAL = [
    move(D(2026, 9, 29), "引当", "TK00000102", "在庫", "引当済", request="R20260925-001"),
    move(D(2026, 10, 5), "発送", "TK00000102", "引当済", "利用中", request="R20260925-001"),
    move(D(2026, 10, 10), "入庫", "TK00000202", "", "在庫", owner="1234"),
    move(D(2026, 10, 15), "引当", "TK00000203", "在庫", "引当済", owner="1234", request="R20261013-001"),
    move(D(2026, 10, 20), "停止", "TK00000104", "利用中", "停止"),
    move(D(2026, 11, 2), "発送", "TK00000203", "引当済", "利用中", owner="1234", request="R20261013-001"),
]
REQUESTS = [
    {"依頼番号": "R20260925-001", "受付日": D(2026, 9, 25), "金庫コード": "1234", "店番": "001", "顧客番号": "0000002",
     "顧客名": "=1+1", "顧客区分": "個人", "申込区分": "新規", "数量": 1, "発送方法": "金庫郵送", "状態": "完了"},
    {"依頼番号": "R20261013-001", "受付日": D(2026, 10, 13), "金庫コード": "1234", "店番": "001", "顧客番号": "0000005",
     "顧客名": "株式会社青葉商事", "顧客区分": "法人", "申込区分": "途中", "数量": 1, "発送方法": "金庫郵送", "状態": "完了"},
]
DISPATCHES = [
    {"発送番号": "2026-W40-0001", "バッチ": "2026-W40", "依頼番号": "R20260925-001", "シリアル番号": "TK00000102",
     "金庫コード": "1234", "発送予定日": D(2026, 10, 5), "発送日": D(2026, 10, 5), "状態": "発送済"},
    {"発送番号": "2026-W42-0001", "バッチ": "2026-W42", "依頼番号": "R20261013-001", "シリアル番号": "TK00000203",
     "金庫コード": "1234", "発送予定日": D(2026, 11, 2), "発送日": D(2026, 11, 2), "状態": "発送済"},
]


@pytest.fixture(scope="module")
def october(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    book = build_workbook(folder / "book.xlsm", default_sheets(banks=BANKS, tokens=TOKENS, journal=JOURNAL,
                                                                requests=REQUESTS, dispatches=DISPATCHES))
    assert main(["report", "--book", str(book), "--month", "2026-10", "--out", str(folder / "out")]) == 0
    return folder / "out" / "2026-10"


def sheet(path: Path, name: str) -> list[tuple]:
    ws = openpyxl.load_workbook(path)[name]
    return [tuple(c.value for c in row) for row in ws.iter_rows(min_row=4) if any(c.value is not None for c in row)]


def summary(path: Path) -> dict:
    ws = openpyxl.load_workbook(path)["概要"]
    return {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(3, 40) if ws.cell(r, 1).value}


def page_header(path: Path, name: str) -> dict[str, str]:
    """The sheet's page header as written, by section (L, C, R): openpyxl keeps only a section's last run."""
    import re
    import zipfile
    from xml.etree import ElementTree

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(path) as book:
        sheets = ElementTree.fromstring(book.read("xl/workbook.xml")).iter(f"{main}sheet")
        rid = next(s.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id")
                   for s in sheets if s.get("name") == name)
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        target = next(r.get("Target") for r in rels if r.get("Id") == rid)
        sheet = ElementTree.fromstring(book.read("xl/" + target.removeprefix("/xl/")))
    text = sheet.find(f"{main}headerFooter/{main}oddHeader").text
    return dict(re.findall(r"&([LCR])((?:[^&]|&[^LCR])*)", text))


def day(value):
    return value.date() if isinstance(value, dt.datetime) else value


A = "2026-10_1234_あおば信用金庫_トークン月次報告.xlsx"
M = "2026-10_5678_みなと信用金庫_トークン月次報告.xlsx"


def test_one_workbook_per_reporting_bank_and_one_for_css(october):
    assert sorted(p.name for p in october.glob("*.xlsx")) == sorted([A, M, "2026-10_CSS_在庫月報.xlsx"])
    book = openpyxl.load_workbook(october / A)
    assert book.sheetnames == ["概要", "利用者一覧", "交換対象", "当月発送", "預り在庫", "金庫保管", "利用明細"]
    assert openpyxl.load_workbook(october / M).sheetnames == ["概要", "利用者一覧", "交換対象", "当月発送", "金庫保管",
                                                              "利用明細"]


def test_bank_summary_figures(october):
    figures = summary(october / A)
    assert figures["金庫"] == "1234 あおば信用金庫" and figures["対象月"] == "2026年10月"
    assert day(figures["基準日"]) == D(2026, 10, 31)
    expected = {"利用中": 3, "当月利用開始": 1, "当月停止": 1, "期限6か月以内": 1, "期限切れで利用中": 1, "金庫保管": 1,
                "預り在庫 期首": 2, "預り在庫 受入": 1, "預り在庫 払出": 1, "預り在庫 期末": 2}
    assert {k: figures[k] for k in expected} == expected
    other = summary(october / M)
    assert other["利用中"] == 1 and "預り在庫 期首" not in other


def test_custody_balances_carry_into_the_next_month(october, tmp_path):
    book = october.parent.parent / "book.xlsm"
    assert main(["report", "--book", str(book), "--month", "2026-11", "--out", str(tmp_path)]) == 0
    november = summary(tmp_path / "2026-11" / A.replace("2026-10", "2026-11"))
    assert [november[k] for k in ("預り在庫 期首", "預り在庫 受入", "預り在庫 払出", "預り在庫 期末")] == [2, 0, 0, 2]
    assert november["利用中"] == 4 and november["当月利用開始"] == 1  # TK00000203 shipped 11/02
    assert main(["report", "--book", str(book), "--month", "2026-09", "--out", str(tmp_path)]) == 0
    september = summary(tmp_path / "2026-09" / A.replace("2026-10", "2026-09"))
    # end of September: 201 and 203 in custody (202 came in 10/10); 102 allocated, not yet in use; 104 in use
    assert september["預り在庫 期末"] == 2 and september["利用中"] == 3


def test_user_list_and_replacement_targets(october):
    users = sheet(october / A, "利用者一覧")
    assert [(r[0], r[1], r[4], day(r[5]), day(r[6]), r[7], r[8]) for r in users] == [
        ("0000001", "佐藤 翔太", "TK00000101", D(2022, 2, 1), D(2027, 1, 15), 2, "要交換"),
        ("0000002", "=1+1", "TK00000102", D(2026, 10, 5), D(2030, 6, 1), 43, None),
        ("0000003", "+81-3", "TK00000103", D(2021, 10, 10), D(2026, 9, 30), 0, "期限切れ"),
    ]
    assert users[1][2] == "個人"  # 顧客区分 from the customer's request
    assert [r[4] for r in sheet(october / A, "交換対象")] == ["TK00000101", "TK00000103"]


def test_shipped_custody_and_held_sheets(october):
    shipped = sheet(october / A, "当月発送")
    assert [(day(r[0]), r[1], r[2], r[3], r[4], r[6]) for r in shipped] == [
        (D(2026, 10, 5), "郵送", "R20260925-001", "新規", "0000002", "TK00000102")]
    assert [r[0] for r in sheet(october / A, "預り在庫")] == ["TK00000202", "TK00000201"]  # earliest expiry first
    assert [(r[0], r[1]) for r in sheet(october / A, "金庫保管")] == [("TK00000105", "002")]


def test_expiry_chart_data_covers_the_next_60_months(october):
    ws = openpyxl.load_workbook(october / A)["概要"]
    rows = [(ws.cell(r, 1).value, ws.cell(r, 2).value) for r in range(1, 100)]
    start = rows.index(("月", "本数")) + 1
    data = rows[start:start + 60]
    assert [m for m, _ in data][:3] == ["2026-11", "2026-12", "2027-01"] and data[-1][0] == "2031-10"
    assert rows[start + 60][0] is None
    assert {m: n for m, n in data if n} == {"2027-01": 1, "2030-06": 1}  # TK00000102 too, 43 months ahead
    assert len(openpyxl.load_workbook(october / A)["概要"]._charts) == 1


def test_formula_like_names_stay_text(october):
    ws = openpyxl.load_workbook(october / A)["利用者一覧"]
    cells = [ws.cell(r, 2) for r in range(4, 7)]
    assert [(c.value, c.data_type) for c in cells] == [("佐藤 翔太", "s"), ("=1+1", "s"), ("+81-3", "s")]


def test_css_report_bands_flow_and_kpis(october):
    path = october / "2026-10_CSS_在庫月報.xlsx"
    owners = {r[0]: r[2:] for r in sheet(path, "所有者別在庫")}
    # bands: 期限切れ, 6か月未満, 6〜12か月, 12〜24か月, 24か月以上
    assert owners == {"CSS": (3, 1, 1, 0, 0, 1), "1234": (2, 0, 0, 0, 0, 2)}
    assert [r[1] for r in sheet(path, "期限切れ在庫")] == ["TK00000402"]
    # the vault (在庫 + 引当済) as a stock count sees it: 102 (allocated 9/29) ships 10/5, 202 comes in
    # 10/10, 203 is allocated 10/15 and not shipped by the 31st; 201 and CSS's three stay.
    flow = {r[1]: r[2] for r in sheet(path, "月間フロー")}
    assert flow == {"期首在庫（在庫＋引当済）": 6, "入庫（購入・預り受入）": 1, "発送（顧客・利用開始）": 1,
                    "期末在庫（在庫＋引当済）": 6, "CSS在庫": 3, "預り在庫（金庫所有）": 2, "引当済・未発送": 1,
                    "期首＋受入−払出＝期末（一致）": 6}
    rows = sheet(path, "金庫別KPI")
    assert [(r[0], r[1]) for r in rows] == [("1234", "あおば信用金庫"), ("5678", "みなと信用金庫"),
                                             ("9999", "報告なし信用金庫"), ("合計", "3 金庫")]  # every bank, by code
    kpis = {r[0]: r[2:] for r in rows}
    assert kpis["1234"] == (3, 1, 1, 1, 1, 1, 2, 1) and kpis["5678"] == (1, 0, 0, 0, 0, 0, 0, 0)
    assert kpis["合計"] == (4, 1, 1, 1, 1, 1, 2, 1)
    assert len(openpyxl.load_workbook(path)["概要"]._charts) == 3  # bands, banks, the 26-week forecast


def test_print_setup_and_frozen_headers(october):
    ws = openpyxl.load_workbook(october / A)["利用者一覧"]
    assert ws.freeze_panes == "A4" and ws.auto_filter.ref.startswith("A3:")
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.print_title_rows == "$1:$3" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws["I4"].fill.fgColor.rgb.endswith("FFC7CE")  # 要交換 highlighted
    assert ws["A3"].font.name == "Meiryo UI"


def test_a_past_month_regenerated_later_has_the_same_content(october, tmp_path):
    """After more movements (November's batches), October's report is the same, bar its creation time."""
    book = tmp_path / "later.xlsm"
    book.write_bytes((october.parent.parent / "book.xlsm").read_bytes())
    wb = openpyxl.load_workbook(book, keep_vba=True)
    wb["在庫"].cell(3, 3, "停止")  # TK00000102 stopped by hand in November, journalled by the next run
    wb["在庫"].cell(3, 13, "故障")
    wb.save(book)
    assert main(["allocate", "--book", str(book), "--as-of", "2026-11-24"]) == 0  # nothing to allocate, warnings only
    from tokenbook.load import check_book
    journal = check_book(book, dt.date(2026, 11, 24)).ledger.journal
    assert [(e.operation, e.serial, e.after) for e in journal[-1:]] == [("修正", "TK00000102", "停止")]
    assert main(["report", "--book", str(book), "--month", "2026-10", "--out", str(tmp_path / "out")]) == 0
    again = tmp_path / "out" / "2026-10"
    for name in (A, M, "2026-10_CSS_在庫月報.xlsx"):
        first, second = (openpyxl.load_workbook(folder / name) for folder in (october, again))
        assert first.sheetnames == second.sheetnames
        for ws in first.worksheets:
            one = [[c.value for c in row] for row in ws.iter_rows()]
            two = [[c.value for c in row] for row in second[ws.title].iter_rows()]
            if ws.title == "概要":
                one, two = ([r for r in rows if r[0] != "作成日時"] for rows in (one, two))
            assert one == two, (name, ws.title)


def test_report_refuses_on_input_errors_and_produces_nothing(tmp_path, capsys):
    bad = [*TOKENS[:-1], {**TOKENS[-1], "状態": "使用中"}]
    book = build_workbook(tmp_path / "bad.xlsm", default_sheets(banks=BANKS, tokens=bad))
    assert main(["month-end", "--book", str(book), "--month", "2026-10", "--out", str(tmp_path / "out")]) == 1
    assert "中止しました" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("month", ["2026-13", "26-10", "十月"])
def test_bad_month_is_unusable_input(october, month):
    assert main(["report", "--book", str(october.parent.parent / "book.xlsm"), "--month", month]) == 2


@pytest.mark.slow
@pytest.mark.libreoffice
def test_every_kind_of_report_renders_to_pdf(october, convert):
    for name in (A, "2026-10_CSS_在庫月報.xlsx"):
        pdf = convert(october / name, "pdf")
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000


# --- issue 11: replacements under way, the statement, the forecast -----------------------------------

def test_the_statement_adds_up_to_the_shipped_sheet(october):
    statement = {(r[0], r[1]): r[2] for r in sheet(october / A, "利用明細")}
    assert statement[("発送トークン", "新規")] == 1 and statement[("発送トークン", "計")] == 1
    assert (statement[("発送（小包）", "金庫郵送")], statement[("発送（小包）", "顧客郵送")]) == (1, 0)
    assert (statement[("窓口手交", "手交したトークン")], statement[("IBカード", "IBカード同封の発送")]) == (0, 0)
    assert (statement[("預り在庫", "月初")], statement[("預り在庫", "月末")], statement[("金庫保管", "月末（手交待ち）")]) == (2, 2, 1)
    assert statement[("合計", "当月発送・手交のトークン")] == len(sheet(october / A, "当月発送"))
    assert {(r[0], r[1]): r[2] for r in sheet(october / M, "利用明細")}[("合計", "当月発送・手交のトークン")] == 0


def test_replacement_targets_say_whether_a_replacement_is_under_way(october):
    ws = openpyxl.load_workbook(october / A)["交換対象"]
    assert [c.value for c in ws[3]][-2:] == ["交換手配", "発送予定日"]
    assert [r[-2:] for r in sheet(october / A, "交換対象")] == [(None, None), (None, None)]  # none arranged here


def test_the_css_report_forecasts_26_weeks_per_owner_with_purchases_in_lots(october):
    path = october / "2026-10_CSS_在庫月報.xlsx"
    rows = sheet(path, "在庫予測")
    assert Counter(r[2] for r in rows) == {"CSS": 26, "1234": 26}
    assert rows[0][:3] == ("2026-W45", dt.datetime(2026, 11, 9), "CSS")  # the first batch after 10/31
    orders = sheet(path, "発注予定")
    assert orders and all(r[3] % 100 == 0 for r in orders)
    assert all(day(r[0]) == day(r[2]) - dt.timedelta(weeks=4) for r in orders)
    reorder = dict(sheet(path, "発注提案"))
    assert (reorder["発注ロット"], reorder["納品リードタイム（週）"]) == (100, 4)
    assert reorder["26週予測の発注合計"] == sum(r[3] for r in orders)


def test_the_bank_summary_as_a_bank_reads_it(october):
    """Issue 9: one name for the month, units on counts, CSS's contact, personal data marked."""
    wb = openpyxl.load_workbook(october / A)
    ws = wb["概要"]
    assert ws["A1"].value == "あおば信用金庫 ハードウェアトークン月次報告（2026年10月）"
    values = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(3, 30) if ws.cell(r, 1).value}
    assert values["対象月"].value == "2026年10月"
    assert values["利用中"].value == 3 and values["利用中"].number_format == '#,##0"本"'
    assert values["お問い合わせ"].value == "CSS トークン管理係"  # 設定 問い合わせ先 (no phone, no sender here)
    for name in ("利用者一覧", "交換対象", "当月発送"):
        sheet_ = wb[name]
        assert sheet_["A2"].value == "取扱注意（個人情報を含みます）", name
        assert "取扱注意（個人情報を含みます）&K000000　" in page_header(october / A, name)["R"], name  # by the page number
        assert "取扱注意（個人情報を含みます）" in sheet_.oddFooter.center.text, name
    assert wb["金庫保管"]["A2"].value is None  # no customer on it: no marking
    chart = ws._charts[0]
    assert (chart.y_axis.majorUnit, chart.y_axis.scaling.min) == (1, 0)  # one or two tokens a month: whole steps


def test_the_css_chart_names_every_bank(october):
    ws = openpyxl.load_workbook(october / "2026-10_CSS_在庫月報.xlsx")["概要"]
    labels = [ws.cell(r, 1).value for r in range(1, 60)]
    assert {"1234 あおば信用金庫", "5678 みなと信用金庫", "9999 報告なし信用金庫"} <= set(labels)
