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
from .journal import Context, seal
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
        self.notes: list[str] = []

    @contextmanager
    def hold(self) -> Iterator[BookLock]:
        with BookLock(self.path) as lock:
            self._lock = lock
            self.notes = lock.notes  # a stale lock it cleared, to be said first
            try:
                yield lock
            finally:
                self._lock = None

    def read(self, today: dt.date) -> CheckResult:
        return check_book(self.path, today)

    def save(self, old: CheckResult, new: Ledger, problems: Sequence[Problem], last_run: str,
             now: dt.datetime) -> list[str]:
        assert self._lock is not None, "save() outside hold()"
        written = write_back(self._lock, old.ledger, new, problems, panel(new, now, last_run), now,
                             views=views(new, now))
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
    """`work()`, with everything a clerk or operator can cause turned into its outcome.

    The cyclic garbage collector is paused for the run (`gc_paused`): at a million tokens its passes
    over the ledger's tens of millions of objects took 14 s of close-year's 138 (7 full passes, 669
    middle ones) and found next to nothing, since rows are acyclic; reference counting still frees
    them. Freezing the ledger once read (`gc.freeze`) was tried: the passes then went over the
    millions of rows a run makes (17 full passes, 7.1 s). It runs again when the run ends (the
    Excel adapter's process runs many); writer processes forked meanwhile collect as usual."""
    from .parse import gc_paused

    try:
        with gc_paused():
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
    if problems and all("." in p.sheet for p in problems):  # all in a file being taken in (issue 10)
        return (f"取り込むファイルの問題: エラー {errors} 件、警告 {len(problems) - errors} 件。場所は上の各行"
                "（ファイル名:行、ブックはファイル名!シート!セル）です。ファイルを直してもう一度取り込んでください。")
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
            sealed = seal(checked.ledger, result.ledger)  # every run extends the journal's chain
            saved = store.save(checked, sealed, problems, f"{title}: {headline}", run.now)
            return Outcome(lines + saved + [where_to_look(problems, run.book)], headline=headline, problems=tuple(problems))

    return _noted(store, guarded(work))


def _noted(store: LedgerStore, outcome: Outcome) -> Outcome:
    """The outcome with what holding the book had to say first (a stale lock removed)."""
    outcome.lines[:0] = getattr(store, "notes", [])
    return outcome


def run_check(run: Run) -> CheckResult | Outcome:
    """入力チェック: every check (the Excel store also shows them in チェック結果)."""
    store = run.ledger_store

    def work() -> Outcome:
        with store.hold():
            checked = store.read(run.now.date())
        store.show(checked.problems)
        from .outcome import Checked

        return Checked(headline=_checks_headline(checked.problems), problems=checked.problems)

    return _noted(store, guarded(work))


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


def _unwritable(folder: Path, source: str) -> str | None:
    """Why reports cannot be written in `folder` (made if missing), or None when they can."""
    import tempfile

    given = f"（{source}）" if source else ""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except (FileExistsError, NotADirectoryError):
        return f"出力先{given}の途中にフォルダでないファイルがあります。フォルダを指定してください: {folder}"
    except PermissionError:
        return f"出力先{given}に書き込む権限がありません: {folder}"
    except OSError as exc:
        return f"出力先{given}にフォルダを作れません（{exc.strerror or type(exc).__name__}）: {folder}"
    return None


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
        from contextlib import nullcontext

        from .books.reportbook import writer_pool

        step("入力チェック")
        # the report writers are started before the ledger is read, so that none of them holds it
        with writer_pool() if make_reports else nullcontext() as writers:
            with store.hold():
                checked = store.read(run.now.date())
                if checked.errors:
                    store.show(checked.problems)
                    return stopped_by(checked.errors, "月次処理", run.book)
                checked, recorded = journal_hand_edits(store, checked, run, "月次処理")  # issue 10
            outcome = _month_end(checked, run, chosen, out, make_reports, make_mail and not preliminary, send, step,
                                 preliminary, correction, writers)
        outcome.lines[:0] = recorded
        return outcome

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
               make_mail: bool, send: bool, step: Step, preliminary: bool = False, correction: bool = False,
               writers: Any = None) -> Outcome:
    """The month-end on a ledger read and checked without errors; `writers`: the report writer
    processes (`reportbook.writer_pool`)."""
    from .books.reportbook import write_bank_report, write_bank_reports, write_css_report
    from .corrections import changed_since_sent, correction_subject, files_of, keep_sent, last_sent
    from .history import month_bounds
    from .yearend import archived_entries
    from .mail import (
        Letter,
        MailError,
        MailResult,
        SendLog,
        check_settings,
        letter,
        load_signer,
        protection_for,
        send_all,
        write_outbox,
    )
    from .report import CORRECTION, PRELIMINARY, Month, bank_file_name, css_report

    ledger = checked.ledger
    if make_mail:
        try:
            check_settings(ledger.settings)
        except MailError as exc:
            return failed(f"エラー: {exc}", "何も作成していません。")
    folder = report_folder(run, ledger.settings.report_dir, out, month)
    why = _unwritable(folder, "--out" if out else "設定「報告書出力先」" if ledger.settings.report_dir else "")
    if why:
        return unusable(why)
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
    was_sent = {} if preliminary else last_sent(folder, log, files)
    month_data: list[Month] = []

    def data_of() -> Month:
        if not month_data:
            # a month of an archived year is replayed from its archive (checked against 年次締め)
            made = Month(ledger, month, archived_entries(run.book.parent, ledger, month_bounds(month)[0]))
            made.mark = PRELIMINARY if preliminary else ""
            # a bank last sent a correction keeps the mark: made again alike, it is the same report
            made.marks = {code: CORRECTION for code, was in was_sent.items() if was.corrected}
            month_data.append(made)
        return month_data[0]

    if make_reports:
        step("報告書の集計")
        data = data_of()
        written = 0
        # the CSS report is made and written here while the writer processes finish the banks'
        for _ in write_bank_reports(data, banks, run.now, folder, pool=writers,
                                    meanwhile=lambda: write_css_report(css_report(ledger, month, run.now, data), folder)):
            written += 1
            step(f"報告書 {written}/{len(banks)}")
        counts = {b.bank_code: (len(data.in_use.get(b.bank_code, [])),
                                sum(1 for t in data.in_use.get(b.bank_code, []) if data.flag(t)),
                                len(data.shipped.get(b.bank_code, []))) for b in banks}
        headline = f"{month} 報告書 金庫 {written} 件 + CSS在庫月報" + ("（速報）" if preliminary else "")
        lines.append(f"報告書を作成しました: 金庫 {written} 件 + CSS在庫月報 1 件")
    if preliminary:
        lines.append("速報です（月が締まっていません）。全シートに「速報」と入れ、メールは作成・送信しません。")
    changed = changed_since_sent(folder, was_sent, files)
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
            settings = ledger.settings
            if bank.bank_code in corrected or bank.bank_code in was_sent and was_sent[bank.bank_code].corrected:
                settings = settings.model_copy(update={"mail_subject": correction_subject(settings.mail_subject)})
            letters.append(letter(bank, attachment, month, settings, protection))
        outbox = write_outbox(letters, folder / "outbox", ledger.settings, run.now)
    except MailError as exc:
        return failed(*lines, f"エラー: {exc}", "メールは送信していません。")
    lines.append(f"メールを {len(outbox)} 通作成しました（送信前の確認用）: {folder / 'outbox'}")
    failures: list[str] = []
    if missing:
        failures.append(f"報告書がないためメールを作れなかった金庫: {', '.join(missing)}（先に report を実行してください）")
        lines.append(failures[-1])
    unmade = [f"  失敗 {bank_code}（メールを作成・送信していません）: {reason}" for bank_code, reason in unprotected.items()]
    lines += unmade
    failures += unmade
    not_made = {bank_code: "失敗（暗号化できません）" for bank_code in unprotected}
    if not send:
        made = {item.bank_code: "作成（未送信）" for item in letters}
        return Outcome(lines + ["（--send を付けると送信します）"], headline=headline or f"{month} メール作成",
                       problems=checked.problems, failures=tuple(failures), table=table({**made, **not_made}))
    if held_back:
        failures.append(f"送信済みと内容が変わったため送信しなかった金庫: {', '.join(held_back)}"
                        "（訂正版として送るには --send --correction）")
    going = [item for item in letters if item.bank_code not in held_back]
    try:
        deliveries = send_all(going, {b.bank_code: b for b in banks}, ledger.settings, log,
                              lambda: dt.datetime.now().replace(microsecond=0), step)
    except MailError as exc:
        return failed(*lines, f"エラー: {exc}", "メールは送信していません。")
    for d, item in zip(deliveries, going):
        if d.result in (MailResult.SENT, MailResult.PARTIAL):
            keep_sent(folder, item.attachment)  # the workbook as it went out, to compare a later remake with
    bad = [d for d in deliveries if d.result.failed]
    sent = sum(d.result == MailResult.SENT for d in deliveries)
    skipped = sum(d.result == MailResult.NOT_NEEDED for d in deliveries)
    headline = f"{month} 送信済 {sent} 通・送信不要 {skipped} 通・失敗 {len(bad)} 通"
    lines.append(f"送信: 送信済 {sent} 通・送信不要 {skipped} 通・失敗 {len(bad)} 通（送信ログ: {log.path}）")
    refused = [f"  失敗 {d.bank_code} {', '.join(d.recipients)}: {d.detail}" for d in bad]
    lines += refused
    failures += refused
    return Outcome(lines, headline=headline, problems=checked.problems, failures=tuple(failures),
                   table=table({**{d.bank_code: d.result for d in deliveries}, **not_made}))


# --- issue 11: replacement plans and the banks' answers ---------------------------------------------

def run_plan_replacements(run: Run, as_of: dt.date | None = None, months: int | None = None, bank: str | None = None,
                          out: Path | None = None, step: Step = _quiet) -> Outcome:
    """交換計画: one proposal workbook per bank with tokens due, and the CSS summary. Reads the ledger
    (refusing on input errors) and writes only the proposal files, never the ledger."""
    from .books.planbook import write_plan_summary, write_proposal
    from .normalize import add_months
    from .replacements import plan

    store = run.ledger_store
    day = as_of or run.now.date()

    def work() -> Outcome:
        step("交換計画: 読み込みと入力チェック")
        with store.hold():
            checked = store.read(run.now.date())
        if checked.errors:
            store.show(checked.problems)
            return stopped_by(checked.errors, "交換計画", run.book)
        ledger = checked.ledger
        banks = {b.bank_code: b for b in ledger.banks if b.bank_code}
        if bank is not None and bank not in banks:
            return unusable(f"--bank {bank}: 金庫コード {bank} は「{schema.BANKS}」シートにありません")
        step("交換計画: 計算")
        until = add_months(day, ledger.settings.warn_months if months is None else months)
        made = plan(ledger, day, until, bank)
        folder = report_folder(run, ledger.settings.report_dir, out, f"{day:%Y-%m}")
        folder.mkdir(parents=True, exist_ok=True)
        requests = {r.request_id: r for r in ledger.requests if r.request_id}
        rows = []
        by_bank = made.by_bank()
        for done, (code, lines) in enumerate(sorted(by_bank.items()), start=1):
            step(f"交換計画 {done}/{len(by_bank)}")
            write_proposal(made, banks[code], lines, requests, folder)
            rows.append((f"{code} {banks[code].name}", f"{len(lines):,}", f"{sum(l.late for l in lines):,}",
                         f"{made.arranged_per_bank.get(code, 0):,}"))
        summary = write_plan_summary(made, banks, folder, run.now)
        late = sum(l.late for l in made.lines)
        headline = f"交換提案 {len(made.lines):,}本（金庫 {len(by_bank)} 件）・期限に間に合わない {late:,}本"
        first = made.batches[made.first]
        lines = [f"交換計画 {day:%Y/%m/%d}: 使用期限が {until:%Y/%m/%d} までの利用中トークン"
                 + (f"（金庫 {bank}）" if bank else ""), headline,
                 f"最初の計画バッチ {first.batch_id}（締切 {first.cutoff:%m/%d}・★{first.ship:%m/%d}）・週間発送能力 {made.capacity:,}本",
                 f"手配済の交換 {made.arranged_per_bank.get(bank, 0) if bank else len(made.arranged):,}本（再提案しません）"]
        for order in made.orders[:5]:
            lines.append(f"  発注提案: {order.order_by:%Y/%m/%d}までに {order.quantity:,}本（{order.batch.batch_id} ★{order.batch.ship:%m/%d} 納品）"
                         + ("・至急" if order.urgent else ""))
        if len(made.orders) > 5:
            lines.append(f"  …ほか発注提案 {len(made.orders) - 5} 回（集計の「発注予定」シート）")
        lines += [f"出力先 {folder}（金庫別 {len(by_bank)} ファイル: {{計画日}}_{{金庫コード}}_{{金庫名}}_交換計画.xlsx）",
                  f"CSS集計: {summary.name}"]
        table = (("金庫", "交換提案", "期限後", "手配済"), rows) if rows else None
        return Outcome(lines, headline=headline, problems=checked.problems, table=table)

    return guarded(work)


def run_intake_replacements(run: Run, files: Sequence[Path], step: Step = _quiet) -> Outcome:
    """交換計画の回答取込: the proposals the banks sent back, all or nothing."""
    from .files.lists import read_list
    from .replacements import PROPOSAL_SHEET, REQUIRED_HEADERS, describe_answers, take_in_answers

    def compute(checked: CheckResult):
        lists = [read_list(path, REQUIRED_HEADERS, sheet=PROPOSAL_SHEET) for path in files]
        return take_in_answers(checked.ledger, lists, run.context)

    return run_intake(run, "交換計画の回答取込", compute, describe_answers, step=step)


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


# --- issue 10: the service's edges (stock intake, request forms, parcels, tracking, disposal) ------

def run_receive(run: Run, slip: Path, owner: str = schema.CSS, count: int | None = None,
                received_on: dt.date | None = None, step: Step = _quiet) -> Outcome:
    """入庫取込: SSC's delivery slip (or a bank's own stock, or a custody take-over) into 在庫."""
    from .files.lists import read_list
    from .receive import HEADERS, describe, receive

    def compute(checked: CheckResult) -> Change:
        return receive(checked, read_list(slip, HEADERS), run.context, owner, count, received_on)

    return run_intake(run, "入庫取込", compute, describe, step=step)


def journal_hand_edits(store: LedgerStore, checked: CheckResult, run: Run, title: str) -> tuple[CheckResult, list[str]]:
    """What a clerk typed into 在庫 by hand (new stock, a changed 状態) and 窓口手交 requests received,
    journalled before a run that only reads — the month-end — replays the journal, written through
    the same store as every other run. Nothing is written when there is nothing to record. Returns the ledger the run
    goes on with and what to tell."""
    from .batch import record_before_reading

    done = record_before_reading(checked.ledger, run.now.date(), run.context)
    summary = done.summary
    if not summary.hand_edits and done.ledger.requests == checked.ledger.requests:
        return checked, []
    new = CheckResult(seal(checked.ledger, done.ledger), checked.problems)  # the journal's chain goes on
    told = "、".join(part for part in (
        f"手作業の変更・追加を履歴に記録: {summary.hand_edits}件" if summary.hand_edits else "",
        f"窓口手交を記録: {len(summary.handovers)}件" if summary.handovers else "",
        f"窓口手交を保留: {len(summary.held)}件（{summary.held[0][1]}）" if summary.held else "") if part)
    told = told or "依頼番号を付与しました"
    saved = store.save(checked, new.ledger, checked.problems, f"{title}: {told}", run.now)
    return new, [told, *saved]


def run_tracking(run: Run, export: Path, step: Step = _quiet) -> Outcome:
    """追跡番号取込: the carrier's export into 発送.追跡番号, by parcel number."""
    from .files.lists import read_list
    from .tracking import describe, take_tracking

    return run_intake(run, "追跡番号取込", lambda checked: take_tracking(checked, read_list(export), run.context),
                      describe, step=step)


def run_parcels(run: Run, batch_id: str, out: Path | None = None, step: Step = _quiet) -> Outcome:
    """発送書類作成: the batch's print set (picking list, cover letters) and the carrier file, in
    `out` (default `parcels/{batch}` beside the book). Writes the documents only when every label
    can be made; the ledger only to journal hand edits."""
    from .books.carrier import carrier_rows, write_carrier_file
    from .books.parcelbook import write_parcel_book
    from .parcels import parcels_of

    store = run.ledger_store

    def work() -> Outcome:
        with store.hold():
            step("発送書類: 読み込みと入力チェック")
            checked = store.read(run.now.date())
            if checked.errors:
                store.show(checked.problems)
                return stopped_by(checked.errors, "発送書類作成", run.book)
            checked, recorded = journal_hand_edits(store, checked, run, "発送書類作成")
        batch = parcels_of(checked.ledger, batch_id)
        preset, rows, label_problems = carrier_rows(batch.parcels, checked.ledger.settings)
        problems = sort_problems([*batch.problems, *label_problems])
        if any(p.is_error for p in problems):
            store.show([*checked.problems, *problems])
            outcome = stopped_by([p for p in problems if p.is_error], "発送書類作成", run.book)
            outcome.lines[-2] = outcome.lines[-2].replace("ブックには何も書き込んでいません。", "発送書類は作っていません。")
            return outcome
        folder = out or run.book.parent / "parcels" / batch.batch_id
        folder.mkdir(parents=True, exist_ok=True)
        step("発送書類: 書き出し")
        documents = write_parcel_book(batch, checked.ledger.settings, folder, run.now)
        labels = write_carrier_file(folder / f"{batch.batch_id}_送り状_{preset.file_suffix}.csv", preset, rows)
        tokens = sum(len(p.items) for p in batch.parcels)
        headline = f"{batch.batch_id} 発送書類 {len(batch.parcels)}個口（{tokens}本）"
        return Outcome([*recorded, headline, f"ピッキングリスト・送付状: {documents}",
                        f"送り状データ（{preset.name}）: {labels}"], headline=headline, problems=checked.problems)

    return guarded(work)


def run_dispose(run: Run, listed: Path, operation: str, on: dt.date | None = None, step: Step = _quiet) -> Outcome:
    """廃棄 / 返品 (a faulty token back to SSC) of the listed serials, each one journal entry."""
    from .disposal import HEADERS, describe, dispose
    from .files.lists import read_list

    title = "廃棄" if operation == schema.Operation.DISPOSE else "故障返品"
    return run_intake(run, title, lambda checked: dispose(checked, read_list(listed, HEADERS), run.context, operation, on),
                      describe, step=step)


def run_request_form(run: Run, bank_code: str, out: Path | None = None) -> Outcome:
    """申込書作成: the request-form workbook for one bank (its branches only), in `out` (default
    `forms/` beside the book). Reads the ledger; writes only the form."""
    from .books.formbook import form_file_name, write_request_form
    from .forms import bank_of, branches_of, form_number

    store = run.ledger_store

    def work() -> Outcome:
        with store.hold():
            checked = store.read(run.now.date())
        bank = bank_of(checked.ledger, bank_code)
        if bank is None:
            return failed(f"エラー: 金庫コード {bank_code} は「{schema.BANKS}」シートにありません", "申込書は作っていません。")
        folder = out or run.book.parent / "forms"
        folder.mkdir(parents=True, exist_ok=True)
        number = form_number(bank.bank_code, run.now)
        path = write_request_form(folder / form_file_name(bank), bank, number, branches_of(checked.ledger, bank.bank_code),
                                  run.now)
        headline = f"申込書 {bank.bank_code} {bank.name}（申込書番号 {number}）"
        return Outcome([headline, f"申込書を作成しました: {path}"], headline=headline)

    return guarded(work)


def run_take_forms(run: Run, files: Sequence[Path], step: Step = _quiet) -> Outcome:
    """申込書取込: returned forms into 申込, all or nothing."""
    from .forms import describe, read_form, take_forms

    return run_intake(run, "申込書取込", lambda checked: take_forms(checked, [read_form(f) for f in files], run.context),
                      describe, step=step)


# --- years of operation: close-year, the journal's chain, per-token history ---------------------------

def run_close_year(run: Run, year: int, step: Step = _quiet) -> Outcome:
    """年次締め: the year's 繰越 and 履歴 into 履歴_YYYY.xlsx beside the book, one row per token in 繰越.
    Refused on any input error (a broken chain included), and see `yearend.close_year`."""
    from .books.writeback import ArchiveExists, write_year_end
    from .yearend import YearEndRefused, close_year, describe_year_end, read_content

    store = run.ledger_store
    if not isinstance(store, BookFile):
        return failed("エラー: 年次締めはコマンド（tokenbook close-year）で実行します")

    def work() -> Outcome:
        with store.hold() as lock:
            step("年次締め: 読み込みと入力チェック")
            checked = store.read(run.now.date())
            if checked.errors:
                return stopped_by(checked.errors, "年次締め", run.book)
            try:
                result = close_year(checked.ledger, year, run.now.date(), run.context)
            except YearEndRefused as exc:
                return failed(f"エラー: {exc}", "ブックには何も書き込んでいません。")
            headline, lines = describe_year_end(result)
            if result.done_before:
                return Outcome(lines, headline=headline, problems=checked.problems)
            # the rows of 履歴 and 繰越 moved: what was found there no longer points at them
            problems = [p for p in checked.problems if p.sheet not in (schema.JOURNAL, schema.OPENING)]
            step("年次締め: 保管用ブックとブックの書き込み・検証")
            pattern = checked.ledger.settings.serial_regex
            try:
                written, fresh = write_year_end(
                    lock, checked.ledger, result.ledger, run.book.parent / result.archive, result.content,
                    result.digest, lambda content: content.digest(), lambda path: read_content(path, pattern), problems,
                    panel(result.ledger, run.now, f"年次締め: {headline}"), run.now)
            except ArchiveExists as exc:
                return failed(f"エラー: {exc}")
            archive = run.book.parent / result.archive
            lines.append(f"保管用ブックを書き込みました: {archive}" if fresh else
                         f"保管用ブックは前回の実行で書き込み済みでした（内容を確認しました）: {archive}")
            backup = f"（バックアップ: {written.backup.name}）" if written.backup else ""
            lines.append(f"ブックを更新しました: {written.path}{backup}")
            return Outcome(lines, headline=headline, problems=tuple(problems))

    return guarded(work)


def run_verify_journal(run: Run) -> Outcome:
    """The journal's chain through every archive and the ledger's 履歴 (and each archive's digest)."""
    from .outcome import Checked
    from .yearend import verify_journal

    store = run.ledger_store

    def work() -> Outcome:
        with store.hold():
            checked = store.read(run.now.date())
        found = verify_journal(run.book.parent, checked.ledger)
        archives = len(checked.ledger.closings)
        ledger = checked.ledger
        rows = len(ledger.journal) + len(ledger.openings) + sum(c.rows or 0 for c in ledger.closings)
        headline = (f"履歴の連鎖に問題はありません（保管用ブック {archives} 件・{rows:,}行）" if not found else
                    f"履歴の連鎖が切れています: {len(found)} 件")
        return Checked([headline], headline=headline, problems=tuple(found))

    return guarded(work)


def run_history(run: Run, key: str) -> tuple[Outcome, list[dict[str, str]]]:
    """Every movement of a token (serial) or of a customer's tokens (顧客番号) across the archives
    and the ledger, in the order recorded. Returns the outcome and the rows (for --json)."""
    from .journal import ledger_openings
    from .normalize import code_text
    from .yearend import archived_entries

    store = run.ledger_store
    rows: list[dict[str, str]] = []

    def work() -> Outcome:
        with store.hold():
            checked = store.read(run.now.date())
        ledger = checked.ledger
        wanted = code_text(key)
        serials = {t.serial for t in ledger.tokens if t.serial == wanted} or \
            {e.serial for e in (*ledger.openings, *ledger.journal) if e.serial == wanted} or \
            {t.serial for t in ledger.tokens if t.serial and t.customer_no == wanted}
        if not serials:
            return failed(f"エラー: シリアル番号・顧客番号 {wanted} は在庫にも履歴にもありません")
        oldest = min((c.year for c in ledger.closings if c.year), default=None)
        archived = archived_entries(run.book.parent, ledger, dt.date(oldest, 1, 1)) if oldest else ()
        for e in (*archived, *ledger_openings(ledger, serials), *ledger.journal):
            if e.serial in serials:
                rows.append(history_row(e))
        lines = [f"{r['日時']}  発効日 {r['発効日']}  {r['操作']:<4} {r['シリアル番号']}  {r['変更前'] or '—'} → "
                 f"{r['変更後'] or '—'}  担当 {r['担当者'] or '—'}" + (f"  依頼 {r['依頼番号']}" if r['依頼番号'] else "")
                 + (f"  バッチ {r['バッチ']}" if r['バッチ'] else "") for r in rows]
        headline = f"{wanted}: トークン {len(serials)} 本・履歴 {len(rows)} 行（保管用ブック {len(ledger.closings)} 件を含む）"
        return Outcome([*lines, headline], headline=headline)

    return guarded(work), rows


HISTORY_HEADERS = schema.HISTORY_HEADERS


def history_row(e: Any) -> dict[str, str]:
    """One journal entry as the history command and the 履歴照会 sheet show it (no customer names)."""
    values = (f"{e.recorded_at:%Y-%m-%d %H:%M:%S}" if e.recorded_at else "",
              e.effective_on.isoformat() if e.effective_on else "", e.operation or "", e.serial or "", e.before,
              e.after, e.owner or "", e.bank_code or "", e.request_id, e.batch, e.operator, e.note)
    return dict(zip(HISTORY_HEADERS, (str(v) for v in values)))


# --- IB cards, the work list, 共同センター, stocktaking (issue 17) ----------------------------------------

def views(ledger: Ledger, now: dt.datetime) -> dict[str, Any]:
    """The sheets derived from the ledger that every run writing it refreshes (作業一覧)."""
    from .books.writeback import table_edit
    from .worklist import work_list

    today = now.date()
    return {schema.WORKLIST: table_edit([w.sheet_row(today) for w in work_list(ledger, today)])}


def _not_future(day: dt.date, run: Run, option: str) -> Outcome | None:
    """A date of something that has happened (a card received, a list sent, a vault counted)."""
    if day > run.now.date():
        return unusable(f"{option} に未来の日付は指定できません: {day:%Y-%m-%d}（今日は {run.now.date():%Y-%m-%d}）")
    return None


def _stamped(title: str, what: str):
    """(headline, lines) of a list taken in (IB cards, the transmission list)."""
    def describe(result: Any) -> tuple[str, list[str]]:
        headline = f"{what} {len(result.stamped)}件（{result.on:%Y/%m/%d}）" + (
            f"・記録済のため変更なし {len(result.unchanged)}件" if result.unchanged else "")
        lines = [f"{title}: 一覧 {result.lines} 行", headline]
        lines += [f"  {request_id}" for request_id in result.stamped[:60]]
        if len(result.stamped) > 60:
            lines.append(f"  …ほか {len(result.stamped) - 60} 件")
        lines += [p.render() for p in result.problems if not p.is_error][:30]
        return headline, lines
    return describe


def run_cards(run: Run, path: Path, received_on: dt.date | None = None, step: Step = _quiet) -> Outcome:
    """IBカード受領: the list that came with SSC's cards, each line matched to its waiting request."""
    from .cards import receive_cards
    from .files.lists import read_list

    day = received_on or run.now.date()
    refused = _not_future(day, run, "--received-on")
    if refused is not None:
        return refused
    return run_intake(run, "IBカード受領", lambda c: receive_cards(c.ledger, read_list(path), day),
                      _stamped("IBカード受領", "IBカード受領日を記録"), step=step)


def run_center_sent(run: Run, path: Path, on: dt.date | None = None, step: Step = _quiet) -> Outcome:
    """共同センター伝送済: 共同センター伝送日 on exactly the requests of the list, once."""
    from .files.lists import read_list
    from .worklist import stamp_center_sent

    day = on or run.now.date()
    refused = _not_future(day, run, "--on")
    if refused is not None:
        return refused
    return run_intake(run, "共同センター伝送済", lambda c: stamp_center_sent(c.ledger, read_list(path, ["依頼番号"]), day),
                      _stamped("共同センター伝送済", "共同センター伝送日を記録"), step=step)


def run_worklist(run: Run, as_of: dt.date | None = None, out: Path | None = None, as_json: bool = False) -> Outcome:
    """作業一覧: what IB-card requests wait for and by when; with `out`, the 共同センター list file.
    Reads the book and writes nothing into it."""
    import json

    from .worklist import describe_items, work_list

    store = run.ledger_store
    day = as_of or run.now.date()

    def work() -> Outcome:
        with store.hold():
            checked = store.read(run.now.date())
        items = work_list(checked.ledger, day)
        written = write_center_list(items, out, day) if out is not None else None
        if as_json:
            return Outcome([json.dumps([w.public() for w in items], ensure_ascii=False, indent=1)],
                           headline=worklist_headline(items), problems=checked.problems)
        lines = [f"作業一覧（基準日 {day:%Y/%m/%d}）", worklist_headline(items), *describe_items(items)]
        if out is not None:
            lines.append(f"共同センター伝送の一覧を書き出しました: {written}" if written else
                         "共同センター伝送の対象はないため、一覧は作っていません。")
        if checked.errors:
            lines.append(f"入力エラーが {len(checked.errors)} 件あります: {where_problems_are(run.book, written=False)}")
        return Outcome(lines, headline=worklist_headline(items), problems=checked.problems)

    return guarded(work)


def worklist_headline(items: Sequence[Any]) -> str:
    from collections import Counter

    from .schema import WorkTask

    tasks = Counter(w.task for w in items)
    late = sum(w.overdue for w in items)
    return ("・".join(f"{task} 待ち {tasks[task]}件" for task in WorkTask) + (f"／期限超過 {late}件" if late else ""))


def write_center_list(items: Sequence[Any], folder: Path, as_of: dt.date) -> Path | None:
    """`{YYYY-MM-DD}_共同センター伝送.xlsx` in `folder`: the 法人 contracts to transmit (None when there are none)."""
    from .books.reportbook import write_list
    from .report import DATE, TEXT, Table
    from .worklist import CENTER_HEADERS, center_file_name, center_rows

    rows = center_rows(items)
    if not rows:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    widths = {"顧客名": 30, "依頼番号": 16, "IB登録日": 12}
    columns = tuple((h, DATE if h == "IB登録日" else TEXT, widths.get(h, 10)) for h in CENTER_HEADERS)
    return write_list(folder / center_file_name(as_of), "共同センター伝送", f"共同センター伝送（{as_of:%Y/%m/%d}）",
                      Table("共同センター伝送", columns, rows))


def run_stocktake(run: Run, paths: Sequence[Path], on: dt.date | None = None, step: Step = _quiet) -> Outcome:
    """棚卸: the scanned files counted against the ledger. The result goes to 棚卸; exit 1 when any
    difference is found (recorded all the same), 2 for an unusable file; 在庫 is never changed."""
    from dataclasses import replace as replaced

    from .stocktake import count_files, describe, owner_table

    day = on or run.now.date()
    refused = _not_future(day, run, "--on")
    if refused is not None:
        return refused
    counted: list[Any] = []

    def compute(checked: CheckResult) -> Any:
        counted.append(count_files(checked.ledger, paths, day, run.context, step))
        return counted[0]

    outcome = run_intake(run, "棚卸", compute, describe, step=step)
    if not counted or outcome.refused is not None or any(p.is_error for p in outcome.problems):
        return outcome
    result = counted[0]
    names = {b.bank_code: b.name for b in result.ledger.banks if b.bank_code}
    failures = (outcome.headline,) if result.differences else ()
    return replaced(outcome, failures=failures, table=owner_table(result, names))
