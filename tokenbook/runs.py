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
from .books.panel import panel
from .problems import Problem
from .files.sheetio import UnusableInput
from .validate import CheckResult, check_book, sort_problems
from .books.writeback import BookBusy, BookLock, WriteFailed, write_back
from .files.xlsxpatch import PatchRefused


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


Step = Callable[[str], None]


def _quiet(_: str) -> None:
    """No progress display."""


def _guarded(run: Run, title: str, compute: Compute, blocking: Callable[[Problem], bool], dry_run: bool,
             describe: Callable[[BatchResult], list[str]], step: Step = _quiet) -> Outcome:
    try:
        with BookLock(run.book) as lock:
            step(f"{title}: 読み込みと入力チェック")
            checked = check_book(run.book, run.now.date())
            stoppers = [p for p in checked.errors if blocking(p)]
            if stoppers:
                lines = [p.render() for p in stoppers[:50]]
                more = f"（ほか {len(stoppers) - 50} 件）" if len(stoppers) > 50 else ""
                return Outcome(ERRORS, lines + [f"入力エラー {len(stoppers)} 件{more}のため{title}を中止しました。"
                                                "ブックには何も書き込んでいません。"])
            step(f"{title}: 計算")
            result = compute(checked)
            problems = sort_problems(set(checked.problems) | set(result.problems))
            lines = describe(result)
            skipped_errors = [p for p in checked.errors if not blocking(p)]
            code = ERRORS if skipped_errors or any(p.is_error for p in result.problems) else DONE
            if dry_run:
                return Outcome(code, lines + ["（--dry-run: ブックには何も書き込んでいません）"])
            last = f"{title}: " + (lines[1] if len(lines) > 1 else "完了")
            step(f"{title}: 書き込みと検証")
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


def run_allocate(run: Run, as_of: dt.date | None = None, dry_run: bool = False, step: Step = _quiet) -> Outcome:
    """週次割当. Input errors in 申込 hold only those requests; errors elsewhere stop the run."""
    day = as_of or run.now.date()

    def compute(checked: CheckResult) -> BatchResult:
        blocked = frozenset(p.row for p in checked.errors if p.sheet == schema.REQUESTS and p.row)
        return allocate(checked.ledger, day, run.context, blocked)

    return _guarded(run, "週次割当", compute, lambda p: p.sheet != schema.REQUESTS, dry_run, describe_allocation, step)


def run_confirm(run: Run, batch_id: str, shipped_on: dt.date | None = None, step: Step = _quiet) -> Outcome:
    """発送確定 of one batch; any input error stops it."""
    return _guarded(run, "発送確定", lambda c: confirm(c.ledger, batch_id, shipped_on, run.context),
                    lambda p: True, False, describe_confirmation, step)


def run_cancel(run: Run, batch_id: str, step: Step = _quiet) -> Outcome:
    """バッチ取消; any input error stops it."""
    return _guarded(run, "バッチ取消", lambda c: cancel_batch(c.ledger, batch_id, run.context),
                    lambda p: True, False, describe_cancellation, step)


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


# --- the month-end ------------------------------------------------------------------------------

def report_folder(run: Run, settings_dir: str, out: Path | None, month: str) -> Path:
    """{out}/{YYYY-MM}: --out, else 設定 報告書出力先, else `reports` beside the book."""
    base = out or (Path(settings_dir) if settings_dir else run.book.parent / "reports")
    return base / month


def run_month_end(run: Run, month: str | None = None, out: Path | None = None, make_reports: bool = True,
                  make_mail: bool = True, send: bool = False, step: Callable[[str], None] = lambda _: None) -> Outcome:
    """validate → report workbooks → .eml outbox → (optionally) send. Refuses on input errors."""
    from .history import previous_month

    try:
        step("入力チェック")
        checked = check_book(run.book, run.now.date())
    except UnusableInput as exc:
        return Unusable.because(str(exc))
    return month_end_from(checked, run, month or previous_month(run.now.date()), out, make_reports, make_mail, send,
                          step)


def month_end_from(checked: CheckResult, run: Run, month: str, out: Path | None, make_reports: bool = True,
                   make_mail: bool = True, send: bool = False, step: Callable[[str], None] = lambda _: None) -> Outcome:
    """The month-end on a ledger already read and checked (from the file, or from the open book)."""
    from .mail import Letter, MailError, SendLog, letter, load_signer, protection_for, send_all, write_outbox
    from .report import Month, bank_file_name, css_report
    from .books.reportbook import write_bank_reports, write_css_report

    if checked.errors:
        lines = [p.render() for p in checked.errors[:50]]
        return Outcome(ERRORS, lines + [f"入力エラー {len(checked.errors)} 件のため月次処理を中止しました。何も作成していません。"])
    ledger = checked.ledger
    if make_mail:
        from .mail import check_settings

        try:
            check_settings(ledger.settings)
        except MailError as exc:
            return Outcome(ERRORS, [f"エラー: {exc}", "何も作成していません。"])
    folder = report_folder(run, ledger.settings.report_dir, out, month)
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[str] = [f"対象月 {month}・出力先 {folder}"]
    counts: dict[str, tuple[int, int, int]] = {}
    names = {b.bank_code: b.name for b in ledger.banks}

    def table(results: dict[str, str]) -> tuple[tuple[str, ...], list[tuple[str, ...]]] | None:
        """The closing summary: one row per bank, what its report holds and what became of its mail."""
        codes = list(counts) or list(results)
        if not codes:
            return None
        headers = ("金庫", "利用中", "要交換・期限切れ", "当月発送", "メール") if counts else ("金庫", "メール")
        rows = []
        for code in codes:
            figures = tuple(f"{n:,}" for n in counts[code]) if counts else ()
            rows.append((f"{code} {names.get(code, '')}", *figures, results.get(code, "")))
        return headers, rows
    banks = [b for b in ledger.banks if b.send_report == "する" and b.bank_code]
    if make_reports:
        step("報告書の集計")
        data = Month(ledger, month)
        written = 0
        for _ in write_bank_reports(data, banks, run.now, folder):
            written += 1
            step(f"報告書 {written}/{len(banks)}")
        write_css_report(css_report(ledger, month, run.now, data), folder)
        counts = {b.bank_code: (len(data.in_use.get(b.bank_code, [])),
                                sum(1 for t in data.in_use.get(b.bank_code, []) if data.flag(t)),
                                len(data.shipped.get(b.bank_code, []))) for b in banks}
        lines.append(f"報告書を作成しました: 金庫 {written} 件 + CSS在庫月報 1 件")
    if not make_mail:
        return Outcome(DONE, lines, table({}))
    letters: list[Letter] = []
    missing = []
    unprotected: dict[str, str] = {}  # banks whose mail cannot be encrypted as 金庫 メール暗号化 asks
    try:
        signer = load_signer(ledger.settings, ledger.folder)
        for bank in banks:
            attachment = folder / bank_file_name(month, bank)
            if not attachment.exists():
                missing.append(bank.bank_code)
                continue
            try:
                protection = protection_for(bank, signer, ledger.folder)
            except MailError as exc:
                unprotected[bank.bank_code] = str(exc)
                continue
            letters.append(letter(bank, attachment, month, ledger.settings, protection))
        outbox = write_outbox(letters, folder / "outbox", ledger.settings, run.now)
    except MailError as exc:
        return Outcome(ERRORS, lines + [f"エラー: {exc}", "メールは送信していません。"])
    lines.append(f"メールを {len(outbox)} 通作成しました（送信前の確認用）: {folder / 'outbox'}")
    code = DONE
    if missing:
        code = ERRORS
        lines.append(f"報告書がないためメールを作れなかった金庫: {', '.join(missing)}（先に report を実行してください）")
    if unprotected:
        code = ERRORS
        lines += [f"  失敗 {bank_code}（メールを作成・送信していません）: {reason}" for bank_code, reason in unprotected.items()]
    not_made = {bank_code: "失敗（暗号化できません）" for bank_code in unprotected}
    if not send:
        made = {item.bank_code: "作成（未送信）" for item in letters}
        return Outcome(code, lines + ["（--send を付けると送信します）"], table({**made, **not_made}))
    log = SendLog.open(folder / "send-log.jsonl")
    try:
        deliveries = send_all(letters, {b.bank_code: b for b in banks}, ledger.settings, log,
                              lambda: dt.datetime.now().replace(microsecond=0), step)
    except MailError as exc:
        return Outcome(ERRORS, lines + [f"エラー: {exc}", "メールは送信していません。"])
    failed = [d for d in deliveries if d.result in ("失敗", "一部失敗")]
    sent = sum(d.result == "送信済" for d in deliveries)
    skipped = sum(d.result.startswith("送信不要") for d in deliveries)
    lines.append(f"送信: 送信済 {sent} 通・送信不要 {skipped} 通・失敗 {len(failed)} 通（送信ログ: {log.path}）")
    lines += [f"  失敗 {d.bank_code} {', '.join(d.recipients)}: {d.detail}" for d in failed]
    return Outcome(ERRORS if failed or code else DONE, lines,
                   table({**{d.bank_code: d.result for d in deliveries}, **not_made}))


# --- Excel set-up ----------------------------------------------------------------------------------

def run_setup_excel(run: Run, interpreter: Path) -> Outcome:
    """Record the interpreter in the book's xlwings.conf sheet, after checking that the xlwings
    module inside the book is the installed xlwings' own version."""
    from .books.build import XLWINGS_CONF
    from .books.vba import embedded_version, installed_xlwings, read_modules
    from .books.writeback import apply_edits
    from .files.xlsxpatch import SheetEdit

    installed = installed_xlwings()
    try:
        modules = read_modules(run.book)
    except FileNotFoundError:
        return Unusable.because(f"ファイルがありません: {run.book}")
    except Exception:
        return Unusable.because(f"マクロ（VBAプロジェクト）の入ったブックではありません: {run.book.name}。"
                                "`tokenbook new-workbook` で作ったブックを使ってください")
    embedded = embedded_version(modules.get("xlwings", ""))
    if embedded is None:
        return Outcome(ERRORS, ["エラー: ブックに xlwings のモジュールがありません。`make workbook` でブックを作り直してください"])
    if embedded != installed:
        return Outcome(ERRORS, [f"エラー: ブックの xlwings モジュールは {embedded}、インストールされている xlwings は {installed} です。",
                                f"pip install xlwings=={embedded} で合わせるか、ブックを作り直してください（make workbook）。"])
    windowless = interpreter.with_name("pythonw.exe")
    chosen = windowless if windowless.exists() else interpreter
    edit = SheetEdit({1: {0: "Interpreter_Win", 1: str(chosen)}, 2: {0: "Interpreter_Mac", 1: str(interpreter)}})

    def check(written: Path) -> None:
        import python_calamine

        book = python_calamine.CalamineWorkbook.from_path(str(written))
        rows = book.get_sheet_by_name(XLWINGS_CONF).to_python()
        if not rows or rows[0][:2] != ["Interpreter_Win", str(chosen)]:
            raise WriteFailed("xlwings.conf に書き込めませんでした")

    try:
        with BookLock(run.book) as lock:
            apply_edits(lock, {XLWINGS_CONF: edit}, check, run.now)
    except BookBusy as exc:
        return Outcome(BUSY, [f"エラー: {exc}"])
    except (PatchRefused, WriteFailed) as exc:
        if "xlwings.conf" in str(exc) and "ありません" in str(exc):
            return Outcome(ERRORS, ["エラー: ブックに xlwings.conf シートがありません。`make workbook` で作り直してください"])
        return Outcome(ERRORS, [f"エラー: {exc}"])
    return Outcome(DONE, [f"xlwings {installed}: ブックの xlwings モジュールと一致しています。",
                          f"ボタンが使う Python を記録しました: {chosen}",
                          "Excel で「ファイル > オプション > トラスト センター」からマクロを有効にしてブックを開いてください。"])
