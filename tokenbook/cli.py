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
from .books.vba import MacrosMissing
from .outcome import Checked, Outcome, internal_error, unusable
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
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar="日付", help="基準日（既定は今日）。期限切れや未来の日付はこの日で判定します")] = None,
) -> None:
    """全シートの入力をチェックし、問題を場所付きで表示します（エラーがあれば終了コード 1）。"""
    day = _date_option(as_of, "--as-of")
    outcome = run_check(Run.here(book, dt.datetime.combine(day, dt.time(10)) if day else None))
    _finish(replace(outcome, as_json=as_json, book=book) if isinstance(outcome, Checked) else outcome)


def _date_option(value: Optional[str], name: str) -> Optional[dt.date]:
    """A date given on the command line, in any form a clerk would type (2026-11-24, R8.11.24, …)."""
    if value is None:
        return None
    from .normalize import FIRST_YEAR, LAST_YEAR, Invalid, date

    try:
        day = date(value)
    except Invalid as exc:
        if exc.code == "date-out-of-range":
            _finish(unusable(f"{name} は {FIRST_YEAR}年から{LAST_YEAR}年までの日付です: {value!r}"))
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


# --- the IB work and the vault count (issue 17) ---------------------------------------------------

LIST_FORMS = "一覧は CSV（UTF-8 または Shift_JIS）か、Excel ブック（最初のシート）で、1行目が見出しです。"


@command(short="IBカード受領: SSC のカード一覧を申込に照合し、IBカード受領日を記録します",
         epilog=f"{LIST_FORMS} {DATE_FORMS}")
def cards(
    file: Annotated[Path, typer.Argument(metavar="一覧", help="IBカードの一覧（依頼番号、または金庫コードと顧客番号の列）")],
    book: BookOption = DEFAULT_BOOK,
    received_on: Annotated[Optional[str], typer.Option("--received-on", metavar="日付", help="受領日（既定は今日。未来の日付は不可）")] = None,
) -> None:
    """IBカード受領: 一覧の各行を、IBカード「有」で受領日のない申込1件に照合し、IBカード受領日を記録します。
    照合できない行（該当なし・複数該当）が1行でもあれば何も書き込みません（終了コード 1）。"""
    from .runs import run_cards

    day = _date_option(received_on, "--received-on")
    _finish(_with_progress(lambda step: run_cards(Run.here(book), file, day, step)))


@command(short="作業一覧: IB登録・共同センター伝送・IBカード待ちの申込と期限を表示します", epilog=DATE_FORMS)
def worklist(
    book: BookOption = DEFAULT_BOOK,
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar="日付", help="基準日（既定は今日）")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="フォルダ", help="共同センター伝送の一覧（{日付}_共同センター伝送.xlsx）を書き出すフォルダ")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="作業一覧を JSON で出力します")] = False,
) -> None:
    """作業一覧: IBカード「有」の申込のうち、IB登録待ち・共同センター伝送待ち（法人）・IBカード待ちを、
    今週のバッチに間に合う期限（● カード作成日・◆ カード受領日）、待ち日数、期限超過の印とともに表示します。
    ブックには書き込みません（「作業一覧」シートはブックを書き込む各処理とボタンが更新します）。"""
    from .runs import run_worklist

    day = _date_option(as_of, "--as-of")
    _finish(run_worklist(Run.here(book), day, out, as_json))


@command("center-sent", short="共同センター伝送済: 伝送した一覧の申込に共同センター伝送日を記録します",
         epilog=f"{LIST_FORMS} {DATE_FORMS}")
def center_sent(
    file: Annotated[Path, typer.Argument(metavar="一覧", help="伝送した一覧（worklist --out が作る {日付}_共同センター伝送.xlsx）")],
    book: BookOption = DEFAULT_BOOK,
    on: Annotated[Optional[str], typer.Option("--on", metavar="日付", help="伝送日（既定は今日。未来の日付は不可）")] = None,
) -> None:
    """共同センター伝送済: 一覧の依頼番号の申込に共同センター伝送日を記録します。既に記録のある申込は変えません
    （同じ一覧を2回取り込んでも記録は1回）。対象でない行が1行でもあれば何も書き込みません（終了コード 1）。"""
    from .runs import run_center_sent

    day = _date_option(on, "--on")
    _finish(_with_progress(lambda step: run_center_sent(Run.here(book), file, day, step)))


@command(short="棚卸: 金庫室で読み取ったシリアル番号を台帳と照合します", epilog=DATE_FORMS)
def stocktake(
    files: Annotated[list[Path], typer.Argument(metavar="ファイル...", help="読み取ったファイル（1行1シリアルのテキスト、またはシリアル番号列のある CSV / Excel。箱ごとに1ファイルで可）")],
    book: BookOption = DEFAULT_BOOK,
    on: Annotated[Optional[str], typer.Option("--on", metavar="日付", help="棚卸日（既定は今日。未来の日付は不可）")] = None,
) -> None:
    """棚卸: 台帳で CSS が預かっているはずのトークン（状態 在庫・引当済、CSS所有と預り在庫）と読み取り結果を照合し、
    不足・過剰・状態違い・重複と所有者別の数を「棚卸」シートに記録します。在庫は変えません。
    差異がなければ終了コード 0、差異があれば 1（記録はします）、読めないファイルは 2。"""
    from .runs import run_stocktake

    day = _date_option(on, "--on")
    _finish(_with_progress(lambda step: run_stocktake(Run.here(book), files, day, step)))


@command(short="サンプル台帳を作り、週次バッチと月次処理を回します")
def demo(
    directory: Annotated[Path, typer.Option("--dir", metavar="フォルダ", help="サンプルを書き出すフォルダ")] = Path("demo"),
    banks: Annotated[int, typer.Option(min=1, max=254, metavar="数", help="金庫の数")] = 30,
    tokens: Annotated[int, typer.Option(min=1, max=1_000_000, metavar="数", help="トークンの数")] = 6000,
    seed: Annotated[int, typer.Option(metavar="数", help="乱数の種（同じ種なら同じデータ）")] = 1,
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar="日付", help="デモの「今日」（既定は今日）。同じ日・同じ種なら同じ結果")] = None,
) -> None:
    """架空の金庫・トークン・申込・1年分の履歴でサンプル台帳を作り、チェックし、週次バッチを回します（メールは送りません）。"""
    from .demo import run_demo

    now = _demo_clock(_date_option(as_of, "--as-of"))
    with _progress() as progress:
        task = progress.add_task("デモ", total=13)

        def step(title: str) -> None:
            progress.update(task, advance=1, description=title)

        outcome = run_demo(directory, banks, tokens, seed, now, step)
    _finish(outcome)


def _demo_clock(day: Optional[dt.date]) -> dt.datetime:
    """The demo's "now": the given day at 10:00 (a fixed time, so a fixed day gives the same files), else now."""
    if day is None:
        return dt.datetime.now().replace(microsecond=0)
    return dt.datetime.combine(day, dt.time(10))
# --- issue 10: stock intake, request forms, parcels, tracking, disposal ------------------------------

def _owner_option(value: str) -> str:
    from .normalize import Invalid, owner

    try:
        return owner(value)
    except Invalid:
        _finish(unusable(f"--owner は CSS か4桁の金庫コードです: {value!r}"))
    raise AssertionError("unreachable")


@command(short="入庫取込: SSC の納品リストを在庫に取り込みます（預り在庫・金庫所有も）", epilog=DATE_FORMS)
def receive(
    slip: Annotated[Path, typer.Argument(metavar="納品リスト", help="CSV（UTF-8 / Shift_JIS）かブック。見出し シリアル番号・ロット番号・納品日")],
    book: BookOption = DEFAULT_BOOK,
    owner: Annotated[str, typer.Option("--owner", metavar="所有者", help="CSS（既定）か金庫コード（金庫の購入分・預り在庫の引き継ぎ）")] = "CSS",
    count: Annotated[Optional[int], typer.Option("--count", min=0, metavar="本数", help="伝票に書かれた合計本数（リストと違えばエラー）")] = None,
    received_on: Annotated[Optional[str], typer.Option("--received-on", metavar="日付", help="入庫日（既定は今日）")] = None,
) -> None:
    """入庫取込: 納品リストのシリアル番号（範囲 TK2600000001-TK2600000500 も可）を在庫に追加し、入庫として履歴に記録します。
    1行でも誤りがあれば何も書き込みません。"""
    from .runs import run_receive

    chosen = _owner_option(owner)
    day = _date_option(received_on, "--received-on")
    _finish(_with_progress(lambda step: run_receive(Run.here(book), slip, chosen, count, day, step)))


@command(short="追跡番号取込: 運送会社の発行済データから発送の追跡番号を記録します")
def tracking(
    export: Annotated[Path, typer.Argument(metavar="ファイル", help="B2クラウドの発行済データ、ゆうプリRの発送履歴など（見出し行付き）")],
    book: BookOption = DEFAULT_BOOK,
) -> None:
    """追跡番号取込: 運送会社のシステムが書き出したファイルを発送番号で照合し、「発送」の追跡番号を埋めます。
    知らない発送番号・重複・既に別の番号がある発送はエラーとして示し、何も書き込みません。"""
    from .runs import run_tracking

    _finish(_with_progress(lambda step: run_tracking(Run.here(book), export, step)))


@command(short="発送書類作成: バッチのピッキングリスト・送付状・送り状データを作ります")
def parcels(
    batch: Annotated[str, typer.Option("--batch", metavar="バッチ番号", help="バッチ番号（例 2026-W48）")],
    book: BookOption = DEFAULT_BOOK,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="フォルダ", help="出力先（既定はブックの隣の parcels/バッチ番号）")] = None,
) -> None:
    """発送書類作成: 梱包順のピッキングリストと発送1個口ごとの送付状（印刷用ブック）、送り状の取込データ（設定「送り状形式」の CSV、Shift_JIS）を作ります。"""
    from .runs import run_parcels

    _finish(_with_progress(lambda step: run_parcels(Run.here(book), batch, out, step)))


ListArgument = Annotated[Path, typer.Argument(metavar="リスト", help="見出し「シリアル番号」（と任意の「備考」）の CSV かブック")]
OnOption = Annotated[Optional[str], typer.Option("--on", metavar="日付", help="発効日（既定は今日）")]


@command(short="廃棄: 停止したトークン・期限切れの在庫を廃棄します", epilog=DATE_FORMS)
def dispose(listed: ListArgument, book: BookOption = DEFAULT_BOOK, on: OnOption = None) -> None:
    """廃棄: リストのトークン（停止、または使用期限切れの在庫）を廃棄にし、1本ずつ履歴に記録します。"""
    from .runs import run_dispose
    from .schema import Operation

    day = _date_option(on, "--on")
    _finish(_with_progress(lambda step: run_dispose(Run.here(book), listed, Operation.DISPOSE, day, step)))


@command("return-to-ssc", short="故障返品: 故障したトークンを SSC へ返品します", epilog=DATE_FORMS)
def return_to_ssc(listed: ListArgument, book: BookOption = DEFAULT_BOOK, on: OnOption = None) -> None:
    """故障返品: リストのトークン（停止理由 故障、または在庫で見つかった故障品）を SSC へ返品したものとして廃棄にし、返品として履歴に記録します。"""
    from .runs import run_dispose
    from .schema import Operation

    day = _date_option(on, "--on")
    _finish(_with_progress(lambda step: run_dispose(Run.here(book), listed, Operation.RETURN, day, step)))


@command("request-form", short="申込書作成: 金庫に送る申込書（Excel）を作ります")
def request_form(
    bank: Annotated[str, typer.Option("--bank", metavar="金庫コード", help="申込書を作る金庫の金庫コード")],
    book: BookOption = DEFAULT_BOOK,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="フォルダ", help="出力先（既定はブックの隣の forms）")] = None,
) -> None:
    """申込書作成: 1金庫用の申込書ブック（店番一覧・選択肢・記入チェック・記入方法つき、ほかの金庫のデータなし）を作ります。"""
    from .normalize import Invalid, bank_code
    from .runs import run_request_form

    try:
        code = bank_code(bank)
    except Invalid:
        _finish(unusable(f"--bank は4桁の金庫コードです: {bank!r}"))
    _finish(run_request_form(Run.here(book), code, out))


@command(short="申込書取込: 金庫から戻った申込書を「申込」に取り込みます")
def intake(
    files: Annotated[list[Path], typer.Argument(metavar="申込書", help="金庫から戻った申込書（.xlsx、いくつでも）")],
    book: BookOption = DEFAULT_BOOK,
) -> None:
    """申込書取込: 申込書の各行を「申込」と同じ規則でチェックし、依頼番号を付けて取り込みます。
    取込済みの行は二重に取り込まず、1行でも誤りがあれば何も書き込みません。"""
    from .runs import run_take_forms

    _finish(_with_progress(lambda step: run_take_forms(Run.here(book), files, step)))


# --- years of operation (close-year, history, verify-journal) -----------------------------------------

@command("close-year", short="年次締め: 1年分の履歴を保管用ブックに移し、繰越を記録します")
def close_year(
    year: Annotated[int, typer.Option("--year", metavar="年", min=2000, max=2099, help="締める年（例 2026）")],
    book: BookOption = DEFAULT_BOOK,
) -> None:
    """年次締め: その年までの履歴をブックと同じフォルダの 履歴_YYYY.xlsx に移し（内容のダイジェストを「年次締め」
    シートに記録）、履歴には各トークンの1月1日時点の状態（繰越）を1行ずつ残します。年が終わっていないとき、その年の
    バッチが発送確定されていないとき、同名の別の保管用ブックがあるときは何も変更しません。2回目以降の実行は何もしません。"""
    from .runs import run_close_year

    _finish(_with_progress(lambda step: run_close_year(Run.here(book), year, step)))


@command("verify-journal", short="履歴の改ざん検知: ブックと保管用ブックの連鎖ダイジェストを確かめます")
def verify_journal(
    book: BookOption = DEFAULT_BOOK,
    as_json: Annotated[bool, typer.Option("--json", help="問題を JSON で出力します")] = False,
) -> None:
    """履歴の連鎖ダイジェストを、保管用ブック（履歴_YYYY.xlsx、年次締めの記録と照合）から台帳の履歴まで順に確かめ、
    切れている最初の行を場所付きで表示します（あれば終了コード 1）。"""
    from .runs import run_verify_journal

    outcome = run_verify_journal(Run.here(book))
    _finish(replace(outcome, as_json=as_json) if isinstance(outcome, Checked) else outcome)


@command(short="トークン（シリアル番号）か顧客（顧客番号）の履歴を、保管用ブックも含めて表示します")
def history(
    key: Annotated[str, typer.Argument(metavar="シリアル番号|顧客番号", help="シリアル番号か顧客番号")],
    book: BookOption = DEFAULT_BOOK,
    as_json: Annotated[bool, typer.Option("--json", help="JSON で出力します")] = False,
) -> None:
    """トークンの履歴（日時・発効日・操作・変更前 → 変更後・担当者）を記録順に表示します。顧客番号なら、その顧客の
    トークンすべての履歴です。年次締めした年の分は保管用ブックから読みます（内容を年次締めの記録と照合します）。"""
    import json

    from .runs import run_history

    outcome, rows = run_history(Run.here(book), key)
    if as_json and outcome.exit_code == 0:
        outcome = Outcome([json.dumps(rows, ensure_ascii=False)], headline=outcome.headline)
    _finish(outcome)


# --- issue 11: replacement waves ---------------------------------------------------------------------

@command("plan-replacements", short="交換計画: 期限の近いトークンの交換を週次バッチに割り振り、金庫別の提案を作ります",
         epilog=DATE_FORMS)
def plan_replacements(
    book: BookOption = DEFAULT_BOOK,
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar="日付", help="計画日（既定は今日）")] = None,
    months: Annotated[Optional[int], typer.Option("--months", min=0, max=120, metavar="月数",
                                                  help="計画日からこの月数以内に使用期限を迎えるものが対象（既定は設定「期限警告（月）」）")] = None,
    bank: Annotated[Optional[str], typer.Option("--bank", metavar="金庫コード", help="この金庫だけを計画します")] = None,
    out: OutOption = None,
) -> None:
    """交換計画: 使用期限が近く交換の手配がない利用中トークンを、週間発送能力と交換余裕の範囲で週次バッチに割り振り、
    在庫（預り在庫・CSS在庫、残存期間）を確かめ、金庫ごとの提案ブック（回答欄つき）とCSS向けの集計を作ります。台帳は変えません。"""
    from .runs import run_plan_replacements

    day = _date_option(as_of, "--as-of")
    code = _bank_option(bank)
    _finish(_with_progress(lambda step: run_plan_replacements(Run.here(book), day, months, code, out, step)))


def _bank_option(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    from .normalize import Invalid, bank_code

    try:
        return bank_code(value)
    except Invalid:
        _finish(unusable(f"--bank は4桁の金庫コードです: {value!r}"))
    raise AssertionError("unreachable")


@command("intake-replacements", short="交換計画の回答取込: 金庫から戻った提案ブックの承認分を交換の申込にします")
def intake_replacements(
    files: Annotated[list[Path], typer.Argument(metavar="ファイル...", help="金庫が回答を記入した交換計画ブック（複数可）")],
    book: BookOption = DEFAULT_BOOK,
) -> None:
    """交換計画の回答取込: 承認の行を「申込」の交換（旧シリアルつき、受付日は予定バッチの締切）にし、保留・対象外は理由とともに
    「交換計画回答」に記録します。同じファイルを2回取り込んでも何も増えません。1行でもエラーがあれば何も書き込みません。"""
    from .runs import run_intake_replacements

    _finish(_with_progress(lambda step: run_intake_replacements(Run.here(book), files, step)))


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                    transient=True, disable=not console.is_terminal)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the command, turn any unexpected exception into one Japanese line."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return int(app(args=args, prog_name="tokenbook", standalone_mode=False) or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except MacrosMissing as exc:  # a broken installation: say so, never build a workbook without macros
        console.print(f"エラー: {exc}", markup=False)
        return 1
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
        outcome = internal_error(exc, f"詳細はログを見てください: {_log_unexpected(exc)}")
        outcome.render(console)
        return outcome.exit_code


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
