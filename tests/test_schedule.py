"""The business calendar and batch dates (design §5), as input/expected pairs."""

from __future__ import annotations

import datetime as dt

import pytest

from tokenbook.models import Settings
from tokenbook.schedule import Calendar, batch_by_id, batch_for

D = dt.date


@pytest.mark.parametrize(("run", "expected"), [
    # design §5's own examples
    (D(2026, 11, 24), ("2026-W48", D(2026, 11, 24), D(2026, 11, 25), D(2026, 11, 27), D(2026, 11, 30))),
    (D(2026, 12, 29), ("2026-W53", D(2026, 12, 29), D(2026, 12, 30), D(2027, 1, 4), D(2027, 1, 12))),
    # any run date up to the next cutoff belongs to the same batch
    (D(2026, 11, 30), ("2026-W48", D(2026, 11, 24), D(2026, 11, 25), D(2026, 11, 27), D(2026, 11, 30))),
    (D(2026, 12, 1), ("2026-W49", D(2026, 12, 1), D(2026, 12, 2), D(2026, 12, 4), D(2026, 12, 7))),
    # Golden Week 2027: 4/29 昭和の日, 5/3-5/5 憲法記念日・みどりの日・こどもの日
    (D(2027, 4, 27), ("2027-W17", D(2027, 4, 27), D(2027, 4, 28), D(2027, 4, 30), D(2027, 5, 6))),
    (D(2027, 5, 4), ("2027-W18", D(2027, 5, 4), D(2027, 5, 6), D(2027, 5, 7), D(2027, 5, 10))),
    # Silver Week 2026: 9/21 敬老の日, 9/22 国民の休日 (a citizens' holiday), 9/23 秋分の日
    (D(2026, 9, 15), ("2026-W38", D(2026, 9, 15), D(2026, 9, 16), D(2026, 9, 18), D(2026, 9, 24))),
    (D(2026, 9, 22), ("2026-W39", D(2026, 9, 22), D(2026, 9, 24), D(2026, 9, 25), D(2026, 9, 28))),
    # substitute holiday: 2027-03-21 (Sun) 春分の日 -> no effect; 2026-05-06 (Wed) 振替休日
    (D(2026, 5, 5), ("2026-W19", D(2026, 5, 5), D(2026, 5, 7), D(2026, 5, 8), D(2026, 5, 11))),
])
def test_batch_dates(run, expected):
    dates = batch_for(run, Settings())
    assert (dates.batch_id, dates.cutoff, dates.card, dates.receipt, dates.ship) == expected


def test_extra_closed_days_from_the_holiday_sheet():
    calendar = Calendar.of([D(2026, 11, 30), D(2026, 12, 1), None])
    assert batch_for(D(2026, 11, 24), Settings(), calendar).ship == D(2026, 12, 2)


def test_every_weekday_is_a_setting():
    settings = Settings(cutoff_weekday="木", card_weekday="金", receipt_weekday="火", ship_weekday="水")
    dates = batch_for(D(2026, 11, 27), settings)
    assert (dates.cutoff, dates.card, dates.receipt, dates.ship) == (
        D(2026, 11, 26), D(2026, 11, 27), D(2026, 12, 1), D(2026, 12, 2))
    assert dates.batch_id == "2026-W48"


@pytest.mark.parametrize("day", [D(2026, 12, 31), D(2027, 1, 1), D(2027, 1, 2), D(2027, 1, 3), D(2026, 11, 28),
                                 D(2026, 11, 23), D(2027, 1, 11)])
def test_closed_days(day):
    assert not Calendar().is_business_day(day)


def test_year_end_eve_and_first_working_day_are_open():
    assert Calendar().is_business_day(D(2026, 12, 30)) and Calendar().is_business_day(D(2027, 1, 4))


def test_batch_by_id_round_trips():
    for run in (D(2026, 11, 24), D(2026, 12, 29), D(2027, 5, 4)):
        dates = batch_for(run, Settings())
        assert batch_by_id(dates.batch_id, Settings()) == dates
    assert batch_by_id("2026-48", Settings()) is None
    assert batch_by_id("2026-W60", Settings()) is None
    assert batch_by_id(" 2026-w48 ", Settings()).cutoff == D(2026, 11, 24)
