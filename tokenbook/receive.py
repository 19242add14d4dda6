"""Stock intake (入庫): SSC's delivery slip, a bank's own purchase, a custody take-over → 在庫 rows
journalled as 入庫 (design §1 ①, §3.2, issue 10).

A slip lists serials one a line or as ranges (`TK2600000001-TK2600000500`) with their lot and 納品日.
`receive` checks every line (format, duplicates within the slip and against the ledger, dates, the
stated total) and returns the new ledger only when nothing is wrong; `runs.run_intake` applies it
all or nothing. The tokens' 使用期限 is 納品日 + 電池寿命（月）: the battery clock starts at SSC's
first delivery, also for custody tokens a bank bought years ago.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from . import normalize as nz
from . import schema
from .changes import Changes
from .files.lists import ListFile
from .journal import Context
from .models import Ledger
from .problems import Problem
from .schema import TokenState
from .validate import CheckResult

HEADERS = ("シリアル番号", "ロット番号", "納品日")
MAX_RANGE = 100_000  # one line of a slip; SSC's lots are a few thousand
_RANGE = re.compile(r"\s*(\S+?)\s*[-~〜～]\s*(\S+)\s*")
_TAIL_DIGITS = re.compile(r"^(.*?)(\d+)$")


def expand(value: object, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """One serial, or every serial of a range `FIRST-LAST` (same letters in front, same width).

    >>> expand("tk0001-TK0003", re.compile(r"^[0-9A-Z]{6,20}$"))
    ('TK0001', 'TK0002', 'TK0003')
    >>> expand("TK0003-TK0001", re.compile(r"^[0-9A-Z]{6,20}$"))
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-serial-range
    """
    text = nz.code_text(value).upper()
    if pattern.fullmatch(text):
        return (text,)
    match = _RANGE.fullmatch(text)
    if match is None:
        raise nz.Invalid("bad-serial", pattern=pattern.pattern)
    first, last = (nz.serial(part, pattern) for part in match.groups())
    a, b = _TAIL_DIGITS.match(first), _TAIL_DIGITS.match(last)
    if a is None or b is None or a[1] != b[1] or len(a[2]) != len(b[2]) or int(a[2]) > int(b[2]):
        raise nz.Invalid("bad-serial-range")
    count = int(b[2]) - int(a[2]) + 1
    if count > MAX_RANGE:
        raise nz.Invalid("serial-range-too-long", count=count, limit=MAX_RANGE)
    width = len(a[2])
    serials = tuple(f"{a[1]}{n:0{width}d}" for n in range(int(a[2]), int(b[2]) + 1))
    bad = next((s for s in serials if not pattern.fullmatch(s)), None)
    if bad is not None:
        raise nz.Invalid("bad-serial", pattern=pattern.pattern)
    return serials


@dataclass(frozen=True)
class Received:
    ledger: Ledger
    problems: tuple[Problem, ...]
    owner: str
    received_on: dt.date
    lots: dict[str, int] = field(default_factory=dict)  # lot -> tokens
    hand_edits: int = 0

    @property
    def count(self) -> int:
        return sum(self.lots.values())


def receive(checked: CheckResult, slip: ListFile, ctx: Context, owner: str = schema.CSS, count: int | None = None,
            received_on: dt.date | None = None) -> Received:
    """The slip's tokens appended to 在庫 (状態 在庫, 所有者 `owner`, 入庫日 `received_on`, default
    today), each journalled as 入庫 on its 入庫日; problems located in the slip."""
    ledger = checked.ledger
    day = received_on or ctx.now.date()
    work = Changes(ledger, ctx)
    work.record_hand_edits()
    problems: list[Problem] = []
    if day > ctx.now.date():
        problems.append(slip.whole("received-in-future", f"{day:%Y/%m/%d}", received_on=f"{day:%Y/%m/%d}"))
    if owner != schema.CSS and owner not in {b.bank_code for b in ledger.banks}:
        problems.append(slip.whole("unknown-owner", owner, owner=owner))
    pattern = ledger.settings.serial_regex
    in_ledger = {t.serial: t.row for t in ledger.tokens if t.serial}
    seen: dict[str, int] = {}
    lines: list[tuple[tuple[str, ...], str, dt.date]] = []
    listed = 0
    for i, (raw_serial, raw_lot, raw_day) in enumerate(zip(*(slip.column(h) for h in HEADERS))):
        line = slip.table.row_numbers[i]
        serials = _read(slip, i, "シリアル番号", raw_serial, lambda v: expand(v, pattern), problems)
        lot = _read(slip, i, "ロット番号", raw_lot, nz.code_text, problems)
        delivered = _read(slip, i, "納品日", raw_day, nz.date, problems)
        if delivered is not None and delivered > day:
            problems.append(slip.at("delivery-after-receipt", i, "納品日", raw_day, received_on=f"{day:%Y/%m/%d}"))
        for serial in serials or ():
            listed += 1
            if serial in seen:
                problems.append(slip.at("duplicate-in-list", i, "シリアル番号", serial, serial=serial, first=seen[serial]))
            elif serial in in_ledger:
                problems.append(slip.at("serial-in-ledger", i, "シリアル番号", serial, serial=serial, at=in_ledger[serial]))
            seen.setdefault(serial, line)
        if serials and lot is not None and delivered is not None:
            lines.append((serials, lot, delivered))
    if not len(slip):
        problems.append(slip.whole("empty-list"))
    if count is not None and count != listed:
        problems.append(slip.whole("slip-count-mismatch", count, stated=count, listed=listed))
    lots: dict[str, int] = {}
    if not any(p.is_error for p in problems):
        battery = ledger.settings.battery_months
        note = "SSC納品" if owner == schema.CSS else f"金庫 {owner} 所有（預り在庫）"
        for serials, lot, delivered in lines:
            for serial in serials:
                work.add_token(day, f"{note} ロット {lot}".strip(), serial=serial, owner=owner, state=TokenState.STOCK,
                               delivered_on=delivered, expires_on=nz.add_months(delivered, battery), received_on=day,
                               lot=lot)
            lots[lot] = lots.get(lot, 0) + len(serials)
    return Received(work.ledger(), tuple(work.problems + problems), owner, day, lots, work.hand_edits)


def _read(slip: ListFile, index: int, header: str, raw: object, read, problems: list[Problem]):
    """One cell read with `read`; a blank or unreadable one becomes a located problem and None."""
    if nz.is_blank(raw):
        problems.append(slip.at("required", index, header))
        return None
    try:
        return read(raw)
    except nz.Invalid as exc:
        problems.append(slip.at(exc.code, index, header, raw, **exc.params))
        return None


def describe(result: Received) -> tuple[str, list[str]]:
    """(headline, lines) of a 入庫."""
    whose = "CSS" if result.owner == schema.CSS else f"金庫 {result.owner}（預り在庫）"
    headline = f"入庫 {result.count:,}本（所有者 {whose}・入庫日 {result.received_on:%Y/%m/%d}）"
    lines = [headline] + [f"  ロット {lot}: {n:,}本" for lot, n in result.lots.items()]
    if result.hand_edits:
        lines.append(f"手作業の変更・追加を履歴に記録: {result.hand_edits}件")
    return headline, lines
