"""The weekly batch (design §6) as scenarios: a literal ledger in, the expected states out.

Every scenario runs the pure functions on an in-memory ledger; `tests/test_commands.py` runs the
same operations through the CLI on real files.
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import BANK, HELD, IN_USE, POSTAL_REQUEST, default_sheets, tables_for
from tokenbook.batch import BatchError, allocate, cancel_batch, confirm
from tokenbook.journal import Context, last_states
from tokenbook.parse import parse_tables

D = dt.date
NOW = dt.datetime(2026, 11, 24, 18, 0)
CTX = Context(NOW, "tester")
SHIPPED = Context(dt.datetime(2026, 12, 1, 17, 0), "tester")  # confirming after the parcels went out
AS_OF = D(2026, 11, 24)  # batch 2026-W48: cutoff 11/24, ship 11/30; minimum life 24 months -> 2028-11-30


def token(serial, owner="CSS", delivered=D(2025, 1, 10), **more):
    return {"シリアル番号": serial, "所有者": owner, "状態": "在庫", "納品日": delivered, **more}


def request(request_id, received=D(2026, 11, 20), **more):
    return {**POSTAL_REQUEST, "依頼番号": request_id, "受付日": received, "顧客番号": request_id[-3:], **more}


def ledger_of(tokens=(), requests=(), banks=(BANK,), **more):
    sheets = default_sheets(banks=list(banks), tokens=list(tokens), requests=list(requests), **more)
    ledger, problems = parse_tables(tables_for(sheets))
    assert [p for p in problems if p.is_error] == []
    return ledger


def states(ledger):
    return {t.serial: t.state for t in ledger.tokens}


def request_states(ledger):
    return {r.request_id: (r.state, r.memo) for r in ledger.requests}


def planned(ledger):
    return {(d.request_id, d.serial) for d in ledger.dispatches if d.state == "予定"}


def assert_journal_replays(ledger):
    journalled = last_states(ledger.journal)
    for t in ledger.tokens:
        if t.serial in journalled:
            assert journalled[t.serial] == t.state, t.serial


# --- allocation rules ------------------------------------------------------------------------

def test_fefo_within_css_stock_then_serial():
    tokens = [token("TK00000010", delivered=D(2025, 6, 1)), token("TK00000011", delivered=D(2025, 1, 10)),
              token("TK00000009", delivered=D(2025, 1, 10))]
    result = allocate(ledger_of(tokens, [request("R20261120-001", 数量=2)]), AS_OF, CTX)
    assert planned(result.ledger) == {("R20261120-001", "TK00000009"), ("R20261120-001", "TK00000011")}
    assert states(result.ledger)["TK00000010"] == "在庫"
    assert request_states(result.ledger)["R20261120-001"] == ("割当済", "11/30発送予定（2本・2026-W48）")
    assert_journal_replays(result.ledger)


def test_the_banks_custody_stock_before_css_stock():
    tokens = [token("TK00000001", delivered=D(2024, 12, 1)), token("TK00000002", owner="1234", delivered=D(2025, 6, 1))]
    result = allocate(ledger_of(tokens, [request("R20261120-001")]), AS_OF, CTX)
    assert planned(result.ledger) == {("R20261120-001", "TK00000002")}


def test_another_banks_custody_stock_is_never_used():
    other = {**BANK, "金庫コード": "5678", "金庫名": "別の信用金庫", "報告先メール": "r@other.example"}
    tokens = [token("TK00000002", owner="5678")]
    result = allocate(ledger_of(tokens, [request("R20261120-001")], banks=(BANK, other)), AS_OF, CTX)
    assert planned(result.ledger) == set()
    assert request_states(result.ledger)["R20261120-001"] == ("保留", "在庫不足（必要 1 / 引当可能 0）")


def test_mixed_owners_in_one_request():
    tokens = [token("TK00000001"), token("TK00000002", owner="1234"), token("TK00000003")]
    result = allocate(ledger_of(tokens, [request("R20261120-001", 数量=2)]), AS_OF, CTX)
    assert planned(result.ledger) == {("R20261120-001", "TK00000002"), ("R20261120-001", "TK00000001")}
    parcels = {d.dispatch_id for d in result.ledger.dispatches}
    assert parcels == {"2026-W48-0001"}  # one parcel per request


def test_minimum_remaining_life_at_the_ship_date():
    # ship 2026-11-30 + 24 months = 2028-11-30: delivered 2023-11-30 expires exactly then (usable),
    # delivered 2023-11-29 expires a day short.
    tokens = [token("TK00000001", delivered=D(2023, 11, 29)), token("TK00000002", delivered=D(2023, 11, 30))]
    result = allocate(ledger_of(tokens, [request("R20261120-001")]), AS_OF, CTX)
    assert planned(result.ledger) == {("R20261120-001", "TK00000002")}


def test_shortage_is_all_or_nothing_and_does_not_block_later_requests():
    tokens = [token("TK00000001"), token("TK00000002")]
    requests = [request("R20261118-001", received=D(2026, 11, 18), 数量=3),
                request("R20261119-001", received=D(2026, 11, 19), 数量=2)]
    result = allocate(ledger_of(tokens, requests), AS_OF, CTX)
    assert request_states(result.ledger)["R20261118-001"] == ("保留", "在庫不足（必要 3 / 引当可能 2）")
    assert planned(result.ledger) == {("R20261119-001", "TK00000001"), ("R20261119-001", "TK00000002")}
    assert result.summary.held == [("R20261118-001", "在庫不足（必要 3 / 引当可能 2）")]


def test_order_is_received_date_then_request_id():
    tokens = [token("TK00000001")]
    requests = [request("R20261120-002"), request("R20261120-001"), request("R20261119-009", received=D(2026, 11, 19))]
    result = allocate(ledger_of(tokens, requests), AS_OF, CTX)
    assert planned(result.ledger) == {("R20261119-009", "TK00000001")}


def test_requests_after_the_cutoff_wait_for_the_next_batch():
    tokens = [token("TK00000001")]
    late = request("R20261125-001", received=D(2026, 11, 25))
    result = allocate(ledger_of(tokens, [late]), D(2026, 11, 26), CTX)  # still batch W48 (cutoff 11/24)
    assert planned(result.ledger) == set() and request_states(result.ledger)["R20261125-001"][0] == "受付"


def test_year_end_batch_ships_after_the_holidays():
    tokens = [token("TK00000001")]
    result = allocate(ledger_of(tokens, [request("R20261228-001", received=D(2026, 12, 28))]), D(2026, 12, 29),
                      Context(dt.datetime(2026, 12, 29, 18), "tester"))
    (d,) = result.ledger.dispatches
    assert (d.batch, d.planned_on, d.dispatch_id) == ("2026-W53", D(2027, 1, 12), "2026-W53-0001")


def test_golden_week_batch():
    tokens = [token("TK00000001")]
    result = allocate(ledger_of(tokens, [request("R20270426-001", received=D(2027, 4, 26))]), D(2027, 4, 27),
                      Context(dt.datetime(2027, 4, 27, 18), "tester"))
    assert result.ledger.dispatches[0].planned_on == D(2027, 5, 6)


def test_bank_mail_goes_to_the_banks_address_and_refill_passes_ownership_at_confirm():
    refill = request("R20261120-001", 申込区分="金庫補充", 発送方法="金庫郵送", 数量=2, 顧客番号=None, 顧客名=None,
                     顧客区分=None, 送付先郵便番号=None, 送付先住所=None, 送付先氏名=None, 送付先電話=None)
    result = allocate(ledger_of([token("TK00000001"), token("TK00000002")], [refill]), AS_OF, CTX)
    d = result.ledger.dispatches[0]
    assert (d.postal_code, d.address, d.name) == ("100-0001", "東京都千代田区千代田1-1", "あおば信用金庫")
    shipped = confirm(result.ledger, "2026-W48", None, SHIPPED).ledger
    assert {(t.serial, t.state, t.owner, t.bank_code) for t in shipped.tokens if t.serial in ("TK00000001", "TK00000002")} == {
        ("TK00000001", "金庫保管", "1234", "1234"), ("TK00000002", "金庫保管", "1234", "1234")}
    assert request_states(shipped)["R20261120-001"][0] == "完了"
    assert_journal_replays(shipped)


# --- handovers ------------------------------------------------------------------------------------

def handover_request(serials="TK00000003", **more):
    return request("R20261120-001", 申込区分="途中", 発送方法="窓口手交", 手交シリアル=serials, 送付先郵便番号=None,
                   送付先住所=None, 送付先氏名=None, 送付先電話=None, **more)


def test_handover_puts_the_held_token_in_use_without_touching_css_stock():
    result = allocate(ledger_of([token("TK00000001"), HELD], [handover_request()]), AS_OF, CTX)
    held = next(t for t in result.ledger.tokens if t.serial == "TK00000003")
    assert (held.state, held.customer_no, held.started_on, held.branch_code) == ("利用中", "001", D(2026, 11, 20), "001")
    assert states(result.ledger)["TK00000001"] == "在庫"
    assert request_states(result.ledger)["R20261120-001"] == ("完了", "2026/11/20 窓口手交（1本）")
    assert result.ledger.dispatches == ()
    assert [e.operation for e in result.ledger.journal][-1] == "手交"


def test_handover_of_a_serial_the_bank_does_not_hold_is_rejected():
    ledger = ledger_of([token("TK00000001"), HELD], [handover_request("TK00000001")])
    blocked = frozenset({2})  # validation reports handover-not-at-bank on 申込 row 2
    result = allocate(ledger, AS_OF, CTX, blocked)
    assert states(result.ledger) == states(ledger)
    assert result.summary.skipped == ["R20261120-001"]
    # even without the validator's help the batch refuses to hand it over
    result = allocate(ledger, AS_OF, CTX)
    assert request_states(result.ledger)["R20261120-001"] == ("保留", "手交シリアル TK00000001 は金庫保管ではありません")
    assert states(result.ledger) == states(ledger)


def test_the_same_held_serial_is_not_handed_over_twice():
    first, second = handover_request(), {**handover_request(), "依頼番号": "R20261120-002", "顧客番号": "999"}
    result = allocate(ledger_of([HELD], [first, second]), AS_OF, CTX)
    assert request_states(result.ledger)["R20261120-002"][0] == "保留"


# --- IB cards ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "registered", "sent", "expected"), [
    ("個人", None, None, ("保留", "IB登録未了")),
    ("個人", D(2026, 11, 21), None, ("割当済", "11/30発送予定（1本・2026-W48）")),
    ("法人", D(2026, 11, 21), None, ("保留", "共同センター伝送未了")),
    ("法人", D(2026, 11, 21), D(2026, 11, 22), ("割当済", "11/30発送予定（1本・2026-W48）")),
])
def test_ib_card_holds(kind, registered, sent, expected):
    r = request("R20261120-001", IBカード="有", 顧客区分=kind, IB登録日=registered, 共同センター伝送日=sent)
    result = allocate(ledger_of([token("TK00000001")], [r]), AS_OF, CTX)
    assert request_states(result.ledger)["R20261120-001"] == expected
    if kind == "法人":
        assert [c.request_id for c in result.summary.center] == ["R20261120-001"]


def test_ib_card_rows_wait_for_the_card_at_confirm():
    r = request("R20261120-001", IBカード="有", IB登録日=D(2026, 11, 21), 共同センター伝送日=D(2026, 11, 21))
    allocated = allocate(ledger_of([token("TK00000001")], [r]), AS_OF, CTX).ledger
    waiting = confirm(allocated, "2026-W48", None, SHIPPED)
    assert waiting.summary.waiting_for_card == ["R20261120-001"] and planned(waiting.ledger) == planned(allocated)
    index = next(i for i, x in enumerate(waiting.ledger.requests) if x.request_id == "R20261120-001")
    requests = list(waiting.ledger.requests)
    requests[index] = requests[index]._replace(ib_card_received_on=D(2026, 11, 27))
    from dataclasses import replace
    shipped = confirm(replace(waiting.ledger, requests=tuple(requests)), "2026-W48", None, SHIPPED)
    assert shipped.summary.shipped == [("R20261120-001", "TK00000001")]


# --- re-runs, cancellation, confirmation ---------------------------------------------------------

def test_rerun_allocates_only_what_is_newly_eligible():
    ledger = ledger_of([token("TK00000001"), token("TK00000002")], [request("R20261120-001")])
    first = allocate(ledger, AS_OF, CTX).ledger
    again = allocate(first, AS_OF, CTX)
    assert again.ledger.tokens == first.tokens and again.ledger.dispatches == first.dispatches
    assert again.ledger.journal == first.journal and again.summary.allocated == []
    more = list(first.requests) + [first.requests[0]._replace(row=3, request_id="R20261120-002", customer_no="777",
                                                              state="受付", memo="")]
    from dataclasses import replace
    third = allocate(replace(first, requests=tuple(more)), AS_OF, CTX)
    assert third.summary.allocated == [("R20261120-002", 1)]
    assert {d.dispatch_id for d in third.ledger.dispatches} == {"2026-W48-0001", "2026-W48-0002"}


def test_blank_request_ids_are_assigned():
    requests = [request("R20261120-001"), {**request("x"), "依頼番号": None, "顧客番号": "555"}]
    result = allocate(ledger_of([token("TK00000001"), token("TK00000002")], requests), AS_OF, CTX)
    assert [r.request_id for r in result.ledger.requests] == ["R20261120-001", "R20261120-002"]


def test_clerk_cancellation_releases_planned_tokens():
    allocated = allocate(ledger_of([token("TK00000001")], [request("R20261120-001")]), AS_OF, CTX).ledger
    cancelled = tuple(r._replace(state="取消") for r in allocated.requests)
    from dataclasses import replace
    result = allocate(replace(allocated, requests=cancelled), D(2026, 11, 25), CTX)
    assert states(result.ledger)["TK00000001"] == "在庫"
    assert [d.state for d in result.ledger.dispatches] == ["取消"]
    assert result.ledger.journal[-1].operation == "引当取消"
    assert_journal_replays(result.ledger)


def test_cancel_batch_while_nothing_has_shipped():
    allocated = allocate(ledger_of([token("TK00000001")], [request("R20261120-001")]), AS_OF, CTX).ledger
    result = cancel_batch(allocated, "2026-W48", CTX)
    assert states(result.ledger)["TK00000001"] == "在庫"
    assert request_states(result.ledger)["R20261120-001"] == ("受付", "バッチ 2026-W48 取消のため再受付")
    assert_journal_replays(result.ledger)
    again = allocate(result.ledger, AS_OF, CTX)
    assert planned(again.ledger) == {("R20261120-001", "TK00000001")}


def test_cancel_batch_refused_once_something_shipped():
    allocated = allocate(ledger_of([token("TK00000001")], [request("R20261120-001")]), AS_OF, CTX).ledger
    shipped = confirm(allocated, "2026-W48", None, SHIPPED).ledger
    with pytest.raises(BatchError, match="発送済み"):
        cancel_batch(shipped, "2026-W48", CTX)
    with pytest.raises(BatchError, match="形で指定"):
        cancel_batch(shipped, "W48", CTX)


def test_confirm_puts_tokens_in_use_and_completes_requests():
    allocated = allocate(ledger_of([token("TK00000001")], [request("R20261120-001")]), AS_OF, CTX).ledger
    result = confirm(allocated, "2026-W48", D(2026, 12, 1), SHIPPED)
    t = next(t for t in result.ledger.tokens if t.serial == "TK00000001")
    assert (t.state, t.customer_no, t.customer_name, t.started_on, t.bank_code) == (
        "利用中", "001", "株式会社青葉商事", D(2026, 12, 1), "1234")
    (d,) = result.ledger.dispatches
    assert (d.state, d.shipped_on) == ("発送済", D(2026, 12, 1))
    assert request_states(result.ledger)["R20261120-001"] == ("完了", "2026/12/01 発送済（1本）")
    assert_journal_replays(result.ledger)
    assert confirm(result.ledger, "2026-W48", None, SHIPPED).summary.shipped == []  # nothing left to confirm


def test_confirm_of_an_unknown_batch():
    with pytest.raises(BatchError, match="発送行がありません"):
        confirm(ledger_of([token("TK00000001")]), "2026-W40", None, SHIPPED)


@pytest.mark.parametrize(("kind", "recorded", "reason"), [("交換", None, "交換"), ("再発行", "紛失", "紛失"),
                                                          ("再発行", None, "その他")])
def test_replacement_stops_the_old_token_at_confirm(kind, recorded, reason):
    old = {**IN_USE, "停止理由": recorded}
    r = request("R20261120-001", 申込区分=kind, 旧シリアル="TK00000002", 顧客番号="0000123", 顧客名="佐藤 翔太", 顧客区分="個人")
    allocated = allocate(ledger_of([token("TK00000001"), old], [r]), AS_OF, CTX).ledger
    assert states(allocated)["TK00000002"] == "利用中"
    result = confirm(allocated, "2026-W48", None, SHIPPED)
    stopped = next(t for t in result.ledger.tokens if t.serial == "TK00000002")
    assert (stopped.state, stopped.stop_reason) == ("停止", reason)
    assert result.summary.stopped == ["TK00000002"]
    assert_journal_replays(result.ledger)


# --- journal --------------------------------------------------------------------------------------

def test_hand_edits_and_new_tokens_are_journalled():
    journal = [{"日時": "2026-11-01 10:00", "発効日": D(2026, 11, 1), "操作": "入庫", "シリアル番号": "TK00000001",
                "変更後": "在庫"}]
    ledger = ledger_of([token("TK00000001", 状態="廃棄"), token("TK00000005", 入庫日=D(2026, 11, 20))], [],
                       journal=journal)
    result = allocate(ledger, AS_OF, CTX)
    added = [(e.operation, e.serial, e.before, e.after) for e in result.ledger.journal[1:]]
    assert added == [("入庫", "TK00000005", "", "在庫"), ("修正", "TK00000001", "在庫", "廃棄")]
    assert [p.code for p in result.problems] == ["state-differs-from-journal"]
    assert result.summary.hand_edits == 2
    assert_journal_replays(result.ledger)


def test_summary_stock_reorder_and_demand():
    tokens = [token(f"TK0000010{i}") for i in range(5)] + [token("TK00000200", owner="1234")]
    journal = [{"日時": "2026-11-10 10:00", "発効日": D(2026, 11, 10), "操作": "引当", "シリアル番号": f"TK0000030{i}",
                "変更前": "在庫", "変更後": "引当済"} for i in range(4)]
    result = allocate(ledger_of(tokens, [request("R20261120-001")], journal=journal), AS_OF, CTX)
    summary = result.summary
    assert summary.stock == {"CSS": (5, 5), "1234": (0, 0)}  # the custody token went first
    assert summary.weekly_demand == 0.5 and summary.weeks_left == 10.0
    assert summary.reorder_point == 100
