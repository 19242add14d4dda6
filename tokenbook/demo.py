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
from .schedule import BatchDates, Calendar, batch_for


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

    calendar = Calendar.of(h.day for h in checked.ledger.holidays)
    last_week = batch_for(today - dt.timedelta(days=7), checked.ledger.settings, calendar)
    shipped = min(last_week.ship, today)
    while not calendar.is_business_day(shipped):  # a demo run on a closed day ships on the last open one
        shipped -= dt.timedelta(days=1)
    steps = [
        ("先週のバッチを割当", lambda run: run_allocate(run, last_week.cutoff)),
        ("先週のバッチのIBカード受領", lambda run: _card_list(run, directory / "inputs", last_week, today)),
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
    lines += _ib_and_vault(path, directory, now, calendar, step, failures)
    step("月次処理（前月分）")
    month_end = run_month_end(Run(path, now, "demo"), out=directory / "reports")
    failures += list(month_end.failures)
    lines += [f"月次処理: {line}" for line in month_end.lines if not line.startswith("（--send")]
    lines.append("メールは送信していません（デモはファイルのみ）。")
    if checked.problems:
        lines.append(f"{summary(checked.problems)}。{where_problems_are(path)}")
    return Outcome(lines, headline=f"デモ: {path}", failures=tuple(failures))


# --- the IB work and the vault count (issue 17) -----------------------------------------------------

def _ib_and_vault(path: Path, directory: Path, now: dt.datetime, calendar: Calendar,
                  step: Callable[[str], None], failures: list[str]) -> list[str]:
    """The week's work list and its 共同センター list taken back as sent, and a stocktake on the last business day of last month with one token not found
    (so last month's CSS report shows it)."""
    from .history import month_bounds, previous_month
    from .runs import run_center_sent, run_stocktake, run_worklist
    from .stocktake import IN_HAND, states_on
    from .worklist import center_file_name

    today = now.date()
    lines: list[str] = []
    ledger = check_book(path, today).ledger
    inputs = directory / "inputs"

    step("作業一覧と共同センター伝送")
    worklist = run_worklist(Run(path, now, "demo"), today, directory / "reports")
    lines.append(f"作業一覧: {worklist.headline}")
    listed = directory / "reports" / center_file_name(today)
    if listed.exists():
        sent = run_center_sent(Run(path, now, "demo"), listed, today)
        failures += [f"共同センター伝送済: {line}" for line in sent.failures]
        lines.append(f"共同センター伝送の一覧: {listed}（伝送済として取り込み: {sent.headline}）")

    step("棚卸（前月末）")
    day = month_bounds(previous_month(today))[1]
    while not calendar.is_business_day(day):
        day -= dt.timedelta(days=1)
    inputs.mkdir(parents=True, exist_ok=True)
    in_hand = sorted(s for s, (state, _) in states_on(ledger, day, today).items() if state in IN_HAND)
    if in_hand:
        kept = in_hand[:-1] if len(in_hand) > 1 else in_hand  # the last serial was not found: one 不足
        half = len(kept) // 2
        boxes = [inputs / f"{day:%Y-%m-%d}_棚卸_箱1.txt", inputs / f"{day:%Y-%m-%d}_棚卸_箱2.txt"]
        boxes[0].write_text("".join(f"{s}\n" for s in kept[:half]), encoding="utf-8")
        boxes[1].write_text("".join(f"{s}\n" for s in kept[half:]), encoding="utf-8")
        counted = run_stocktake(Run(path, now, "demo"), boxes, day)
        if counted.refused is not None or any(p.is_error for p in counted.problems):
            failures.append(f"棚卸: {counted.lines[0] if counted.lines else ''}")
        lines.append(f"{counted.headline}（差異は「棚卸」シートに記録、在庫は変えていません）")
    return lines


def _card_list(run: Run, inputs: Path, batch: BatchDates, today: dt.date) -> Outcome:
    """The list that comes with SSC's cards for `batch`, received on its ◆ (or today, if earlier)."""
    from .cards import is_waiting
    from .runs import run_cards

    ledger = check_book(run.book, today).ledger
    ids = {d.request_id for d in ledger.dispatches if d.batch == batch.batch_id}
    waiting = [r for r in ledger.requests if r.request_id in ids and is_waiting(r)]
    if not waiting:
        return Outcome([], headline=f"{batch.batch_id} にIBカード待ちはありません")
    inputs.mkdir(parents=True, exist_ok=True)
    cards = inputs / f"{batch.batch_id}_IBカード.csv"
    cards.write_text("依頼番号,金庫コード,顧客番号\n" + "".join(
        f"{r.request_id},{r.bank_code},{r.customer_no}\n" for r in waiting), encoding="utf-8")
    return run_cards(run, cards, min(batch.receipt, today))
