"""The メニュー status panel: stock by owner, open requests, the next batch, the last run."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from .. import schema
from ..models import Ledger
from ..schedule import batch_for, ledger_calendar, next_weekday_after
from ..schema import OPEN_REQUEST_STATES, DispatchState, RequestState, TokenState
from ..batch import awaiting_confirmation
from .build import LEGEND, MENU_PANEL


def panel(ledger: Ledger, now: dt.datetime, last_run: str) -> dict[str, str]:
    """Label -> text, for `writeback.menu_edit`."""
    stock = Counter(t.owner for t in ledger.tokens if t.state == TokenState.STOCK and t.owner)
    owners = sorted(stock, key=lambda o: (o != schema.CSS, o))
    shown = "・".join(f"{o} {stock[o]:,}本" for o in owners[:6]) + (f" ほか{len(owners) - 6}" if len(owners) > 6 else "")
    states = Counter(r.state for r in ledger.requests if r.state in (*OPEN_REQUEST_STATES, RequestState.ALLOCATED))
    calendar = ledger_calendar(ledger)
    upcoming = batch_for(next_weekday_after(now.date() - dt.timedelta(days=1), ledger.settings.cutoff_weekday),
                         ledger.settings, calendar)
    values = (
        shown or "在庫なし",
        f"受付 {states['受付']}件・保留 {states['保留']}件・割当済 {states['割当済']}件",
        f"{upcoming.batch_id} 締切{upcoming.cutoff:%m/%d} ●{upcoming.card:%m/%d} ◆{upcoming.receipt:%m/%d} "
        f"★{upcoming.ship:%m/%d}" + ("（バッチ日程による）" if upcoming.override else ""),
        f"{now:%Y/%m/%d %H:%M} {last_run}",
        *confirmation_panel(ledger, now.date()),
        LEGEND,
    )
    return dict(zip(MENU_PANEL, values))


def confirmation_panel(ledger: Ledger, today: dt.date) -> tuple[str, str]:
    """発送確定待ち (batches with planned parcels) and IBカード待ち (the parcels waiting for a card)."""
    batches = awaiting_confirmation(ledger, today)
    planned = Counter(d.batch for d in ledger.dispatches if d.state == DispatchState.PLANNED)
    shown = "、".join(f"{b.batch_id}{f' ★{b.ship:%m/%d}' if b.ship else ''} {planned[b.batch_id]}本（うち確定可 {b.ready}本）"
                     for b in batches[:4]) + (f" ほか{len(batches) - 4}バッチ" if len(batches) > 4 else "")
    waiting = [(request_id, reason) for b in batches for request_id, reason in b.waiting]
    cards = "、".join(f"{request_id}（{reason}）" for request_id, reason in waiting[:2])
    more = f" ほか{len(waiting) - 2}件" if len(waiting) > 2 else ""
    return shown or "なし", f"{len(waiting)}件: {cards}{more}" if waiting else "なし"
