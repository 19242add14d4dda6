"""The business calendar and the weekly batch's dates (design §5).

A business day is Monday–Friday, not a Japanese national holiday (substitute and citizens'
holidays included, from the maintained `jpholiday` package), not 12/31–1/3 and not listed in 休業日.
A batch is named by its cutoff C (the latest 受付締切曜日 on or before the run date): the ISO week
of C, e.g. `2026-W48`. From C: ● card creation, ◆ card receipt, ★ ship date, each the first such
weekday after the previous date, moved to the next business day when closed.

>>> dates = batch_for(dt.date(2026, 11, 26), Settings())
>>> dates.batch_id, dates.cutoff, dates.card, dates.receipt, dates.ship
('2026-W48', datetime.date(2026, 11, 24), datetime.date(2026, 11, 25), datetime.date(2026, 11, 27), datetime.date(2026, 11, 30))
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, NamedTuple

import jpholiday

from .models import Settings

if TYPE_CHECKING:
    from .models import Ledger

_DAY = dt.timedelta(days=1)
_BATCH_ID = re.compile(r"(\d{4})-W(\d{2})")


class Override(NamedTuple):
    """One row of the バッチ日程 sheet: SSC's own dates for a batch (year-end, Golden Week); a blank
    date is computed from the one before it as usual."""

    card: dt.date | None = None  # ●
    receipt: dt.date | None = None  # ◆
    ship: dt.date | None = None  # ★


@dataclass(frozen=True)
class Calendar:
    """Closed days beyond weekends and national holidays (the 休業日 sheet), and the batches whose
    dates SSC published itself (the バッチ日程 sheet: batch id -> Override)."""

    extra_closed: frozenset[dt.date] = frozenset()
    overrides: tuple[tuple[str, Override], ...] = ()

    @classmethod
    def of(cls, days: Iterable[dt.date | None], overrides: Iterable[tuple[str, Override]] = ()) -> "Calendar":
        return cls(frozenset(d for d in days if d is not None), tuple(overrides))

    def override(self, batch: str) -> Override | None:
        for name, dates in self.overrides:
            if name == batch:
                return dates
        return None

    def is_business_day(self, day: dt.date) -> bool:
        """
        >>> Calendar().is_business_day(dt.date(2027, 1, 11))  # 成人の日
        False
        >>> Calendar().is_business_day(dt.date(2026, 12, 31))
        False
        """
        if day.weekday() >= 5 or day in self.extra_closed:
            return False
        if (day.month, day.day) in ((12, 31), (1, 1), (1, 2), (1, 3)):
            return False
        return not jpholiday.is_holiday(day)

    def roll_forward(self, day: dt.date) -> dt.date:
        """The day itself if open, else the next business day."""
        while not self.is_business_day(day):
            day += _DAY
        return day


def next_weekday_after(day: dt.date, weekday: int) -> dt.date:
    """The first date strictly after `day` that falls on `weekday` (Monday = 0)."""
    return day + dt.timedelta(days=(weekday - day.weekday() - 1) % 7 + 1)


def last_weekday_on_or_before(day: dt.date, weekday: int) -> dt.date:
    return day - dt.timedelta(days=(day.weekday() - weekday) % 7)


@dataclass(frozen=True)
class BatchDates:
    batch_id: str
    cutoff: dt.date
    card: dt.date  # ● SSC creates the IB cards
    receipt: dt.date  # ◆ CSS receives them
    ship: dt.date  # ★ CSS ships cards and tokens
    override: bool = False  # some date comes from the バッチ日程 sheet, not from the weekdays


def batch_id(cutoff: dt.date) -> str:
    iso = cutoff.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def dates_from_cutoff(cutoff: dt.date, settings: Settings, calendar: Calendar = Calendar()) -> BatchDates:
    """●◆★ from the cutoff; a date the バッチ日程 sheet gives for this batch replaces the computed
    one, and the dates after it follow from it.

    >>> year_end = Calendar.of((), [("2026-W53", Override(None, dt.date(2027, 1, 4), dt.date(2027, 1, 5)))])
    >>> d = dates_from_cutoff(dt.date(2026, 12, 29), Settings(), year_end)
    >>> d.card, d.receipt, d.ship, d.override
    (datetime.date(2026, 12, 30), datetime.date(2027, 1, 4), datetime.date(2027, 1, 5), True)
    """
    name = batch_id(cutoff)
    given = calendar.override(name) or Override()
    card = given.card or calendar.roll_forward(next_weekday_after(cutoff, settings.card_weekday))
    receipt = given.receipt or calendar.roll_forward(next_weekday_after(card, settings.receipt_weekday))
    ship = given.ship or calendar.roll_forward(next_weekday_after(receipt, settings.ship_weekday))
    return BatchDates(name, cutoff, card, receipt, ship, override=given != Override())


def ledger_calendar(ledger: "Ledger") -> Calendar:
    """The calendar a ledger defines: its 休業日 and its バッチ日程."""
    return Calendar.of((h.day for h in ledger.holidays),
                       ((r.batch, Override(r.card_on, r.receipt_on, r.ship_on)) for r in ledger.schedule if r.batch))


def batch_for(run_date: dt.date, settings: Settings, calendar: Calendar = Calendar()) -> BatchDates:
    """The batch a run on `run_date` belongs to."""
    return dates_from_cutoff(last_weekday_on_or_before(run_date, settings.cutoff_weekday), settings, calendar)


def batch_by_id(value: str, settings: Settings, calendar: Calendar = Calendar()) -> BatchDates | None:
    """The batch named `YYYY-Www`, or None if that is not a batch id.

    >>> batch_by_id("2026-W53", Settings()).ship
    datetime.date(2027, 1, 12)
    """
    match = _BATCH_ID.fullmatch(value.strip().upper())
    if not match:
        return None
    try:
        cutoff = dt.date.fromisocalendar(int(match[1]), int(match[2]), settings.cutoff_weekday + 1)
    except ValueError:
        return None
    return dates_from_cutoff(cutoff, settings, calendar)


# --- the batch a request is due for (issue 17: the IB work list, IB cards) -------------------------

def first_batch(received_on: dt.date, settings: Settings, calendar: Calendar = Calendar()) -> BatchDates:
    """The first batch a request received on `received_on` can make: the one whose cutoff is that day
    or the next 受付締切曜日 after it (design §6: eligible when 受付日 ≤ C).

    >>> first_batch(dt.date(2026, 11, 25), Settings()).batch_id  # the day after the W48 cutoff
    '2026-W49'
    >>> first_batch(dt.date(2026, 11, 24), Settings()).card
    datetime.date(2026, 11, 25)
    """
    return dates_from_cutoff(next_weekday_after(received_on - _DAY, settings.cutoff_weekday), settings, calendar)
