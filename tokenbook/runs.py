"""Whole runs, the one pipeline behind the command line and the buttons:
hold the book → read and check → compute → write back → an `Outcome`.

A run reads and writes its ledger through a `LedgerStore`: the workbook file headless (`BookFile`:
locked, patched, verified and swapped atomically) or the book open in Excel (the buttons' store in
`excel/buttons.py`). The same functions run either way, and `guarded` maps what a clerk or operator
can cause (busy book, unusable input, a batch that cannot be done, a write that did not verify) to
an outcome in one place; the front ends only render it.
"""

from __future__ import annotations

import datetime as dt
import getpass
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Protocol, Sequence

from . import schema
from .batch import (
    BatchError,
    BatchResult,
    Confirmations,
    allocate,
    awaiting_confirmation,
    cancel_batch,
    confirm,
    confirm_ready,
)
from .books.panel import panel
from .books.writeback import BookBusy, BookLock, WriteFailed, write_back
from .files.sheetio import UnusableInput
from .files.xlsxpatch import PatchRefused
from .journal import Context
from .load import check_book
from .models import Ledger
from .outcome import Outcome, busy, failed, unusable, where_problems_are
from .problems import Problem
from .schema import DispatchState, SendReport
from .validate import CheckResult, sort_problems


class LedgerStore(Protocol):
    """Where a run reads its ledger and puts what it changed."""

    def hold(self) -> ContextManager[object]: ...  # exclusive use for the run
    def read(self, today: dt.date) -> CheckResult: ...  # raises UnusableInput
    def save(self, old: CheckResult, new: Ledger, problems: Sequence[Problem], last_run: str,
             now: dt.datetime) -> list[str]: ...  # what to tell about the write
    def show(self, problems: Sequence[Problem]) -> None: ...  # problems of a run that wrote nothing


class BookFile:
    """The ledger file, headless: locked from before it is read until after the new file is in place."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock: BookLock | None = None

    @contextmanager
    def hold(self) -> Iterator[BookLock]:
        with BookLock(self.path) as lock:
            self._lock = lock
            try:
                yield lock
            finally:
                self._lock = None

    def read(self, today: dt.date) -> CheckResult:
        return check_book(self.path, today)

    def save(self, old: CheckResult, new: Ledger, problems: Sequence[Problem], last_run: str,
             now: dt.datetime) -> list[str]:
        assert self._lock is not None, "save() outside hold()"
        written = write_back(self._lock, old.ledger, new, problems, panel(new, now, last_run), now)
        backup = f"（バックアップ: {written.backup.name}）" if written.backup else ""
        return [f"ブックを更新しました: {written.path}{backup}"]

    def show(self, problems: Sequence[Problem]) -> None:
        """Headless, the console shows them; a run that stops writes nothing into the file."""


@dataclass
class Run:
    """Who runs, when, on which book, and through which store (the file unless told otherwise)."""

    book: Path
    now: dt.datetime
    operator: str
    store: LedgerStore | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.book = Path(self.book)
        if self.store is None:
            self.store = BookFile(self.book)

    @classmethod
    def here(cls, book: Path, now: dt.datetime | None = None) -> "Run":
        try:
            operator = getpass.getuser()
        except Exception:  # no login name (a service account)
            operator = "tokenbook"
        return cls(Path(book), now or dt.datetime.now().replace(microsecond=0), operator)

    @property
    def context(self) -> Context:
        return Context(self.now, self.operator)

    @property
    def ledger_store(self) -> LedgerStore:
        assert self.store is not None
        return self.store


class Change(Protocol):
    """What a computing stage returns: the new ledger and the problems it met (a `BatchResult`,
    an intake's result, …)."""

    @property
    def ledger(self) -> Ledger: ...
    @property
    def problems(self) -> tuple[Problem, ...]: ...


Compute = Callable[[CheckResult], Change]
Step = Callable[[str], None]


def _quiet(_: str) -> None:
    """No progress display."""


def guarded(work: Callable[[], Outcome]) -> Outcome:
    """`work()`, with everything a clerk or operator can cause turned into its outcome."""
    try:
        return work()
    except BookBusy as exc:
        return busy(str(exc))
    except UnusableInput as exc:
        return unusable(str(exc))
    except (BatchError, PatchRefused, WriteFailed) as exc:
        return failed(f"エラー: {exc}", "ブックには何も書き込んでいません。")


def stopped_by(problems: Sequence[Problem], title: str, book: Path, warnings: Sequence[Problem] = ()) -> Outcome:
    """A run that input errors stopped before anything was written."""
    lines = [p.render() for p in [*problems, *warnings][:50]]
    more = f"（ほか {len(problems) - 50} 件）" if len(problems) > 50 else ""
    headline = f"入力エラー {len(problems)} 件{more}のため{title}を中止しました。"
    return Outcome(lines + [headline + "ブックには何も書き込んでいません。", where_to_look([*problems, *warnings], book)],
                   headline=headline, problems=tuple(problems) + tuple(warnings))


def where_to_look(problems: Sequence[Problem], book: Path) -> str:
    errors = sum(p.is_error for p in problems)
    where = f"。{where_problems_are(book)}" if problems else ""
    return f"チェック結果: エラー {errors} 件、警告 {len(problems) - errors} 件（「{schema.CHECKS}」シート）{where}"


def _change(run: Run, title: str, compute: Compute, blocking: Callable[[Problem], bool], dry_run: bool,
            describe: Callable[[Any], tuple[str, list[str]]], step: Step = _quiet,
            all_or_nothing: bool = False) -> Outcome:
    """The pipeline of every run that changes the ledger. `blocking` says which input errors stop
    it before computing; with `all_or_nothing`, any error the computation meets (a wrong line in a
    list being taken in) stops it too, and nothing is written."""
    store = run.ledger_store

    def work() -> Outcome:
        with store.hold():
            step(f"{title}: 読み込みと入力チェック")
            checked = store.read(run.now.date())
            stoppers = [p for p in checked.errors if blocking(p)]
            if stoppers:
                store.show(checked.problems)
                return stopped_by(stoppers, title, run.book)
            step(f"{title}: 計算")
            result = compute(checked)
            if all_or_nothing and any(p.is_error for p in result.problems):
                return stopped_by([p for p in result.problems if p.is_error], title, run.book,
                                  warnings=[p for p in result.problems if not p.is_error])
            problems = sort_problems(set(checked.problems) | set(result.problems))
            headline, lines = describe(result)
            if dry_run:
                return Outcome(lines + ["（--dry-run: ブックには何も書き込んでいません）"], headline=headline,
                               problems=tuple(problems))
            step(f"{title}: 書き込みと検証")
            saved = store.save(checked, result.ledger, problems, f"{title}: {headline}", run.now)
            return Outcome(lines + saved + [where_to_look(problems, run.book)], headline=headline, problems=tuple(problems))

    return guarded(work)


def run_check(run: Run) -> CheckResult | Outcome:
    """入力チェック: every check (the Excel store also shows them in チェック結果)."""
    store = run.ledger_store

    def work() -> Outcome:
        with store.hold():
            checked = store.read(run.now.date())
        store.show(checked.problems)
        from .outcome import Checked

        return Checked(headline=_checks_headline(checked.problems), problems=checked.problems)

    return guarded(work)


def _checks_headline(problems: Sequence[Problem]) -> str:
    errors = sum(p.is_error for p in problems)
    if not problems:
        return "問題はありません"
    return f"エラー {errors} 件、警告 {len(problems) - errors} 件（「{schema.CHECKS}」シート）"


def run_intake(run: Run, title: str, compute: Compute, describe: Callable[[Any], tuple[str, list[str]]],
               dry_run: bool = False, step: Step = _quiet) -> Outcome:
    """Taking in a list someone made (a slip, a form, a card list, a tracking file): the ledger must
    have no input errors, `compute` reads the list (an unusable file raises UnusableInput: exit 2)
    and checks every line with its location, and the result is applied all or nothing."""
    return _change(run, title, compute, lambda p: True, dry_run, describe, step, all_or_nothing=True)


def run_allocate(run: Run, as_of: dt.date | None = None, dry_run: bool = False, step: Step = _quiet) -> Outcome:
    """週次割当. Input errors in 申込 hold only those requests; errors elsewhere stop the run."""
    day = as_of or run.now.date()

    def compute(checked: CheckResult) -> BatchResult:
        blocked = frozenset(p.row for p in checked.errors if p.sheet == schema.REQUESTS and p.row)
        return allocate(checked.ledger, day, run.context, blocked)

    return _change(run, "週次割当", compute, lambda p: p.sheet != schema.REQUESTS, dry_run, describe_allocation, step)


def run_confirm(run: Run, batch_id: str, shipped_on: dt.date | None = None, step: Step = _quiet) -> Outcome:
    """発送確定 of one batch; any input error stops it. A 発送日 after today is refused (exit 2)."""
    if shipped_on is not None and shipped_on > run.now.date():
        return unusable(f"--shipped-on: 発送日 {shipped_on:%Y/%m/%d} は未来の日付です（今日は {run.now:%Y/%m/%d}）。"
                        "発送した日を指定してください")
    return _change(run, "発送確定", lambda c: confirm(c.ledger, batch_id, shipped_on, run.context),
                   lambda p: True, False, describe_confirmation, step)


def run_confirm_ready(run: Run, step: Step = _quiet) -> Outcome:
    """発送確定 of every batch with parcels that can ship today (the button); any input error stops it."""
    return _change(run, "発送確定", lambda c: confirm_ready(c.ledger, run.context), lambda p: True, False,
                   describe_confirmations, step)


def run_cancel(run: Run, batch_id: str, step: Step = _quiet) -> Outcome:
    """バッチ取消; any input error stops it."""
    return _change(run, "バッチ取消", lambda c: cancel_batch(c.ledger, batch_id, run.context),
                   lambda p: True, False, describe_cancellation, step)


# --- what the operator reads (request numbers and counts, never customer names) ---------------------

def _dates(result: BatchResult) -> str:
    d = result.summary.dates
    return f"{d.batch_id}（締切 {d.cutoff:%m/%d}・●{d.card:%m/%d}・◆{d.receipt:%m/%d}・★発送 {d.ship:%m/%d}）"


def describe_allocation(result: BatchResult) -> tuple[str, list[str]]:
    """(headline, lines) of a 週次割当."""
    s = result.summary
    tokens = sum(n for _, n in s.allocated)
    headline = (f"引当 {len(s.allocated)}件（{tokens}本）・保留 {len(s.held)}件・窓口手交 {len(s.handovers)}件"
                + (f"・入力エラーで未処理 {len(s.skipped)}件" if s.skipped else ""))
    lines = [f"週次割当 {_dates(result)}", headline]
    serials: dict[str, list[str]] = {}
    for d in result.ledger.dispatches:
        if d.batch == s.dates.batch_id and d.state == DispatchState.PLANNED:
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
    return headline, lines


def describe_confirmation(result: BatchResult) -> tuple[str, list[str]]:
    """(headline, lines) of a 発送確定."""
    s = result.summary
    headline = f"発送済 {len(s.shipped)}本・完了 {len(s.completed)}件・IBカード待ち {len(s.waiting)}件"
    lines = [f"発送確定 {_dates(result)}", headline]
    lines += [f"  IBカード待ち {request_id}（{reason}）" for request_id, reason in sorted(s.waiting)]
    if s.stopped:
        lines.append(f"交換・再発行で停止した旧トークン: {len(s.stopped)}本")
    lines += [p.render() for p in result.problems if p.is_error]
    return headline, lines


def describe_confirmations(result: Confirmations) -> tuple[str, list[str]]:
    """(headline, lines) of the 発送確定 button: each batch confirmed, then what still waits, and for what."""
    shipped = sum(len(r.summary.shipped) for r in result.results)
    left = awaiting_confirmation(result.ledger, result.today)
    waiting = [(b.batch_id, request_id, reason) for b in left for request_id, reason in b.waiting]
    batches = "・".join(r.summary.dates.batch_id for r in result.results) or "なし"
    headline = f"発送済 {shipped}本（バッチ {batches}）・発送確定待ち {len(waiting)}件"
    lines = []
    for r in result.results:  # what still waits is listed once, below, as it stands after all of them
        lines += [line for line in describe_confirmation(r)[1] if not line.startswith("  IBカード待ち")]
    lines.append(headline)
    lines += [f"  IBカード待ち {batch_id} {request_id}（{reason}）" for batch_id, request_id, reason in waiting]
    return headline, lines


def describe_cancellation(result: BatchResult) -> tuple[str, list[str]]:
    """(headline, lines) of a バッチ取消."""
    headline = f"在庫に戻したトークン {len(result.summary.released)}本"
    return headline, [f"バッチ取消 {_dates(result)}", headline]


# --- the month-end ------------------------------------------------------------------------------

def report_folder(run: Run, settings_dir: str, out: Path | None, month: str) -> Path:
    """{out}/{YYYY-MM}: --out, else 設定 報告書出力先, else `reports` beside the book."""
    base = out or (Path(settings_dir) if settings_dir else run.book.parent / "reports")
    return base / month


def run_month_end(run: Run, month: str | None = None, out: Path | None = None, make_reports: bool = True,
                  make_mail: bool = True, send: bool = False, step: Step = _quiet, preliminary: bool = False,
                  correction: bool = False) -> Outcome:
    """validate → report workbooks → .eml outbox → (optionally) send. Refuses on input errors, and a
    month not over yet unless `preliminary` (then every sheet says 速報 and nothing is mailed); a
    sent report that now says something else is sent again only with `correction` (訂正版)."""
    from .history import previous_month

    store = run.ledger_store
    chosen = month or previous_month(run.now.date())
    refused = month_refused(chosen, run.now.date(), preliminary, send)
    if refused is not None:
        return unusable(refused)

    def work() -> Outcome:
        step("入力チェック")
        with store.hold():
            checked = store.read(run.now.date())
        if checked.errors:
            store.show(checked.problems)
            return stopped_by(checked.errors, "月次処理", run.book)
        return _month_end(checked, run, chosen, out, make_reports, make_mail and not preliminary, send, step,
                          preliminary, correction)

    return guarded(work)


def month_refused(month: str, today: dt.date, preliminary: bool, send: bool) -> str | None:
    """Why a month's reports may not be made (or sent) today, or None."""
    from .history import month_bounds
    from .report import month_label

    first, last = month_bounds(month)
    if preliminary and send:
        return "速報（--preliminary）は送信できません。月が終わってから --send で送ってください"
    if last < today or preliminary:
        return None
    when = "未来の月です" if first > today else f"まだ終わっていません（末日は {last:%Y/%m/%d}）"
    return (f"{month_label(month)}は{when}。締まっていない月の報告は作れません。"
            "途中の数字を見るときは --preliminary を付けてください（全シートに「速報」と入ります）")


def _month_end(checked: CheckResult, run: Run, month: str, out: Path | None, make_reports: bool,
               make_mail: bool, send: bool, step: Step, preliminary: bool = False, correction: bool = False) -> Outcome:
    """The month-end on a ledger read and checked without errors."""
    from .books.reportbook import write_bank_report
    from .corrections import changed_since_sent, correction_subject, files_of, keep_sent, last_sent
    from .report import CORRECTION, PRELIMINARY
    from .books.reportbook import write_bank_reports, write_css_report
    from .mail import (
        Letter,
        MailError,
        SendLog,
        check_settings,
        letter,
        send_all,
        write_outbox,
    )
    from .report import Month, bank_file_name, css_report

    ledger = checked.ledger
    if make_mail:
        try:
            check_settings(ledger.settings)
        except MailError as exc:
            return failed(f"エラー: {exc}", "何も作成していません。")
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

    banks = [b for b in ledger.banks if b.send_report == SendReport.YES and b.bank_code]
    headline = ""
    files = files_of(month, banks)
    log = SendLog.open(folder / "send-log.jsonl")
    sent = {} if preliminary else last_sent(folder, log, files)
    month_data: list[Month] = []

    def data_of() -> Month:
        if not month_data:
            made = Month(ledger, month)
            made.mark = PRELIMINARY if preliminary else ""
            # a bank last sent a correction keeps the mark: made again alike, it is the same report
            made.marks = {code: CORRECTION for code, was in sent.items() if was.corrected}
            month_data.append(made)
        return month_data[0]

    if make_reports:
        step("報告書の集計")
        data = data_of()
        written = 0
        for _ in write_bank_reports(data, banks, run.now, folder):
            written += 1
            step(f"報告書 {written}/{len(banks)}")
        write_css_report(css_report(ledger, month, run.now, data), folder)
        counts = {b.bank_code: (len(data.in_use.get(b.bank_code, [])),
                                sum(1 for t in data.in_use.get(b.bank_code, []) if data.flag(t)),
                                len(data.shipped.get(b.bank_code, []))) for b in banks}
        headline = f"{month} 報告書 金庫 {written} 件 + CSS在庫月報" + ("（速報）" if preliminary else "")
        lines.append(f"報告書を作成しました: 金庫 {written} 件 + CSS在庫月報 1 件")
    if preliminary:
        lines.append("速報です（月が締まっていません）。全シートに「速報」と入れ、メールは作成・送信しません。")
    changed = changed_since_sent(folder, sent, files)
    corrected: set[str] = set()
    held_back: list[str] = []
    if changed:
        lines.append(f"送信済みの報告と内容が変わった金庫: {len(changed)} 件")
        for code, what in changed.items():
            lines.append(f"  {code} {names.get(code, '')}:")
            lines += [f"    {line}" for line in what]
        if send and correction:
            for bank in banks:
                if bank.bank_code in changed:
                    data_of().marks[bank.bank_code] = CORRECTION
                    write_bank_report(data_of().bank_report(bank, run.now), folder)
                    corrected.add(bank.bank_code)
            lines.append(f"訂正版として作り直しました: {', '.join(sorted(corrected))}")
        else:
            held_back = sorted(changed)
            lines.append("これらは送信しません。訂正版として送るには --send --correction を付けてください。")
    if not make_mail:
        return Outcome(lines, headline=headline, problems=checked.problems, table=table({}))
    letters: list[Letter] = []
    missing = []
    try:
        for bank in banks:
            attachment = folder / bank_file_name(month, bank)
            if not attachment.exists():
                missing.append(bank.bank_code)
                continue
            if bank.bank_code in corrected or sent.get(bank.bank_code, None) is not None and sent[bank.bank_code].corrected:
                settings = ledger.settings.model_copy(update={"mail_subject": correction_subject(ledger.settings.mail_subject)})
            else:
                settings = ledger.settings
            letters.append(letter(bank, attachment, month, settings))
        outbox = write_outbox(letters, folder / "outbox", ledger.settings, run.now)
    except MailError as exc:
        return failed(*lines, f"エラー: {exc}", "メールは送信していません。")
    lines.append(f"メールを {len(outbox)} 通作成しました（送信前の確認用）: {folder / 'outbox'}")
    failures: list[str] = []
    if missing:
        failures.append(f"報告書がないためメールを作れなかった金庫: {', '.join(missing)}（先に report を実行してください）")
        lines.append(failures[-1])
    if not send:
        made = {item.bank_code: "作成（未送信）" for item in letters}
        return Outcome(lines + ["（--send を付けると送信します）"], headline=headline or f"{month} メール作成",
                       problems=checked.problems, failures=tuple(failures), table=table(made))
    if held_back:
        failures.append(f"送信済みと内容が変わったため送信しなかった金庫: {', '.join(held_back)}"
                        "（訂正版として送るには --send --correction）")
    try:
        deliveries = send_all([item for item in letters if item.bank_code not in held_back],
                              {b.bank_code: b for b in banks}, ledger.settings, log,
                              lambda: dt.datetime.now().replace(microsecond=0), step)
    except MailError as exc:
        return failed(*lines, f"エラー: {exc}", "メールは送信していません。")
    for d, item in zip(deliveries, [item for item in letters if item.bank_code not in held_back]):
        if d.result in ("送信済", "一部失敗"):
            keep_sent(folder, item.attachment)  # the workbook as it went out, to compare a later remake with
    bad = [d for d in deliveries if d.result in ("失敗", "一部失敗")]
    sent = sum(d.result == "送信済" for d in deliveries)
    skipped = sum(d.result.startswith("送信不要") for d in deliveries)
    headline = f"{month} 送信済 {sent} 通・送信不要 {skipped} 通・失敗 {len(bad)} 通"
    lines.append(f"送信: 送信済 {sent} 通・送信不要 {skipped} 通・失敗 {len(bad)} 通（送信ログ: {log.path}）")
    refused = [f"  失敗 {d.bank_code} {', '.join(d.recipients)}: {d.detail}" for d in bad]
    lines += refused
    failures += refused
    return Outcome(lines, headline=headline, problems=checked.problems, failures=tuple(failures),
                   table=table({d.bank_code: d.result for d in deliveries}))


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
        return unusable(f"ファイルがありません: {run.book}")
    except Exception:
        return unusable(f"マクロ（VBAプロジェクト）の入ったブックではありません: {run.book.name}。"
                        "`tokenbook new-workbook` で作ったブックを使ってください")
    embedded = embedded_version(modules.get("xlwings", ""))
    if embedded is None:
        return failed("エラー: ブックに xlwings のモジュールがありません。`make workbook` でブックを作り直してください")
    if embedded != installed:
        return failed(f"エラー: ブックの xlwings モジュールは {embedded}、インストールされている xlwings は {installed} です。",
                      f"pip install xlwings=={embedded} で合わせるか、ブックを作り直してください（make workbook）。")
    windowless = interpreter.with_name("pythonw.exe")
    chosen = windowless if windowless.exists() else interpreter
    edit = SheetEdit({1: {0: "Interpreter_Win", 1: str(chosen)}, 2: {0: "Interpreter_Mac", 1: str(interpreter)}})

    def check(written: Path) -> None:
        import python_calamine

        book = python_calamine.CalamineWorkbook.from_path(str(written))
        rows = book.get_sheet_by_name(XLWINGS_CONF).to_python()
        if not rows or rows[0][:2] != ["Interpreter_Win", str(chosen)]:
            raise WriteFailed("xlwings.conf に書き込めませんでした")

    def work() -> Outcome:
        with BookLock(run.book) as lock:
            if XLWINGS_CONF not in _sheet_names(run.book):
                return failed(f"エラー: ブックに {XLWINGS_CONF} シートがありません。`make workbook` で作り直してください")
            apply_edits(lock, {XLWINGS_CONF: edit}, check, run.now)
        return Outcome([f"xlwings {installed}: ブックの xlwings モジュールと一致しています。",
                        f"ボタンが使う Python を記録しました: {chosen}",
                        "Excel で「ファイル > オプション > トラスト センター」からマクロを有効にしてブックを開いてください。"],
                       headline=f"ボタンの Python: {chosen}")

    return guarded(work)


def _sheet_names(path: Path) -> list[str]:
    import python_calamine

    return list(python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names)
