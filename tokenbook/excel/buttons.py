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
from pathlib import Path
from typing import Any, Protocol

from .. import schema
from ..batch import BatchError, allocate, confirm
from ..journal import Context
from ..outcome import Outcome
from ..books.panel import panel
from ..parse import parse_tables
from ..problems import Problem, count
from ..runs import Run, describe_allocation, describe_confirmation, month_end_from
from ..schedule import Calendar, batch_by_id
from ..files.sheetio import UnusableInput, table_from_rows
from ..validate import CheckResult, check_ledger, sort_problems
from ..books.writeback import checks_edit, ledger_edits, menu_edit
from ..files.xlsxpatch import SheetEdit

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
    def tell(self, message: str, error: bool = False) -> None: ...
    def status(self, text: str | None) -> None: ...


def _checked(book: Book, today: dt.date) -> CheckResult:
    names = set(book.sheet_names())
    missing = [s for s in schema.TABLES if s not in names]
    if missing:
        raise UnusableInput("tokenbook のブックではありません。シート" + "、".join(f"「{s}」" for s in missing) + "がありません")
    tables = {sheet: table_from_rows(sheet, book.values(sheet), [c.header for c in columns])
              for sheet, columns in schema.TABLES.items()}
    ledger, problems = parse_tables(tables, book.path.parent)
    return check_ledger(ledger, problems, today)


def _show_problems(book: Book, problems: list[Problem]) -> None:
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
    edit = checks_edit(problems)
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


def _write_ledger(book: Book, old: CheckResult, new_ledger: Any, problems: list[Problem], now: dt.datetime,
                  last_run: str) -> None:
    for sheet, edit in ledger_edits(old.ledger, new_ledger).items():
        _write_edit(book, sheet, edit)
    if schema.MENU in book.sheet_names():
        _write_edit(book, schema.MENU, menu_edit(panel(new_ledger, now, last_run)))
    _show_problems(book, problems)


def _summary(problems: list[Problem]) -> str:
    errors, warnings = count(problems)
    return "問題はありません" if not (errors or warnings) else f"エラー {errors} 件、警告 {warnings} 件（「チェック結果」シート）"


# --- the buttons ---------------------------------------------------------------------------------

def check(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """入力チェック: every check; problems to チェック結果, their cells highlighted."""
    book.status("入力チェック中…")
    result = _checked(book, now.date())
    _show_problems(book, list(result.problems))
    return Outcome(1 if result.errors else 0, [f"入力チェック: {_summary(list(result.problems))}"])


def weekly_allocate(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """週次割当 for the batch today belongs to."""
    if not book.ask("週次割当を実行し、引当・発送予定・履歴をこのブックに書き込みます。よろしいですか？"):
        return Outcome(0, ["週次割当を取りやめました"])
    book.status("週次割当: 入力チェック中…")
    checked = _checked(book, now.date())
    stoppers = [p for p in checked.errors if p.sheet != schema.REQUESTS]
    if stoppers:
        _show_problems(book, list(checked.problems))
        return Outcome(1, [f"入力エラー {len(stoppers)} 件のため週次割当を中止しました（「チェック結果」シート）。"])
    blocked = frozenset(p.row for p in checked.errors if p.sheet == schema.REQUESTS and p.row)
    book.status("週次割当: 引当中…")
    result = allocate(checked.ledger, now.date(), Context(now, operator), blocked)
    lines = describe_allocation(result)
    problems = sort_problems(set(checked.problems) | set(result.problems))
    book.status("週次割当: 書き込み中…")
    _write_ledger(book, checked, result.ledger, problems, now, "週次割当: " + lines[1])
    return Outcome(1 if checked.errors else 0, lines[:2] + [f"チェック結果: {_summary(problems)}",
                                                            "保存はブックを保存してください（Ctrl+S）。"])


def _batch_to_confirm(checked: CheckResult) -> str | None:
    """The earliest batch with planned parcels."""
    planned = sorted({d.batch for d in checked.ledger.dispatches if d.state == "予定" and d.batch})
    return planned[0] if planned else None


def confirm_shipment(book: Book, now: dt.datetime, operator: str) -> Outcome:
    """発送確定 of the earliest batch with planned parcels, shipped on its ★ date."""
    book.status("発送確定: 入力チェック中…")
    checked = _checked(book, now.date())
    if checked.errors:
        _show_problems(book, list(checked.problems))
        return Outcome(1, [f"入力エラー {len(checked.errors)} 件のため発送確定を中止しました（「チェック結果」シート）。"])
    batch = _batch_to_confirm(checked)
    if batch is None:
        return Outcome(0, ["発送確定する発送予定がありません"])
    dates = batch_by_id(batch, checked.ledger.settings, Calendar.of(h.day for h in checked.ledger.holidays))
    ship = dates.ship if dates else now.date()
    if not book.ask(f"バッチ {batch} を発送日 {ship:%Y/%m/%d} で発送確定します。よろしいですか？"):
        return Outcome(0, ["発送確定を取りやめました"])
    result = confirm(checked.ledger, batch, ship, Context(now, operator))
    lines = describe_confirmation(result)
    problems = sort_problems(set(checked.problems) | set(result.problems))
    _write_ledger(book, checked, result.ledger, problems, now, "発送確定: " + lines[1])
    return Outcome(0, lines + ["保存はブックを保存してください（Ctrl+S）。"])


def monthly_reports(book: Book, now: dt.datetime, operator: str, send: bool = False) -> Outcome:
    """月次報告作成 (reports and outbox files) or 月次報告送信 (send what is not sent yet)."""
    from ..history import previous_month

    month = previous_month(now.date())
    question = (f"{month} の月次報告をメールで送信します。送信済みのものは送りません。よろしいですか？" if send else
                f"{month} の月次報告書と送信前のメール（.eml）を作成します。よろしいですか？")
    if not book.ask(question):
        return Outcome(0, ["取りやめました"])
    book.status("月次報告: 入力チェック中…")
    checked = _checked(book, now.date())
    outcome = month_end_from(checked, Run(book.path, now, operator), month, None, make_reports=not send,
                             make_mail=True, send=send, step=lambda text: book.status(f"月次報告: {text}"))
    if checked.errors:
        _show_problems(book, list(checked.problems))
    return outcome


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
        return Outcome(2, [])
    try:
        outcome = action(book, now, operator)
    except UnusableInput as exc:
        outcome = Outcome(2, [f"エラー: {exc}"])
    except BatchError as exc:
        outcome = Outcome(1, [f"エラー: {exc}"])
    except Exception as exc:  # a bug: logged for the developers, one sentence for the clerk
        log.exception("button %s failed", name)
        outcome = Outcome(1, [f"エラー: 予期しない内部エラーが起きました（{type(exc).__name__}）。"
                              "処理を中断しました。ブックを保存せずに閉じ、ログを担当者に送ってください。"])
    finally:
        book.status(None)
    book.tell("\n".join(outcome.lines), error=outcome.exit_code != 0)
    return outcome
