"""Bank request forms (申込書, issue 10): made for one bank, filled by it, taken back into 申込.

`form_for` says what a bank's form holds (its branches, a number naming the bank). `take_forms`
reads the returned forms' rows with the same normalisers and the same checks as 申込 (a candidate
ledger with the new rows is checked by `validate`, and each problem is moved to the form's cell),
assigns 依頼番号, records where each request came from (申込書 = 申込書番号:行) so a form taken in twice
is recognised, and refuses a form of a bank that is not the one it names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

from . import normalize as nz
from . import schema
from .files.lists import read_pairs
from .files.sheetio import UnusableInput
from .batch import RequestNumbers
from .changes import Changes
from .files.lists import ListFile
from .journal import Context
from .models import Bank, Ledger
from .parse import normaliser
from .problems import Problem, problem
from .schema import Kind, RequestState
from .validate import _SHADOWED as SHADOWED
from .validate import CheckResult, check_postal_codes, check_requests

_FILE_BANK = re.compile(r"^(\d{4})_")
INFO_SHEET = "申込書情報"
INFO_KEYS = ("金庫コード", "金庫名", "申込書番号", "作成日")
# What a bank fills in; 受付日, 金庫コード, 依頼番号 and 状態 are CSS's.
FORM_HEADERS = ("店番", "顧客番号", "顧客名", "顧客区分", "申込区分", "数量", "発送方法", "IBカード", "手交シリアル",
                "旧シリアル", "送付先郵便番号", "送付先住所", "送付先氏名", "送付先電話", "IB登録日", "共同センター伝送日")
FORM_COLUMNS = tuple(next(c for c in schema.REQUEST_COLUMNS if c.header == h) for h in FORM_HEADERS)


@dataclass(frozen=True)
class Form:
    """A returned form as read: its rows and its 申込書情報."""

    rows: ListFile
    info: dict[str, str]


def read_form(path) -> Form:
    """A returned form: its 申込 rows and its 申込書情報; UnusableInput for anything else (a CSV, a
    workbook from another tool, a form whose headers were changed)."""
    from pathlib import Path

    from .files.lists import read_list

    path = Path(path)
    info = read_pairs(path, INFO_SHEET)
    if not info or not all(k in info for k in INFO_KEYS[:3]):
        raise UnusableInput(f"tokenbook の申込書ではありません（「{INFO_SHEET}」がありません）: {path.name}。"
                            "tokenbook request-form で作った申込書に記入してもらってください")
    return Form(read_list(path, FORM_HEADERS, sheet=schema.REQUESTS), info)


def form_number(bank_code: str, created: dt.datetime) -> str:
    """`1001-20261124-3F2A9C`: the bank, the day, and a digest of both with the time (unique per form).

    >>> form_number("1001", dt.datetime(2026, 11, 24, 9, 30))
    '1001-20261124-DB78CA'
    """
    digest = hashlib.sha256(f"{bank_code}|{created.isoformat()}".encode()).hexdigest()[:6].upper()
    return f"{bank_code}-{created:%Y%m%d}-{digest}"


def branches_of(ledger: Ledger, bank_code: str) -> list[str]:
    """The bank's branches as CSS knows them: every 店番 its tokens and requests use."""
    seen = {t.branch_code for t in ledger.tokens if t.bank_code == bank_code and t.branch_code}
    seen |= {r.branch_code for r in ledger.requests if r.bank_code == bank_code and r.branch_code}
    return sorted(seen)


def bank_of(ledger: Ledger, bank_code: str) -> Bank | None:
    return next((b for b in ledger.banks if b.bank_code == bank_code), None)


@dataclass(frozen=True)
class Taken:
    ledger: Ledger
    problems: tuple[Problem, ...]
    added: tuple[str, ...] = ()  # new 依頼番号
    known: int = 0  # rows already taken in before
    forms: int = 0
    hand_edits: int = 0


def take_forms(checked: CheckResult, forms: list[Form], ctx: Context) -> Taken:
    """Every row of every form into 申込 (受付日 = today), all checked; rows taken in before are skipped."""
    ledger = checked.ledger
    today = ctx.now.date()
    work = Changes(ledger, ctx)
    work.record_hand_edits()
    pattern = ledger.settings.serial_regex
    banks = {b.bank_code for b in ledger.banks if b.bank_code}
    taken = {r.form_ref: r.request_id for r in ledger.requests if r.form_ref}
    problems: list[Problem] = []
    origin: dict[int, tuple[ListFile, int]] = {}  # new 申込 row -> (form, data index)
    known = 0
    numbers = RequestNumbers(ledger.requests)
    for form in forms:
        lf, bank = form.rows, form.info.get("金庫コード", "")
        number = form.info.get("申込書番号", "")
        named = _FILE_BANK.match(lf.path.name)
        if bank not in banks:
            problems.append(lf.whole("form-of-unknown-bank", bank, bank=bank))
            continue
        if named and named[1] != bank:
            problems.append(lf.whole("form-of-another-bank", lf.path.name, bank=bank, named=named[1]))
            continue
        if not number.startswith(f"{bank}-"):
            problems.append(lf.whole("form-number-mismatch", number, number=number, bank=bank))
            continue
        for i in range(len(lf)):
            ref = f"{number}:{lf.table.row_numbers[i]}"
            if ref in taken:
                problems.append(lf.at("form-row-imported", i, None, "", request_id=taken[ref]))
                known += 1
                continue
            values = _read_row(lf, i, pattern, problems)
            request = work.add_request(request_id=numbers.next(today), received_on=today, bank_code=bank,
                                       form_ref=ref, state=RequestState.RECEIVED, **values)
            taken[ref] = request.request_id
            origin[request.row] = (lf, i)
    candidate = work.ledger()
    unreadable = {(p.sheet, p.cell) for p in problems if p.cell}
    for p in [*check_requests(candidate, today), *check_postal_codes(candidate, today)]:
        if p.sheet == schema.REQUESTS and p.row in origin:
            lf, i = origin[p.row]
            line = lf.table.row_numbers[i]
            letter = lf.table.letter(p.header) if p.header else None
            moved = replace(p, sheet=lf.where, row=line, cell=f"{letter}{line}" if letter else None)
            if (moved.sheet, moved.cell) not in unreadable or p.code not in SHADOWED:  # as check_ledger does
                problems.append(moved)
    if not forms:
        problems.append(problem("empty-list", "申込書"))
    added = tuple(r.request_id for r in candidate.requests if r.row in origin)
    return Taken(candidate, tuple(work.problems + problems), added, known, len(forms), work.hand_edits)


def _read_row(lf: ListFile, index: int, pattern: re.Pattern[str], problems: list[Problem]) -> dict[str, Any]:
    """One form row read with 申込's own normalisers; unreadable cells are located problems."""
    values: dict[str, Any] = {}
    for column in FORM_COLUMNS:
        raw = lf.table.rows[index][lf.table.headers[column.header]] if column.header in lf.table.headers and \
            lf.table.headers[column.header] < len(lf.table.rows[index]) else None
        empty = _EMPTY.get(column.kind)
        if nz.is_blank(raw):
            if column.required:
                problems.append(lf.at("required", index, column.header))
            values[column.field] = normaliser(column, pattern)(column.default) if column.default is not None else empty
            continue
        try:
            values[column.field] = normaliser(column, pattern)(raw)
        except nz.Invalid as exc:
            problems.append(lf.at(exc.code, index, column.header, raw, **exc.params))
            values[column.field] = empty
    return values


_EMPTY = {Kind.TEXT: "", Kind.CODE: "", Kind.SERIAL_LIST: ()}  # a blank cell's value, as `parse` reads it


def describe(result: Taken) -> tuple[str, list[str]]:
    headline = f"申込書 {result.forms}件から {len(result.added)}件を取込" + (f"（取込済みの行 {result.known}件）" if result.known else "")
    lines = [headline]
    if result.added:
        lines.append(f"  依頼番号 {result.added[0]} 〜 {result.added[-1]}")
    if result.hand_edits:
        lines.append(f"手作業の変更・追加を履歴に記録: {result.hand_edits}件")
    return headline, lines

