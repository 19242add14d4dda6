"""Property tests over random ledgers: what allocation, confirmation and cancellation must always keep."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hypothesis import given, settings, strategies as st

from conftest import BANK, default_sheets, tables_for
from tokenbook.batch import BatchError, allocate, cancel_batch, confirm
from tokenbook.journal import Context, last_states
from tokenbook.normalize import add_months
from tokenbook.parse import parse_tables

OTHER = {**BANK, "金庫コード": "5678", "金庫名": "みなと信用金庫", "報告先メール": "r@minato.example"}
NOW = dt.datetime(2026, 11, 24, 18)
CTX = Context(NOW, "prop")

tokens_strategy = st.lists(
    st.fixed_dictionaries({
        "所有者": st.sampled_from(["CSS", "CSS", "1234", "5678"]),
        "状態": st.sampled_from(["在庫", "在庫", "在庫", "金庫保管", "利用中", "停止"]),
        "納品日": st.dates(min_value=dt.date(2021, 1, 1), max_value=dt.date(2026, 11, 1)),
    }),
    max_size=30,
)
requests_strategy = st.lists(
    st.fixed_dictionaries({
        "金庫コード": st.sampled_from(["1234", "5678"]),
        "数量": st.integers(1, 4),
        "受付日": st.dates(min_value=dt.date(2026, 11, 10), max_value=dt.date(2026, 11, 24)),
        "発送方法": st.sampled_from(["顧客郵送", "顧客郵送", "金庫郵送", "窓口手交"]),
        "申込区分": st.sampled_from(["新規", "途中", "金庫補充"]),
        "IBカード": st.sampled_from(["無", "無", "有"]),
        "IB登録日": st.sampled_from([None, dt.date(2026, 11, 20)]),
        "状態": st.sampled_from(["受付", "受付", "保留", "取消"]),
        "handover": st.lists(st.integers(0, 29), max_size=3),
    }),
    max_size=15,
)


def build(tokens, requests):
    token_rows = []
    for i, t in enumerate(tokens):
        row = {"シリアル番号": f"TK{i:08d}", **t}
        if t["状態"] in ("金庫保管", "利用中", "停止"):
            row.update({"金庫コード": "1234" if i % 2 else "5678", "店番": "001"})
        if t["状態"] in ("利用中", "停止"):
            row.update({"顧客番号": f"C{i}", "顧客名": "顧客", "利用開始日": dt.date(2026, 1, 5), "停止理由": "交換"})
        token_rows.append(row)
    request_rows = []
    for i, r in enumerate(requests):
        row = {key: value for key, value in r.items() if key != "handover"}
        row.update({"依頼番号": f"R{r['受付日']:%Y%m%d}-{i + 1:03d}", "店番": "001", "顧客番号": f"N{i}",
                    "顧客名": "申込者", "顧客区分": "個人", "送付先郵便番号": "100-0001", "送付先住所": "東京都千代田区1-1",
                    "送付先氏名": "申込者", "送付先電話": "03-1234-5678"})
        if r["発送方法"] == "窓口手交":
            row["手交シリアル"] = ", ".join(f"TK{j:08d}" for j in r["handover"] if j < len(tokens))
        request_rows.append(row)
    ledger, _ = parse_tables(tables_for(default_sheets(banks=[BANK, OTHER], tokens=token_rows, requests=request_rows)))
    return ledger


def replay_matches(ledger) -> None:
    journalled = last_states(ledger.journal)
    for t in ledger.tokens:
        assert journalled.get(t.serial, t.state) == t.state, t.serial


@settings(max_examples=150, deadline=None)
@given(tokens=tokens_strategy, requests=requests_strategy)
def test_allocation_invariants(tokens, requests):
    ledger = build(tokens, requests)
    result = allocate(ledger, dt.date(2026, 11, 24), CTX)
    new = result.ledger
    before = {t.serial: t for t in ledger.tokens}
    after = {t.serial: t for t in new.tokens}
    requests_by_id = {r.request_id: r for r in new.requests}
    planned = [d for d in new.dispatches if d.state == "予定"]

    # no token is allocated twice
    assert len({d.serial for d in planned}) == len(planned)
    min_expiry = add_months(result.summary.dates.ship, ledger.settings.min_remaining_months)
    for d in planned:
        old, now, r = before[d.serial], after[d.serial], requests_by_id[d.request_id]
        # owner, status and life rules
        assert old.state == "在庫" and now.state == "引当済" and now.request_id == r.request_id
        assert old.owner in ("CSS", r.bank_code)
        assert old.expires_on >= min_expiry
        assert r.received_on <= result.summary.dates.cutoff
    # a request is filled wholly or not at all
    per_request = Counter(d.request_id for d in planned)
    for request_id, count in per_request.items():
        assert count == requests_by_id[request_id].quantity
        assert requests_by_id[request_id].state == "割当済"
    for r in new.requests:
        if r.state == "割当済":
            assert per_request[r.request_id] == r.quantity
    # custody before CSS: a request that got CSS stock used up its bank's usable custody stock
    for request_id in per_request:
        r = requests_by_id[request_id]
        owners = [before[d.serial].owner for d in planned if d.request_id == request_id]
        if "CSS" in owners:
            custody_left = [t for t in new.tokens if t.owner == r.bank_code and t.state == "在庫"
                            and t.expires_on >= min_expiry]
            assert custody_left == []
    # tokens not named by a planned row or a handover keep their state
    moved = {d.serial for d in planned} | {e.serial for e in new.journal if e.operation in ("手交", "入庫")}
    for serial, old in before.items():
        if serial not in moved:
            assert after[serial].state == old.state
    replay_matches(new)

    shipped = confirm(new, result.summary.dates.batch_id, None, CTX) if new.dispatches else result
    replay_matches(shipped.ledger)
    assert all(t.state != "引当済" or t.serial in {d.serial for d in shipped.ledger.dispatches if d.state == "予定"}
               for t in shipped.ledger.tokens)


@settings(max_examples=80, deadline=None)
@given(tokens=tokens_strategy, requests=requests_strategy)
def test_cancel_restores_stock_and_rerun_is_stable(tokens, requests):
    ledger = build(tokens, requests)
    first = allocate(ledger, dt.date(2026, 11, 24), CTX).ledger
    second = allocate(first, dt.date(2026, 11, 24), CTX).ledger
    assert second.tokens == first.tokens and second.dispatches == first.dispatches
    try:
        cancelled = cancel_batch(first, "2026-W48", CTX).ledger
    except BatchError:
        assert not any(d.batch == "2026-W48" and d.state == "予定" for d in first.dispatches)
        return
    assert not any(t.state == "引当済" for t in cancelled.tokens)
    replay_matches(cancelled)
