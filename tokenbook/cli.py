"""The command line (design §11): parses arguments, runs one pipeline, renders its outcome.

Operators see Japanese messages, never a traceback: an unexpected exception is written to the
log file (no customer data: only the exception and where it happened) and reported in one line.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .books.build import build_workbook
from .books.vba import MacrosMissing
from .outcome import Checked, Outcome, Unusable
from .runs import Run, run_allocate, run_cancel, run_confirm, run_month_end, run_setup_excel
from .files.sheetio import UnusableInput
from .validate import check_book

DEFAULT_BOOK = Path("workbook/tokenbook.xlsm")
log = logging.getLogger("tokenbook")

app = typer.Typer(
    help="tokenbook: ハードウェアトークン管理（信用金庫向け）の台帳ブックを扱います。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
BookOption = Annotated[Path, typer.Option("--book", help="台帳ブック（.xlsm）のパス")]


def _finish(outcome: Outcome) -> None:
    outcome.render(console)
    raise typer.Exit(outcome.exit_code)


@app.command("new-workbook")
def new_workbook(
    path: Annotated[Path, typer.Argument(help="作成するブックのパス（.xlsm）")],
    force: Annotated[bool, typer.Option("--force", help="既存のファイルを置き換えます")] = False,
) -> None:
    """空の台帳ブックを作ります（全シート・見出し・入力規則・設定の既定値）。"""
    if path.exists() and not force:
        _finish(Unusable.because(f"ファイルが既にあります。置き換えるときは --force を付けてください: {path}"))
    if path.suffix.lower() not in (".xlsm", ".xlsx"):
        _finish(Unusable.because(f"拡張子は .xlsm（または .xlsx）にしてください: {path.name}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    build_workbook(path)
    _finish(Outcome(lines=[f"台帳ブックを作成しました: {path}"]))


@app.command()
def validate(
    book: BookOption = DEFAULT_BOOK,
    as_json: Annotated[bool, typer.Option("--json", help="問題を JSON で出力します")] = False,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="基準日（既定は今日）。期限切れや未来の日付はこの日で判定します")] = None,
) -> None:
    """全シートの入力をチェックし、問題を場所付きで表示します（エラーがあれば終了コード 1）。"""
    day = _date_option(as_of, "--as-of") or dt.date.today()
    try:
        result = check_book(book, day)
    except UnusableInput as exc:
        _finish(Unusable.because(str(exc)))
    _finish(Checked(problems=result.problems, as_json=as_json))


def _date_option(value: Optional[str], name: str) -> Optional[dt.date]:
    """A date given on the command line, in any form a clerk would type (2026-11-24, R8.11.24, …)."""
    if value is None:
        return None
    from .normalize import Invalid, date

    try:
        return date(value)
    except Invalid:
        _finish(Unusable.because(f"{name} を日付として読めません: {value!r}"))
    raise AssertionError("unreachable")


@app.command()
def allocate(
    book: BookOption = DEFAULT_BOOK,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="基準日（既定は今日）。この日が属する週次バッチを割り当てます")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="割当の計画を表示するだけで、ブックには書き込みません")] = False,
) -> None:
    """週次割当: 締切までの申込にトークンを引き当て、発送予定を作ります。"""
    day = _date_option(as_of, "--as-of")
    _finish(_with_progress(lambda step: run_allocate(Run.here(book), day, dry_run, step)))


@app.command()
def confirm(
    batch: Annotated[str, typer.Option("--batch", help="バッチ番号（例 2026-W48）")],
    book: BookOption = DEFAULT_BOOK,
    shipped_on: Annotated[Optional[str], typer.Option("--shipped-on", help="発送日（既定はバッチの発送日★）")] = None,
) -> None:
    """発送確定: バッチの発送予定を発送済にし、トークンを利用中（金庫補充は金庫保管）にします。"""
    day = _date_option(shipped_on, "--shipped-on")
    _finish(_with_progress(lambda step: run_confirm(Run.here(book), batch, day, step)))


@app.command("cancel-batch")
def cancel_batch(
    batch: Annotated[str, typer.Option("--batch", help="バッチ番号（例 2026-W48）")],
    book: BookOption = DEFAULT_BOOK,
) -> None:
    """バッチ取消: まだ何も発送していないバッチの引当をすべて在庫に戻します。"""
    _finish(_with_progress(lambda step: run_cancel(Run.here(book), batch, step)))


MonthOption = Annotated[Optional[str], typer.Option("--month", help="対象月 YYYY-MM（既定は前月）")]
OutOption = Annotated[Optional[Path], typer.Option("--out", help="出力先フォルダ（既定は設定「報告書出力先」、なければブックの隣の reports）")]


def _month_option(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    import re

    text = value.strip().replace("/", "-")
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if not match or not 1 <= int(match[2]) <= 12:
        _finish(Unusable.because(f"--month は 2026-11 の形で指定してください: {value!r}"))
    return f"{match[1]}-{int(match[2]):02d}"


def _with_progress(work: Callable[[Callable[[str], None]], Outcome]) -> Outcome:
    """Run `work`, showing the step it reports (on a terminal only)."""
    with _progress() as progress:
        task = progress.add_task("tokenbook", total=None)
        return work(lambda title: progress.update(task, description=title))


def _month_end(book: Path, month: Optional[str], out: Optional[Path], **what: bool) -> None:
    chosen = _month_option(month)
    _finish(_with_progress(lambda step: run_month_end(Run.here(book), chosen, out, step=step, **what)))


@app.command()
def report(book: BookOption = DEFAULT_BOOK, month: MonthOption = None, out: OutOption = None) -> None:
    """月次報告書（金庫別・CSS在庫月報）を作成します。入力エラーがあれば何も作りません。"""
    _month_end(book, month, out, make_reports=True, make_mail=False)


@app.command()
def send(book: BookOption = DEFAULT_BOOK, month: MonthOption = None, out: OutOption = None) -> None:
    """作成済みの月次報告書をメールで送信します（送信済のものは送りません）。"""
    _month_end(book, month, out, make_reports=False, make_mail=True, send=True)


@app.command("month-end")
def month_end(
    book: BookOption = DEFAULT_BOOK, month: MonthOption = None, out: OutOption = None,
    send_mail: Annotated[bool, typer.Option("--send", help="作成したメールを送信します（付けなければ送信しません）")] = False,
) -> None:
    """月末処理: 入力チェック → 報告書 → メール作成（送信前の確認用 .eml） → --send で送信。"""
    _month_end(book, month, out, make_reports=True, make_mail=True, send=send_mail)


@app.command("setup-excel")
def setup_excel(book: BookOption = DEFAULT_BOOK) -> None:
    """ボタンを使う準備: ブックの xlwings の版を確かめ、この Python をブックの xlwings.conf に記録します。"""
    _finish(run_setup_excel(Run.here(book), Path(sys.executable)))


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="サンプルを書き出すフォルダ")] = Path("demo"),
    banks: Annotated[int, typer.Option(min=1, max=254, help="金庫の数")] = 30,
    tokens: Annotated[int, typer.Option(min=1, max=1_000_000, help="トークンの数")] = 6000,
    seed: Annotated[int, typer.Option(help="乱数の種（同じ種なら同じデータ）")] = 1,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="デモの「今日」（既定は今日）。同じ日・同じ種なら同じ結果")] = None,
) -> None:
    """架空の金庫・トークン・申込・1年分の履歴でサンプル台帳を作り、チェックし、週次バッチを回します（メールは送りません）。"""
    from .demo import run_demo

    now = _demo_clock(_date_option(as_of, "--as-of"))
    with _progress() as progress:
        task = progress.add_task("デモ", total=7)

        def step(title: str) -> None:
            progress.update(task, advance=1, description=title)

        outcome = run_demo(directory, banks, tokens, seed, now, step)
    _finish(outcome)


def _demo_clock(day: Optional[dt.date]) -> dt.datetime:
    """The demo's "now": the given day at 10:00 (a fixed time, so a fixed day gives the same files), else now."""
    if day is None:
        return dt.datetime.now().replace(microsecond=0)
    return dt.datetime.combine(day, dt.time(10))


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                    transient=True, disable=not console.is_terminal)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the command, turn any unexpected exception into one Japanese line."""
    try:
        return int(app(args=argv, prog_name="tokenbook", standalone_mode=False) or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except MacrosMissing as exc:  # a broken installation: say so, never build a workbook without macros
        console.print(f"エラー: {exc}", markup=False)
        return 1
    except SystemExit as exc:  # click's own usage errors
        return int(exc.code or 0)
    except (typer.Abort, KeyboardInterrupt):
        console.print("中断しました", markup=False)
        return 1
    except typer.TyperException as exc:  # usage errors: wrong option or argument
        show = getattr(exc, "show", None)
        if show:
            show()
        return int(getattr(exc, "exit_code", 2) or 2)
    except Exception as exc:  # anything unexpected
        where = _log_unexpected(exc)
        console.print(f"エラー: 予期しない内部エラーが起きました（{type(exc).__name__}）。詳細はログを見てください: {where}",
                      markup=False)
        return 1


def _log_unexpected(exc: BaseException) -> Path:
    from .logs import file_handler

    handler = file_handler("tokenbook.log")
    path = Path(handler.baseFilename)
    log.addHandler(handler)
    log.error("internal error", exc_info=exc)
    log.removeHandler(handler)
    handler.close()
    return path


if __name__ == "__main__":
    sys.exit(main())
