"""The command line (design §11): parses arguments, runs one pipeline, renders its outcome.

Operators see Japanese messages, never a traceback: an unexpected exception is written to the
log file (no customer data: only the exception and where it happened) and reported in one line.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .books.build import build_workbook
from .outcome import Checked, Outcome, unusable
from .runs import (
    Run,
    run_allocate,
    run_cancel,
    run_check,
    run_confirm,
    run_month_end,
    run_setup_excel,
)
from .usage import Command, Group, NoArgsIsHelp, UsageError, explain

DEFAULT_BOOK = Path("workbook/tokenbook.xlsm")
log = logging.getLogger("tokenbook")

app = typer.Typer(
    cls=Group,
    help="tokenbook: ハードウェアトークン管理（信用金庫向け）の台帳ブックを扱います。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _Console(Console):
    """A console whose reader may leave early (`tokenbook validate | head`): the rest of the output is
    dropped quietly and the run keeps its own exit code (rich's default would exit with 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)  # so that the interpreter's last flush cannot fail
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


console = _Console(highlight=False)
errors = _Console(highlight=False, stderr=True)
BookOption = Annotated[Path, typer.Option("--book", metavar="パス", help="台帳ブック（.xlsm）のパス")]


DATE_FORMS = "日付は 2026-11-24、2026/11/24、20261124、R8.11.24、令和8年11月24日 のどれでも書けます。"


def command(name: str | None = None, *, short: str, epilog: str | None = None) -> Callable:
    """A subcommand with tokenbook's Japanese help; `short` is its line in `tokenbook --help`."""
    return app.command(name, cls=Command, short_help=short, epilog=epilog)


def _finish(outcome: Outcome) -> None:
    outcome.render(console)
    raise typer.Exit(outcome.exit_code)


@command("new-workbook", short="空の台帳ブックを作ります")
def new_workbook(
    path: Annotated[Path, typer.Argument(metavar="パス", help="作成するブックのパス（.xlsm）")],
    force: Annotated[bool, typer.Option("--force", help="既存のファイルを置き換えます")] = False,
) -> None:
    """空の台帳ブックを作ります（全シート・見出し・入力規則・設定の既定値）。"""
    if path.exists() and not force:
        _finish(unusable(f"ファイルが既にあります。置き換えるときは --force を付けてください: {path}"))
    if path.suffix.lower() not in (".xlsm", ".xlsx"):
        _finish(unusable(f"拡張子は .xlsm（または .xlsx）にしてください: {path.name}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    build_workbook(path)
    _finish(Outcome(lines=[f"台帳ブックを作成しました: {path}"]))


@command(short="全シートの入力をチェックし、問題を場所付きで表示します")
def validate(
    book: BookOption = DEFAULT_BOOK,
    as_json: Annotated[bool, typer.Option("--json", help="問題を JSON で出力します")] = False,
) -> None:
    """全シートの入力をチェックし、問題を場所付きで表示します（エラーがあれば終了コード 1）。"""
    outcome = run_check(Run.here(book))
    _finish(replace(outcome, as_json=as_json, book=book) if isinstance(outcome, Checked) else outcome)


def _date_option(value: Optional[str], name: str) -> Optional[dt.date]:
    """A date given on the command line, in any form a clerk would type (2026-11-24, R8.11.24, …)."""
    if value is None:
        return None
    from .normalize import FIRST_YEAR, LAST_YEAR, Invalid, date

    try:
        day = date(value)
    except Invalid as exc:
        reason = exc.params.get("reason") or DATE_FORMS
        _finish(unusable(f"{name} を日付として読めません: {value!r}。{reason}"))
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        _finish(unusable(f"{name} は {FIRST_YEAR}年から{LAST_YEAR}年までの日付です: {value!r}"))
    return day


@command(short="週次割当: 締切までの申込にトークンを引き当てます", epilog=DATE_FORMS)
def allocate(
    book: BookOption = DEFAULT_BOOK,
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar="日付", help="基準日（既定は今日）。この日が属する週次バッチを割り当てます")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="割当の計画を表示するだけで、ブックには書き込みません")] = False,
) -> None:
    """週次割当: 締切までの申込にトークンを引き当て、発送予定を作ります。"""
    day = _date_option(as_of, "--as-of")
    _finish(_with_progress(lambda step: run_allocate(Run.here(book), day, dry_run, step)))


@command(short="発送確定: バッチの発送予定を発送済にします", epilog=DATE_FORMS)
def confirm(
    batch: Annotated[str, typer.Option("--batch", metavar="バッチ番号", help="バッチ番号（例 2026-W48）")],
    book: BookOption = DEFAULT_BOOK,
    shipped_on: Annotated[Optional[str], typer.Option("--shipped-on", metavar="日付", help="発送日（既定はバッチの発送日★）")] = None,
) -> None:
    """発送確定: バッチの発送予定を発送済にし、トークンを利用中（金庫補充は金庫保管）にします。"""
    day = _date_option(shipped_on, "--shipped-on")
    _finish(_with_progress(lambda step: run_confirm(Run.here(book), batch, day, step)))


@command("cancel-batch", short="バッチ取消: 未発送のバッチの引当を在庫に戻します")
def cancel_batch(
    batch: Annotated[str, typer.Option("--batch", metavar="バッチ番号", help="バッチ番号（例 2026-W48）")],
    book: BookOption = DEFAULT_BOOK,
) -> None:
    """バッチ取消: まだ何も発送していないバッチの引当をすべて在庫に戻します。"""
    _finish(_with_progress(lambda step: run_cancel(Run.here(book), batch, step)))


MonthOption = Annotated[Optional[str], typer.Option(
    "--month", metavar="年月", help="対象月（2026-10、2026/10、202610、令和8年10月、R8.10 など。既定は前月）")]
OutOption = Annotated[Optional[Path], typer.Option("--out", metavar="フォルダ", help="出力先フォルダ（既定は設定「報告書出力先」、なければブックの隣の reports）")]


def _month_option(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    from .normalize import Invalid, month

    try:
        return month(value)
    except Invalid as exc:
        _finish(unusable(f"--month {value!r}: {exc.params['reason']}"))
    raise AssertionError("unreachable")


def _with_progress(work: Callable[[Callable[[str], None]], Outcome]) -> Outcome:
    """Run `work`, showing the step it reports (on a terminal only)."""
    with _progress() as progress:
        task = progress.add_task("tokenbook", total=None)
        return work(lambda title: progress.update(task, description=title))


def _month_end(book: Path, month: Optional[str], out: Optional[Path], **what: bool) -> None:
    chosen = _month_option(month)
    _finish(_with_progress(lambda step: run_month_end(Run.here(book), chosen, out, step=step, **what)))


PreliminaryOption = Annotated[bool, typer.Option(
    "--preliminary", help="締まっていない月（当月・未来の月）の速報を作ります。全シートに「速報」と入り、メールは作りません")]
CorrectionOption = Annotated[bool, typer.Option(
    "--correction", help="送信済みの月で内容が変わった報告を訂正版（件名・表題に【訂正版】）として送ります（--send と一緒に）")]


@command(short="月次報告書（金庫別・CSS在庫月報）を作ります")
def report(book: BookOption = DEFAULT_BOOK, month: MonthOption = None, out: OutOption = None,
           preliminary: PreliminaryOption = False) -> None:
    """月次報告書（金庫別・CSS在庫月報）を作成します。入力エラーがあれば何も作りません。締まっていない月は --preliminary（速報）のときだけ作ります。"""
    _month_end(book, month, out, make_reports=True, make_mail=False, preliminary=preliminary)


@command(short="作成済みの月次報告書をメールで送信します")
def send(book: BookOption = DEFAULT_BOOK, month: MonthOption = None, out: OutOption = None,
         correction: CorrectionOption = False) -> None:
    """作成済みの月次報告書をメールで送信します（送信済のものは送りません。送信後に内容が変わったものは --correction のときだけ訂正版として送ります）。"""
    _month_end(book, month, out, make_reports=False, make_mail=True, send=True, correction=correction)


@command("month-end", short="月末処理: チェック → 報告書 → メール作成（→ 送信）")
def month_end(
    book: BookOption = DEFAULT_BOOK, month: MonthOption = None, out: OutOption = None,
    send_mail: Annotated[bool, typer.Option("--send", help="作成したメールを送信します（付けなければ送信しません）")] = False,
    preliminary: PreliminaryOption = False, correction: CorrectionOption = False,
) -> None:
    """月末処理: 入力チェック → 報告書 → メール作成（送信前の確認用 .eml） → --send で送信。送信済みの月を作り直して内容が変わった金庫は、変わった箇所を示し、--send --correction のときだけ訂正版として送ります。"""
    _month_end(book, month, out, make_reports=True, make_mail=True, send=send_mail, preliminary=preliminary,
               correction=correction)


@command("setup-excel", short="ボタンを使う準備（xlwings の版の確認と Python の記録）")
def setup_excel(book: BookOption = DEFAULT_BOOK) -> None:
    """ボタンを使う準備: ブックの xlwings の版を確かめ、この Python をブックの xlwings.conf に記録します。"""
    _finish(run_setup_excel(Run.here(book), Path(sys.executable)))


@command(short="サンプル台帳を作り、週次バッチと月次処理を回します")
def demo(
    directory: Annotated[Path, typer.Option("--dir", metavar="フォルダ", help="サンプルを書き出すフォルダ")] = Path("demo"),
    banks: Annotated[int, typer.Option(min=1, max=254, metavar="数", help="金庫の数")] = 30,
    tokens: Annotated[int, typer.Option(min=1, max=1_000_000, metavar="数", help="トークンの数")] = 6000,
    seed: Annotated[int, typer.Option(metavar="数", help="乱数の種（同じ種なら同じデータ）")] = 1,
) -> None:
    """架空の金庫・トークン・申込・1年分の履歴でサンプル台帳を作り、チェックし、週次バッチを回します（メールは送りません）。"""
    from .demo import run_demo

    with _progress() as progress:
        task = progress.add_task("デモ", total=7)

        def step(title: str) -> None:
            progress.update(task, advance=1, description=title)

        outcome = run_demo(directory, banks, tokens, seed, dt.datetime.now().replace(microsecond=0), step)
    _finish(outcome)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                    transient=True, disable=not console.is_terminal)


def _log_file() -> Path:
    base = Path(os.environ.get("TOKENBOOK_LOG_DIR", Path.home() / ".tokenbook" / "logs"))
    base.mkdir(parents=True, exist_ok=True)
    return base / "tokenbook.log"


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the command, turn any unexpected exception into one Japanese line."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return int(app(args=args, prog_name="tokenbook", standalone_mode=False) or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # click's own exits
        return int(exc.code or 0)
    except (typer.Abort, KeyboardInterrupt):
        console.print("中断しました", markup=False)
        return 1
    except NoArgsIsHelp as exc:  # `tokenbook` alone: the help page
        errors.print(exc.format_message(), markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except UsageError as exc:  # a wrong option, value, argument or command
        for line in explain(exc, args):
            errors.print(line, markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except Exception as exc:  # anything unexpected
        where = _log_unexpected(exc)
        console.print(f"エラー: 予期しない内部エラーが起きました（{type(exc).__name__}）。詳細はログを見てください: {where}",
                      markup=False)
        return 1


def _log_unexpected(exc: BaseException) -> Path:
    path = _log_file()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.error("internal error", exc_info=exc)
    log.removeHandler(handler)
    handler.close()
    return path


if __name__ == "__main__":
    sys.exit(main())
