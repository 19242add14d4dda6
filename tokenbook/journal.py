"""The movement journal (design §3.5, §4): making entries, replaying them, reconciling with 在庫.

The journal is append-only and its row order is the order things happened to a token, so the last
entry of a serial says what 在庫 should show. `reconcile` finds what a clerk changed by hand: a
token with no entry at all is journalled as 入庫 (if it is newer than the journal, or the journal is
empty), a state that differs from the last entry is journalled as 修正 and reported as a warning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from . import schema
from .models import JournalEntry, Ledger, Token
from .problems import Problem, problem
from .schema import Operation


@dataclass(frozen=True)
class Context:
    """Who and when, for every entry one run makes."""

    now: dt.datetime
    operator: str


def entry(ctx: Context, row: int, effective_on: dt.date, operation: str, token: Token, before: str, after: str,
          request_id: str = "", batch: str = "", note: str = "", bank_code: str | None = None) -> JournalEntry:
    """One journal row for one token's transition."""
    return JournalEntry(
        row=row, recorded_at=ctx.now.replace(microsecond=0), effective_on=effective_on, operation=operation,
        serial=token.serial, before=before, after=after, owner=token.owner,
        bank_code=bank_code if bank_code is not None else token.bank_code,
        request_id=request_id, batch=batch, operator=ctx.operator, note=note,
    )


def last_states(journal: Iterable[JournalEntry]) -> dict[str, str]:
    """Serial -> the state its last journal entry left it in (entries in recording order)."""
    states: dict[str, str] = {}
    for e in journal:
        if e.serial:
            states[e.serial] = e.after
    return states


def differences(ledger: Ledger) -> list[tuple[Token, str]]:
    """Tokens whose 状態 differs from what the journal says, with the journalled state."""
    journalled = last_states(ledger.journal)
    return [(t, journalled[t.serial]) for t in ledger.tokens
            if t.serial in journalled and t.state is not None and journalled[t.serial] != t.state]


def journal_start(ledger: Ledger) -> dt.date | None:
    return min((e.effective_on for e in ledger.journal if e.effective_on), default=None)


def is_new(token: Token, journalled: dict[str, str], start: dt.date | None) -> bool:
    """A token the journal has never seen that came in during the journal's period (or the journal
    is empty: the first run records every token). Tokens received before the journal's first day,
    or with no 入庫日 at all, were journalled in an earlier, archived year: they are carried over."""
    if token.serial is None or token.serial in journalled:
        return False
    return start is None or (token.received_on is not None and token.received_on >= start)


def check_journal(ledger: Ledger, today: dt.date) -> list[Problem]:
    """Validation: every token whose state differs from its journal (a hand edit), as a warning."""
    letters = ledger.columns.get(schema.TOKENS, {})
    return [problem("state-differs-from-journal", schema.TOKENS, t.row, "状態", letters.get("状態"), t.state,
                    journalled=journalled) for t, journalled in differences(ledger)]


def reconcile(ledger: Ledger, ctx: Context, first_row: int) -> tuple[list[JournalEntry], list[Problem]]:
    """Entries that record what was changed by hand since the last run, numbered from `first_row`."""
    journalled = last_states(ledger.journal)
    start = journal_start(ledger)
    entries: list[JournalEntry] = []
    for token in ledger.tokens:
        if token.state is None:
            continue
        if is_new(token, journalled, start):
            came_in = token.received_on or token.delivered_on or ctx.now.date()
            entries.append(entry(ctx, first_row + len(entries), came_in, Operation.RECEIVE, token,
                                 "", token.state, note="在庫シートへの追加を記録"))
    found = check_journal(ledger, ctx.now.date())
    for t, before in differences(ledger):
        entries.append(entry(ctx, first_row + len(entries), ctx.now.date(), Operation.CORRECT, t, before, t.state,
                             note="手作業の変更を記録"))
    return entries, found
