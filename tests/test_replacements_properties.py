"""Properties of the replacement plan over random ledgers (hypothesis, bounded examples):
every token planned on time ships by its expiry minus the margin, and a late one had no room left;
no batch takes more than the weekly capacity; no token is planned twice (nor one already being
replaced); planned stock never goes negative and adds up week by week."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbook import schema
from tokenbook.models import Bank, Ledger, Request, Settings, Token
from tokenbook.replacements import FROM_CUSTODY, SHORT, plan

AS_OF = dt.date(2026, 11, 24)
BANKS = ("1234", "5678", "9012")


@st.composite
def ledgers(draw):
    n_use = draw(st.integers(0, 60))
    tokens = []
    for i in range(n_use):
        expires = AS_OF + dt.timedelta(days=draw(st.integers(-30, 240)))
        tokens.append(Token(i + 2, f"TK{i:08d}", schema.CSS, schema.TokenState.IN_USE, dt.date(2021, 1, 1), expires,
                            None, draw(st.sampled_from(BANKS)), "001", f"{i:07d}", "x", dt.date(2021, 2, 1)))
    for j in range(draw(st.integers(0, 60))):
        owner = draw(st.sampled_from((schema.CSS, schema.CSS, *BANKS)))
        expires = AS_OF + dt.timedelta(days=draw(st.integers(300, 2000)))
        tokens.append(Token(n_use + j + 2, f"SK{j:08d}", owner, schema.TokenState.STOCK, dt.date(2025, 1, 1), expires))
    requests = []
    in_use = [t for t in tokens if t.state == schema.TokenState.IN_USE]
    for k, t in enumerate(draw(st.lists(st.sampled_from(in_use), unique=True, max_size=5)) if in_use else []):
        received = AS_OF + dt.timedelta(days=draw(st.integers(-10, 40)))
        requests.append(Request(k + 2, f"R{received:%Y%m%d}-{k + 1:03d}", received, t.bank_code, "001", t.customer_no,
                                "x", "個人", schema.RequestKind.REPLACEMENT, 1, schema.Method.TO_BANK,
                                old_serial=t.serial, state=schema.RequestState.RECEIVED))
    for k in range(draw(st.integers(0, 4))):  # other open requests taking stock
        received = AS_OF + dt.timedelta(days=draw(st.integers(-10, 30)))
        requests.append(Request(100 + k, f"R{received:%Y%m%d}-{50 + k:03d}", received, draw(st.sampled_from(BANKS)),
                                "001", f"N{k}", "x", "個人", schema.RequestKind.NEW, draw(st.integers(1, 3)),
                                schema.Method.TO_CUSTOMER, state=schema.RequestState.RECEIVED))
    options = Settings(weekly_capacity=draw(st.integers(1, 12)), replacement_margin_weeks=draw(st.integers(0, 6)),
                       answer_weeks=draw(st.integers(0, 3)), reorder_point=draw(st.integers(0, 20)),
                       order_lot=draw(st.sampled_from((1, 10, 50))), lead_weeks=draw(st.integers(0, 6)))
    banks = tuple(Bank(i + 2, code, f"金庫{code}") for i, code in enumerate(BANKS))
    return Ledger(banks=banks, tokens=tuple(tokens), requests=tuple(requests), settings=options)


@settings(max_examples=60, deadline=None)
@given(ledgers(), st.integers(1, 8))
def test_plan_properties(ledger, months):
    from tokenbook.normalize import add_months

    s = ledger.settings
    p = plan(ledger, AS_OF, until=add_months(AS_OF, months))
    margin = dt.timedelta(weeks=s.replacement_margin_weeks)
    index = {b.batch_id: k for k, b in enumerate(p.batches)}
    serials = [line.token.serial for line in p.lines]
    assert len(serials) == len(set(serials)), "a token planned twice"
    assert not set(serials) & set(p.arranged), "a token already being replaced planned again"
    due = {t.serial for t in ledger.tokens if t.state == schema.TokenState.IN_USE
           and t.expires_on <= add_months(AS_OF, months) and t.serial not in p.arranged}
    assert set(serials) == due
    for line in p.lines:
        assert index[line.batch.batch_id] >= p.first
        assert line.deadline == line.token.expires_on - margin
        if not line.late:
            assert line.batch.ship <= line.deadline
        else:  # late only when every batch that ships by the deadline was full
            assert all(p.load[k] >= s.weekly_capacity for k in range(p.first, len(p.batches))
                       if p.batches[k].ship <= line.deadline)
    proposed = {k: 0 for k in range(len(p.batches))}
    for line in p.lines:
        proposed[index[line.batch.batch_id]] += 1
    for k, n in proposed.items():
        if n:
            assert p.load[k] <= s.weekly_capacity, "a batch over the weekly capacity"
    for w in p.stock:
        assert w.opening >= 0 and w.closing >= 0
        used = w.requests + w.demand + w.replacements
        assert w.closing == w.opening - used + w.arriving
        if w.owner != schema.CSS:
            assert w.short == 0 and w.arriving == 0
    assert SHORT not in {line.source for line in p.lines}, "a purchase covers every shortage"
    for line in p.lines:
        if line.source == FROM_CUSTODY:
            assert any(t.owner == line.bank_code for t in ledger.tokens if t.state == schema.TokenState.STOCK)
    for order in p.orders:
        assert order.quantity > 0 and order.quantity % s.order_lot == 0
        assert order.order_by == order.batch.ship - dt.timedelta(weeks=s.lead_weeks)
