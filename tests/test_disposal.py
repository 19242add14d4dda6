"""Disposal and faulty returns (issue 10 item 4): operations with one journal entry each, never a
修正 warning, counted in the CSS report's monthly flow; wrong tokens refused with nothing written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from conftest import BANK, IN_USE, STOCK, TODAY
from tokenbook.cli import main
from tokenbook.load import check_book

D = dt.date
TOKENS = [
    {**STOCK, "シリアル番号": "TK00000001", "納品日": D(2021, 6, 1), "使用期限": D(2026, 6, 1)},  # expired stock
    {**STOCK, "シリアル番号": "TK00000002", "納品日": D(2025, 6, 1), "使用期限": D(2030, 6, 1)},  # good stock
    {**IN_USE, "シリアル番号": "TK00000003", "状態": "停止", "停止理由": "交換"},
    {**IN_USE, "シリアル番号": "TK00000004", "状態": "停止", "停止理由": "故障"},
    {**IN_USE, "シリアル番号": "TK00000005"},
]


def listing(tmp_path: Path, serials: list[str], name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_text("シリアル番号,備考\n" + "".join(f"{s},\n" for s in serials), encoding="utf-8")
    return path


@pytest.fixture
def book(book_file):
    return book_file(banks=[BANK], tokens=TOKENS, requests=[])


def state(path: Path) -> dict[str, tuple[str, str | None]]:
    return {t.serial: (t.state, t.stop_reason) for t in check_book(path, TODAY).ledger.tokens}


def test_disposal_and_returns_are_journalled_operations_counted_in_the_flow(book, tmp_path):
    assert main(["dispose", str(listing(tmp_path, ["TK00000001", "TK00000003"])), "--book", str(book),
                 "--on", "2026-11-10"]) == 0
    assert main(["return-to-ssc", str(listing(tmp_path, ["tk00000004", "TK00000002"], "faulty.csv")), "--book", str(book),
                 "--on", "2026-11-12"]) == 0
    after = check_book(book, TODAY)
    assert state(book) == {"TK00000001": ("廃棄", None), "TK00000002": ("廃棄", "故障"), "TK00000003": ("廃棄", "交換"),
                           "TK00000004": ("廃棄", "故障"), "TK00000005": ("利用中", None)}
    moves = [(e.operation, e.serial, e.before, e.after, e.effective_on) for e in after.ledger.journal
             if e.operation in ("廃棄", "返品")]
    assert moves == [("廃棄", "TK00000001", "在庫", "廃棄", D(2026, 11, 10)), ("廃棄", "TK00000003", "停止", "廃棄", D(2026, 11, 10)),
                     ("返品", "TK00000004", "停止", "廃棄", D(2026, 11, 12)), ("返品", "TK00000002", "在庫", "廃棄", D(2026, 11, 12))]
    assert not [p for p in after.problems if p.code == "state-differs-from-journal"]  # no 修正 warnings
    out = tmp_path / "reports"
    assert main(["report", "--book", str(book), "--month", "2026-11", "--out", str(out)]) == 0
    ws = openpyxl.load_workbook(out / "2026-11" / "2026-11_CSS_在庫月報.xlsx")["月間フロー"]
    # 月間フロー counts the vault (在庫 + 引当済) as a stock count does: stopped tokens were not in it
    flow = {(r[0].value, r[1].value): r[2].value for r in ws.iter_rows(min_row=4) if r[0].value}
    assert (flow[("払出", "廃棄")], flow[("払出", "返品（SSCへ）")]) == (1, 1)


@pytest.mark.parametrize(("command", "serials", "expected"), [
    ("dispose", ["TK00000002"], "dispose-not-expired"),  # stock still good: a faulty one is returned instead
    ("dispose", ["TK00000005"], "dispose-wrong-state"),  # in use
    ("return-to-ssc", ["TK00000003"], "dispose-wrong-state"),  # stopped, but not 故障
    ("dispose", ["TK99999999"], "dispose-unknown-serial"),
    ("dispose", ["TK00000001", "TK00000001"], "duplicate-in-list"),
    ("dispose", ["TK-1"], "bad-serial"),
    ("dispose", [], "empty-list"),
])
def test_wrong_tokens_are_refused_and_nothing_changes(book, tmp_path, capsys, command, serials, expected):
    before = book.read_bytes()
    assert main([command, str(listing(tmp_path, serials)), "--book", str(book)]) == 1
    assert f"[{expected}]" in capsys.readouterr().out
    assert book.read_bytes() == before
