"""Battery-replacement waves (issue 11): the plan, the banks' answers, the stock forecast.

Every token dies about five years after its first delivery, and banks rolled tokens out in waves,
so replacements come in waves too. `plan` is a pure function over a checked ledger: the tokens in
use whose 使用期限 falls before a date and that have no replacement arranged, spread over the
coming weekly batches (schedule.py) so that no batch takes more than 設定 週間発送能力 replacements
and each ships by its 使用期限 minus 交換余裕（週）, then checked against the stock week by week with
the allocation rules of batch.py (the bank's custody stock first, then CSS stock, FEFO, 最低残存期間
at each planned ★). The same walk, with the recent weekly demand, is the stock forecast of the CSS
report and its purchase suggestion (発注ロット, 納品リードタイム（週）).

`take_in_answers` reads the proposals the banks send back (files/lists.py): approved lines become
交換 requests whose 受付日 is the planned batch's cutoff (the batch takes them in when it comes), and
every answer is recorded in 交換計画回答, which the next plan reads.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import NamedTuple, Sequence

from . import normalize as nz
from . import schema
from .batch import Pools, RequestNumbers, stock_pools
from .files.lists import ListFile
from .journal import Context, reconcile
from .models import Ledger, ReplacementAnswer, Request, Token
from .normalize import add_months
from .problems import Problem, problem
from .schedule import BatchDates, Calendar, batch_by_id, dates_from_cutoff, last_weekday_on_or_before
from .schema import (
    POSTAL_METHODS,
    Answer,
    DispatchState,
    Method,
    Operation,
    RequestKind,
    RequestState,
    TokenState,
    YesNo,
)

FORECAST_WEEKS = 26
DEMAND_WEEKS = 8
REPLACING = (RequestKind.REPLACEMENT, RequestKind.REISSUE)
ARRANGED_STATES = (RequestState.RECEIVED, RequestState.HELD, RequestState.ALLOCATED)

# Where the token for a planned replacement comes from (the column 在庫 of the CSS summary).
FROM_CUSTODY, FROM_CSS, FROM_ORDER, SHORT = "預り在庫", "CSS在庫", "発注分", "在庫不足"


def calendar_of(ledger: Ledger) -> Calendar:
    return Calendar.of(h.day for h in ledger.holidays)


def batch_dates(cutoff: dt.date, ledger: Ledger) -> BatchDates:
    """The dates of the batch with this cutoff (the one place this module asks schedule.py)."""
    return dates_from_cutoff(cutoff, ledger.settings, calendar_of(ledger))


def first_cutoff_on_or_after(day: dt.date, ledger: Ledger) -> dt.date:
    return last_weekday_on_or_before(day + dt.timedelta(days=6), ledger.settings.cutoff_weekday)


# --- what is already arranged ---------------------------------------------------------------------

class Arranged(NamedTuple):
    """A replacement under way for one old serial: its request and when it ships."""

    request_id: str
    batch: str
    ship_on: dt.date | None
    allocated: bool  # tokens already taken out of stock (割当済)


def arranged_replacements(ledger: Ledger, as_of: dt.date) -> dict[str, Arranged]:
    """Old serial -> the 交換 / 再発行 request under way for it (受付, 保留 or 割当済). A request that
    waits ships with the first batch that takes it in: the one of its 受付日, or the next one."""
    planned: dict[str, tuple[str, dt.date | None]] = {}
    for d in ledger.dispatches:
        if d.state == DispatchState.PLANNED and d.request_id:
            planned.setdefault(d.request_id, (d.batch, d.planned_on))
    found: dict[str, Arranged] = {}
    dates_of: dict[dt.date, BatchDates] = {}
    for r in ledger.requests:
        if r.kind not in REPLACING or not r.old_serial or r.state not in ARRANGED_STATES:
            continue
        if r.request_id in planned:
            batch, ship = planned[r.request_id]
            found[r.old_serial] = Arranged(r.request_id, batch, ship, True)
        elif r.received_on is not None:
            cutoff = first_cutoff_on_or_after(max(r.received_on, as_of), ledger)
            dates = dates_of.get(cutoff) or dates_of.setdefault(cutoff, batch_dates(cutoff, ledger))
            found[r.old_serial] = Arranged(r.request_id, dates.batch_id, dates.ship, False)
    return found


def latest_answers(ledger: Ledger) -> dict[str, ReplacementAnswer]:
    """Serial -> the bank's last answer about it (交換計画回答, later rows win)."""
    return {a.serial: a for a in sorted(ledger.replacement_answers, key=lambda a: a.row) if a.serial}


def kept_out(answer: ReplacementAnswer | None, as_of: dt.date) -> bool:
    """Whether an answer keeps its token out of a plan made on `as_of`: while its 再提案日 is ahead,
    and for 対象外 with no 再提案日 for good. (An approval keeps it out through its 交換 request; a
    cancelled request brings it back.)"""
    if answer is None or answer.answer == Answer.APPROVE:
        return False
    if answer.ask_again_on is None:
        return answer.answer == Answer.DECLINE
    return answer.ask_again_on > as_of


# --- the weekly batches ahead ---------------------------------------------------------------------

class Weeks:
    """The weekly batches from the first cutoff on or after a day, made as far as asked."""

    def __init__(self, ledger: Ledger, start: dt.date) -> None:
        self.ledger = ledger
        self.first_cutoff = first_cutoff_on_or_after(start, ledger)
        self._dates: list[BatchDates] = []

    def __getitem__(self, k: int) -> BatchDates:
        while len(self._dates) <= k:
            self._dates.append(batch_dates(self.first_cutoff + dt.timedelta(weeks=len(self._dates)), self.ledger))
        return self._dates[k]

    def taking(self, day: dt.date) -> int:
        """Index of the first batch whose cutoff is on or after `day` (0 for any earlier day)."""
        return max(0, -((self.first_cutoff - day).days // 7))

    def last_shipping_by(self, deadline: dt.date) -> int:
        """Index of the last batch that ships on or before `deadline` (-1 when none does)."""
        k = max(-1, (deadline - self[0].ship).days // 7)
        while k >= 0 and self[k].ship > deadline:
            k -= 1
        while self[k + 1].ship <= deadline:
            k += 1
        return k

    def index(self, batch_id: str) -> int | None:
        dates = batch_by_id(batch_id, self.ledger.settings, calendar_of(self.ledger))
        if dates is None or dates.cutoff < self.first_cutoff:
            return None
        return (dates.cutoff - self.first_cutoff).days // 7


# --- the plan -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanLine:
    """One token proposed for replacement."""

    token: Token
    customer_kind: str
    deadline: dt.date  # 使用期限 minus 交換余裕（週）
    batch: BatchDates
    late: bool  # no batch before the deadline had room (or the deadline is already past)
    source: str  # FROM_CUSTODY / FROM_CSS / FROM_ORDER / SHORT
    previous: str = ""  # the bank's earlier answer when asked again (保留)

    @property
    def bank_code(self) -> str:
        return self.token.bank_code or ""


class WeekStock(NamedTuple):
    """One owner's usable stock at one planned batch (tokens with 最低残存期間 left at its ★)."""

    batch: BatchDates
    owner: str
    opening: int  # usable at this ★, after the tokens that no longer have the minimum life
    aged_out: int  # tokens that dropped below the minimum life since the previous batch
    requests: int  # open requests taken (受付 / 保留)
    demand: int  # expected new requests (the recent weekly demand)
    replacements: int  # replacements of this plan
    arriving: int  # a suggested purchase delivered for this batch
    closing: int
    short: int  # wanted but not there (before the purchase)


class Order(NamedTuple):
    """A suggested purchase from SSC."""

    order_by: dt.date  # the ★ it is for, minus 納品リードタイム（週）
    batch: BatchDates
    quantity: int
    urgent: bool  # order_by already past: order at once


@dataclass(frozen=True)
class Plan:
    as_of: dt.date
    until: dt.date  # tokens expiring on or before this day are due
    first: int  # index of the first batch the plan may use (after 交換回答期間（週）)
    batches: tuple[BatchDates, ...]
    lines: tuple[PlanLine, ...]
    arranged: dict[str, Arranged]
    load: tuple[int, ...]  # replacements per batch: arranged + proposed
    stock: tuple[WeekStock, ...]
    orders: tuple[Order, ...]
    capacity: int
    weekly_demand: dict[str, float] = field(default_factory=dict)
    bank: str | None = None
    reorder_point: int = 0
    arranged_per_bank: dict[str, int] = field(default_factory=dict)

    def by_bank(self) -> dict[str, list[PlanLine]]:
        lines: dict[str, list[PlanLine]] = defaultdict(list)
        for line in self.lines:
            lines[line.bank_code].append(line)
        return dict(lines)


def plan(ledger: Ledger, as_of: dt.date, until: dt.date | None = None, bank: str | None = None,
         weeks: int = FORECAST_WEEKS) -> Plan:
    """The replacement plan made on `as_of` for the tokens due by `until` (default: 期限警告（月）
    months ahead), of one bank or all. Pure: the ledger is not changed."""
    from .parse import gc_paused

    with gc_paused():  # a million-token ledger makes every cyclic collection a long walk; nothing here is cyclic
        return _plan(ledger, as_of, until, bank, weeks)


def _plan(ledger: Ledger, as_of: dt.date, until: dt.date | None, bank: str | None, weeks: int) -> Plan:
    settings = ledger.settings
    until = until or add_months(as_of, settings.warn_months)
    calendar = Weeks(ledger, as_of)
    first = calendar.taking(as_of + dt.timedelta(weeks=settings.answer_weeks))
    arranged = arranged_replacements(ledger, as_of)
    answers = latest_answers(ledger)
    due: list[Token] = []
    arranged_banks: Counter[str] = Counter()
    for t in ledger.tokens:  # one pass over what may be a million tokens
        if t.state != TokenState.IN_USE or not t.serial:
            continue
        if t.serial in arranged:
            arranged_banks[t.bank_code or ""] += 1
        elif (t.expires_on is not None and t.expires_on <= until and (bank is None or t.bank_code == bank)
              and not kept_out(answers.get(t.serial), as_of)):
            due.append(t)
    margin = dt.timedelta(weeks=settings.replacement_margin_weeks)
    deadlines = {t.serial: t.expires_on - margin for t in due}
    load: Counter[int] = Counter()
    for serial, a in arranged.items():
        index = calendar.index(a.batch)
        if index is not None:
            load[index] += 1
    placed, late = _spread(due, deadlines, calendar, first, settings.weekly_capacity, load)
    horizon = max([weeks, *(k + 1 for k in placed.values())])
    demand = weekly_demand(ledger, as_of)
    stock, orders, sources = _walk(ledger, calendar, horizon, placed, {t.serial: t.bank_code for t in due}, demand,
                                   as_of)
    kinds = {(r.bank_code, r.customer_no): r.customer_kind for r in ledger.requests if r.customer_no and r.customer_kind}
    lines = []
    for t in sorted(due, key=lambda t: (t.bank_code or "", placed[t.serial], t.branch_code or "", t.customer_no,
                                        t.serial)):
        previous = answers.get(t.serial)
        shown = (f"前回 {previous.answer}" + (f"（{previous.reason}）" if previous.reason else "")
                 if previous is not None and previous.answer == Answer.HOLD else "")
        lines.append(PlanLine(t, kinds.get((t.bank_code, t.customer_no), "") or "", deadlines[t.serial],
                              calendar[placed[t.serial]], t.serial in late, sources[t.serial], shown))
    return Plan(as_of, until, first, tuple(calendar[k] for k in range(horizon)), tuple(lines), arranged,
                tuple(load[k] for k in range(horizon)), tuple(stock), tuple(orders), settings.weekly_capacity,
                demand, bank, settings.reorder_point, dict(arranged_banks))


def _spread(due: Sequence[Token], deadlines: dict[str, dt.date], calendar: Weeks, first: int, capacity: int,
            load: Counter[int]) -> tuple[dict[str, int], set[str]]:
    """Batch index per serial. Each token goes into the latest batch that still ships by its deadline
    and has room (so a wave is spread back from its deadlines and no token is replaced earlier than
    needed), latest deadlines first; a token for which no such batch is left is late and goes into
    the earliest batch with room. `load` (replacements per batch) is updated."""
    last = {t.serial: calendar.last_shipping_by(deadlines[t.serial]) for t in due}
    top = max([first - 1, *last.values()])
    # free[k - first + 1]: the latest batch j <= k with room, found with path halving; 0 means none
    free = list(range(top - first + 2))
    for k in range(first, top + 1):
        if load[k] >= capacity:
            free[k - first + 1] = k - first

    def room(k: int) -> int:
        i = k - first + 1
        while free[i] != i:
            free[i] = free[free[i]]
            i = free[i]
        return i

    placed: dict[str, int] = {}
    late: list[Token] = []
    for t in sorted(due, key=lambda t: (last[t.serial], deadlines[t.serial], t.serial), reverse=True):
        k = last[t.serial]
        i = room(k) if k >= first else 0
        if i == 0:
            late.append(t)
            continue
        batch = i + first - 1
        placed[t.serial] = batch
        load[batch] += 1
        if load[batch] >= capacity:
            free[i] = i - 1
    k = first
    for t in sorted(late, key=lambda t: (deadlines[t.serial], t.serial)):
        while load[k] >= capacity:
            k += 1
        placed[t.serial] = k
        load[k] += 1
    return placed, {t.serial for t in late}


def weekly_demand(ledger: Ledger, as_of: dt.date, weeks: int = DEMAND_WEEKS) -> dict[str, float]:
    """Tokens allocated per week from each owner's stock over the `weeks` before `as_of`, leaving
    out replacements (the plan counts those itself)."""
    replacing = {r.request_id for r in ledger.requests if r.kind in REPLACING and r.request_id}
    since = as_of - dt.timedelta(weeks=weeks)
    moved = Counter(e.owner for e in ledger.journal
                    if e.operation == Operation.ALLOCATE and e.effective_on and since <= e.effective_on < as_of
                    and e.owner and e.request_id not in replacing)
    return {owner: n / weeks for owner, n in moved.items()}


class _Stock:
    """Usable stock per owner while walking the batches: real tokens (FEFO pools) and purchases."""

    def __init__(self, pools: Pools) -> None:
        self.pools = pools
        self.bought = 0  # suggested purchases delivered so far (fresh CSS tokens, used after the real ones)

    def age(self, min_expiry: dt.date) -> Counter[str]:
        dropped: Counter[str] = Counter()
        for owner, pool in self.pools.items():
            while pool and pool[0][0] < min_expiry:
                pool.popleft()
                dropped[owner] += 1
        return dropped

    def usable(self, owner: str) -> int:
        return len(self.pools.get(owner, ())) + (self.bought if owner == schema.CSS else 0)

    def draw(self, bank: str | None, wanted: int) -> list[tuple[str, str]]:
        """(owner, source) per token, in the order batch.take uses: own custody, CSS, purchases."""
        taken: list[tuple[str, str]] = []
        own = self.pools.get(bank) if bank and bank != schema.CSS else None
        css = self.pools.get(schema.CSS)
        for _ in range(wanted):
            if own:
                own.popleft()
                taken.append((bank, FROM_CUSTODY))
            elif css:
                css.popleft()
                taken.append((schema.CSS, FROM_CSS))
            elif self.bought:
                self.bought -= 1
                taken.append((schema.CSS, FROM_ORDER))
            else:
                taken.append((schema.CSS, SHORT))
        return taken


def _walk(ledger: Ledger, calendar: Weeks, horizon: int, placed: dict[str, int], bank_of: dict[str, str | None],
          demand: dict[str, float], as_of: dt.date) -> tuple[list[WeekStock], list[Order], dict[str, str]]:
    """Usable stock per owner batch by batch: open requests first, then the expected demand, then
    the planned replacements; a purchase is suggested for the ★ where CSS stock would fall below
    発注点 (or run short), in 発注ロット, to be ordered 納品リードタイム（週） before."""
    settings = ledger.settings
    stock = _Stock(stock_pools(ledger.tokens, add_months(calendar[0].ship, settings.min_remaining_months)))
    owners = sorted({schema.CSS, *stock.pools, *(o for o in demand if o in stock.pools)},
                    key=lambda o: (o != schema.CSS, o))
    requests: dict[int, list[Request]] = defaultdict(list)
    for r in ledger.requests:
        if r.state in (RequestState.RECEIVED, RequestState.HELD) and r.method in POSTAL_METHODS and r.received_on:
            requests[calendar.taking(r.received_on)].append(r)
    planned: dict[int, list[str]] = defaultdict(list)
    for serial, k in placed.items():
        planned[k].append(serial)
    rows: list[WeekStock] = []
    orders: list[Order] = []
    sources: dict[str, str] = {}
    lead = dt.timedelta(weeks=settings.lead_weeks)
    for k in range(horizon):
        dates = calendar[k]
        dropped = stock.age(add_months(dates.ship, settings.min_remaining_months))
        opening = {o: stock.usable(o) for o in owners}
        used: Counter[tuple[str, str]] = Counter()  # (owner, what) -> tokens
        short = 0

        def count(taken: list[tuple[str, str]], what: str) -> None:
            nonlocal short
            for owner, source in taken:
                used[owner, what] += 1
                short += source == SHORT

        for r in sorted(requests.get(k, ()), key=lambda r: (r.received_on, r.request_id)):
            count(stock.draw(r.bank_code, r.quantity or 1), "requests")
        for owner, per_week in demand.items():
            count(stock.draw(owner, math.floor((k + 1) * per_week) - math.floor(k * per_week)), "demand")
        shortages: list[str] = []
        for serial in sorted(planned.get(k, ()), key=lambda s: (bank_of[s] or "", s)):
            ((owner, source),) = stock.draw(bank_of[serial], 1)
            used[owner, "replacements"] += 1
            sources[serial] = source
            if source == SHORT:
                short += 1
                shortages.append(serial)
        arriving = 0
        css_left = stock.usable(schema.CSS)
        if short or css_left < settings.reorder_point:
            arriving = math.ceil((settings.reorder_point - css_left + short) / settings.order_lot) * settings.order_lot
            orders.append(Order(dates.ship - lead, dates, arriving, dates.ship - lead < as_of))
            stock.bought += arriving - short
            for serial in shortages:
                sources[serial] = FROM_ORDER
        for o in owners:
            is_css = o == schema.CSS
            rows.append(WeekStock(dates, o, opening[o], dropped[o], used[o, "requests"], used[o, "demand"],
                                  used[o, "replacements"], arriving if is_css else 0, stock.usable(o),
                                  short if is_css else 0))
    return rows, orders, sources


# --- the banks' answers ---------------------------------------------------------------------------

PROPOSAL_SHEET = "交換計画"
PROPOSAL_HEADERS = ("計画日", "金庫コード", "店番", "顧客番号", "顧客名", "顧客区分", "シリアル番号", "使用期限", "発送方法",
                    "送付先", "予定バッチ", "発送予定日", "備考", "回答", "理由")
REQUIRED_HEADERS = ("計画日", "金庫コード", "シリアル番号", "予定バッチ", "回答", "理由")
_FILE_BANK = re.compile(r"^\d{4}-\d{2}-\d{2}_(\d{4})_.*_交換計画")


def proposal_file_name(as_of: dt.date, code: str, name: str) -> str:
    from .report import safe_name

    return f"{as_of:%Y-%m-%d}_{code}_{safe_name(name)}_交換計画.xlsx"


def summary_file_name(as_of: dt.date) -> str:
    return f"{as_of:%Y-%m-%d}_CSS_交換計画集計.xlsx"


class Destination(NamedTuple):
    method: str
    postal_code: str | None
    address: str
    name: str
    phone: str | None


def destination(token: Token, requests: dict[str, Request]) -> Destination:
    """Where a replacement goes: where the token it replaces went (the request that shipped it), or,
    for a token handed over at the counter or of unknown origin, to the bank (金庫郵送, its address)."""
    r = requests.get(token.request_id)
    if r is not None and r.method in POSTAL_METHODS:
        return Destination(r.method, r.ship_postal_code, r.ship_address, r.ship_name, r.ship_phone)
    return Destination(Method.TO_BANK, None, "", "", None)


@dataclass(frozen=True)
class AnswersTaken:
    """What `take_in_answers` made: the new ledger and what each file held."""

    ledger: Ledger
    problems: tuple[Problem, ...]
    counts: dict[str, Counter[str]]  # file name -> answer (and 未回答 / 取込済) -> lines
    requests: tuple[str, ...] = ()


def take_in_answers(ledger: Ledger, files: Sequence[ListFile], ctx: Context) -> AnswersTaken:
    """Approved lines -> 交換 requests (one per token, 旧シリアル set, 受付日 = the planned batch's
    cutoff); every answer -> a 交換計画回答 row. A line already taken in (same 計画日 and serial) is
    left alone, so a proposal taken in twice changes nothing; a proposal whose lines are not all of
    the bank in its name, or name tokens not in use at that bank, is refused."""
    problems: list[Problem] = []
    if schema.REPLACEMENT_ANSWERS not in ledger.columns:
        problems.append(problem("answers-sheet-missing", schema.REPLACEMENT_ANSWERS))
        return AnswersTaken(ledger, tuple(problems), {})
    tokens = {t.serial: t for t in ledger.tokens if t.serial}
    banks = {b.bank_code: b for b in ledger.banks if b.bank_code}
    by_id = {r.request_id: r for r in ledger.requests if r.request_id}
    kinds = {(r.bank_code, r.customer_no): r.customer_kind for r in ledger.requests if r.customer_no and r.customer_kind}
    arranged = arranged_replacements(ledger, ctx.now.date())
    seen = {(a.planned_on, a.serial): a for a in ledger.replacement_answers}
    numbers = RequestNumbers(ledger.requests)
    next_row = {sheet: max((r.row for r in rows), default=1) + 1 for sheet, rows in
                ((schema.REQUESTS, ledger.requests), (schema.REPLACEMENT_ANSWERS, ledger.replacement_answers))}
    new_requests: list[Request] = []
    new_answers: list[ReplacementAnswer] = []
    counts: dict[str, Counter[str]] = {}
    pattern = ledger.settings.serial_regex
    ask_again = _first_of_next_month(ctx.now.date())
    for lf in files:
        tally = counts.setdefault(lf.path.name, Counter())
        lines = [_read_line(lf, i, pattern, problems) for i in range(len(lf))]
        codes = {line["金庫コード"] for line in lines if line is not None and line["金庫コード"]}
        named = _FILE_BANK.match(lf.path.name)
        if len(codes) > 1 or (named and codes and codes != {named[1]}):
            shown = "・".join(sorted(codes | ({named[1]} if named else set())))
            problems.append(lf.whole("proposal-other-bank", lf.path.name, banks=shown))
            continue
        in_file: set[str] = set()
        for i, line in enumerate(lines):
            if line is None:
                continue
            serial, code, answer = line["シリアル番号"], line["金庫コード"], line["回答"]
            if code not in banks:
                problems.append(lf.at("unknown-bank", i, "金庫コード", code, bank=code))
                continue
            if serial in in_file:
                problems.append(lf.at("proposal-duplicate-line", i, "シリアル番号", serial))
                continue
            in_file.add(serial)
            token = tokens.get(serial)
            if token is None:
                problems.append(lf.at("unknown-serial", i, "シリアル番号", serial, serial=serial))
                continue
            if token.bank_code != code:
                problems.append(lf.at("proposal-other-bank-token", i, "シリアル番号", serial, bank=code))
                continue
            if answer is None:
                tally["未回答"] += 1
                continue
            earlier = seen.get((line["計画日"], serial))
            if earlier is not None:
                tally["取込済"] += 1
                if earlier.answer != answer:
                    problems.append(lf.at("proposal-answered-before", i, "回答", answer, before=earlier.answer))
                continue
            if token.state != TokenState.IN_USE:
                problems.append(lf.at("proposal-token-not-in-use", i, "シリアル番号", serial, state=token.state))
                tally["対象なし"] += 1
                continue
            request_id = ""
            if answer == Answer.APPROVE:
                if serial in arranged:
                    problems.append(lf.at("proposal-already-arranged", i, "回答", answer,
                                          request_id=arranged[serial].request_id))
                    tally["手配済"] += 1
                    continue
                dates = batch_by_id(line["予定バッチ"] or "", ledger.settings, calendar_of(ledger))
                if dates is None:
                    problems.append(lf.at("proposal-bad-batch", i, "予定バッチ", line["予定バッチ"]))
                    continue
                kind = kinds.get((token.bank_code, token.customer_no)) or line.get("顧客区分")
                if not kind:
                    problems.append(lf.at("proposal-kind-unknown", i, "顧客区分", ""))
                    continue
                where = destination(token, by_id)
                request_id = numbers.next(dates.cutoff)
                new_requests.append(Request(
                    row=next_row[schema.REQUESTS] + len(new_requests), request_id=request_id,
                    received_on=dates.cutoff, bank_code=token.bank_code, branch_code=token.branch_code,
                    customer_no=token.customer_no, customer_name=token.customer_name, customer_kind=kind,
                    kind=RequestKind.REPLACEMENT, quantity=1, method=where.method, ib_card=YesNo.NO,
                    old_serial=serial, ship_postal_code=where.postal_code, ship_address=where.address,
                    ship_name=where.name, ship_phone=where.phone, state=RequestState.RECEIVED,
                    memo=f"交換計画（{line['計画日']:%Y/%m/%d}）承認・{dates.ship:%m/%d}発送予定（{dates.batch_id}）"))
                arranged[serial] = Arranged(request_id, dates.batch_id, dates.ship, False)
            answer_row = ReplacementAnswer(
                row=next_row[schema.REPLACEMENT_ANSWERS] + len(new_answers), planned_on=line["計画日"], bank_code=code,
                serial=serial, customer_no=token.customer_no, batch=line["予定バッチ"] or "",
                ship_on=line.get("発送予定日"), answer=answer, reason=line["理由"], request_id=request_id,
                ask_again_on=ask_again if answer == Answer.HOLD else None, taken_in_at=ctx.now.replace(microsecond=0),
                file=lf.path.name)
            new_answers.append(answer_row)
            seen[(answer_row.planned_on, serial)] = answer_row
            tally[answer] += 1
    journal, hand = reconcile(ledger, ctx, max((e.row for e in ledger.journal), default=1) + 1)
    new = replace(ledger, requests=ledger.requests + tuple(new_requests),
                  replacement_answers=ledger.replacement_answers + tuple(new_answers),
                  journal=ledger.journal + tuple(journal))
    return AnswersTaken(new, tuple(problems) + tuple(hand), counts, tuple(r.request_id for r in new_requests))


def _first_of_next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _read_line(lf: ListFile, i: int, pattern: re.Pattern[str], problems: list[Problem]) -> dict | None:
    """One proposal line, normalised; None (with problems) when a key cell cannot be read."""
    row = lf.table.rows[i]

    def cell(header: str) -> object:
        index = lf.table.headers.get(header)
        return row[index] if index is not None and index < len(row) else None

    readers = {"計画日": nz.date, "金庫コード": nz.bank_code, "シリアル番号": lambda v: nz.serial(v, pattern),
               "発送予定日": nz.date, "予定バッチ": nz.code_text, "回答": lambda v: nz.choice(v, schema.ANSWERS),
               "顧客区分": lambda v: nz.choice(v, schema.CUSTOMER_KINDS)}
    line: dict[str, object] = {"理由": nz.plain_text(cell("理由")) if not nz.is_blank(cell("理由")) else ""}
    ok = True
    for header, read in readers.items():
        raw = cell(header)
        if nz.is_blank(raw):
            line[header] = None
            if header in ("計画日", "金庫コード", "シリアル番号"):
                problems.append(lf.at("required", i, header))
                ok = False
            continue
        try:
            line[header] = read(raw)
        except nz.Invalid as exc:
            problems.append(lf.at(exc.code, i, header, raw, **exc.params))
            line[header] = None
            ok = ok and header not in ("計画日", "金庫コード", "シリアル番号", "回答")
    return line if ok else None


def describe_answers(result: AnswersTaken) -> tuple[str, list[str]]:
    """(headline, lines) of an intake of answered proposals (counts only, never names)."""
    total = Counter()
    lines = []
    for name, tally in result.counts.items():
        total.update(tally)
        lines.append(f"  {name}: " + "・".join(f"{k} {tally[k]}" for k in (*schema.ANSWERS, "未回答", "取込済", "手配済", "対象なし")
                                              if tally[k]) if tally else f"  {name}: 回答のある行はありません")
    headline = (f"交換依頼 {len(result.requests)}件を作成・保留 {total[Answer.HOLD]}件・対象外 {total[Answer.DECLINE]}件"
                + (f"・未回答 {total['未回答']}件" if total["未回答"] else "")
                + (f"・取込済 {total['取込済']}件" if total["取込済"] else ""))
    noted = [p.render() for p in result.problems if not p.is_error and "." in p.sheet]  # lines left alone, and why
    return headline, ["交換計画の回答取込", headline, *lines, *noted[:30],
                      *([f"  …ほか {len(noted) - 30} 件"] if len(noted) > 30 else [])]
