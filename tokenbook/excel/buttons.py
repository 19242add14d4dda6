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
from typing import Any, ContextManager, Protocol, Sequence

from .. import schema
from ..books.panel import panel
from ..books.writeback import checks_edit, checks_summary, ledger_edits, menu_edit
from ..files.sheetio import UnusableInput, table_from_rows
from ..files.xlsxpatch import SheetEdit
from ..models import Ledger
from ..outcome import Outcome, internal_error, unusable
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
        tables = {sheet: table_from_rows(sheet, self.book.values(sheet), [c.header for c in columns])
                  for sheet, columns in schema.TABLES.items()}
        tables.update({sheet: table_from_rows(sheet, self.book.values(sheet), [c.header for c in columns if c.required])
                       for sheet, columns in schema.OPTIONAL_TABLES.items() if sheet in names})
        ledger, problems = parse_tables(tables)
        return check_ledger(ledger, problems, today)

    def save(self, old: CheckResult, new: Ledger, problems: Sequence[Problem], last_run: str,
             now: dt.datetime) -> list[str]:
        for sheet, edit in ledger_edits(old.ledger, new).items():
            _write_edit(self.book, sheet, edit)
        if schema.MENU in self.book.sheet_names():
            _write_edit(self.book, schema.MENU, menu_edit(panel(new, now, last_run)))
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


BUTTONS = {
    "check": check,
    "allocate": weekly_allocate,
    "confirm": confirm_shipment,
    "report": monthly_reports,
    "send": lambda book, now, operator: monthly_reports(book, now, operator, send=True),
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
