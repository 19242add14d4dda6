"""Battery-replacement waves (issue 11): the plan as scenarios on literal ledgers, and the approval
round trip through the command line on real workbook files (proposals written, answered the way a
bank would, taken back in).

Dates: plans are made on Tue 2026-11-24 (batch 2026-W48: cutoff 11/24, ★ Mon 11/30; then weekly
★ 12/07, 12/14, 12/21, 12/28, 2027-01-12 (01-11 is 成人の日) …).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from conftest import BANK, default_sheets, tables_for
from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.load import check_book
from tokenbook.models import setting_rows
from tokenbook.parse import parse_tables
from tokenbook.replacements import FROM_CSS, FROM_CUSTODY, FROM_ORDER, SHORT, plan
from tokenbook.report import Month

D = dt.date
AS_OF = D(2026, 11, 24)
OTHER = {**BANK, "金庫コード": "5678", "金庫名": "みなと信用金庫", "報告先メール": "r@minato.example"}


def in_use(serial, expires, bank="1234", customer=None, **more):
    return {"シリアル番号": serial, "所有者": "CSS", "状態": "利用中", "納品日": D(2021, 6, 1), "使用期限": expires,
            "金庫コード": bank, "店番": "001", "顧客番号": customer or serial[-7:], "顧客名": f"顧客{serial[-3:]}",
            "利用開始日": D(2021, 7, 1), **more}


def stock(serial, expires, owner="CSS"):
    return {"シリアル番号": serial, "所有者": owner, "状態": "在庫", "納品日": D(2025, 1, 1), "使用期限": expires}


def settings(**values):
    rows = [{"項目": s.key, "値": s.default, "説明": s.description} for s in setting_rows()]
    for row in rows:
        if row["項目"] in values:
            row["値"] = str(values[row["項目"]])
    return rows


QUICK = {"交換余裕（週）": 0, "交換回答期間（週）": 0}


def ledger_of(tokens, requests=(), banks=(BANK,), **values):
    sheets = default_sheets(banks=list(banks), tokens=list(tokens), requests=list(requests),
                            settings=settings(**values))
    ledger, problems = parse_tables(tables_for(sheets))
    assert [p for p in problems if p.is_error] == []
    return ledger


def per_batch(p):
    return Counter(line.batch.batch_id for line in p.lines)


# --- the plan ------------------------------------------------------------------------------------

def test_a_wave_of_300_in_one_month_against_a_capacity_of_50():
    """Deadline 12/20: three batches ship by then (11/30, 12/07, 12/14), so 150 on time, as late as
    capacity allows; the other 150 are late and go into the next batches, 50 each."""
    tokens = [in_use(f"TK{i:08d}", D(2026, 12, 20)) for i in range(300)]
    tokens += [stock(f"SK{i:08d}", D(2031, 1, 1)) for i in range(400)]
    p = plan(ledger_of(tokens, 週間発送能力=50, **QUICK), AS_OF, until=D(2026, 12, 24))
    assert len(p.lines) == 300 and len({line.token.serial for line in p.lines}) == 300
    assert per_batch(p) == {"2026-W48": 50, "2026-W49": 50, "2026-W50": 50, "2026-W51": 50, "2026-W52": 50,
                            "2026-W53": 50}
    on_time = [line for line in p.lines if not line.late]
    assert len(on_time) == 150 and all(line.batch.ship <= D(2026, 12, 20) for line in on_time)
    assert all(line.batch.ship > D(2026, 12, 20) for line in p.lines if line.late)
    assert max(p.load) == 50 and p.orders == ()  # enough stock: nothing to buy
    assert {line.source for line in p.lines} == {FROM_CSS}


def test_on_time_tokens_ship_as_late_as_the_margin_allows():
    """交換余裕 4 weeks: expiry 2027-03-01 -> ship by 2027-02-01, so the batch of ★ 2027-02-01."""
    p = plan(ledger_of([in_use("TK00000001", D(2027, 3, 1)), stock("SK00000001", D(2031, 1, 1))],
                       **{"交換回答期間（週）": 0}), AS_OF)
    (line,) = p.lines
    assert (line.batch.ship, line.late, line.deadline) == (D(2027, 2, 1), False, D(2027, 2, 1))


def test_the_answer_period_keeps_the_first_batches_free():
    p = plan(ledger_of([in_use("TK00000001", D(2026, 12, 1)), stock("SK00000001", D(2031, 1, 1))]), AS_OF)
    (line,) = p.lines  # already past its margin: late, in the first batch after the two answer weeks
    assert line.late and line.batch.batch_id == "2026-W50" and p.batches[p.first].batch_id == "2026-W50"


def test_a_wave_larger_than_the_stock_says_what_to_buy_and_by_when():
    """300 due in January and February, 120 usable CSS tokens (and 50 that lack 24 months from ★ 12/14):
    the plan suggests purchases in lots of 100, each ordered 4 weeks before the ★ it is for."""
    tokens = [in_use(f"TK{i:08d}", D(2027, 1, 10) + dt.timedelta(days=i // 6)) for i in range(300)]
    tokens += [stock(f"SK{i:08d}", D(2031, 1, 1)) for i in range(120)]
    tokens += [stock(f"OLD{i:07d}", D(2028, 12, 10)) for i in range(50)]  # 24 months left only until ★ 12/07
    p = plan(ledger_of(tokens, 週間発送能力=60, 発注点=20, 発注ロット=100, **{"納品リードタイム（週）": 4}), AS_OF,
             until=D(2027, 3, 31))
    sources = Counter(line.source for line in p.lines)
    assert SHORT not in sources and sources[FROM_CSS] == 120 and sources[FROM_ORDER] == 180
    assert all(o.quantity % 100 == 0 and o.order_by == o.batch.ship - dt.timedelta(weeks=4) for o in p.orders)
    assert sum(o.quantity for o in p.orders) >= 180 + 20
    css = [w for w in p.stock if w.owner == schema.CSS]
    assert (css[0].opening, css[1].aged_out, css[2].aged_out, css[2].opening) == (170, 0, 50, 120)
    assert all(w.closing >= 20 for w in css)  # purchases keep CSS stock at the reorder point


def test_custody_stock_first_then_css_and_only_with_the_minimum_life():
    tokens = [in_use("TK00000001", D(2027, 1, 20)), in_use("TK00000002", D(2027, 1, 20)),
              stock("CU00000001", D(2030, 1, 1), owner="1234"), stock("CU00000002", D(2028, 12, 1), owner="1234"),
              stock("SK00000001", D(2031, 1, 1))]
    p = plan(ledger_of(tokens, **QUICK), AS_OF)
    # ★ 2026-12-21 needs 2028-12-21: CU00000002 lacks it, so one custody token and one CSS token
    assert sorted(line.source for line in p.lines) == sorted([FROM_CUSTODY, FROM_CSS])


def test_tokens_already_being_replaced_are_not_proposed_and_take_capacity():
    tokens = [in_use("TK00000001", D(2026, 12, 20), customer="0000001"),
              in_use("TK00000002", D(2026, 12, 20), customer="0000002"),
              in_use("TK00000003", D(2026, 12, 20), customer="0000003"),
              stock("SK00000001", D(2031, 1, 1)), stock("SK00000002", D(2031, 1, 1))]
    arranged = {"依頼番号": "R20261201-001", "受付日": D(2026, 12, 1), "金庫コード": "1234", "店番": "001",
                "顧客番号": "0000001", "顧客名": "顧客001", "顧客区分": "個人", "申込区分": "交換", "数量": 1,
                "発送方法": "金庫郵送", "旧シリアル": "TK00000001", "状態": "受付"}
    ledger = ledger_of(tokens, [arranged], 週間発送能力=1, **QUICK)
    p = plan(ledger, AS_OF, until=D(2026, 12, 31))
    assert {line.token.serial for line in p.lines} == {"TK00000002", "TK00000003"}
    assert p.arranged["TK00000001"].ship_on == D(2026, 12, 7)  # cutoff 12/01 -> ★ 12/07
    assert per_batch(p)["2026-W49"] == 0 and p.load[1] == 1  # the arranged one fills W49
    # the bank report's 交換対象 shows it as arranged, with its planned ship date
    report = Month(ledger, "2026-11").bank_report(ledger.banks[0], dt.datetime(2026, 12, 1, 9))
    targets = {row[4]: row[-2:] for row in next(t for t in report.tables if t.name == "交換対象").rows}
    assert targets == {"TK00000001": ("交換手配中", D(2026, 12, 7)), "TK00000002": ("", None),
                       "TK00000003": ("", None)}


def test_one_bank_only():
    tokens = [in_use("TK00000001", D(2027, 1, 20)), in_use("TK00000002", D(2027, 1, 20), bank="5678")]
    p = plan(ledger_of(tokens, banks=(BANK, OTHER)), AS_OF, bank="5678")
    assert [line.token.serial for line in p.lines] == ["TK00000002"]


# --- the approval round trip on real files ----------------------------------------------------------

def wave_book(path: Path, **values) -> Path:
    tokens = [in_use(f"TK{i:08d}", D(2027, 1, 20) + dt.timedelta(days=i), customer=f"{i:07d}") for i in range(6)]
    tokens.append(in_use("TK00000900", D(2027, 1, 25), bank="5678", customer="0000900"))
    tokens += [stock(f"SK{i:08d}", D(2031, 1, 1)) for i in range(20)]
    shipped_to = {"依頼番号": "R20210601-001", "受付日": D(2021, 6, 1), "金庫コード": "1234", "店番": "001",
                  "顧客番号": "0000000", "顧客名": "顧客000", "顧客区分": "法人", "申込区分": "新規", "数量": 1,
                  "発送方法": "顧客郵送", "送付先郵便番号": "530-0001", "送付先住所": "大阪府大阪市北区梅田1-1-1",
                  "送付先氏名": "顧客000", "送付先電話": "06-1234-5678", "状態": "完了"}
    tokens[0]["依頼番号"] = "R20210601-001"
    return build_workbook(path, default_sheets(banks=[BANK, OTHER], tokens=tokens, requests=[shipped_to],
                                               settings=settings(**values)))


def proposals(out: Path) -> dict[str, Path]:
    return {p.name.split("_")[1]: p for p in out.glob("*/*_交換計画.xlsx")}


def answer(path: Path, answers: dict[str, tuple[str, str]], target: Path | None = None, **cells) -> Path:
    """Fill 回答 / 理由 as the bank would (in a spreadsheet program) and save the file."""
    book = openpyxl.load_workbook(path)
    ws = book["交換計画"]
    headers = [c.value for c in ws[1]]
    for row in range(2, ws.max_row + 1):
        serial = ws.cell(row, headers.index("シリアル番号") + 1).value
        if serial in answers:
            ws.cell(row, headers.index("回答") + 1, answers[serial][0])
            ws.cell(row, headers.index("理由") + 1, answers[serial][1])
        for header, value in cells.get(serial, {}).items():
            ws.cell(row, headers.index(header) + 1, value)
    target = target or path
    book.save(target)
    return target


@pytest.fixture
def planned(tmp_path):
    book = wave_book(tmp_path / "book.xlsm")
    assert main(["plan-replacements", "--book", str(book), "--as-of", "2026-11-24", "--months", "3",
                 "--out", str(tmp_path / "out")]) == 0
    return book, proposals(tmp_path / "out")


def test_one_proposal_per_bank_with_only_its_customers(planned):
    book, files = planned
    assert set(files) == {"1234", "5678"}
    assert files["1234"].name == "2026-11-24_1234_あおば信用金庫_交換計画.xlsx"
    wb = openpyxl.load_workbook(files["1234"])
    assert wb.sheetnames == ["交換計画", "説明"]
    ws = wb["交換計画"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    headers = [c.value for c in ws[1]]
    assert [r[headers.index("シリアル番号")] for r in rows] == [f"TK{i:08d}" for i in range(6)]
    assert {r[headers.index("金庫コード")] for r in rows} == {"1234"}
    assert "TK00000900" not in str([[c.value for c in row] for ws in wb for row in ws.iter_rows()])
    assert ws.data_validations.dataValidation[0].formula1 == '"承認,保留,対象外"'
    assert (ws.freeze_panes, ws.page_setup.orientation) == ("A2", "landscape")
    summary = next((tmp_path_out := files["1234"].parent).glob("*_CSS_交換計画集計.xlsx"))
    assert openpyxl.load_workbook(summary).sheetnames == ["概要", "金庫別", "バッチ別", "交換明細", "在庫予測", "発注予定"]
    assert tmp_path_out.name == "2026-11"


def test_approved_lines_become_replacement_requests_and_the_rest_are_recorded(planned):
    book, files = planned
    answers = {"TK00000000": ("承認", ""), "TK00000001": ("承認", ""), "TK00000002": ("保留", "来年度に検討"),
               "TK00000003": ("対象外", "解約予定")}
    answer(files["1234"], answers)
    # TK00000001's customer has no request in the ledger: the bank must say 法人 or 個人
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 1
    answer(files["1234"], answers, **{"TK00000001": {"顧客区分": "個人"}})
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 0
    ledger = check_book(book, AS_OF).ledger
    new = [r for r in ledger.requests if r.kind == "交換"]
    assert [(r.old_serial, r.received_on, r.method, r.state, r.quantity) for r in new] == [
        ("TK00000000", D(2026, 12, 15), "顧客郵送", "受付", 1), ("TK00000001", D(2026, 12, 15), "金庫郵送", "受付", 1)]
    assert new[0].ship_address == "大阪府大阪市北区梅田1-1-1" and new[0].customer_kind == "法人"  # as the old token went
    assert [r.request_id for r in new] == ["R20261215-001", "R20261215-002"]  # batch 2026-W51: ★ 12/21
    answers = {(a.serial, a.answer, a.reason, a.request_id, a.ask_again_on is not None) for a in ledger.replacement_answers}
    assert answers == {("TK00000000", "承認", "", "R20261215-001", False), ("TK00000001", "承認", "", "R20261215-002", False),
                       ("TK00000002", "保留", "来年度に検討", "", True), ("TK00000003", "対象外", "解約予定", "", False)}
    assert main(["validate", "--book", str(book)]) == 0  # 受付日 ahead is fine for planned replacements
    # the next plan proposes only what was not answered (and the hold again once its 再提案日 has come)
    again = plan(ledger, D(2026, 11, 25), until=D(2027, 2, 28))
    assert sorted(line.token.serial for line in again.lines) == ["TK00000004", "TK00000005", "TK00000900"]
    (hold,) = [a for a in ledger.replacement_answers if a.answer == "保留"]
    assert hold.ask_again_on.day == 1  # the first of the month after the answer was taken in
    later = plan(ledger, hold.ask_again_on, until=D(2027, 2, 28))
    held = [line for line in later.lines if line.token.serial == "TK00000002"]
    assert held and held[0].previous == "前回 保留（来年度に検討）"


def test_the_weekly_batch_takes_a_planned_replacement_when_its_batch_comes(planned):
    book, files = planned
    answer(files["1234"], {"TK00000000": ("承認", "")})
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 0
    assert main(["allocate", "--book", str(book), "--as-of", "2026-12-08"]) == 0
    assert [r.state for r in check_book(book, AS_OF).ledger.requests if r.kind == "交換"] == ["受付"]
    assert main(["allocate", "--book", str(book), "--as-of", "2026-12-15"]) == 0
    ledger = check_book(book, AS_OF).ledger
    (r,) = [r for r in ledger.requests if r.kind == "交換"]
    assert r.state == "割当済" and [d.planned_on for d in ledger.dispatches if d.request_id == r.request_id] == [D(2026, 12, 21)]


def test_a_proposal_taken_in_twice_changes_nothing(planned, capsys):
    book, files = planned
    answer(files["1234"], {"TK00000000": ("承認", ""), "TK00000003": ("対象外", "解約予定")})
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 0
    first = check_book(book, AS_OF).ledger
    capsys.readouterr()
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 0
    assert "取込済 2件" in capsys.readouterr().out
    second = check_book(book, AS_OF).ledger
    assert (second.requests, second.replacement_answers, second.journal) == (
        first.requests, first.replacement_answers, first.journal)


def test_a_changed_answer_to_a_line_taken_in_is_a_warning_and_kept_as_it_was(planned, capsys):
    book, files = planned
    answer(files["1234"], {"TK00000002": ("保留", "")})
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 0
    answer(files["1234"], {"TK00000002": ("承認", "")})
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 0
    assert "[proposal-answered-before]" in capsys.readouterr().out
    assert [a.answer for a in check_book(book, AS_OF).ledger.replacement_answers] == ["保留"]


def test_a_proposal_for_another_bank_is_refused(planned, capsys, tmp_path):
    book, files = planned
    before = book.read_bytes()
    # the 5678 proposal sent back under 1234's name
    renamed = tmp_path / "2026-11-24_1234_あおば信用金庫_交換計画.xlsx"
    answer(files["5678"], {"TK00000900": ("承認", "")}, target=renamed)
    assert main(["intake-replacements", "--book", str(book), str(renamed)]) == 1
    assert "[proposal-other-bank]" in capsys.readouterr().out
    # a line of another bank's token slipped into a proposal
    answer(files["1234"], {"TK00000000": ("承認", "")}, **{"TK00000001": {"シリアル番号": "TK00000900"}})
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 1
    out = capsys.readouterr().out
    assert "2026-11-24_1234_あおば信用金庫_交換計画.xlsx!交換計画!G3 [proposal-other-bank-token]" in out
    assert book.read_bytes() == before  # nothing written


@pytest.mark.parametrize(("cells", "where"), [
    ({"回答": "OK"}, "N2 [bad-choice]"),
    ({"予定バッチ": "来週"}, "K2 [proposal-bad-batch]"),
    ({"シリアル番号": "ZZ99999999"}, "G2 [unknown-serial]"),
    ({"計画日": "2026年13月1日"}, "A2 [bad-date]"),
])
def test_bad_lines_are_located_and_nothing_is_written(planned, capsys, cells, where):
    book, files = planned
    before = book.read_bytes()
    answer(files["1234"], {"TK00000000": ("承認", "")}, **{"TK00000000": cells})
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 1
    out = capsys.readouterr().out
    assert f"交換計画.xlsx!交換計画!{where}" in out and "何も書き込んでいません" in out
    assert book.read_bytes() == before


def test_not_a_proposal_is_unusable_input(planned, tmp_path):
    book, _ = planned
    other = tmp_path / "list.csv"
    other.write_text("シリアル番号\nTK00000000\n", encoding="utf-8")
    assert main(["intake-replacements", "--book", str(book), str(other)]) == 2
    assert main(["intake-replacements", "--book", str(book), str(tmp_path / "missing.xlsx")]) == 2


def test_a_ledger_without_the_answers_sheet_still_works_but_cannot_take_answers_in(planned, capsys):
    book, files = planned
    wb = openpyxl.load_workbook(book, keep_vba=True)
    del wb[schema.REPLACEMENT_ANSWERS]
    wb.save(book)
    assert main(["validate", "--book", str(book)]) == 0
    assert main(["plan-replacements", "--book", str(book), "--as-of", "2026-11-24", "--out",
                 str(book.parent / "again")]) == 0
    answer(files["1234"], {"TK00000000": ("承認", "")})
    assert main(["intake-replacements", "--book", str(book), str(files["1234"])]) == 1
    assert "[answers-sheet-missing]" in capsys.readouterr().out


def test_plan_refuses_an_unknown_bank_and_a_ledger_with_errors(tmp_path):
    book = wave_book(tmp_path / "book.xlsm")
    assert main(["plan-replacements", "--book", str(book), "--bank", "9999", "--out", str(tmp_path / "o")]) == 2
    assert main(["plan-replacements", "--book", str(book), "--bank", "12", "--out", str(tmp_path / "o")]) == 2
    wb = openpyxl.load_workbook(book, keep_vba=True)
    wb["在庫"].cell(2, 3, "使用中")
    wb.save(book)
    assert main(["plan-replacements", "--book", str(book), "--out", str(tmp_path / "o")]) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.libreoffice
def test_the_proposal_and_the_summary_render(planned, convert):
    _, files = planned
    for path in (files["1234"], next(files["1234"].parent.glob("*_CSS_*.xlsx"))):
        pdf = convert(path, "pdf")
        assert pdf.read_bytes().startswith(b"%PDF")


def test_the_css_report_suggests_purchases_in_the_set_lot_not_a_fixed_100():
    from tokenbook.report import css_report

    tokens = [in_use(f"TK{i:08d}", D(2027, 1, 10)) for i in range(45)] + [stock("SK00000001", D(2031, 1, 1))]
    ledger = ledger_of(tokens, 発注ロット=30, 発注点=10)
    report = css_report(ledger, "2026-11", dt.datetime(2026, 12, 1, 9))
    reorder = dict(next(t for t in report.tables if t.name == "発注提案").rows)
    assert reorder["発注ロット"] == 30 and reorder["発注提案数"] % 30 == 0 and reorder["発注提案数"] > 0
    orders = next(t for t in report.tables if t.name == "発注予定").rows
    assert orders and all(quantity % 30 == 0 for _, _, _, quantity, _ in orders)
    assert sum(quantity for _, _, _, quantity, _ in orders) >= 45 + 10 - 1
    assert len(report.forecast) == 26 and all(point[2] == 10 for point in report.forecast)
