"""Stocktaking (`tokenbook stocktake`): scanned files against the ledger on real files — one of each
difference, the counts per owner, a clean count, a past day, bad input; 在庫 never changes."""

from __future__ import annotations

import datetime as dt

import pytest
import python_calamine
import xlsxwriter

from conftest import BANK
from tokenbook import schema
from tokenbook.cli import main
from tokenbook.load import check_book
from tokenbook.report import css_report
from tokenbook.runs import Run, run_stocktake

D = dt.date
NOW = dt.datetime(2026, 11, 30, 17, 0)


def token(serial, owner="CSS", state="在庫", **more):
    return {"シリアル番号": serial, "所有者": owner, "状態": state, "納品日": D(2025, 1, 10), "入庫日": D(2025, 1, 15), **more}


IN_USE = dict(金庫コード="1234", 店番="001", 顧客番号="0000123", 顧客名="佐藤 翔太", 利用開始日=D(2026, 11, 30))
TOKENS = [
    token("TK00000001"),  # CSS, in stock, scanned twice
    token("TK00000002"),  # CSS, in stock, not scanned: 不足
    token("TK00000003", owner="1234"),  # custody stock of 1234, scanned
    token("TK00000004", state="引当済"),  # allocated, waiting in the vault for ★, scanned
    token("TK00000005", state="利用中", **IN_USE),  # shipped on 11/30 (journal below), scanned: 状態違い
    token("TK00000006", owner="1234", state="金庫保管", 金庫コード="1234", 店番="001"),  # at the bank, not scanned
]


def journal(serial, day, operation, before, after):
    return {"日時": dt.datetime.combine(day, dt.time(9)), "発効日": day, "操作": operation, "シリアル番号": serial,
            "変更前": before, "変更後": after, "所有者": "CSS", "担当者": "test"}


JOURNAL = [journal("TK00000005", D(2025, 1, 15), "入庫", "", "在庫"),
           journal("TK00000005", D(2026, 11, 25), "引当", "在庫", "引当済"),
           journal("TK00000005", D(2026, 11, 30), "発送", "引当済", "利用中")]


@pytest.fixture
def vault(book_file):
    return book_file(banks=[BANK, {**BANK, "金庫コード": "5678", "金庫名": "みどり信用金庫"}], tokens=TOKENS,
                     journal=JOURNAL, requests=[])


@pytest.fixture
def scans(tmp_path):
    box1 = tmp_path / "box1.txt"
    box1.write_text("TK00000001\n\ntk00000003\nTK99999999\nTK00000005\n", encoding="utf-8")  # as a scanner writes it
    box2 = tmp_path / "box2.csv"
    box2.write_bytes("箱,シリアル番号\r\n2,TK00000004\r\n2,TK00000001\r\n".encode("cp932"))
    return [box1, box2]


def sheet(path, name):
    return python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()


def test_one_of_each_difference_with_counts_per_owner(vault, scans):
    before = check_book(vault, NOW.date()).ledger
    outcome = run_stocktake(Run(vault, NOW, "clerk"), scans, NOW.date())
    assert outcome.exit_code == 1, outcome.lines  # differences found ...
    assert outcome.failures == ("棚卸 2026/11/30: 差異 4 件（不足 1・過剰 1・状態違い 1・重複 1）",)
    after = check_book(vault, NOW.date()).ledger
    assert after.tokens == before.tokens and after.journal == before.journal  # ... and 在庫 is untouched
    rows = sheet(vault, schema.STOCKTAKE)
    assert rows[0] == [c.header for c in schema.STOCKTAKE_COLUMNS]
    recorded = [tuple(r[:10]) for r in rows[1:]]
    day = D(2026, 11, 30)
    assert recorded == [
        (day, "集計", "CSS", "", "", 3, 2, "", "", ""),
        (day, "集計", "1234", "", "", 1, 1, "", "", ""),
        (day, "合計", "", "", "", 4, 3, "", "", "読取 6 件・ファイル 2 個・不足 1・過剰 1・状態違い 1・重複 1"),
        (day, "不足", "CSS", "TK00000002", "在庫", "", "", "", "", "台帳では預かっていますが、読み取られていません"),
        (day, "過剰", "", "TK99999999", "", "", "", "box1.txt", 4, "台帳（在庫シート）にありません"),
        (day, "状態違い", "CSS", "TK00000005", "利用中", "", "", "box1.txt", 5, "台帳では「利用中」です"),
        (day, "重複", "CSS", "TK00000001", "在庫", "", "", "box2.csv", 3, "1回目: box1.txt:1"),
    ]
    assert {(r[10], r[11]) for r in rows[1:]} == {(NOW, "clerk")}
    headers, table = outcome.table
    assert headers[:4] == ("所有者", "名称", "予定", "実数")
    assert [row[:5] for row in table] == [("CSS", "CSS", "3", "2", "1"), ("1234", "あおば信用金庫", "1", "1", "0"),
                                          ("（台帳になし）", "", "0", "0", "0")]
    assert "  過剰 TK99999999 box1.txt:4" in outcome.lines


def test_a_clean_stocktake_exits_0_and_is_appended(vault, scans, tmp_path):
    assert run_stocktake(Run(vault, NOW, "clerk"), scans, NOW.date()).exit_code == 1
    first = len(sheet(vault, schema.STOCKTAKE))
    clean = tmp_path / "clean.txt"
    clean.write_text("TK00000004\nTK00000003\nTK00000002\nTK00000001\n", encoding="utf-8")
    later = dt.datetime(2026, 11, 30, 18, 0)
    outcome = run_stocktake(Run(vault, later, "clerk"), [clean], NOW.date())
    assert outcome.exit_code == 0 and outcome.failures == ()
    assert outcome.headline == "棚卸 2026/11/30: 差異なし（4本一致）"
    rows = sheet(vault, schema.STOCKTAKE)
    assert len(rows) == first + 3  # two owners and the total, after the first stocktake's rows
    assert [r[1] for r in rows[first:]] == ["集計", "集計", "合計"]
    # the CSS monthly report shows the last stocktake (the later run of the day) and its differences
    report = css_report(check_book(vault, NOW.date()).ledger, "2026-11", NOW)
    assert ("最終棚卸日", D(2026, 11, 30)) in report.summary and ("棚卸差異", 0) in report.summary


def test_the_monthly_report_lists_the_differences_of_the_last_stocktake(vault, scans):
    run_stocktake(Run(vault, NOW, "clerk"), scans, NOW.date())
    ledger = check_book(vault, NOW.date()).ledger
    report = css_report(ledger, "2026-11", NOW)
    assert ("棚卸差異", 4) in report.summary
    table = next(t for t in report.tables if t.name == "棚卸差異")
    assert [(r[0], r[2]) for r in table.rows] == [("不足", "TK00000002"), ("過剰", "TK99999999"),
                                                  ("状態違い", "TK00000005"), ("重複", "TK00000001")]
    before = css_report(ledger, "2026-10", NOW)  # a month before any stocktake
    assert ("最終棚卸日", "なし") in before.summary


def test_a_past_day_is_counted_as_the_journal_says(vault, tmp_path):
    # On 11/27 TK00000005 was still allocated in the vault (it shipped on 11/30): expected, not 状態違い.
    box = tmp_path / "box.txt"
    box.write_text("TK00000001\nTK00000002\nTK00000003\nTK00000004\nTK00000005\n", encoding="utf-8")
    outcome = run_stocktake(Run(vault, NOW, "clerk"), [box], D(2026, 11, 27))
    assert outcome.exit_code == 0, outcome.lines
    assert outcome.headline == "棚卸 2026/11/27: 差異なし（5本一致）"
    # today it is in use: the same scan is a 状態違い
    assert run_stocktake(Run(vault, NOW, "clerk"), [box], NOW.date()).headline.endswith("（状態違い 1）")


def test_a_workbook_of_scans_is_read_from_its_first_sheet(vault, tmp_path):
    path = tmp_path / "scans.xlsx"
    book = xlsxwriter.Workbook(str(path))
    ws = book.add_worksheet("読取")
    ws.write_row(0, 0, ["日時", "シリアル番号"])
    for row, serial in enumerate(["TK00000001", "TK00000002", "TK00000003", "TK0000000４", "TK-1"], start=1):
        ws.write_row(row, 0, ["2026/11/30", serial])
    book.close()
    before = vault.read_bytes()
    outcome = run_stocktake(Run(vault, NOW, "clerk"), [path], NOW.date())
    assert outcome.exit_code == 1 and outcome.failures == ()  # a bad serial: an input error, nothing recorded
    assert [p.render() for p in outcome.problems if p.is_error] == [
        "scans.xlsx!読取!B6 [bad-serial] シリアル番号が形式 ^[0-9A-Z]{6,20}$ に合いません: 'TK-1'"]
    assert vault.read_bytes() == before


def test_a_serial_the_pattern_rejects_is_located_not_dropped(vault, tmp_path, capsys):
    box = tmp_path / "box.txt"
    box.write_text("TK00000001\nTK01\n\nTK00000003 \n@@@\n", encoding="utf-8")
    before = vault.read_bytes()
    assert main(["stocktake", str(box), "--book", str(vault), "--on", "2026-11-30"]) == 1
    out = capsys.readouterr().out
    assert "box.txt:2 [bad-serial]" in out and "box.txt:5 [bad-serial]" in out and "棚卸を中止しました" in out
    assert vault.read_bytes() == before


@pytest.mark.parametrize(("name", "content", "message"), [
    ("box.xlsx", b"PK\x03\x04 not really a workbook", "ブック"),
    ("box.bin", b"\x00\x01\x02\x03", "CSV"),
    ("box.txt", b"\x82\xa0\x82", "文字コード"),
])
def test_an_unusable_file_is_exit_2(vault, tmp_path, name, content, message, capsys):
    path = tmp_path / name
    path.write_bytes(content)
    before = vault.read_bytes()
    assert main(["stocktake", str(path), "--book", str(vault), "--on", "2026-11-30"]) == 2
    assert message in capsys.readouterr().out
    assert vault.read_bytes() == before


def test_a_future_day_and_a_missing_file_are_exit_2(vault, scans, tmp_path, capsys):
    before = vault.read_bytes()
    assert main(["stocktake", *map(str, scans), "--book", str(vault), "--on", "2099-01-01"]) == 2
    assert "--on に未来の日付は指定できません" in capsys.readouterr().out
    assert main(["stocktake", str(tmp_path / "none.txt"), "--book", str(vault), "--on", "2026-11-30"]) == 2
    assert "ファイルがありません" in capsys.readouterr().out
    assert vault.read_bytes() == before


def test_a_book_without_the_stocktake_sheet_still_counts(tmp_path, scans):
    from conftest import default_sheets
    from tokenbook.books.build import build_workbook
    import zipfile
    import re

    full = build_workbook(tmp_path / "full.xlsx", default_sheets(banks=[BANK], tokens=TOKENS[:4], requests=[]))
    old = tmp_path / "old.xlsx"  # a ledger made before 棚卸 existed: the sheet removed from the package
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(old, "w") as dst:
        workbook = src.read("xl/workbook.xml").decode()
        rid = re.search(r'<sheet name="棚卸" sheetId="\d+" r:id="(rId\d+)"/>', workbook)
        rels = src.read("xl/_rels/workbook.xml.rels").decode()
        target = re.search(rf'<Relationship Id="{rid[1]}"[^>]*Target="([^"]+)"', rels)[1]
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = workbook.replace(rid[0], "").encode()
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = re.sub(rf'<Relationship Id="{rid[1]}"[^>]*/>', "", rels).encode()
            elif info.filename == "xl/" + target:
                continue
            dst.writestr(info, data)
    assert schema.STOCKTAKE not in check_book(old, NOW.date()).ledger.columns
    outcome = run_stocktake(Run(old, NOW, "clerk"), scans, NOW.date())
    assert outcome.exit_code == 1 and "シートがないため、結果はブックに記録していません" in outcome.lines[-3]


def test_a_result_too_large_for_the_sheet_is_not_recorded(vault, scans, monkeypatch):
    import tokenbook.stocktake as stocktake

    monkeypatch.setattr(stocktake, "SHEET_ROWS", 8)  # the 7 rows of this count would end on row 8: fits
    assert run_stocktake(Run(vault, NOW, "clerk"), scans, NOW.date()).exit_code == 1
    assert len(sheet(vault, schema.STOCKTAKE)) == 8
    outcome = run_stocktake(Run(vault, NOW, "clerk"), scans, NOW.date())  # another 7 would not
    assert outcome.exit_code == 1 and "入りきらないため、結果はブックに記録していません" in "".join(outcome.lines)
    assert len(sheet(vault, schema.STOCKTAKE)) == 8
