"""The writing operations as whole runs: lock → read → check → compute → write back → outcome.

The command line and the Excel buttons both call these; each returns an `Outcome` that knows its
exit code and never raises for anything a clerk or operator can cause.
"""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import schema
from .batch import BatchError, BatchResult, allocate, cancel_batch, confirm
from .journal import Context
from .outcome import BUSY, DONE, ERRORS, Outcome, Unusable
from .panel import panel
from .problems import Problem
from .sheetio import UnusableInput
from .validate import CheckResult, check_book, sort_problems
from .writeback import BookBusy, BookLock, WriteFailed, write_back
from .xlsxpatch import PatchRefused


@dataclass
class Run:
    """Who runs, when, on which book."""

    book: Path
    now: dt.datetime
    operator: str

    @classmethod
    def here(cls, book: Path) -> "Run":
        try:
            operator = getpass.getuser()
        except Exception:  # no login name (a service account)
            operator = "tokenbook"
        return cls(Path(book), dt.datetime.now().replace(microsecond=0), operator)

    @property
    def context(self) -> Context:
        return Context(self.now, self.operator)


Compute = Callable[[CheckResult], BatchResult]


def _guarded(run: Run, title: str, compute: Compute, blocking: Callable[[Problem], bool], dry_run: bool,
             describe: Callable[[BatchResult], list[str]]) -> Outcome:
    try:
        with BookLock(run.book) as lock:
            checked = check_book(run.book, run.now.date())
            stoppers = [p for p in checked.errors if blocking(p)]
            if stoppers:
                lines = [p.render() for p in stoppers[:50]]
                more = f"（ほか {len(stoppers) - 50} 件）" if len(stoppers) > 50 else ""
                return Outcome(ERRORS, lines + [f"入力エラー {len(stoppers)} 件{more}のため{title}を中止しました。"
                                                "ブックには何も書き込んでいません。"])
            result = compute(checked)
            problems = sort_problems(set(checked.problems) | set(result.problems))
            lines = describe(result)
            skipped_errors = [p for p in checked.errors if not blocking(p)]
            code = ERRORS if skipped_errors or any(p.is_error for p in result.problems) else DONE
            if dry_run:
                return Outcome(code, lines + ["（--dry-run: ブックには何も書き込んでいません）"])
            last = f"{title}: " + (lines[1] if len(lines) > 1 else "完了")
            written = write_back(lock, checked.ledger, result.ledger, problems, panel(result.ledger, run.now, last),
                                 run.now)
            backup = f"（バックアップ: {written.backup.name}）" if written.backup else ""
            return Outcome(code, lines + [f"ブックを更新しました: {written.path}{backup}",
                                          _problem_count(problems)])
    except BookBusy as exc:
        return Outcome(BUSY, [f"エラー: {exc}"])
    except UnusableInput as exc:
        return Unusable.because(str(exc))
    except (BatchError, PatchRefused, WriteFailed) as exc:
        return Outcome(ERRORS, [f"エラー: {exc}", "ブックには何も書き込んでいません。"])


def _problem_count(problems: list[Problem]) -> str:
    errors = sum(p.is_error for p in problems)
    return f"チェック結果: エラー {errors} 件、警告 {len(problems) - errors} 件（「{schema.CHECKS}」シート）"


def run_allocate(run: Run, as_of: dt.date | None = None, dry_run: bool = False) -> Outcome:
    """週次割当. Input errors in 申込 hold only those requests; errors elsewhere stop the run."""
    day = as_of or run.now.date()

    def compute(checked: CheckResult) -> BatchResult:
        blocked = frozenset(p.row for p in checked.errors if p.sheet == schema.REQUESTS and p.row)
        return allocate(checked.ledger, day, run.context, blocked)

    return _guarded(run, "週次割当", compute, lambda p: p.sheet != schema.REQUESTS, dry_run, describe_allocation)


def run_confirm(run: Run, batch_id: str, shipped_on: dt.date | None = None) -> Outcome:
    """発送確定 of one batch; any input error stops it."""
    return _guarded(run, "発送確定", lambda c: confirm(c.ledger, batch_id, shipped_on, run.context),
                    lambda p: True, False, describe_confirmation)


def run_cancel(run: Run, batch_id: str) -> Outcome:
    """バッチ取消; any input error stops it."""
    return _guarded(run, "バッチ取消", lambda c: cancel_batch(c.ledger, batch_id, run.context),
                    lambda p: True, False, describe_cancellation)


# --- what the operator reads (request numbers and counts, never customer names) ---------------------

def _dates(result: BatchResult) -> str:
    d = result.summary.dates
    return f"{d.batch_id}（締切 {d.cutoff:%m/%d}・●{d.card:%m/%d}・◆{d.receipt:%m/%d}・★発送 {d.ship:%m/%d}）"


def describe_allocation(result: BatchResult) -> list[str]:
    s = result.summary
    tokens = sum(n for _, n in s.allocated)
    lines = [f"週次割当 {_dates(result)}",
             f"引当 {len(s.allocated)}件（{tokens}本）・保留 {len(s.held)}件・窓口手交 {len(s.handovers)}件"
             + (f"・入力エラーで未処理 {len(s.skipped)}件" if s.skipped else "")]
    serials: dict[str, list[str]] = {}
    for d in result.ledger.dispatches:
        if d.batch == s.dates.batch_id and d.state == "予定":
            serials.setdefault(d.request_id, []).append(d.serial)
    lines += [f"  引当 {request_id}: {', '.join(serials.get(request_id, []))}" for request_id, _ in s.allocated[:30]]
    if len(s.allocated) > 30:
        lines.append(f"  …ほか {len(s.allocated) - 30} 件")
    lines += [f"  保留 {request_id}: {reason}" for request_id, reason in s.held[:30]]
    if len(s.held) > 30:
        lines.append(f"  …ほか {len(s.held) - 30} 件")
    lines += [f"  未処理 {request_id}（入力エラー: チェック結果を見てください）" for request_id in s.skipped[:30]]
    if s.released:
        lines.append(f"取消された申込の引当を戻しました: {len(s.released)}本")
    lines.append("在庫（所有者別・引当後）: " + "、".join(
        f"{owner} {total:,}本（今回使用可 {usable:,}本）" for owner, (total, usable) in s.stock.items()) if s.stock
        else "在庫（引当後）: なし")
    css_total, css_usable = s.stock.get(schema.CSS, (0, 0))
    weeks = f"、約 {s.weeks_left:.1f} 週分" if s.weeks_left is not None else ""
    advice = "（発注点を下回っています。発注をおすすめします）" if css_usable < s.reorder_point else ""
    lines.append(f"CSS在庫 使用可 {css_usable:,}本 / 発注点 {s.reorder_point:,}本・直近8週の需要 週 {s.weekly_demand:.1f}本"
                 f"{weeks}{advice}")
    if s.center:
        lines.append(f"共同センター伝送対象（法人・新規）{len(s.center)}件:")
        lines += [f"  {r.request_id} 金庫 {r.bank_code} 店番 {r.branch_code} "
                  + (f"伝送済 {r.center_sent_on:%m/%d}" if r.center_sent_on else "未伝送") for r in s.center]
    if s.hand_edits:
        lines.append(f"手作業の変更・追加を履歴に記録: {s.hand_edits}件")
    return lines


def describe_confirmation(result: BatchResult) -> list[str]:
    s = result.summary
    lines = [f"発送確定 {_dates(result)}",
             f"発送済 {len(s.shipped)}本・完了 {len(s.completed)}件・IBカード待ち {len(s.waiting_for_card)}件"]
    lines += [f"  IBカード待ち {request_id}（IBカード受領日が未入力）" for request_id in sorted(set(s.waiting_for_card))]
    if s.stopped:
        lines.append(f"交換・再発行で停止した旧トークン: {len(s.stopped)}本")
    lines += [p.render() for p in result.problems if p.is_error]
    return lines


def describe_cancellation(result: BatchResult) -> list[str]:
    return [f"バッチ取消 {_dates(result)}", f"在庫に戻したトークン {len(result.summary.released)}本"]
