"""Past states from the journal (design §3.5, §8): what every token was at the end of any day.

The journal holds each token's transitions in recording order; replayed by 発効日 they say what a
token's state and owner were on a past day, so a report for a past month comes out the same
whenever it is made. A token with no entry at all has been as it is now since before the journal
began (or since its 入庫日, if that is later). After close-year, a month of an archived year is
replayed from the archive's entries followed by the ledger's (whose 繰越 sheet opens the next year).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from .journal import ledger_openings
from .models import JournalEntry, Ledger
from .schema import CSS, Operation, TokenState

Snapshot = tuple[str, str | None]  # (state, owner)


@dataclass(frozen=True)
class History:
    """The journal, grouped by serial and ordered by (発効日, recording order). `archived` are the
    entries of archived years (close-year), older than the ledger's own and read before them."""

    ledger: Ledger
    entries: dict[str, list[JournalEntry]]

    @classmethod
    def of(cls, ledger: Ledger, archived: Sequence[JournalEntry] = ()) -> "History":
        grouped: dict[str, list[tuple[dt.date, int, JournalEntry]]] = defaultdict(list)
        # the archived years, then the open year's opening entries (繰越), then 履歴
        for position, e in enumerate(itertools.chain(archived, ledger_openings(ledger), ledger.journal)):
            if e.serial and e.effective_on:
                grouped[e.serial].append((e.effective_on, position, e))
        ordered = {}
        for serial, items in grouped.items():
            items.sort(key=lambda item: item[:2])
            ordered[serial] = [e for _, _, e in items]
        return cls(ledger, ordered)

    def at(self, day: dt.date) -> dict[str, Snapshot]:
        """Serial -> (state, owner) at the end of `day`; tokens that did not exist yet are absent."""
        result: dict[str, Snapshot] = {}
        for token in self.ledger.tokens:
            if token.serial is None or token.state is None:
                continue
            items = self.entries.get(token.serial)
            if not items:
                if token.received_on is None or token.received_on <= day:
                    result[token.serial] = (token.state, token.owner)
                continue
            last = None
            for e in items:
                if e.effective_on > day:
                    break
                last = e
            if last is not None:
                result[token.serial] = (last.after, last.owner)
            elif items[0].operation == Operation.CARRY:
                # Before its year's opening entry (繰越) and with nothing archived: as it was on 1 January,
                # if it had come in by then, as a token without entries is.
                if token.received_on is None or token.received_on <= day:
                    result[token.serial] = (items[0].before, items[0].owner)
            elif items[0].operation != Operation.RECEIVE and items[0].before:
                result[token.serial] = (items[0].before, items[0].owner)
        return result

    def during(self, first: dt.date, last: dt.date) -> Iterator[JournalEntry]:
        """Movements that took effect between `first` and `last` (inclusive), per token in order.
        Opening entries (繰越) are not movements: they restate what the token already was."""
        for items in self.entries.values():
            for e in items:
                if first <= e.effective_on <= last and e.operation != Operation.CARRY:
                    yield e


def states_at(ledger: Ledger, day: dt.date) -> dict[str, tuple[str, str | None, str | None]]:
    """Serial -> (state, owner, bank) at the end of `day`: what `History.of(ledger).at(day)` says, and
    the bank of the entry it comes from (else 在庫's), in one pass over the journal without grouping
    or sorting it — close-year asks it once for a million tokens."""
    first: dict[str, JournalEntry] = {}  # the earliest entry (by 発効日, then recording order)
    last: dict[str, JournalEntry] = {}  # the latest entry on or before `day`
    for e in itertools.chain(ledger_openings(ledger, notes=False), ledger.journal):
        serial, on = e.serial, e.effective_on
        if not serial or not on:
            continue
        earliest = first.get(serial)
        if earliest is None or on < earliest.effective_on:
            first[serial] = e
        if on <= day:
            latest = last.get(serial)
            if latest is None or on >= latest.effective_on:
                last[serial] = e
    result = {}
    for token in ledger.tokens:
        serial = token.serial
        if serial is None or token.state is None:
            continue
        came_in = token.received_on is None or token.received_on <= day
        earliest = first.get(serial)
        if earliest is None:
            if came_in:
                result[serial] = (token.state, token.owner, token.bank_code)
        elif (e := last.get(serial)) is not None:
            result[serial] = (e.after, e.owner, e.bank_code)
        elif earliest.operation == Operation.CARRY:
            if came_in:
                result[serial] = (earliest.before, earliest.owner, token.bank_code)
        elif earliest.operation != Operation.RECEIVE and earliest.before:
            result[serial] = (earliest.before, earliest.owner, token.bank_code)
    return result


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """`2026-11` -> (2026-11-01, 2026-11-30).

    >>> month_bounds("2026-12")
    (datetime.date(2026, 12, 1), datetime.date(2026, 12, 31))
    """
    year, number = (int(part) for part in month.split("-"))
    first = dt.date(year, number, 1)
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def previous_month(today: dt.date) -> str:
    """
    >>> previous_month(dt.date(2027, 1, 15))
    '2026-12'
    """
    last = today.replace(day=1) - dt.timedelta(days=1)
    return f"{last:%Y-%m}"


def custody_flows(moves: Iterable[JournalEntry], opening: dict[str, Snapshot],
                  closing: dict[str, Snapshot]) -> dict[str, tuple[int, int, int, int]]:
    """Bank -> (opening, in, out, closing) of its custody stock (在庫 the bank owns) over a period,
    given the period's entries in order per token and the snapshots before and after it."""
    def owner_of(snapshot: Snapshot | None) -> str | None:
        if snapshot is None or snapshot[0] != TokenState.STOCK or snapshot[1] in (None, CSS):
            return None
        return snapshot[1]

    flows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for snapshot in opening.values():
        if (owner := owner_of(snapshot)) is not None:
            flows[owner][0] += 1
    for snapshot in closing.values():
        if (owner := owner_of(snapshot)) is not None:
            flows[owner][3] += 1
    holder: dict[str, str | None] = {}
    for e in moves:
        was = holder[e.serial] if e.serial in holder else owner_of(opening.get(e.serial))
        now = e.owner if e.after == TokenState.STOCK and e.owner not in (None, CSS) else None
        if was != now:
            if was is not None:
                flows[was][2] += 1
            if now is not None:
                flows[now][1] += 1
        holder[e.serial] = now
    return {owner: tuple(values) for owner, values in flows.items()}  # type: ignore[misc]


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from `start` to `end` (negative when `end` is earlier).

    >>> months_between(dt.date(2026, 11, 30), dt.date(2027, 5, 29))
    5
    """
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day and not _last_day(end):
        months -= 1
    return months


def _last_day(day: dt.date) -> bool:
    return (day + dt.timedelta(days=1)).day == 1


def count_by_month(days: Iterable[dt.date], first: dt.date, months: int) -> list[tuple[str, int]]:
    """How many of `days` fall in each of the `months` months starting with `first`'s month."""
    keys = []
    year, month = first.year, first.month
    for _ in range(months):
        keys.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    counts = Counter((day.year, day.month) for day in days)  # a pair per day, not a formatted label
    return [(f"{year}-{month:02d}", counts[year, month]) for year, month in keys]
