"""The weekly batch (design §4, §6): allocate, confirm, cancel.

Each operation is a pure function from a ledger to a `BatchResult`: the new ledger (changed rows
keep their row numbers, new rows are numbered after each sheet's last row), what it did, and the
problems it met. Every token transition adds exactly one journal entry. Nothing here reads or
writes files; `writeback` turns the difference between the two ledgers into cell changes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field, replace
from typing import Iterable
from typing import NamedTuple

from . import schema
from .journal import Context, entry, reconcile
from .models import Dispatch, JournalEntry, Ledger, Request, Token
from .normalize import add_months
from .problems import Problem, problem
from .schedule import BatchDates, Calendar, batch_by_id, batch_for, ledger_calendar
from .schema import (
    OPEN_REQUEST_STATES,
    CustomerKind,
    DispatchState,
    Method,
    Operation,
    RequestKind,
    RequestState,
    StopReason,
    TokenState,
    YesNo,
)


@dataclass
class Summary:
    """What one batch operation did, for the operator's screen and the メニュー panel."""

    dates: BatchDates
    allocated: list[tuple[str, int]] = field(default_factory=list)  # (request id, tokens)
    held: list[tuple[str, str]] = field(default_factory=list)  # (request id, reason)
    handovers: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # request ids left alone for their input errors
    released: list[str] = field(default_factory=list)  # serials returned to stock
    shipped: list[tuple[str, str]] = field(default_factory=list)  # (request id, serial)
    waiting_for_card: list[str] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (request id, what it waits for)
    completed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    stock: dict[str, tuple[int, int]] = field(default_factory=dict)  # owner -> (in stock, usable this batch)
    reorder_point: int = 0
    weekly_demand: float = 0.0
    center: list[Request] = field(default_factory=list)  # 法人 new contracts for the joint center
    hand_edits: int = 0

    @property
    def weeks_left(self) -> float | None:
        usable = self.stock.get(schema.CSS, (0, 0))[1]
        return None if self.weekly_demand <= 0 else usable / self.weekly_demand


@dataclass(frozen=True)
class BatchResult:
    ledger: Ledger
    summary: Summary
    problems: tuple[Problem, ...] = ()


class _Work:
    """The mutable working copy of one operation; `result()` freezes it into a new ledger."""

    def __init__(self, ledger: Ledger, ctx: Context, dates: BatchDates, as_of: dt.date | None = None) -> None:
        self.source = ledger
        self.as_of = as_of or ctx.now.date()
        self.ctx = ctx
        self.tokens = list(ledger.tokens)
        self.requests = list(ledger.requests)
        self.dispatches = list(ledger.dispatches)
        self.journal = list(ledger.journal)
        self.token_at = {t.serial: i for i, t in enumerate(self.tokens) if t.serial}
        self.request_at = {r.request_id: i for i, r in enumerate(self.requests) if r.request_id}
        self.banks = {b.bank_code: b for b in ledger.banks if b.bank_code}
        self.summary = Summary(dates=dates, reorder_point=ledger.settings.reorder_point)
        self.problems: list[Problem] = []
        self.next_row = {
            schema.DISPATCH: max((d.row for d in ledger.dispatches), default=1) + 1,
            schema.JOURNAL: max((e.row for e in ledger.journal), default=1) + 1,
        }

    # --- recording ---------------------------------------------------------------------------
    def move(self, serial: str, effective_on: dt.date, operation: str, for_request: str = "", note: str = "",
             journal_bank: str | None = None, **changes: object) -> Token:
        """Change one token (`changes` are its fields) and journal the transition for `for_request`;
        `journal_bank` names the bank in the journal when the token itself does not carry it yet
        (an allocation: the token stays in stock, but it is that bank's request)."""
        index = self.token_at[serial]
        before = self.tokens[index]
        after = before._replace(**changes)
        self.tokens[index] = after
        self.journal.append(entry(self.ctx, self._row(schema.JOURNAL), effective_on, operation, after,
                                  before.state or "", after.state or "", for_request, self.summary.dates.batch_id,
                                  note, bank_code=journal_bank))
        return after

    def set_request(self, index: int, **changes: object) -> None:
        self.requests[index] = self.requests[index]._replace(**changes)

    def add_dispatch(self, **values: object) -> None:
        self.dispatches.append(Dispatch(row=self._row(schema.DISPATCH), **values))

    def _row(self, sheet: str) -> int:
        row = self.next_row[sheet]
        self.next_row[sheet] += 1
        return row

    def result(self) -> BatchResult:
        ledger = replace(self.source, tokens=tuple(self.tokens), requests=tuple(self.requests),
                         dispatches=tuple(self.dispatches), journal=tuple(self.journal))
        return BatchResult(ledger, self.summary, tuple(self.problems))

    # --- shared steps ------------------------------------------------------------------------
    def record_hand_edits(self) -> None:
        entries, found = reconcile(self.source, self.ctx, self.next_row[schema.JOURNAL])
        self.journal.extend(entries)
        self.next_row[schema.JOURNAL] += len(entries)
        self.problems.extend(found)
        self.summary.hand_edits = len(entries)

    def release(self, dispatch_index: int, note: str) -> None:
        """A planned parcel that will not ship: its row 取消, its token back to stock."""
        d = self.dispatches[dispatch_index]
        self.dispatches[dispatch_index] = d._replace(state=DispatchState.CANCELLED)
        token = self.tokens[self.token_at[d.serial]] if d.serial in self.token_at else None
        if token is not None and token.state == TokenState.ALLOCATED:
            self.move(d.serial, self.ctx.now.date(), Operation.RELEASE, d.request_id, note,
                      journal_bank=token.bank_code or d.bank_code, state=TokenState.STOCK)
            self.summary.released.append(d.serial)

    def release_cancelled_requests(self) -> None:
        """Requests a clerk set to 取消 give back the tokens planned for them (design §6), and their
        memo says so instead of the shipping plan they no longer have."""
        cancelled = {r.request_id for r in self.requests if r.state == RequestState.CANCELLED and r.request_id}
        released: Counter[str] = Counter()
        for i, d in enumerate(self.dispatches):
            if d.state == DispatchState.PLANNED and d.request_id in cancelled:
                before = len(self.summary.released)
                self.release(i, "申込取消")
                released[d.request_id] += len(self.summary.released) - before
        for i, r in enumerate(self.requests):
            if r.state == RequestState.CANCELLED and (r.request_id in released or not r.memo.startswith(_CANCELLED_MEMO)):
                self.set_request(i, memo=cancelled_memo(self.ctx.now.date(), released.get(r.request_id, 0), r.memo))

    def assign_request_ids(self) -> None:
        """Blank 依頼番号 become `R` + 受付日 + `-` + the next free 3-digit number of that day."""
        numbers = RequestNumbers(self.requests)
        for i, r in enumerate(self.requests):
            if not r.request_id and r.received_on is not None:
                new_id = numbers.next(r.received_on)
                self.set_request(i, request_id=new_id)
                self.request_at[new_id] = i


class RequestNumbers:
    """The next free 依頼番号 of each 受付日: `R` + `YYYYMMDD` + `-` + a 3-digit sequence (design §3.3)."""

    def __init__(self, requests: Iterable[Request]) -> None:
        self.used: dict[str, int] = defaultdict(int)
        for r in requests:
            if r.request_id.startswith("R") and r.request_id[9:10] == "-" and r.request_id[10:].isdigit():
                self.used[r.request_id[1:9]] = max(self.used[r.request_id[1:9]], int(r.request_id[10:]))

    def next(self, received_on: dt.date) -> str:
        day = f"{received_on:%Y%m%d}"
        self.used[day] += 1
        return f"R{day}-{self.used[day]:03d}"
_CANCELLED_MEMO = "取消"


def cancelled_memo(day: dt.date, released: int, old: str) -> str:
    """The memo of a request a clerk cancelled: when tokenbook saw it and what it gave back; an
    earlier cancellation memo keeps its date (re-runs do not rewrite it)."""
    if old.startswith(_CANCELLED_MEMO) and not released:
        return old
    back = f"・引当 {released}本を在庫に戻しました" if released else ""
    return f"{_CANCELLED_MEMO}（{day:%Y/%m/%d}{back}）"


def _calendar(ledger: Ledger) -> Calendar:
    return ledger_calendar(ledger)


# --- allocate -----------------------------------------------------------------------------------

def allocate(ledger: Ledger, as_of: dt.date, ctx: Context, blocked_rows: frozenset[int] = frozenset()) -> BatchResult:
    """The weekly allocation run for the batch `as_of` belongs to (design §6).

    `blocked_rows` are 申込 rows with input errors: they are left untouched and reported.
    """
    settings = ledger.settings
    dates = batch_for(as_of, settings, _calendar(ledger))
    work = _Work(ledger, ctx, dates, as_of)
    work.record_hand_edits()
    work.assign_request_ids()
    work.release_cancelled_requests()

    min_expiry = add_months(dates.ship, settings.min_remaining_months)
    pools = stock_pools(work.tokens, min_expiry)
    usable_before = {owner: len(pool) for owner, pool in pools.items()}
    parcel = _parcel_numbers(work.dispatches, dates.batch_id)
    handed: set[str] = set()

    eligible = sorted(
        (i for i, r in enumerate(work.requests)
         if r.state in OPEN_REQUEST_STATES and r.received_on is not None and r.received_on <= dates.cutoff),
        key=lambda i: (work.requests[i].received_on, work.requests[i].request_id),
    )
    for i in eligible:
        r = work.requests[i]
        if r.row in blocked_rows:
            work.summary.skipped.append(r.request_id or f"{schema.REQUESTS}!{r.row}")
            continue
        if r.method == Method.HANDOVER:
            _handover(work, i, handed)
        elif (reason := _ib_hold(r)) is not None:
            _hold(work, i, reason)
        else:
            _allocate_postal(work, i, pools, parcel)

    work.summary.stock = _stock(work.tokens, pools, usable_before)
    work.summary.weekly_demand = _weekly_demand(work.journal, dates.cutoff)
    work.summary.center = [work.requests[i] for i in eligible
                           if work.requests[i].kind == RequestKind.NEW and work.requests[i].customer_kind == CustomerKind.CORPORATE
                           and work.requests[i].ib_card == YesNo.YES]
    return work.result()


def record_before_reading(ledger: Ledger, today: dt.date, ctx: Context) -> BatchResult:
    """What a run that only reads the ledger (report, month-end, parcels) journals first: hand edits
    to 在庫, and 窓口手交 requests received up to `today`, on their 受付日 — a handover takes effect
    when the customer got the token, not at the next weekly batch (issue 9)."""
    work = _Work(ledger, ctx, batch_for(today, ledger.settings, _calendar(ledger)), today)
    work.record_hand_edits()
    due = sorted((i for i, r in enumerate(work.requests)
                  if r.method == Method.HANDOVER and r.state in OPEN_REQUEST_STATES and r.received_on is not None
                  and r.received_on <= today),
                 key=lambda i: (work.requests[i].received_on, work.requests[i].request_id))
    if due:
        work.assign_request_ids()
        handed: set[str] = set()
        for i in due:
            _handover(work, i, handed)
    return work.result()


Pools = dict[str, deque[tuple[dt.date, str]]]


def stock_pools(tokens: Iterable[Token], min_expiry: dt.date) -> Pools:
    """Allocatable tokens per owner as (使用期限, serial), earliest expiry first (FEFO), then serial:
    状態 在庫 with at least `min_expiry` (design §6). The replacement plan shares these rules."""
    candidates: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)
    for t in tokens:
        if t.state == TokenState.STOCK and t.serial and t.owner and t.expires_on and t.expires_on >= min_expiry:
            candidates[t.owner].append((t.expires_on, t.serial))
    return {owner: deque(sorted(items)) for owner, items in candidates.items()}


def usable_for(pools: Pools, bank_code: str | None) -> int:
    """How many tokens a request of `bank_code` could get: its own custody stock and CSS stock."""
    own = len(pools.get(bank_code, ())) if bank_code != schema.CSS else 0
    return own + len(pools.get(schema.CSS, ()))


def take(pools: Pools, bank_code: str | None, wanted: int) -> list[tuple[dt.date, str]] | None:
    """`wanted` tokens for a request of `bank_code`, all or nothing: the bank's own custody stock
    first, then CSS stock, FEFO within each (None, and nothing taken, when there are too few)."""
    if usable_for(pools, bank_code) < wanted:
        return None
    own = pools.get(bank_code, deque()) if bank_code != schema.CSS else deque()
    css = pools.get(schema.CSS, deque())
    return [own.popleft() if own else css.popleft() for _ in range(wanted)]


def _parcel_numbers(dispatches: list[Dispatch], batch_id: str) -> Counter[str]:
    """The batch's parcel counter, continuing after the parcels an earlier run of it made."""
    numbers = Counter[str]()
    prefix = f"{batch_id}-"
    for d in dispatches:
        if d.dispatch_id.startswith(prefix) and d.dispatch_id[len(prefix):].isdigit():
            numbers[batch_id] = max(numbers[batch_id], int(d.dispatch_id[len(prefix):]))
    return numbers


def _ib_hold(r: Request) -> str | None:
    if r.ib_card != YesNo.YES:
        return None
    if r.ib_registered_on is None:
        return "IB登録未了"
    if r.customer_kind == CustomerKind.CORPORATE and r.center_sent_on is None:
        return "共同センター伝送未了"
    return None


def _hold(work: _Work, index: int, reason: str) -> None:
    work.set_request(index, state=RequestState.HELD, memo=reason)
    work.summary.held.append((work.requests[index].request_id, reason))


def _handover(work: _Work, index: int, handed: set[str]) -> None:
    r = work.requests[index]
    for serial in r.handover_serials:
        token = work.tokens[work.token_at[serial]] if serial in work.token_at else None
        if serial in handed or token is None or token.state != TokenState.AT_BANK or token.bank_code != r.bank_code:
            _hold(work, index, f"手交シリアル {serial} は金庫保管ではありません")
            return
    for serial in r.handover_serials:
        handed.add(serial)
        work.move(serial, r.received_on, Operation.HANDOVER, r.request_id, state=TokenState.IN_USE, bank_code=r.bank_code,
                  branch_code=r.branch_code, customer_no=r.customer_no, customer_name=r.customer_name,
                  started_on=r.received_on, request_id=r.request_id, customer_kind=r.customer_kind)
    work.set_request(index, state=RequestState.DONE, memo=f"{r.received_on:%Y/%m/%d} 窓口手交（{len(r.handover_serials)}本）")
    work.summary.handovers.append((r.request_id, len(r.handover_serials)))


def _allocate_postal(work: _Work, index: int, pools: Pools, parcel: Counter[str]) -> None:
    r = work.requests[index]
    wanted = r.quantity or 1
    available = usable_for(pools, r.bank_code)
    taken = take(pools, r.bank_code, wanted)
    if taken is None:  # all or nothing; later requests may still fit
        _hold(work, index, f"在庫不足（必要 {wanted} / 引当可能 {available}）")
        return
    chosen = [serial for _, serial in taken]
    dates = work.summary.dates
    parcel[dates.batch_id] += 1
    parcel_id = f"{dates.batch_id}-{parcel[dates.batch_id]:04d}"
    postal_code, address, name = _destination(work, r)
    for serial in chosen:
        work.move(serial, work.as_of, Operation.ALLOCATE, r.request_id, journal_bank=r.bank_code,
                  state=TokenState.ALLOCATED, request_id=r.request_id)
        work.add_dispatch(dispatch_id=parcel_id, batch=dates.batch_id, request_id=r.request_id, serial=serial,
                          bank_code=r.bank_code, planned_on=dates.ship, shipped_on=None, postal_code=postal_code,
                          address=address, name=name, ib_card=r.ib_card or YesNo.NO, tracking_no="", state=DispatchState.PLANNED)
    work.set_request(index, state=RequestState.ALLOCATED, memo=f"{dates.ship:%m/%d}発送予定（{wanted}本・{dates.batch_id}）")
    work.summary.allocated.append((r.request_id, wanted))


def _destination(work: _Work, r: Request) -> tuple[str | None, str, str]:
    """Where the parcel goes: the request's address, or for 金庫郵送 the bank's own by default."""
    if r.method == Method.TO_BANK and not (r.ship_postal_code and r.ship_address):
        bank = work.banks.get(r.bank_code)
        if bank is not None:
            return bank.postal_code, bank.address, r.ship_name or bank.addressee or bank.name
    return r.ship_postal_code, r.ship_address, r.ship_name


def _stock(tokens: list[Token], pools: Pools, usable_before: dict[str, int]) -> dict[str, tuple[int, int]]:
    in_stock = Counter(t.owner for t in tokens if t.state == TokenState.STOCK and t.owner)
    owners = sorted(set(in_stock) | set(usable_before), key=lambda o: (o != schema.CSS, o))
    return {owner: (in_stock.get(owner, 0), len(pools.get(owner, ()))) for owner in owners}


def _weekly_demand(journal: list[JournalEntry], cutoff: dt.date, weeks: int = 8) -> float:
    """Tokens that left stock per week over the `weeks` before the cutoff (allocations and handovers)."""
    since = cutoff - dt.timedelta(weeks=weeks)
    moved = sum(1 for e in journal if e.operation in (Operation.ALLOCATE, Operation.HANDOVER) and e.effective_on
                and since <= e.effective_on < cutoff)
    return moved / weeks


# --- confirm ------------------------------------------------------------------------------------

def confirm(ledger: Ledger, batch_id: str, shipped_on: dt.date | None, ctx: Context) -> BatchResult:
    """Shipment confirmation (発送確定) of one batch: planned rows become shipped (design §6).

    A parcel's 発送日 is `shipped_on` (default: the batch's ★, or today if ★ is still ahead), never
    after today and never before its IB card arrived: a card parcel whose card came after ★ ships
    on its IBカード受領日; one whose card has not come (or came after a `shipped_on` given) waits,
    with the reason in `summary.waiting`.
    """
    dates = _dates_or_raise(ledger, batch_id)
    today = ctx.now.date()
    if shipped_on is not None and shipped_on > today:
        raise BatchError(f"発送日 {shipped_on:%Y/%m/%d} は未来の日付です（今日は {today:%Y/%m/%d}）")
    earliest = shipped_on or min(dates.ship, today)
    if earliest < dates.cutoff:  # a parcel cannot leave before its requests were taken in
        raise BatchError(f"発送日 {earliest.isoformat()} がバッチ {dates.batch_id} の受付締切日 {dates.cutoff.isoformat()} より前です")
    work = _Work(ledger, ctx, dates)
    work.record_hand_edits()
    work.release_cancelled_requests()
    rows = [i for i, d in enumerate(work.dispatches) if d.batch == dates.batch_id and d.state == DispatchState.PLANNED]
    if not rows and not any(d.batch == dates.batch_id for d in work.dispatches):
        raise BatchError(f"バッチ {dates.batch_id} の発送行がありません")
    touched: dict[str, dt.date] = {}
    for i in rows:
        d = work.dispatches[i]
        r = work.requests[work.request_at[d.request_id]] if d.request_id in work.request_at else None
        token = work.tokens[work.token_at[d.serial]] if d.serial in work.token_at else None
        if r is None or token is None or token.state != TokenState.ALLOCATED or token.request_id != d.request_id:
            work.problems.append(problem("dispatch-mismatch", schema.DISPATCH, d.row, "シリアル番号",
                                         ledger.columns.get(schema.DISPATCH, {}).get("シリアル番号"), d.serial))
            continue
        day, reason = ship_day(d.ib_card == YesNo.YES, r.ib_card_received_on, dates.ship, shipped_on, today)
        if day is None:
            work.summary.waiting_for_card.append(d.request_id)
            if (d.request_id, reason) not in work.summary.waiting:
                work.summary.waiting.append((d.request_id, reason))
            continue
        work.dispatches[i] = d._replace(state=DispatchState.SHIPPED, shipped_on=day)
        if r.kind == RequestKind.RESTOCK:  # ownership passes to the bank
            work.move(d.serial, day, Operation.SHIP, r.request_id, state=TokenState.AT_BANK, owner=r.bank_code,
                      bank_code=r.bank_code, branch_code=r.branch_code)
        else:
            work.move(d.serial, day, Operation.SHIP, r.request_id, state=TokenState.IN_USE, bank_code=r.bank_code,
                      branch_code=r.branch_code, customer_no=r.customer_no, customer_name=r.customer_name,
                      started_on=day, customer_kind=r.customer_kind)
        work.summary.shipped.append((r.request_id, d.serial))
        touched[r.request_id] = max(day, touched.get(r.request_id, day))
    for request_id, day in touched.items():
        _complete_if_shipped(work, request_id, day)
    return work.result()


def ship_day(card: bool, card_received: dt.date | None, star: dt.date, given: dt.date | None,
             today: dt.date) -> tuple[dt.date | None, str]:
    """(発送日, "") for a parcel that can ship, else (None, what it waits for).

    >>> D = dt.date
    >>> ship_day(True, D(2026, 11, 27), D(2026, 11, 24), None, D(2026, 11, 30))
    (datetime.date(2026, 11, 27), '')
    >>> ship_day(True, None, D(2026, 11, 30), None, D(2026, 11, 30))
    (None, 'IBカード受領日が未入力')
    >>> ship_day(False, None, D(2026, 11, 30), None, D(2026, 11, 26))
    (datetime.date(2026, 11, 26), '')
    """
    day = given or min(star, today)
    if not card:
        return day, ""
    if card_received is None:
        return None, "IBカード受領日が未入力"
    if card_received > today:
        return None, f"IBカード受領日 {card_received:%Y/%m/%d} が未来の日付"
    if given is not None and given < card_received:
        return None, f"発送日 {given:%Y/%m/%d} はIBカード受領日 {card_received:%Y/%m/%d} より前"
    return max(day, card_received), ""


class Awaiting(NamedTuple):
    """A batch with parcels still 予定: how many could be confirmed now, and what the rest wait for."""

    batch_id: str
    ship: dt.date | None  # ★
    ready: int  # tokens that can ship now
    waiting: tuple[tuple[str, str], ...]  # (request id, reason), one per request


def awaiting_confirmation(ledger: Ledger, today: dt.date) -> list[Awaiting]:
    """Every batch with 予定 rows, earliest first (for the 発送確定 button and the メニュー panel)."""
    calendar = _calendar(ledger)
    requests = {r.request_id: r for r in ledger.requests if r.request_id}
    by_batch: dict[str, list[Dispatch]] = defaultdict(list)
    for d in ledger.dispatches:
        if d.state == DispatchState.PLANNED and d.batch:
            by_batch[d.batch].append(d)
    found = []
    for batch_id in sorted(by_batch):
        dates = batch_by_id(batch_id, ledger.settings, calendar)
        star = dates.ship if dates else None
        ready = 0
        waiting: dict[str, str] = {}
        for d in by_batch[batch_id]:
            r = requests.get(d.request_id)
            if r is None or r.state == RequestState.CANCELLED:
                continue
            day, reason = ship_day(d.ib_card == YesNo.YES, r.ib_card_received_on, star or today, None, today)
            if day is None:
                waiting.setdefault(d.request_id, reason)
            else:
                ready += 1
        found.append(Awaiting(batch_id, star, ready, tuple(waiting.items())))
    return found


@dataclass(frozen=True)
class Confirmations:
    """Several batches confirmed in one run, one after the other (the 発送確定 button)."""

    ledger: Ledger
    today: dt.date
    results: tuple[BatchResult, ...]
    problems: tuple[Problem, ...] = ()


def confirm_ready(ledger: Ledger, ctx: Context) -> Confirmations:
    """発送確定 of every batch that has something that can ship today, earliest first."""
    results = []
    for batch in awaiting_confirmation(ledger, ctx.now.date()):
        if batch.ready:
            result = confirm(ledger, batch.batch_id, None, ctx)
            results.append(result)
            ledger = result.ledger
    problems = tuple(dict.fromkeys(p for r in results for p in r.problems))
    return Confirmations(ledger, ctx.now.date(), tuple(results), problems)


def _complete_if_shipped(work: _Work, request_id: str, day: dt.date) -> None:
    parcels = [d for d in work.dispatches if d.request_id == request_id and d.state != DispatchState.CANCELLED]
    if not parcels or any(d.state != DispatchState.SHIPPED for d in parcels):
        return
    index = work.request_at[request_id]
    r = work.requests[index]
    work.set_request(index, state=RequestState.DONE, memo=f"{day:%Y/%m/%d} 発送済（{len(parcels)}本）")
    work.summary.completed.append(request_id)
    if r.kind in (RequestKind.REPLACEMENT, RequestKind.REISSUE) and r.old_serial in work.token_at:
        old = work.tokens[work.token_at[r.old_serial]]
        if old.state == TokenState.IN_USE:
            recorded = old.stop_reason if old.stop_reason in (StopReason.LOST, StopReason.BROKEN) else None
            reason = StopReason.REPLACED if r.kind == RequestKind.REPLACEMENT else (recorded or StopReason.OTHER)
            work.move(r.old_serial, day, Operation.STOP, request_id, note=f"{r.kind}による停止", state=TokenState.STOPPED,
                      stop_reason=reason)
            work.summary.stopped.append(r.old_serial)


# --- cancel -------------------------------------------------------------------------------------

def cancel_batch(ledger: Ledger, batch_id: str, ctx: Context) -> BatchResult:
    """Undo a batch's allocation while none of it has shipped (design §6). Handovers stay done."""
    dates = _dates_or_raise(ledger, batch_id)
    rows = [i for i, d in enumerate(ledger.dispatches) if d.batch == dates.batch_id and d.state != DispatchState.CANCELLED]
    if not rows:
        raise BatchError(f"バッチ {dates.batch_id} に取り消せる発送行がありません")
    shipped = [ledger.dispatches[i] for i in rows if ledger.dispatches[i].state == DispatchState.SHIPPED]
    if shipped:
        raise BatchError(f"バッチ {dates.batch_id} は {len(shipped)} 本が発送済みのため取り消せません")
    work = _Work(ledger, ctx, dates)
    work.record_hand_edits()
    requests: list[str] = []
    for i in rows:
        work.release(i, f"バッチ {dates.batch_id} 取消")
        if work.dispatches[i].request_id not in requests:
            requests.append(work.dispatches[i].request_id)
    for request_id in requests:
        index = work.request_at.get(request_id)
        if index is not None and work.requests[index].state == RequestState.ALLOCATED:
            work.set_request(index, state=RequestState.RECEIVED, memo=f"バッチ {dates.batch_id} 取消のため再受付")
    return work.result()


class BatchError(Exception):
    """A batch operation that cannot be done as asked (exit 1); the message is for the operator."""


def _dates_or_raise(ledger: Ledger, batch_id: str) -> BatchDates:
    dates = batch_by_id(batch_id, ledger.settings, _calendar(ledger))
    if dates is None:
        raise BatchError(f"バッチ番号は 2026-W48 の形で指定してください: {batch_id!r}")
    return dates
