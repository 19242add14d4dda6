"""`tokenbook demo`: a sample ledger taken through the weekly cycle, on files only (no mail)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

from . import sample
from .books.build import build_workbook
from .load import check_book
from .outcome import Checked, Outcome, summary, where_problems_are
from .runs import (
    Run,
    run_allocate,
    run_confirm,
    run_intake_replacements,
    run_month_end,
    run_parcels,
    run_plan_replacements,
    run_receive,
    run_take_forms,
    run_tracking,
)
from .schedule import BatchDates, Calendar, batch_for, ledger_calendar


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
    parcels = directory / "parcels" / last_week.batch_id
    steps = [
        ("先週のバッチを割当", lambda run: run_allocate(run, last_week.cutoff)),
        ("先週のバッチのIBカード受領", lambda run: _card_list(run, directory / "inputs", last_week, today)),
        # issue 10: the service's edges — parcel documents, tracking, a delivery, two banks' forms
        ("先週のバッチの発送書類を作成", lambda run: run_parcels(run, last_week.batch_id, parcels)),
        ("追跡番号を取込（デモが作る発送履歴）",
         lambda run: run_tracking(run, tracking_export(path, parcels, last_week.batch_id, today))),
        ("先週のバッチを発送確定", lambda run: run_confirm(run, last_week.batch_id, shipped)),
        ("SSCの納品を入庫", lambda run: run_receive(run, delivery_slip(directory, today), count=DELIVERY)),
        ("金庫2庫の申込書を取込", lambda run: run_take_forms(run, bank_forms(path, directory / "forms", now))),
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
    lines += _replacement_wave(path, directory, now, step, failures)
    lines.append("メールは送信していません（デモはファイルのみ）。")
    if checked.problems:
        lines.append(f"{summary(checked.problems)}。{where_problems_are(path)}")
    return Outcome(lines, headline=f"デモ: {path}", failures=tuple(failures))


# --- issue 10: the files the demo's SSC, banks and carrier send back -----------------------------

DELIVERY = 500


def delivery_slip(directory: Path, today: dt.date) -> Path:
    """SSC's delivery list: two lots as ranges, cp932 as SSC's systems write it."""
    path = directory / f"{today:%Y%m%d}_SSC納品リスト.csv"
    first = f"SS{today:%y%m}"
    lines = ["シリアル番号,ロット番号,納品日",
             f"{first}000001-{first}000300,L{today:%y%m}A,{today:%Y/%m/%d}",
             f"{first}000301-{first}000{DELIVERY:03d},L{today:%y%m}B,{today:%Y/%m/%d}"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def tracking_export(book: Path, parcels: Path, batch_id: str, today: dt.date) -> Path:
    """What ゆうパックプリントR's 発送履歴 would give back for the labels just printed: one 12-digit
    number for each parcel of the carrier file that has none yet."""
    import csv

    labels = parcels / f"{batch_id}_送り状_ゆうプリR.csv"
    numbered = {d.dispatch_id for d in check_book(book, today).ledger.dispatches if d.tracking_no}
    keys = [row[0] for row in csv.reader(labels.read_text(encoding="cp932").splitlines()) if row and row[0] not in numbered]
    path = parcels / f"{batch_id}_発送履歴.csv"
    rows = ["お客様側管理番号,お問い合わせ番号,発送予定日"] + [f"{key},{360100000000 + n},{batch_id}" for n, key in
                                                          enumerate(keys, start=1)]
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp932"))
    return path


def bank_forms(book: Path, folder: Path, now: dt.datetime) -> list[Path]:
    """Two banks' forms as they come back: made by `request-form`, filled as a bank would."""
    from .books.formbook import form_file_name, write_request_form
    from .forms import branches_of, form_number

    ledger = check_book(book, now.date()).ledger
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for n, bank in enumerate([b for b in ledger.banks if b.bank_code and b.postal_code][:2]):
        branch = (branches_of(ledger, bank.bank_code) or ["001"])[0]
        customer = {"送付先郵便番号": bank.postal_code, "送付先住所": f"{bank.address}3-{n + 1}"}
        rows = [
            {"店番": branch, "顧客番号": f"9{n}00001", "顧客名": "デモ 一郎", "顧客区分": "個人", "申込区分": "新規",
             "数量": "1", "発送方法": "顧客郵送", "送付先氏名": "デモ 一郎", "送付先電話": "090-0000-0001", **customer},
            {"店番": branch, "顧客番号": f"9{n}00002", "顧客名": "デモ商事株式会社", "顧客区分": "法人", "申込区分": "途中",
             "数量": "2", "発送方法": "金庫郵送"},
            {"店番": branch, "申込区分": "金庫補充", "数量": "3", "発送方法": "金庫郵送"},
        ]
        made.append(write_request_form(folder / form_file_name(bank), bank, form_number(bank.bank_code, now),
                                       branches_of(ledger, bank.bank_code), now, rows))
    return made

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

# --- issue 11: a replacement wave -------------------------------------------------------------------

def _replacement_wave(path: Path, directory: Path, now: dt.datetime, step: Callable[[str], None],
                      failures: list[str]) -> list[str]:
    """Plan the coming replacements, answer the first bank's proposal as a bank would (approve all but
    one line held and one declined) and take the answer back in."""
    step("交換計画")
    planned = run_plan_replacements(Run(path, now, "demo"), out=directory / "reports")
    lines = [f"交換計画: {planned.headline}"]
    failures += [f"交換計画: {line}" for line in planned.failures] or (["交換計画"] if planned.exit_code else [])
    proposals = sorted((directory / "reports" / f"{now:%Y-%m}").glob(f"{now:%Y-%m-%d}_*_交換計画.xlsx"))
    if not proposals:
        return lines
    step("交換計画の回答取込（例: 1金庫）")
    answered = directory / "回答" / proposals[0].name
    _answer_as_a_bank(proposals[0], answered)
    taken = run_intake_replacements(Run(path, now, "demo"), [answered])
    failures += [f"回答取込: {line}" for line in taken.failures] or (["回答取込"] if taken.exit_code else [])
    return lines + [f"回答取込（{answered.name}）: {taken.headline}"]


def _answer_as_a_bank(proposal: Path, target: Path) -> None:
    """The bank's answer: 回答 (and 理由, 顧客区分 where blank) typed into the proposal, the rest as it was."""
    from .files.lists import read_list
    from .files.xlsxpatch import SheetEdit, patch_package
    from .replacements import PROPOSAL_SHEET, REQUIRED_HEADERS

    target.parent.mkdir(parents=True, exist_ok=True)
    lines = read_list(proposal, REQUIRED_HEADERS, sheet=PROPOSAL_SHEET)
    headers = lines.table.headers
    kinds = lines.column("顧客区分")
    cells: dict[int, dict[int, object]] = {}
    count = len(lines)
    for i, row in enumerate(lines.table.row_numbers):
        choice = "保留" if i == count - 2 else "対象外" if i == count - 1 and count > 2 else "承認"
        cells[row] = {headers["回答"]: choice,
                      headers["理由"]: {"保留": "お客様と日程を調整中", "対象外": "解約予定"}.get(choice, "")}
        if not kinds[i]:
            cells[row][headers["顧客区分"]] = "個人"
    patch_package(proposal, target, {PROPOSAL_SHEET: SheetEdit(cells)})
