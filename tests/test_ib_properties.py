"""Properties of the IB-card and stocktake intake on arbitrary input: no line is silently dropped,
nothing raises but `UnusableInput`, and the counts always add up."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BANK, POSTAL_REQUEST, default_sheets, tables_for
from tokenbook.cards import receive_cards
from tokenbook.files.lists import read_list, read_lines
from tokenbook.files.sheetio import UnusableInput
from tokenbook.journal import Context
from tokenbook.parse import parse_tables
from tokenbook.stocktake import count_vault, scans_of

D = dt.date
NOW = dt.datetime(2026, 11, 30, 17, 0)
SERIALS = [f"TK{i:08d}" for i in range(1, 9)]


def ledger():
    tokens = [{"シリアル番号": s, "所有者": "CSS" if i % 3 else "1234", "状態": ("在庫", "引当済", "利用中", "停止")[i % 4],
               "納品日": D(2025, 1, 10), **({"金庫コード": "1234", "店番": "001", "顧客番号": "1", "顧客名": "x",
                                          "利用開始日": D(2025, 2, 1)} if i % 4 == 2 else {}),
               **({"停止理由": "交換"} if i % 4 == 3 else {})} for i, s in enumerate(SERIALS)]
    requests = [{**POSTAL_REQUEST, "依頼番号": f"R20261120-00{i}", "顧客番号": f"000000{i}", "IBカード": "有",
                 "顧客区分": "個人", "IB登録日": D(2026, 11, 21)} for i in range(1, 4)]
    parsed, problems = parse_tables(tables_for(default_sheets(banks=[BANK], tokens=tokens, requests=requests)))
    assert not [p for p in problems if p.is_error]
    return parsed


LEDGER = ledger()
line = st.one_of(st.sampled_from(SERIALS), st.sampled_from(["tk00000001", " TK00000002 ", "ZZ99999999", "", "TK-1",
                                                            "シリアル", "=1+1", '"TK00000003"']),
                 st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, max_size=30))
def test_every_scanned_line_is_counted_or_reported(tmp_path, lines):
    box = tmp_path / "box.txt"
    box.write_text("\n".join(lines), encoding="utf-8")
    lf = read_lines(box)
    scans, problems = scans_of([(lf, "値")], LEDGER.settings.serial_regex)
    assert len(scans) + len(problems) == len(lf)  # nothing silently dropped
    assert all(p.code == "bad-serial" and p.sheet == "box.txt" and p.row for p in problems)
    count = count_vault(LEDGER, scans, 1, NOW.date(), Context(NOW, "t"), problems)
    kinds = count.kinds
    assert count.scanned == len(scans)
    # every scan is found, a 過剰, a 状態違い or a 重複; every expected token is found or 不足
    assert sum(count.found.values()) + kinds["過剰"] + kinds["状態違い"] + kinds["重複"] == len(scans)
    assert sum(count.found.values()) + kinds["不足"] == sum(count.expected.values())
    assert LEDGER.tokens == count.ledger.tokens  # a stocktake never changes 在庫


cell = st.one_of(st.sampled_from(["R20261120-001", "R20261120-002", "1234", "0000001", "0000002", "12A4", "", "001"]),
                 st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([["依頼番号"], ["金庫コード", "顧客番号"], ["顧客番号", "依頼番号", "店番"], ["顧客名"]]),
       st.lists(st.lists(cell, min_size=3, max_size=3), max_size=8))
def test_any_card_list_is_applied_or_refused_with_located_problems(tmp_path, headers, rows):
    import csv

    path = tmp_path / "cards.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        writer.writerows([r[:len(headers)] for r in rows])
    try:
        result = receive_cards(LEDGER, read_list(path), NOW.date())
    except UnusableInput:
        return
    errors = [p for p in result.problems if p.is_error]
    assert all(p.sheet == "cards.csv" and p.row for p in result.problems)
    stamped = {r.request_id for r in result.ledger.requests if r.ib_card_received_on == NOW.date()}
    assert stamped == set(result.stamped)
    lines = len(read_list(path))
    assert len(result.stamped) <= lines
    if not errors:  # applied: every line stamped exactly one request
        assert len(result.stamped) == lines
    else:  # refused by run_intake: every line that stamped nothing says why
        assert len(result.stamped) + len({p.row for p in errors}) >= lines
