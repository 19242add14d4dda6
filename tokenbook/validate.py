"""Cross-field and cross-sheet checks (design §3, §7): each check is `(ledger, today) -> problems`.

`check_ledger` runs every check on a parsed ledger and returns one sorted list (`load` reads files).
A check that crashes becomes an `internal-error` problem instead of a traceback.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from operator import attrgetter
from typing import Callable, Iterable, Iterator, Mapping

from . import normalize as nz
from . import postal, schema
from .certs import check_certificates
from .journal import check_chain, check_journal
from .models import Bank, Ledger, Request, Token
from .problems import Problem, problem
from .schema import (
    OPEN_REQUEST_STATES,
    DispatchState,
    Method,
    RequestKind,
    RequestState,
    SendReport,
    TokenState,
    YesNo,
)

Check = Callable[[Ledger, dt.date], Iterable[Problem]]
# A bank's name goes into its report's file name: 50 characters keep that name under the 255 bytes
# file systems allow (the longest real 信用金庫 name has 13).
BANK_NAME_LIMIT = 50


class _At:
    """Makes problems for one sheet, finding the column letter of a header in the ledger's layout."""

    def __init__(self, ledger: Ledger, sheet: str) -> None:
        self.sheet = sheet
        self.letters = ledger.columns.get(sheet, {})

    def __call__(self, code: str, row: int, header: str, value: object = "", **params: object) -> Problem:
        return problem(code, self.sheet, row, header, self.letters.get(header), value, **params)


def _duplicates(rows: Iterable, key: Callable, at: _At, header: str) -> Iterator[Problem]:
    first: dict = {}
    for r in rows:
        k = key(r)
        if k in (None, ""):
            continue
        if k in first:
            yield at("duplicate-key", r.row, header, k, first=first[k])
        else:
            first[k] = r.row


def check_banks(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    at = _At(ledger, schema.BANKS)
    yield from _duplicates(ledger.banks, lambda b: b.bank_code, at, "金庫コード")
    for bank in ledger.banks:
        if len(bank.name) > BANK_NAME_LIMIT:
            yield at("bank-name-too-long", bank.row, "金庫名", bank.name, limit=BANK_NAME_LIMIT)
        if bank.send_report == SendReport.YES and not bank.report_to:
            yield at("report-mail-required", bank.row, "報告先メール")
        if bank.allowed_domains:
            for header, addresses in (("報告先メール", bank.report_to), ("CCメール", bank.cc)):
                for address in addresses:
                    if not nz.in_domains(address, bank.allowed_domains):
                        yield at("recipient-outside-domain", bank.row, header, address, item=address,
                                 domains="・".join(bank.allowed_domains))


def check_tokens(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    at = _At(ledger, schema.TOKENS)
    banks = {b.bank_code for b in ledger.banks}
    yield from _duplicates(ledger.tokens, lambda t: t.serial, at, "シリアル番号")
    owners = banks | {None, schema.CSS}
    known = banks | {None}
    stock, at_bank, stopped = TokenState.STOCK, TokenState.AT_BANK, TokenState.STOPPED
    for t in ledger.tokens:  # the common case (nothing to say) costs a few comparisons per token
        owner, state, bank_code = t.owner, t.state, t.bank_code
        delivered_on, expires_on, received_on, started_on = t.delivered_on, t.expires_on, t.received_on, t.started_on
        if owner not in owners:
            yield at("unknown-bank", t.row, "所有者", owner, bank=owner)
        if bank_code not in known:
            yield at("unknown-bank", t.row, "金庫コード", bank_code, bank=bank_code)
        if delivered_on and delivered_on > today:
            yield at("future-date", t.row, "納品日", delivered_on, today=today.isoformat())
        if received_on and received_on > today:
            yield at("future-date", t.row, "入庫日", received_on, today=today.isoformat())
        if delivered_on and expires_on and expires_on <= delivered_on:
            yield at("expiry-not-after-delivery", t.row, "使用期限", expires_on)
        if (state in _STATE_GETTERS and _missing(_STATE_GETTERS[state](t))) or (state == stopped and not t.stop_reason):
            yield from _token_state_fields(t, at)
        if started_on and delivered_on and started_on < delivered_on:
            yield at("started-before-delivery", t.row, "利用開始日", started_on)
        if state == at_bank and owner and bank_code and owner != bank_code:
            yield at("held-by-another-owner", t.row, "所有者", owner, owner=owner, bank=bank_code)
        if state == stock and expires_on and expires_on < today:
            yield at("expired-stock", t.row, "使用期限", expires_on, expires_on=expires_on.isoformat())


_STATE_FIELDS = {
    TokenState.AT_BANK: (("金庫コード", "bank_code"), ("店番", "branch_code")),
    TokenState.IN_USE: (("金庫コード", "bank_code"), ("店番", "branch_code"), ("顧客番号", "customer_no"),
             ("顧客名", "customer_name"), ("利用開始日", "started_on")),
}


_STATE_GETTERS = {state: attrgetter(*(f for _, f in fields)) for state, fields in _STATE_FIELDS.items()}


def _missing(values: tuple) -> bool:
    return None in values or "" in values


def _token_state_fields(t: Token, at: _At) -> Iterator[Problem]:
    for header, field in _STATE_FIELDS.get(t.state or "", ()):
        if getattr(t, field) in (None, ""):
            yield at("required-for-state", t.row, header, state=t.state)
    if t.state == TokenState.STOPPED and not t.stop_reason:
        yield at("stop-reason-required", t.row, "停止理由")


def check_requests(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    at = _At(ledger, schema.REQUESTS)
    banks = {b.bank_code: b for b in ledger.banks}
    tokens = {t.serial: t for t in ledger.tokens if t.serial}
    yield from _duplicates(ledger.requests, lambda r: r.request_id, at, "依頼番号")
    open_keys: dict[tuple, int] = {}
    planned = planned_replacements(ledger)
    for r in ledger.requests:
        if r.received_on and r.received_on > today and r.request_id not in planned:
            yield at("future-date", r.row, "受付日", r.received_on, today=today.isoformat())
        if r.bank_code is not None and r.bank_code not in banks:
            yield at("unknown-bank", r.row, "金庫コード", r.bank_code, bank=r.bank_code)
        if r.state == RequestState.CANCELLED:
            continue
        if r.kind and r.kind != RequestKind.RESTOCK:
            for header, field in (("顧客番号", "customer_no"), ("顧客名", "customer_name"), ("顧客区分", "customer_kind")):
                if getattr(r, field) in (None, ""):
                    yield at("customer-required", r.row, header, kind=r.kind)
        if r.ib_card == YesNo.YES and not (r.kind == RequestKind.NEW and r.method in schema.POSTAL_METHODS):
            yield at("ib-card-not-allowed", r.row, "IBカード", r.ib_card)
        yield from _request_method(r, banks.get(r.bank_code), tokens, at)
        if r.kind in (RequestKind.REPLACEMENT, RequestKind.REISSUE) and r.old_serial is None:
            yield at("old-serial-required", r.row, "旧シリアル", kind=r.kind)
        elif r.kind in (RequestKind.REPLACEMENT, RequestKind.REISSUE) and r.state in OPEN_REQUEST_STATES:
            old = tokens.get(r.old_serial)
            if not (old and old.state == TokenState.IN_USE and old.bank_code == r.bank_code and old.customer_no == r.customer_no):
                yield at("old-serial-not-in-use", r.row, "旧シリアル", r.old_serial, serial=r.old_serial)
        if r.state in (*OPEN_REQUEST_STATES, RequestState.ALLOCATED) and r.customer_no and r.kind:
            # two replacements of a customer's two tokens are not a duplicate: the old serial tells them apart
            replaced = r.old_serial if r.kind in (RequestKind.REPLACEMENT, RequestKind.REISSUE) else None
            key = (r.bank_code, r.customer_no, r.kind, replaced)
            if key in open_keys:
                yield at("suspicious-duplicate", r.row, "顧客番号", r.customer_no, first=open_keys[key])
            else:
                open_keys[key] = r.row


def planned_replacements(ledger: Ledger) -> frozenset[str]:
    """依頼番号 of 交換 requests made from an approved replacement plan (issue 11): their 受付日 is the
    planned batch's cutoff, which may lie ahead (the batch takes them in when it comes)."""
    return frozenset(a.request_id for a in ledger.replacement_answers
                     if a.answer == schema.Answer.APPROVE and a.request_id)


def _request_method(r: Request, bank: Bank | None, tokens: dict[str, Token], at: _At) -> Iterator[Problem]:
    if r.method == Method.HANDOVER:
        if r.quantity is not None and len(r.handover_serials) != r.quantity:
            yield at("handover-count", r.row, "手交シリアル", ",".join(r.handover_serials),
                     quantity=r.quantity, count=len(r.handover_serials))
        if r.state in OPEN_REQUEST_STATES:
            for serial in r.handover_serials:
                token = tokens.get(serial)
                if not (token and token.state == TokenState.AT_BANK and token.bank_code == r.bank_code):
                    yield at("handover-not-at-bank", r.row, "手交シリアル", serial, serial=serial, bank=r.bank_code)
        return
    if r.handover_serials:
        yield at("handover-unexpected", r.row, "手交シリアル", ",".join(r.handover_serials))
    if r.method not in schema.POSTAL_METHODS:
        return
    bank_has_address = bool(bank and bank.postal_code and bank.address)
    needed = [("送付先郵便番号", "ship_postal_code"), ("送付先住所", "ship_address"), ("送付先氏名", "ship_name")]
    if r.method == Method.TO_CUSTOMER:
        needed.append(("送付先電話", "ship_phone"))
    elif bank_has_address:
        needed = []  # 金庫郵送 defaults to the bank's own address
    for header, field in needed:
        if getattr(r, field) in (None, ""):
            yield at("ship-address-required", r.row, header)


def check_dispatches(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    at = _At(ledger, schema.DISPATCH)
    banks = {b.bank_code for b in ledger.banks}
    serials = {t.serial for t in ledger.tokens}
    requests = {r.request_id for r in ledger.requests}
    for d in ledger.dispatches:
        if d.serial is not None and d.serial not in serials:
            yield at("unknown-serial", d.row, "シリアル番号", d.serial, serial=d.serial)
        if d.request_id and d.request_id not in requests:
            yield at("unknown-request", d.row, "依頼番号", d.request_id, request_id=d.request_id)
        if d.bank_code is not None and d.bank_code not in banks:
            yield at("unknown-bank", d.row, "金庫コード", d.bank_code, bank=d.bank_code)
    yield from check_ship_dates(ledger, today)


def check_ship_dates(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    """A 発送済 row's 発送日 is not after today and, for a parcel with an IB card, not before the
    card arrived (IBカード受領日 of its request): the card goes in the same parcel."""
    at = _At(ledger, schema.DISPATCH)
    cards = {r.request_id: r.ib_card_received_on for r in ledger.requests if r.request_id}
    for d in ledger.dispatches:
        if d.state != DispatchState.SHIPPED or d.shipped_on is None:
            continue
        if d.shipped_on > today:
            yield at("shipped-in-future", d.row, "発送日", d.shipped_on, today=f"{today:%Y/%m/%d}")
        if d.ib_card == YesNo.YES and d.request_id in cards:
            received = cards[d.request_id]
            if received is None:
                yield at("shipped-without-card", d.row, "発送日", d.shipped_on, request_id=d.request_id)
            elif d.shipped_on < received:
                yield at("shipped-before-card", d.row, "発送日", d.shipped_on, request_id=d.request_id,
                         received=f"{received:%Y/%m/%d}")


def check_postal_codes(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    """Postal code known to Japan Post, and its prefecture matching the address's (警告)."""
    places = [(schema.BANKS, b.row, "郵便番号", b.postal_code, b.address) for b in ledger.banks]
    places += [(schema.REQUESTS, r.row, "送付先郵便番号", r.ship_postal_code, r.ship_address)
               for r in ledger.requests if r.state != RequestState.CANCELLED]
    known = postal.prefectures_of(p[3] for p in places if p[3] is not None)
    at_sheet = {sheet: _At(ledger, sheet) for sheet in (schema.BANKS, schema.REQUESTS)}
    for sheet, row, header, code, address in places:
        if code is None:
            continue
        at = at_sheet[sheet]
        prefecture = known.get(code)
        if prefecture is None:
            yield at("unknown-postal-code", row, header, code, postal=code)
            continue
        found = postal.address_prefecture(address)
        if found is not None and found != prefecture:
            yield at("postal-prefecture-mismatch", row, header, code, postal=code, prefecture=prefecture, found=found)


def check_schedule(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    """バッチ日程: a real batch id, once; the dates in order (締切 < ● ≤ ◆ ≤ ★); a closed day is a warning."""
    from .schedule import batch_by_id, ledger_calendar

    at = _At(ledger, schema.BATCH_SCHEDULE)
    yield from _duplicates(ledger.schedule, lambda r: r.batch, at, "バッチ")
    calendar = ledger_calendar(ledger)
    for r in ledger.schedule:
        if not r.batch:
            continue
        dates = batch_by_id(r.batch, ledger.settings, calendar)
        if dates is None:
            yield at("bad-batch-id", r.row, "バッチ", r.batch)
            continue
        steps = (("締切", dates.cutoff), ("カード作成日", dates.card), ("カード受領日", dates.receipt), ("発送日", dates.ship))
        for (before, earlier), (header, later) in zip(steps, steps[1:]):
            if later < earlier or (before == "締切" and later == earlier):
                yield at("schedule-order", r.row, header, later, before=before, earlier=f"{earlier:%Y/%m/%d}")
        for header, day in (("カード作成日", r.card_on), ("カード受領日", r.receipt_on), ("発送日", r.ship_on)):
            if day is not None and not calendar.is_business_day(day):
                yield at("schedule-closed-day", r.row, header, day)


def check_settings(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    """Settings that only make sense together: plain SMTP is for a loopback server only."""
    from .mail import is_loopback

    settings = ledger.settings
    if settings.smtp_security == "なし" and settings.smtp_host and not is_loopback(settings.smtp_host):
        yield _At(ledger, schema.SETTINGS)("bad-setting", ledger.setting_row.get("smtp_security"), "値",
                                           settings.smtp_security, key="SMTP暗号化",
                                           reason=f"「なし」はループバック（localhost）のSMTPサーバーにだけ使えます"
                                                  f"（SMTPサーバー: {settings.smtp_host}）")


CHECKS: tuple[Check, ...] = (check_banks, check_tokens, check_requests, check_dispatches, check_postal_codes,
                             check_journal, check_chain, check_settings, check_certificates, check_schedule)


# The checks that read no token (nor 在庫's columns): run while 在庫 is still read (`load`).
TOKENLESS: tuple[Check, ...] = (check_chain,)


def validate(ledger: Ledger, today: dt.date, done: Mapping[Check, list[Problem]] | None = None) -> list[Problem]:
    """Every check over the ledger; never raises. `done`: checks already run (on this ledger's
    sheets, by `run_checks`) and what they found."""
    found: list[Problem] = []
    for check in CHECKS:
        found.extend(done[check] if done and check in done else run_checks(ledger, today, (check,))[check])
    return found


def run_checks(ledger: Ledger, today: dt.date, checks: Iterable[Check]) -> dict[Check, list[Problem]]:
    """What each of `checks` finds; a check that fails says so as an internal error (a bug in one
    check must not hide the others' findings)."""
    found: dict[Check, list[Problem]] = {}
    for check in checks:
        try:
            found[check] = list(check(ledger, today))
        except Exception as exc:
            found[check] = [problem("internal-error", "全体", detail=f"{check.__name__}: {type(exc).__name__}")]
    return found


@dataclass(frozen=True)
class CheckResult:
    ledger: Ledger
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)


_SHEET_ORDER = {name: i for i, name in enumerate(schema.SHEETS)}


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """By sheet in tab order, then row, then column; problems of a whole sheet first."""
    return sorted(problems, key=lambda p: (_SHEET_ORDER.get(p.sheet, -1), p.row or 0, len(p.cell or ""), p.cell or ""))


def check_ledger(ledger: Ledger, parse_problems: Iterable[Problem], today: dt.date,
                 done: Mapping[Check, list[Problem]] | None = None) -> CheckResult:
    found = list(parse_problems)
    unreadable = {(p.sheet, p.cell) for p in found if p.cell}
    # A cell that could not be read already has its problem; a rule that then finds it empty is noise.
    found += [p for p in validate(ledger, today, done) if (p.sheet, p.cell) not in unreadable or p.code not in _SHADOWED]
    return CheckResult(ledger, tuple(sort_problems(found)))


_SHADOWED = {"required-for-state", "customer-required", "ship-address-required", "old-serial-required",
             "stop-reason-required", "report-mail-required"}
