"""Tracking numbers back from the carrier (追跡番号取込, issue 10): the label tool's export, matched to
発送 by parcel number (発送番号, which the carrier file put in お客様管理番号 / お客様側管理番号).

Only the parcel key is matched; a number is taken only when it is 12 digits, its parcel exists, is
not cancelled and has no other number yet, and no other parcel holds it. Anything else is a located
problem and nothing is written — never a guess, never an overwrite (see ../shared/design/carriers.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import normalize as nz
from .changes import Changes
from .files.lists import ListFile
from .files.sheetio import UnusableInput
from .journal import Context
from .models import Ledger
from .problems import Problem
from .schema import DispatchState
from .validate import CheckResult

# (parcel key header, tracking number header) of each export tokenbook knows, by header name.
LAYOUTS = (
    ("発送番号", "追跡番号"),  # tokenbook's own (a clerk's list)
    ("お客様側管理番号", "お問い合わせ番号"),  # ゆうパックプリントR / ゆうプリクラウド 発送履歴
    ("お客様管理番号", "伝票番号"),  # B2クラウド 発行済データ
    ("お客様管理番号", "お問い合せ送り状No."),  # e飛伝Ⅲ 出荷履歴
)
_NUMBER = re.compile(r"^\d{12}$")


def layout(headers: dict[str, int], name: str) -> tuple[str, str]:
    """The (key, number) headers of a tracking export; UnusableInput when it is none tokenbook knows."""
    for key, number in LAYOUTS:
        if key in headers and number in headers:
            return key, number
    known = "・".join(f"「{k}」と「{n}」" for k, n in LAYOUTS)
    raise UnusableInput(f"追跡番号の列が見つかりません: {name}。1行目に {known} のどれかの見出しが必要です"
                        "（運送会社のシステムから見出し行付きで書き出してください）")


def tracking_number(value: object) -> str:
    """Twelve digits, read as text; a whole number Excel stored as a number is taken back exactly.

    >>> tracking_number("3601-2345-6789")
    '360123456789'
    >>> tracking_number("8.11029E+11")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: tracking-bad-number
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = nz.code_text(value).replace("-", "").replace(" ", "")
    if not _NUMBER.fullmatch(text):
        raise nz.Invalid("tracking-bad-number")
    return text


@dataclass(frozen=True)
class Tracked:
    ledger: Ledger
    problems: tuple[Problem, ...]
    filled: tuple[str, ...] = ()  # parcels that got their number
    known: tuple[str, ...] = ()  # parcels that already had this very number
    hand_edits: int = 0


def take_tracking(checked: CheckResult, export: ListFile, ctx: Context) -> Tracked:
    """発送.追跡番号 filled from `export`, every row of each named parcel."""
    ledger = checked.ledger
    key_header, number_header = layout(export.table.headers, export.path.name)
    work = Changes(ledger, ctx)
    work.record_hand_edits()
    rows: dict[str, list[int]] = {}
    for i, d in enumerate(ledger.dispatches):
        rows.setdefault(d.dispatch_id, []).append(i)
    holder = {d.tracking_no: d.dispatch_id for d in ledger.dispatches if d.tracking_no}
    problems: list[Problem] = []
    parcels: dict[str, int] = {}
    numbers: dict[str, int] = {}
    taken: list[tuple[str, str]] = []
    known: list[str] = []
    for i, (raw_key, raw_number) in enumerate(zip(export.column(key_header), export.column(number_header))):
        line = export.table.row_numbers[i]
        if nz.is_blank(raw_key) and nz.is_blank(raw_number):
            continue
        parcel = nz.code_text(raw_key)
        if not parcel:
            problems.append(export.at("required", i, key_header))
            continue
        try:
            number = tracking_number(raw_number)
        except nz.Invalid as exc:
            problems.append(export.at(exc.code, i, number_header, raw_number))
            continue
        if parcel in parcels:
            problems.append(export.at("tracking-duplicate-parcel", i, key_header, parcel, parcel=parcel,
                                      first=parcels[parcel]))
            continue
        parcels[parcel] = line
        if number in numbers:
            problems.append(export.at("tracking-duplicate-number", i, number_header, number, number=number,
                                      first=numbers[number]))
            continue
        numbers[number] = line
        live = [j for j in rows.get(parcel, []) if ledger.dispatches[j].state != DispatchState.CANCELLED]
        recorded = {ledger.dispatches[j].tracking_no for j in live} - {""}
        if parcel not in rows:
            problems.append(export.at("tracking-unknown-parcel", i, key_header, parcel, parcel=parcel))
        elif not live:
            problems.append(export.at("tracking-cancelled-parcel", i, key_header, parcel, parcel=parcel))
        elif holder.get(number, parcel) != parcel:
            problems.append(export.at("tracking-number-in-use", i, number_header, number, number=number,
                                      parcel=holder[number]))
        elif recorded - {number}:
            problems.append(export.at("tracking-differs", i, number_header, number, parcel=parcel,
                                      recorded="・".join(sorted(recorded))))
        elif recorded == {number} and all(ledger.dispatches[j].tracking_no == number for j in live):
            known.append(parcel)
        else:
            taken.append((parcel, number))
    if not len(export):
        problems.append(export.whole("empty-list"))
    if not any(p.is_error for p in problems):
        for parcel, number in taken:
            for j in rows[parcel]:
                if ledger.dispatches[j].state != DispatchState.CANCELLED:
                    work.set_dispatch(j, tracking_no=number)
    return Tracked(work.ledger(), tuple(work.problems + problems), tuple(p for p, _ in taken), tuple(known),
                   work.hand_edits)


def describe(result: Tracked) -> tuple[str, list[str]]:
    headline = f"追跡番号 {len(result.filled)}件を記録" + (f"（記録済み {len(result.known)}件）" if result.known else "")
    lines = [headline]
    if result.hand_edits:
        lines.append(f"手作業の変更・追加を履歴に記録: {result.hand_edits}件")
    return headline, lines
