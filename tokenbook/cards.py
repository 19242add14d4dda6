"""IB cards received (design §1.6, §6): the list that comes with SSC's cards, matched to the requests
waiting for them.

Each line names its request by 依頼番号, or by 金庫コード and 顧客番号; it must match exactly one open
request with IBカード 有 and no IBカード受領日, and that request gets IBカード受領日. A line that matches no
waiting request or more than one is a located error (`cards.csv:7`), and the caller applies nothing
(`runs.run_intake`). A card dated before its batch's ● (SSC makes cards on ●) is a warning.
"""

from __future__ import annotations

import datetime as dt

from .files.lists import ListFile
from .models import Ledger, Request
from .problems import Problem
from .schema import YesNo
from .worklist import (
    CLOSED_STATES,
    LineKey,
    Stamped,
    calendar_of,
    line_keys,
    mismatches,
    parcel_batches,
    request_batch,
    require_key_columns,
    with_requests,
)


def is_waiting(r: Request) -> bool:
    """An open request whose IB card has not come yet."""
    return r.ib_card == YesNo.YES and r.ib_card_received_on is None and r.state not in CLOSED_STATES


def _not_waiting(r: Request) -> str:
    if r.ib_card != YesNo.YES:
        return "IBカードが「有」ではありません"
    if r.ib_card_received_on is not None:
        return f"IBカード受領日は既に {r.ib_card_received_on:%Y/%m/%d} です"
    return f"状態が「{r.state}」です"


def receive_cards(ledger: Ledger, lf: ListFile, on: dt.date) -> Stamped:
    """IBカード受領日 = `on` on the one waiting request each line of `lf` names."""
    require_key_columns(lf)
    problems: list[Problem] = []
    keys = line_keys(lf, problems)
    by_id = {r.request_id: i for i, r in enumerate(ledger.requests) if r.request_id}
    by_customer: dict[tuple[str | None, str], list[int]] = {}
    for i, r in enumerate(ledger.requests):
        if is_waiting(r) and r.customer_no:
            by_customer.setdefault((r.bank_code, r.customer_no), []).append(i)
    matched: dict[int, int] = {}  # request index -> the sheet line that took it
    calendar, planned = calendar_of(ledger), parcel_batches(ledger)
    for key in keys:
        index = _match(lf, key, ledger, by_id, by_customer, problems)
        if index is None:
            continue
        if index in matched:
            problems.append(lf.at("card-repeated", key.index, None, ledger.requests[index].request_id,
                                  request_id=ledger.requests[index].request_id, first=matched[index]))
            continue
        matched[index] = lf.table.row_numbers[key.index]
        dates = request_batch(ledger, ledger.requests[index], calendar, planned)
        if dates is not None and on < dates.card:  # SSC makes cards on ●: a wrong date or a wrong request
            r = ledger.requests[index]
            problems.append(lf.at("card-before-card-day", key.index, None, r.request_id, request_id=r.request_id,
                                  on=f"{on:%Y/%m/%d}", batch=dates.batch_id, card=f"{dates.card:%m/%d}"))
    changed = {i: ledger.requests[i]._replace(ib_card_received_on=on) for i in matched}
    return Stamped(with_requests(ledger, changed), on, len(lf),
                   tuple(ledger.requests[i].request_id for i in matched), (), tuple(problems))


def _match(lf: ListFile, key: LineKey, ledger: Ledger, by_id: dict[str, int],
           by_customer: dict[tuple[str | None, str], list[int]], problems: list[Problem]) -> int | None:
    """The index of the request a line is for, or None with the reason among `problems`."""
    if key.request_id:
        index = by_id.get(key.request_id)
        if index is None:
            problems.append(lf.at("unknown-request", key.index, "依頼番号", key.request_id, request_id=key.request_id))
            return None
        r = ledger.requests[index]
        wrong = mismatches(lf, key, r)
        problems += wrong
        if any(p.is_error for p in wrong):
            return None
        if not is_waiting(r):
            problems.append(lf.at("card-not-waiting", key.index, "依頼番号", key.request_id,
                                  request_id=key.request_id, reason=_not_waiting(r)))
            return None
        return index
    if not key.bank_code or not key.customer_no:
        problems.append(lf.at("card-key-missing", key.index, None))
        return None
    candidates = by_customer.get((key.bank_code, key.customer_no), [])
    if key.branch_code:  # a branch given narrows the choice; it never widens it
        candidates = [i for i in candidates if ledger.requests[i].branch_code == key.branch_code] or candidates
    who = f"金庫 {key.bank_code} 顧客番号 {key.customer_no}"
    if not candidates:
        problems.append(lf.at("card-no-request", key.index, "顧客番号", key.customer_no, who=who))
        return None
    if len(candidates) > 1:
        ids = "、".join(ledger.requests[i].request_id or f"申込!{ledger.requests[i].row}行" for i in candidates)
        problems.append(lf.at("card-ambiguous", key.index, "顧客番号", key.customer_no, who=who,
                              count=len(candidates), ids=ids))
        return None
    index = candidates[0]
    problems += [p for p in mismatches(lf, key, ledger.requests[index]) if not p.is_error]
    return index

