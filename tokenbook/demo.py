"""`tokenbook demo`: a sample ledger taken through the weekly cycle, on files only (no mail)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

from . import sample
from .books.build import build_workbook
from .load import check_book
from .outcome import Checked, Outcome, summary, where_problems_are
from .runs import Run, run_allocate, run_confirm, run_month_end
from .schedule import batch_for, ledger_calendar


def run_demo(directory: Path, banks: int, tokens: int, seed: int, now: dt.datetime,
             step: Callable[[str], None] = lambda _: None) -> Outcome:
    """Build the sample, check it, run last week's batch, its confirmation, this week's batch and last
    month's month-end (reports and outbox files; nothing is sent)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tokenbook.xlsm"
    today = now.date()
    step("サンプルデータを生成")
    data = sample.generate(seed=seed, banks=banks, tokens=tokens, as_of=today)
    step("台帳ブックを書き出し")
    build_workbook(path, data.rows)
    step("入力チェック")
    checked = check_book(path, today)
    lines = [f"サンプル台帳: {path}",
             "  " + "、".join(f"{sheet} {len(rows):,} 行" for sheet, rows in data.rows.items() if rows),
             summary(checked.problems)]
    if checked.errors:
        return Checked(problems=checked.problems, limit=10, book=path)

    calendar = ledger_calendar(checked.ledger)
    last_week = batch_for(today - dt.timedelta(days=7), checked.ledger.settings, calendar)
    shipped = min(last_week.ship, today)
    while not calendar.is_business_day(shipped):  # a demo run on a closed day ships on the last open one
        shipped -= dt.timedelta(days=1)
    steps = [
        ("先週のバッチを割当", lambda run: run_allocate(run, last_week.cutoff)),
        ("先週のバッチを発送確定", lambda run: run_confirm(run, last_week.batch_id, shipped)),
        ("今週のバッチを割当", lambda run: run_allocate(run, today)),
    ]
    failures: list[str] = []
    for title, action in steps:
        step(title)
        outcome = action(Run(path, now, "demo"))
        failures += [f"{title}: {line}" for line in outcome.failures] or ([f"{title}"] if outcome.exit_code else [])
        lines.append(f"{title}: {outcome.headline}")
        lines += [line for line in outcome.lines if line.startswith(("ブックを更新", "エラー"))]
    step("月次処理（前月分）")
    month_end = run_month_end(Run(path, now, "demo"), out=directory / "reports")
    failures += list(month_end.failures)
    lines += [f"月次処理: {line}" for line in month_end.lines if not line.startswith("（--send")]
    lines.append("メールは送信していません（デモはファイルのみ）。")
    if checked.problems:
        lines.append(f"{summary(checked.problems)}。{where_problems_are(path)}")
    return Outcome(lines, headline=f"デモ: {path}", failures=tuple(failures))
