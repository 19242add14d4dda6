"""The sample history looks like a real service (issue 9, issue 19 item 5), for any seed, size and date:
shipments on business days on their batch's ★, batch ids from the cutoff's ISO week, parcels
numbered as `allocate` numbers them, requests on business days in their batch's week, no month of
the year busier than twice the median month, and every customer in use with his 顧客区分 in the
bank's report."""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import tables_for
from tokenbook.history import previous_month
from tokenbook.models import Ledger
from tokenbook.parse import parse_tables
from tokenbook.report import Month, reporting_banks
from tokenbook.sample import generate
from tokenbook.schedule import Calendar, batch_by_id
from tokenbook.validate import check_ledger

# Below a few hundred tokens a month holds a handful of starts and "twice the median" is noise.
MIN_TOKENS = 300


def months_of_year(as_of: dt.date) -> tuple[list[str], list[str]]:
    """(every month touching the year before `as_of`, the full months among them)."""
    start = as_of - dt.timedelta(days=365)
    months, day = [], start.replace(day=1)
    while day <= as_of:
        months.append(f"{day:%Y-%m}")
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months, months[1:-1]


def shape_problems(ledger: Ledger, as_of: dt.date) -> list[str]:
    """What in `ledger` a bank would not believe of a real service; [] when it holds."""
    calendar = Calendar.of(h.day for h in ledger.holidays)
    found = []
    for d in ledger.dispatches:
        dates = batch_by_id(d.batch, ledger.settings, calendar)
        if dates is None:
            found.append(f"発送 {d.dispatch_id}: バッチ {d.batch!r}")
            continue
        if not re.fullmatch(rf"{re.escape(d.batch)}-\d{{4}}", d.dispatch_id):
            found.append(f"発送 {d.dispatch_id}: 発送番号の形式")
        if d.planned_on != dates.ship:
            found.append(f"発送 {d.dispatch_id}: 発送予定日 {d.planned_on} ≠ ★ {dates.ship}")
        if d.shipped_on is not None and not calendar.is_business_day(d.shipped_on):
            found.append(f"発送 {d.dispatch_id}: 発送日 {d.shipped_on} は休業日")
    batch_of_request = {d.request_id: d.batch for d in ledger.dispatches}
    for r in ledger.requests:
        if r.received_on is None or not calendar.is_business_day(r.received_on):
            found.append(f"申込 {r.request_id}: 受付日 {r.received_on} は休業日")
        if r.request_id in batch_of_request:
            cutoff = batch_by_id(batch_of_request[r.request_id], ledger.settings, calendar).cutoff
            if not cutoff - dt.timedelta(days=7) < r.received_on <= cutoff:
                found.append(f"申込 {r.request_id}: 受付日 {r.received_on} がバッチの週（締切 {cutoff}）の外")
    months, full = months_of_year(as_of)
    starts = Counter(f"{t.started_on:%Y-%m}" for t in ledger.tokens if t.started_on)
    shipped = Counter(f"{d.shipped_on:%Y-%m}" for d in ledger.dispatches if d.shipped_on)
    for what, counts in (("利用開始", starts), ("発送", shipped)):
        median = statistics.median(counts[m] for m in full)
        busy = {m: counts[m] for m in months if counts[m] > 2 * median}
        if busy or median == 0:
            found.append(f"{what}: 月の中央値 {median} に対して {busy}")
    return found


def ledger_of(sample) -> Ledger:
    ledger, problems = parse_tables(tables_for(sample.rows))
    assert not [p for p in problems if p.is_error]
    return ledger


def blank_customer_kinds(ledger: Ledger, as_of: dt.date) -> int:
    """Rows of 利用者一覧 without 顧客区分, over every bank's report of the last full month."""
    month = previous_month(as_of)
    created = dt.datetime.combine(as_of, dt.time(9))
    blank = 0
    data = Month(ledger, month)
    for report in (data.bank_report(bank, created) for bank in reporting_banks(ledger)):
        users = next(t for t in report.tables if t.name == "利用者一覧")
        index = [c[0] for c in users.columns].index("顧客区分")
        blank += sum(1 for row in users.rows if not row[index])
    return blank


@pytest.mark.parametrize(("seed", "tokens", "as_of"), [
    (1, 6000, dt.date(2026, 11, 28)),  # the Saturday of issue 19's spike
    (2, 600, dt.date(2026, 12, 31)),  # closed day, year-end
    (3, 1500, dt.date(2027, 1, 11)),  # a holiday after the year-end batches
    (4, MIN_TOKENS, dt.date(2026, 5, 6)),  # end of Golden Week
])
def test_the_sample_history_has_the_shape_of_a_real_service(seed, tokens, as_of):
    sample = generate(seed=seed, banks=10, tokens=tokens, as_of=as_of)
    ledger = ledger_of(sample)
    assert shape_problems(ledger, as_of) == []
    assert blank_customer_kinds(ledger, as_of) == 0
    assert any(t.state == "利用中" for t in ledger.tokens)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), tokens=st.integers(MIN_TOKENS, 2500), banks=st.integers(1, 40),
       as_of=st.dates(dt.date(2025, 1, 1), dt.date(2029, 12, 31)))
def test_any_seed_size_and_date_gives_the_same_shape(seed, tokens, banks, as_of):
    sample = generate(seed=seed, banks=banks, tokens=tokens, as_of=as_of)
    ledger = ledger_of(sample)
    assert shape_problems(ledger, as_of) == []
    assert blank_customer_kinds(ledger, as_of) == 0
    _, problems = parse_tables(tables_for(sample.rows))
    assert not check_ledger(ledger, problems, as_of).errors


def test_the_generator_takes_its_date_and_never_reads_the_clock():
    with pytest.raises(TypeError):
        generate(seed=1, banks=2, tokens=10)  # type: ignore[call-arg]
    one = generate(seed=1, banks=2, tokens=200, as_of=dt.date(2026, 3, 2))
    assert max(d for d in (r[1] for r in one.rows["申込"]) if d) <= dt.date(2026, 3, 2)


def test_the_shape_check_can_fail():
    """The checker finds what the old generator made: a weekend shipment, a request-week batch id,
    a foreign parcel number and a spike of starts on one day."""
    sample = generate(seed=1, banks=3, tokens=MIN_TOKENS, as_of=dt.date(2026, 11, 28))
    ledger = ledger_of(sample)
    d = ledger.dispatches[0]
    spike = tuple(t._replace(started_on=dt.date(2026, 11, 28)) if t.state == "利用中" else t for t in ledger.tokens)
    broken = Ledger(**{**ledger.__dict__, "tokens": spike, "dispatches": (
        d._replace(shipped_on=dt.date(2026, 11, 29), dispatch_id="D0000001"), *ledger.dispatches[1:])})
    found = "\n".join(shape_problems(broken, dt.date(2026, 11, 28)))
    assert "休業日" in found and "発送番号の形式" in found and "利用開始" in found
