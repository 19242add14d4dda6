"""Disposal (廃棄) and faulty returns to SSC (返品) as operations (design §4, issue 10): a list of
serials — scanned or typed — takes each token out of service with one journal entry, instead of a
hand edit that would surface as a 修正 warning. Both leave the token 廃棄; the journal's 操作 says
which it was, and the CSS report's monthly flow counts each.

- 廃棄: a token 停止 (replaced, lost, broken, cancelled) or stock past its 使用期限.
- 返品: a faulty token sent back to SSC: 停止 with 停止理由 故障, or stock found faulty (its 停止理由
  becomes 故障).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import normalize as nz
from .changes import Changes
from .files.lists import ListFile
from .journal import Context
from .models import Ledger
from .problems import Problem
from .schema import Operation, StopReason, TokenState
from .validate import CheckResult

HEADERS = ("シリアル番号",)


@dataclass(frozen=True)
class Disposed:
    ledger: Ledger
    problems: tuple[Problem, ...]
    operation: str
    serials: tuple[str, ...] = ()
    hand_edits: int = 0


def dispose(checked: CheckResult, listed: ListFile, ctx: Context, operation: str = Operation.DISPOSE,
            on: dt.date | None = None) -> Disposed:
    """Every listed token 廃棄, journalled as `operation` (廃棄 or 返品) on `on` (default today)."""
    ledger = checked.ledger
    day = on or ctx.now.date()
    work = Changes(ledger, ctx)
    work.record_hand_edits()
    tokens = {t.serial: t for t in ledger.tokens if t.serial}
    notes = listed.column("備考") if "備考" in listed.table.headers else [""] * len(listed)
    pattern = ledger.settings.serial_regex
    problems: list[Problem] = []
    chosen: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    allowed = "停止か使用期限切れの在庫" if operation == Operation.DISPOSE else "停止（故障）か在庫"
    for i, (raw, note) in enumerate(zip(listed.column("シリアル番号"), notes)):
        if nz.is_blank(raw):
            continue
        try:
            serial = nz.serial(raw, pattern)
        except nz.Invalid as exc:
            problems.append(listed.at(exc.code, i, "シリアル番号", raw, **exc.params))
            continue
        if serial in seen:
            problems.append(listed.at("duplicate-in-list", i, "シリアル番号", serial, serial=serial, first=seen[serial]))
            continue
        seen[serial] = listed.table.row_numbers[i]
        token = tokens.get(serial)
        if token is None:
            problems.append(listed.at("dispose-unknown-serial", i, "シリアル番号", serial, serial=serial))
            continue
        fits = (token.state == TokenState.STOCK
                or (token.state == TokenState.STOPPED
                    and (operation == Operation.DISPOSE or token.stop_reason == StopReason.BROKEN)))
        if not fits:
            problems.append(listed.at("dispose-wrong-state", i, "シリアル番号", serial, serial=serial, state=token.state,
                                      operation=operation, allowed=allowed))
        elif operation == Operation.DISPOSE and token.state == TokenState.STOCK and not (
                token.expires_on and token.expires_on <= day):
            problems.append(listed.at("dispose-not-expired", i, "シリアル番号", serial, serial=serial,
                                      expires_on=f"{token.expires_on:%Y/%m/%d}" if token.expires_on else "（空欄）"))
        else:
            chosen.append((serial, nz.plain_text(note)))
    if not seen and not problems:
        problems.append(listed.whole("empty-list"))
    if not any(p.is_error for p in problems):
        for serial, note in chosen:
            if operation == Operation.RETURN:
                work.move(serial, day, operation, note or "SSCへ故障返品", state=TokenState.DISPOSED,
                          stop_reason=StopReason.BROKEN)
            else:
                work.move(serial, day, operation, note or "廃棄", state=TokenState.DISPOSED)
    return Disposed(work.ledger(), tuple(work.problems + problems), operation,
                    tuple(s for s, _ in chosen) if not any(p.is_error for p in problems) else (), work.hand_edits)


def describe(result: Disposed) -> tuple[str, list[str]]:
    what = "廃棄" if result.operation == Operation.DISPOSE else "SSCへ故障返品"
    headline = f"{what} {len(result.serials)}本"
    lines = [headline]
    if result.hand_edits:
        lines.append(f"手作業の変更・追加を履歴に記録: {result.hand_edits}件")
    return headline, lines
