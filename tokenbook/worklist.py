"""The IB side of the combined flow (design §1.6, §6): what is waiting, by when, and the lists that go
to and come back from the joint center.

A request with IBカード 有 waits for three things a clerk types into 申込: IB登録日 (the contract
registered on the IB operations terminal), for a 法人 also 共同センター伝送日 (sent to the joint center),
and, once allocated, IBカード受領日 (SSC's card arrived). `work_list` says, for each waiting request,
the date by which it must be done to make its batch — ● (card creation) for registration and
transmission, ◆ (card receipt) for the card — how long it has waited, and whether that date has
passed. `stamp_center_sent` takes back the transmission list tokenbook wrote and stamps
共同センター伝送日 on exactly its requests, once. Pure functions; reading and writing files is the caller's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Iterable, NamedTuple, Sequence

from . import normalize as nz
from .files.lists import ListFile
from .files.sheetio import UnusableInput
from .models import Ledger, Request
from .problems import Problem
from .schedule import BatchDates, Calendar, batch_by_id, first_batch
from .schema import CustomerKind, DispatchState, RequestState, WorkTask, YesNo

CLOSED_STATES = (RequestState.DONE, RequestState.CANCELLED)
CARD_DAY, RECEIPT_DAY = "● カード作成", "◆ カード受領"
CENTER_HEADERS = ("金庫コード", "店番", "顧客番号", "顧客名", "依頼番号", "IB登録日")


def calendar_of(ledger: Ledger) -> Calendar:
    return Calendar.of(h.day for h in ledger.holidays)


def request_batch(ledger: Ledger, request: Request, calendar: Calendar,
                  planned: dict[str, str] | None = None) -> BatchDates | None:
    """The batch a request is in (its parcels' batch) or due for (the first one after its 受付日)."""
    planned = planned if planned is not None else parcel_batches(ledger)
    batch = planned.get(request.request_id)
    if batch:
        dates = batch_by_id(batch, ledger.settings, calendar)
        if dates is not None:
            return dates
    if request.received_on is None:
        return None
    return first_batch(request.received_on, ledger.settings, calendar)


def parcel_batches(ledger: Ledger) -> dict[str, str]:
    """Request id -> the batch of its latest parcel that is not cancelled."""
    batches: dict[str, str] = {}
    for d in ledger.dispatches:
        if d.request_id and d.batch and d.state != DispatchState.CANCELLED:
            batches[d.request_id] = max(batches.get(d.request_id, ""), d.batch)
    return batches


# --- the work list -------------------------------------------------------------------------------

class WorkItem(NamedTuple):
    """One thing a clerk must do for one request."""

    task: WorkTask
    due_on: dt.date
    due_mark: str  # CARD_DAY or RECEIPT_DAY
    overdue: bool
    days_waiting: int  # since 受付日
    request: Request
    batch: str

    def sheet_row(self, as_of: dt.date) -> tuple:
        """The 作業一覧 row (schema.WORKLIST_COLUMNS)."""
        r = self.request
        return (self.task, self.due_on, self.due_mark, "超過" if self.overdue else "", self.days_waiting,
                r.request_id, r.bank_code, r.branch_code, r.customer_no, r.customer_name, r.customer_kind,
                r.received_on, self.batch, as_of)

    def public(self) -> dict:
        """For the console and --json: no customer names or numbers (design §12)."""
        r = self.request
        return {"作業": str(self.task), "期限": self.due_on.isoformat(), "期限の日": self.due_mark,
                "超過": self.overdue, "待ち日数": self.days_waiting, "依頼番号": r.request_id,
                "金庫コード": r.bank_code, "店番": r.branch_code, "顧客区分": r.customer_kind,
                "受付日": r.received_on.isoformat() if r.received_on else None, "バッチ": self.batch}


def task_of(request: Request, allocated: bool) -> WorkTask | None:
    """What an open IB-card request waits for, if anything."""
    if request.ib_card != YesNo.YES or request.state in CLOSED_STATES or request.state is None:
        return None
    if request.ib_registered_on is None:
        return WorkTask.REGISTER
    if request.customer_kind == CustomerKind.CORPORATE and request.center_sent_on is None:
        return WorkTask.TRANSMIT
    if allocated and request.ib_card_received_on is None:
        return WorkTask.CARD
    return None


_TASK_ORDER = {task: i for i, task in enumerate(WorkTask)}


def work_list(ledger: Ledger, as_of: dt.date) -> tuple[WorkItem, ...]:
    """Every open IB-card request still waiting for registration, transmission or its card, the
    earliest deadline first."""
    calendar = calendar_of(ledger)
    planned = parcel_batches(ledger)
    items = []
    for r in ledger.requests:
        if r.received_on is None or r.received_on > as_of:
            continue  # unreadable 受付日 (validate reports it), or not received yet on `as_of`
        allocated = r.state == RequestState.ALLOCATED or r.request_id in planned
        task = task_of(r, allocated)
        if task is None:
            continue
        dates = request_batch(ledger, r, calendar, planned)
        if dates is None:
            continue
        due_on, mark = (dates.receipt, RECEIPT_DAY) if task is WorkTask.CARD else (dates.card, CARD_DAY)
        items.append(WorkItem(task, due_on, mark, as_of > due_on, max(0, (as_of - r.received_on).days), r,
                              dates.batch_id))
    items.sort(key=lambda w: (w.due_on, _TASK_ORDER[w.task], w.request.received_on, w.request.request_id))
    return tuple(items)


def to_transmit(items: Iterable[WorkItem]) -> list[WorkItem]:
    """The 法人 contracts for the joint center, in bank, branch, request order."""
    return sorted((w for w in items if w.task is WorkTask.TRANSMIT),
                  key=lambda w: (w.request.bank_code or "", w.request.branch_code or "", w.request.request_id))


def center_rows(items: Iterable[WorkItem]) -> list[tuple]:
    """The rows of `{YYYY-MM-DD}_共同センター伝送.xlsx` (CENTER_HEADERS)."""
    return [(w.request.bank_code, w.request.branch_code, w.request.customer_no, w.request.customer_name,
             w.request.request_id, w.request.ib_registered_on) for w in to_transmit(items)]


def center_file_name(as_of: dt.date) -> str:
    return f"{as_of:%Y-%m-%d}_共同センター伝送.xlsx"


# --- lists that name requests (IB cards, the transmission list) -----------------------------------

@dataclass(frozen=True)
class Stamped:
    """A list taken in: the new ledger, the requests it stamped and those it left as they were."""

    ledger: Ledger
    on: dt.date
    lines: int
    stamped: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()


class LineKey(NamedTuple):
    """What one line of a list says about the request it is for (normalised; "" / None when absent)."""

    index: int
    request_id: str
    bank_code: str | None
    branch_code: str | None
    customer_no: str


def line_keys(lf: ListFile, problems: list[Problem]) -> list[LineKey]:
    """Each line's key. A bank or branch code that cannot be read is a located error."""
    def column(header: str) -> list:
        return lf.column(header) if header in lf.table.headers else [None] * len(lf)

    ids, banks, branches, customers = (column(h) for h in ("依頼番号", "金庫コード", "店番", "顧客番号"))
    keys = []
    for i in range(len(lf)):
        bank = _code(lf, i, "金庫コード", banks[i], nz.bank_code, problems)
        branch = _code(lf, i, "店番", branches[i], nz.branch_code, problems)
        keys.append(LineKey(i, _text(ids[i]), bank, branch, _text(customers[i])))
    return keys


def _text(value: object) -> str:
    return "" if nz.is_blank(value) else nz.code_text(value)


def _code(lf: ListFile, i: int, header: str, value: object, read, problems: list[Problem]) -> str | None:
    if nz.is_blank(value):
        return None
    try:
        return read(value)
    except nz.Invalid as exc:
        problems.append(lf.at(exc.code, i, header, value, **exc.params))
        return None


def mismatches(lf: ListFile, key: LineKey, request: Request) -> list[Problem]:
    """A line that names a request by 依頼番号 and also says whose it is must agree with it."""
    found = []
    for header, given, expected in (("金庫コード", key.bank_code, request.bank_code),
                                    ("顧客番号", key.customer_no, request.customer_no)):
        if given and given != expected:
            found.append(lf.at("list-line-mismatch", key.index, header, given, request_id=request.request_id,
                               expected=expected or "（空欄）"))
    if key.branch_code and key.branch_code != request.branch_code:
        found.append(lf.at("list-branch-differs", key.index, "店番", key.branch_code,
                           expected=request.branch_code or "（空欄）"))
    return found


def require_key_columns(lf: ListFile) -> None:
    """A list must name its requests: by 依頼番号, or by 金庫コード and 顧客番号."""
    headers = lf.table.headers
    if "依頼番号" not in headers and not {"金庫コード", "顧客番号"} <= set(headers):
        raise UnusableInput(f"{lf.where} の1行目に見出し「依頼番号」か、「金庫コード」と「顧客番号」が必要です")
    if not len(lf):
        raise UnusableInput(f"{lf.where} にデータの行がありません")


def with_requests(ledger: Ledger, changed: dict[int, Request]) -> Ledger:
    """The ledger with some 申込 rows replaced (by position; row numbers stay)."""
    if not changed:
        return ledger
    return replace(ledger, requests=tuple(changed.get(i, r) for i, r in enumerate(ledger.requests)))


# --- 共同センター伝送日 from the transmission list ---------------------------------------------------

def _not_to_transmit(r: Request) -> str | None:
    """Why a request cannot be marked transmitted, or None."""
    if r.ib_card != YesNo.YES:
        return "IBカードが「有」ではありません"
    if r.customer_kind != CustomerKind.CORPORATE:
        return f"顧客区分が「{r.customer_kind or '空欄'}」です（伝送は法人だけ）"
    if r.state in CLOSED_STATES:
        return f"状態が「{r.state}」です"
    if r.ib_registered_on is None:
        return "IB登録日がまだありません"
    return None


def stamp_center_sent(ledger: Ledger, lf: ListFile, on: dt.date) -> Stamped:
    """共同センター伝送日 = `on` on every request of the list, by 依頼番号; a request already stamped keeps
    its date (a warning), so taking the same list in twice stamps it once."""
    if "依頼番号" not in lf.table.headers:
        raise UnusableInput(f"{lf.where} の1行目に見出し「依頼番号」がありません")
    require_key_columns(lf)
    problems: list[Problem] = []
    keys = line_keys(lf, problems)
    at = {r.request_id: i for i, r in enumerate(ledger.requests) if r.request_id}
    changed: dict[int, Request] = {}
    first_line: dict[str, int] = {}
    unchanged: list[str] = []
    for key in keys:
        if not key.request_id:
            problems.append(lf.at("required", key.index, "依頼番号"))
            continue
        index = at.get(key.request_id)
        if index is None:
            problems.append(lf.at("unknown-request", key.index, "依頼番号", key.request_id, request_id=key.request_id))
            continue
        if key.request_id in first_line:
            problems.append(lf.at("center-repeated", key.index, "依頼番号", key.request_id,
                                  request_id=key.request_id, first=first_line[key.request_id]))
            continue
        first_line[key.request_id] = lf.table.row_numbers[key.index]
        r = ledger.requests[index]
        problems += mismatches(lf, key, r)
        if r.center_sent_on is not None:
            problems.append(lf.at("center-already-sent", key.index, "依頼番号", key.request_id,
                                  request_id=key.request_id, sent_on=f"{r.center_sent_on:%Y/%m/%d}"))
            unchanged.append(key.request_id)
            continue
        reason = _not_to_transmit(r)
        if reason:
            problems.append(lf.at("center-not-waiting", key.index, "依頼番号", key.request_id,
                                  request_id=key.request_id, reason=reason))
            continue
        changed[index] = r._replace(center_sent_on=on)
    return Stamped(with_requests(ledger, changed), on, len(lf), tuple(ledger.requests[i].request_id for i in changed),
                   tuple(unchanged), tuple(problems))


def describe_items(items: Sequence[WorkItem], limit: int = 60) -> list[str]:
    """Console lines of a work list (request ids, banks and branches; never customer names)."""
    lines = []
    for w in items[:limit]:
        r = w.request
        late = "【超過】" if w.overdue else ""
        lines.append(f"  {late}{w.task} 期限 {w.due_mark[0]}{w.due_on:%m/%d} {r.request_id} 金庫 {r.bank_code} "
                     f"店番 {r.branch_code} {r.customer_kind or ''} 受付 {r.received_on:%m/%d}（{w.days_waiting}日）")
    if len(items) > limit:
        lines.append(f"  …ほか {len(items) - limit} 件")
    return lines
