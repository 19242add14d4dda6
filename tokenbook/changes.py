"""A working copy of a ledger for the intake stages (receive, forms, tracking, disposal): rows added
after each sheet's last row, rows changed in place keeping their row numbers, every token movement
journalled through `journal.entry`, and what a clerk changed by hand journalled first.

It does for the stages of issue 10 what `batch._Work` does for the weekly batch, without a batch's
dates; `ledger()` freezes it into the new Ledger the write-back compares with the old one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from . import schema
from .journal import Context, entry, reconcile
from .models import Dispatch, Ledger, Request, Token
from .problems import Problem


class Changes:
    def __init__(self, ledger: Ledger, ctx: Context) -> None:
        self.source = ledger
        self.ctx = ctx
        self.tokens = list(ledger.tokens)
        self.requests = list(ledger.requests)
        self.dispatches = list(ledger.dispatches)
        self.journal = list(ledger.journal)
        self.token_at = {t.serial: i for i, t in enumerate(self.tokens) if t.serial}
        self.problems: list[Problem] = []
        self.hand_edits = 0
        self._next = {sheet: max((r.row for r in rows), default=1) + 1 for sheet, rows in (
            (schema.TOKENS, ledger.tokens), (schema.REQUESTS, ledger.requests),
            (schema.DISPATCH, ledger.dispatches), (schema.JOURNAL, ledger.journal))}

    def _row(self, sheet: str) -> int:
        row = self._next[sheet]
        self._next[sheet] += 1
        return row

    def record_hand_edits(self) -> int:
        """Journal what was typed by hand since the last run (new tokens 入庫, state edits 修正)."""
        entries, found = reconcile(self.source, self.ctx, self._next[schema.JOURNAL])
        self.journal.extend(entries)
        self._next[schema.JOURNAL] += len(entries)
        self.problems.extend(found)
        self.hand_edits = len(entries)
        return self.hand_edits

    def add_token(self, effective_on: dt.date, note: str, **values: Any) -> Token:
        """A new 在庫 row, journalled as 入庫 on `effective_on`."""
        token = Token(row=self._row(schema.TOKENS), **values)
        self.token_at[token.serial] = len(self.tokens)
        self.tokens.append(token)
        self.journal.append(entry(self.ctx, self._row(schema.JOURNAL), effective_on, schema.Operation.RECEIVE, token,
                                  "", token.state or "", note=note))
        return token

    def move(self, serial: str, effective_on: dt.date, operation: str, note: str = "", request_id: str = "",
             **changes: Any) -> Token:
        """Change one token and journal the transition."""
        index = self.token_at[serial]
        before = self.tokens[index]
        after = before._replace(**changes)
        self.tokens[index] = after
        self.journal.append(entry(self.ctx, self._row(schema.JOURNAL), effective_on, operation, after,
                                  before.state or "", after.state or "", request_id=request_id, note=note))
        return after

    def add_request(self, **values: Any) -> Request:
        request = Request(row=self._row(schema.REQUESTS), **values)
        self.requests.append(request)
        return request

    def set_dispatch(self, index: int, **changes: Any) -> Dispatch:
        self.dispatches[index] = self.dispatches[index]._replace(**changes)
        return self.dispatches[index]

    def ledger(self) -> Ledger:
        return replace(self.source, tokens=tuple(self.tokens), requests=tuple(self.requests),
                       dispatches=tuple(self.dispatches), journal=tuple(self.journal))
