"""What the workbook's buttons do (design §10), against a `Book` port, with no Excel in sight.

`excel.py` adapts a live xlwings book to this port; the tests use an in-memory book that behaves
like xlwings ranges. Each button reads whole sheets in one call each, runs the same functions as the
command line (parse, validate, allocate, confirm, reports, mail), writes the changed cells back in
bulk, asks before anything that writes or sends, and ends with one Japanese message. Nothing a
clerk can cause ends in a traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, ContextManager, Protocol, Sequence

from .. import schema
from ..books.panel import panel
from ..books.writeback import checks_edit, checks_summary, ledger_edits, menu_edit
from ..files.sheetio import UnusableInput, required_headers, table_from_rows
from ..files.xlsxpatch import SheetEdit
from ..models import Ledger
from ..outcome import Outcome, failed, internal_error, unusable
from ..parse import parse_tables
from ..problems import Problem
from ..runs import (
    Run,
    guarded,
    run_allocate,
    run_check,
    run_confirm_ready,
    run_month_end,
    stopped_by,
    views,
)
from ..batch import awaiting_confirmation
from ..validate import CheckResult, check_ledger

log = logging.getLogger("tokenbook.excel.buttons")
HIGHLIGHT = "#FFC7CE"


class Book(Protocol):
    """The open workbook, as the buttons need it. Rows and columns are 1-based, like Excel's."""

    path: Path

    def sheet_names(self) -> list[str]: ...
    def values(self, sheet: str) -> list[list[Any]]: ...  # the used range from A1, in one call
    def write(self, sheet: str, cells: dict[int, dict[int, Any]]) -> None: ...  # row -> {column: value}
    def clear_rows(self, sheet: str, first_row: int) -> None: ...
    def links(self, sheet: str, links: list[tuple[str, str]]) -> None: ...  # (cell, 'シート'!A1)
    def highlight(self, sheet: str, cells: list[str], color: str | None) -> None: ...  # None clears
    def ask(self, message: str) -> bool: ...
    def choose_files(self, title: str, kinds: str) -> list[Path]: ...  # [] when the clerk cancels
    def tell(self, message: str, error: bool = False) -> None: ...
    def status(self, text: str | None) -> None: ...


class OpenBook:
    """The ledger store of a run started from a button: the book open in Excel (see `runs.LedgerStore`).
    Excel holds the file, so there is nothing to lock; what changed is written into the open book and
    the clerk saves it."""

    def __init__(self, book: Book) -> None:
        self.book = book

    def hold(self) -> ContextManager[object]:
        return nullcontext()

    def read(self, today: dt.date) -> CheckResult:
        names = set(self.book.sheet_names())
        missing = [s for s in schema.TABLES if s not in names]
        if missing:
            raise UnusableInput("tokenbook のブックではありません。シート" + "、".join(f"「{s}」" for s in missing)
                                + "がありません")
        present = [*schema.TABLES, *(s for s in schema.OPTIONAL_TABLES if s in names)]
        tables = {sheet: table_from_rows(sheet, self.book.values(sheet), required_headers(sheet)) for sheet in present}
        ledger, problems = parse_tables(tables, self.book.path.parent)
        return check_ledger(ledger, problems, today)

    def save(self, old: CheckResult, new: Ledger, problems: Sequence[Problem], last_run: str,
             now: dt.datetime) -> list[str]:
        for sheet, edit in ledger_edits(old.ledger, new).items():
            _write_edit(self.book, sheet, edit)
        if schema.MENU in self.book.sheet_names():
            _write_edit(self.book, schema.MENU, menu_edit(panel(new, now, last_run)))
        _write_views(self.book, views(new, now))
        _show_problems(self.book, list(problems), checks_summary(problems, f"{now:%Y/%m/%d %H:%M} {last_run}"))
        return ["保存はブックを保存してください（Ctrl+S）。"]

    def show(self, problems: Sequence[Problem]) -> None:
        _show_problems(self.book, list(problems))


def _show_problems(book: Book, problems: list[Problem], summary: str | None = None) -> None:
    """チェック結果 rewritten with links; the cells of the last run unhighlighted, this run's highlighted."""
    if schema.CHECKS not in book.sheet_names():
        return  # a ledger made elsewhere, without tokenbook's own sheet: the dialog still says it all
    previous = book.values(schema.CHECKS)[1:]
    stale: dict[str, list[str]] = {}
    for row in previous:
        if len(row) > 2 and row[1] and row[2]:
            stale.setdefault(str(row[1]), []).append(str(row[2]))
    for sheet, cells in stale.items():
        if sheet in schema.TABLES:
            book.highlight(sheet, cells, None)
    edit = checks_edit(problems, summary)
    book.clear_rows(schema.CHECKS, 2)
    _write_edit(book, schema.CHECKS, edit)
    book.links(schema.CHECKS, edit.hyperlinks or [])
    fresh: dict[str, list[str]] = {}
    for p in problems:
        if p.cell and p.sheet in schema.TABLES:
            fresh.setdefault(p.sheet, []).append(p.cell)
    for sheet, cells in fresh.items():
        book.highlight(sheet, cells, HIGHLIGHT)


def _write_views(book: Book, edits: dict[str, SheetEdit]) -> None:
    """The sheets derived from the ledger (作業一覧), rewritten where the book has them."""
    present = book.sheet_names()
    for sheet, edit in edits.items():
        if sheet in present:
            book.clear_rows(sheet, 2)
            _write_edit(book, sheet, edit)


def _write_edit(book: Book, sheet: str, edit: SheetEdit) -> None:
    """The same cell changes a headless run patches into the file, written into the open book
    (the port counts columns from 1, as Excel does; SheetEdit from 0)."""
    book.write(sheet, {row: {col + 1: v for col, v in cells.items()} for row, cells in edit.cells.items()})


def _run(book: Book, now: dt.datetime, operator: str) -> Run:
    return Run(book.path, now, operator, store=OpenBook(book))


def _told(outcome: Outcome) -> Outcome:
    """What the dialog shows: the headline and where to look, not every line the console gets."""
    if outcome.refused is not None or not outcome.headline:
        return outcome
    tail = [line for line in outcome.lines if line.startswith(("チェック結果", "保存は", "エラー", "  IBカード待ち"))]
    return replace(outcome, lines=[outcome.lines[0], outcome.headline, *tail] if outcome.lines else tail)


# --- the buttons ---------------------------------------------------------------------------------

def check(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """入力チェック: every check; problems to チェック結果, their cells highlighted."""
    book.status("入力チェック中…")
    outcome = run_check(_run(book, now, operator))
    return replace(outcome, lines=[f"入力チェック: {outcome.headline}"]) if outcome.refused is None else outcome


def weekly_allocate(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """週次割当 for the batch today belongs to."""
    if not book.ask("週次割当を実行し、引当・発送予定・履歴をこのブックに書き込みます。よろしいですか？"):
        return Outcome(["週次割当を取りやめました"])
    return _told(run_allocate(_run(book, now, operator), now.date(), step=book.status))


def confirm_shipment(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """発送確定 of every batch with parcels that can ship today (never re-confirming one that only
    waits for IB cards); the clerk is told which parcels still wait, and for what."""
    book.status("発送確定: 入力チェック中…")
    store = OpenBook(book)
    checked = store.read(now.date())
    if checked.errors:
        store.show(checked.problems)
        return _told(stopped_by(checked.errors, "発送確定", book.path))
    batches = awaiting_confirmation(checked.ledger, now.date())
    ready = [b for b in batches if b.ready]
    waiting = [f"  IBカード待ち {b.batch_id} {request_id}（{reason}）" for b in batches for request_id, reason in b.waiting]
    if not ready:
        return Outcome(["発送確定できる発送予定がありません", *waiting])
    today = now.date()
    plan = "、".join(f"バッチ {b.batch_id} {b.ready}本（発送日 {min(b.ship or today, today):%Y/%m/%d}）" for b in ready)
    rest = f"\nIBカード待ちの {len(waiting)} 件は発送予定のまま残ります。" if waiting else ""
    if not book.ask(f"発送確定します: {plan}。IBカード同封の分は発送日がその受領日より前になりません。{rest}"
                    "よろしいですか？"):
        return Outcome(["発送確定を取りやめました"])
    return _told(run_confirm_ready(_run(book, now, operator), step=book.status))


def monthly_reports(book: Book, now: dt.datetime, operator: str, send: bool = False) -> Outcome:
    """月次報告作成 (reports and outbox files) or 月次報告送信 (send what is not sent yet)."""
    from ..history import previous_month

    month = previous_month(now.date())
    question = (f"{month} の月次報告をメールで送信します。送信済みのものは送りません。よろしいですか？" if send else
                f"{month} の月次報告書と送信前のメール（.eml）を作成します。よろしいですか？")
    if not book.ask(question):
        return Outcome(["取りやめました"])
    return run_month_end(_run(book, now, operator), month, None, make_reports=not send, make_mail=True, send=send,
                         step=lambda text: book.status(f"月次報告: {text}"))


# --- issue 10: 入庫取込, 申込書取込, 発送書類作成, 追跡番号取込 ------------------------------------------

LISTS = "一覧 (*.csv;*.xlsx;*.xlsm;*.txt),*.csv;*.xlsx;*.xlsm;*.txt"


def _chosen(book: Book, title: str, question: Callable[[list[Path]], str] | None = None,
            kinds: str = LISTS) -> list[Path]:
    """The files the clerk picked and, when `question` asks about them, agreed to; [] when cancelled."""
    files = book.choose_files(title, kinds)
    if files and question is not None and not book.ask(question(files)):
        return []
    return files


def _told_intake(outcome: Outcome) -> Outcome:
    """A list that was refused: its problems are in the file, not in チェック結果, so the dialog shows
    them (the first 20) with the closing lines."""
    if outcome.exit_code == 0 or outcome.refused is not None:
        return _told(outcome)
    problems = [line for line in outcome.lines if " [" in line][:20]
    return replace(outcome, lines=problems + outcome.lines[-2:])


def _in_turn(book: Book, files: list[Path], run_one: Any) -> Outcome:
    """Each chosen file taken in as its own all-or-nothing run; the first that fails stops the rest."""
    outcomes = []
    for path in files:
        outcome = _told_intake(run_one(path))
        outcomes.append(outcome)
        if outcome.exit_code:
            break
    if len(outcomes) == 1:
        return outcomes[0]
    last = outcomes[-1]
    lines = [f"{path.name}: {o.headline or (o.lines[0] if o.lines else '')}" for path, o in zip(files, outcomes)]
    return replace(last, lines=lines + last.lines[2:])


def receive_stock(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """入庫取込: SSC's delivery lists into 在庫 (所有者 CSS; custody stock from the command line)."""
    from ..runs import run_receive

    files = _chosen(book, "SSC の納品リストを選んでください（CSV / Excel）",
                    lambda files: f"{'、'.join(p.name for p in files)} を在庫（所有者 CSS）に取り込みます。よろしいですか？")
    if not files:
        return Outcome(["入庫取込を取りやめました"])
    return _in_turn(book, files, lambda path: run_receive(_run(book, now, operator), path, step=book.status))


def take_forms(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """申込書取込: the banks' returned forms into 申込."""
    from ..runs import run_take_forms

    files = _chosen(book, "金庫から戻った申込書を選んでください（複数可）",
                    lambda files: f"申込書 {len(files)}件を「申込」に取り込みます。よろしいですか？", "申込書 (*.xlsx),*.xlsx")
    if not files:
        return Outcome(["申込書取込を取りやめました"])
    return _told_intake(run_take_forms(_run(book, now, operator), files, step=book.status))


def parcel_documents(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """発送書類作成 (picking list, letters, carrier file) for the earliest batch with parcels that can
    ship today, else the earliest with planned parcels (the same choice as 発送確定)."""
    from ..runs import run_parcels

    store = OpenBook(book)
    checked = store.read(now.date())
    batches = awaiting_confirmation(checked.ledger, now.date())
    chosen = next((b for b in batches if b.ready), batches[0] if batches else None)
    if chosen is None:
        return Outcome(["発送書類を作る発送予定がありません"])
    return run_parcels(_run(book, now, operator), chosen.batch_id, step=book.status)


def take_tracking(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """追跡番号取込: the carrier's export into 発送.追跡番号."""
    from ..runs import run_tracking

    files = _chosen(book, "運送会社の発行済データ（発送履歴）を選んでください")
    if not files:
        return Outcome(["追跡番号取込を取りやめました"])
    return _in_turn(book, files, lambda path: run_tracking(_run(book, now, operator), path, step=book.status))

def history_lookup(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """履歴照会: the movements of the serial or 顧客番号 in 履歴照会!B1, archives included, below it."""
    from ..books.build import HISTORY_HEADER_ROW, HISTORY_KEY_CELL
    from ..runs import run_history
    from ..schema import HISTORY_HEADERS

    sheet = schema.HISTORY_LOOKUP
    if sheet not in book.sheet_names():
        return failed(f"エラー: ブックに「{sheet}」シートがありません")
    grid = book.values(sheet)
    row, col = HISTORY_KEY_CELL
    key = grid[row - 1][col - 1] if len(grid) >= row and len(grid[row - 1]) >= col else None
    if key is None or not str(key).strip():
        return failed(f"エラー: 「{sheet}」シートの B1 にシリアル番号か顧客番号を入れてから押してください")
    book.status("履歴照会中…")
    outcome, rows = run_history(_run(book, now, operator), str(key))
    if outcome.exit_code != 0:
        return outcome
    book.clear_rows(sheet, HISTORY_HEADER_ROW + 1)
    book.write(sheet, {HISTORY_HEADER_ROW + 1 + i: {c + 1: r[h] for c, h in enumerate(HISTORY_HEADERS)}
                       for i, r in enumerate(rows)})
    return Outcome([f"履歴照会: {outcome.headline}（「{sheet}」シート）"], headline=outcome.headline)


# --- the IB work and the vault count (issue 17) ---------------------------------------------------



def receive_cards(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """IBカード受領: the clerk picks SSC's card list; IBカード受領日 = today on each matched request."""
    from ..runs import run_cards

    chosen = _chosen(book, "IBカードの一覧（CSV または Excel）を選んでください",
                     lambda files: f"{files[0].name} のIBカードを {now:%Y/%m/%d} 受領として記録します。よろしいですか？")
    if not chosen:
        return Outcome(["IBカード受領を取りやめました"])
    return _told(run_cards(_run(book, now, operator), chosen[0], now.date(), step=book.status))


def mark_center_sent(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """共同センター伝送済: the clerk picks the transmission list; 共同センター伝送日 = today on its requests."""
    from ..runs import run_center_sent

    chosen = _chosen(book, "伝送した共同センター伝送の一覧を選んでください",
                     lambda files: f"{files[0].name} の申込に共同センター伝送日 {now:%Y/%m/%d} を記録します。よろしいですか？")
    if not chosen:
        return Outcome(["共同センター伝送済の記録を取りやめました"])
    return _told(run_center_sent(_run(book, now, operator), chosen[0], now.date(), step=book.status))


def take_stock(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """棚卸: the clerk picks the scanned files (one per box); the result goes to 棚卸, 在庫 is not changed."""
    from ..runs import run_stocktake

    chosen = _chosen(book, "棚卸で読み取ったファイルを選んでください（複数可）",
                     lambda files: f"{len(files)} 個のファイルで {now:%Y/%m/%d} の棚卸をし、結果を「{schema.STOCKTAKE}」"
                                   "シートに記録します（在庫は変えません）。よろしいですか？")
    if not chosen:
        return Outcome(["棚卸を取りやめました"])
    outcome = run_stocktake(_run(book, now, operator), chosen, now.date(), step=book.status)
    if outcome.refused is not None or not outcome.headline:
        return outcome
    differences = [line for line in outcome.lines if line.startswith("  ")][:15]
    return replace(outcome, lines=[outcome.lines[0], outcome.headline, *differences,
                                   *(line for line in outcome.lines if line.startswith(("差異は", "チェック結果", "保存は")))])


def refresh_work_list(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """作業一覧: the sheet rewritten for today; the 共同センター list written beside the reports when
    there are 法人 contracts to transmit."""
    from ..runs import report_folder, worklist_headline, write_center_list
    from ..worklist import work_list

    book.status("作業一覧: 読み込み中…")
    store = OpenBook(book)
    checked = store.read(now.date())
    if schema.WORKLIST not in book.sheet_names():
        return unusable(f"このブックには「{schema.WORKLIST}」シートがありません（tokenbook new-workbook で作ったブックにはあります）")
    items = work_list(checked.ledger, now.date())
    _write_views(book, views(checked.ledger, now))
    lines = [f"作業一覧（{now:%Y/%m/%d}）: {worklist_headline(items)}"]
    folder = report_folder(_run(book, now, operator), checked.ledger.settings.report_dir, None, f"{now:%Y-%m}")
    written = write_center_list(items, folder, now.date())
    if written is not None:
        lines.append(f"共同センター伝送の一覧を作りました: {written}")
    return Outcome(lines, headline=worklist_headline(items))


BUTTONS = {
    "check": check,
    "allocate": weekly_allocate,
    "confirm": confirm_shipment,
    "report": monthly_reports,
    "send": lambda book, now, operator: monthly_reports(book, now, operator, send=True),
    # issue 10
    "receive": receive_stock,
    "intake": take_forms,
    "parcels": parcel_documents,
    "tracking": take_tracking,
    "history": history_lookup,
    "cards": receive_cards,
    "worklist": refresh_work_list,
    "center": mark_center_sent,
    "stocktake": take_stock,
}


def press(name: str, book: Book, now: dt.datetime, operator: str) -> Outcome:
    """Run one button and tell the clerk how it went; never raises."""
    try:
        action = BUTTONS[name]
    except KeyError:
        book.tell(f"ボタン {name!r} は tokenbook にありません", error=True)
        return unusable(f"ボタン {name!r} は tokenbook にありません")
    try:
        outcome = guarded(lambda: action(book, now, operator))
    except Exception as exc:  # a bug: logged for the developers, one sentence for the clerk
        log.exception("button %s failed", name)
        outcome = internal_error(exc, "処理を中断しました。ブックを保存せずに閉じ、ログを担当者に送ってください。")
    finally:
        book.status(None)
    book.tell("\n".join(outcome.lines), error=outcome.exit_code != 0)
    return outcome
