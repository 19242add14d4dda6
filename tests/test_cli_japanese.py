"""The command line as an operator meets it: the installed `tokenbook`, run in a subprocess at 80
columns. Help pages and usage errors are Japanese, fit the width and cut nothing; every month form
a clerk types is accepted; a closed pipe ends quietly with the run's own exit code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from conftest import POSTAL_REQUEST
from tokenbook import normalize as nz
from tokenbook.usage import wrap

TOKENBOOK = Path(sys.executable).with_name("tokenbook")
COMMANDS = ("new-workbook", "validate", "allocate", "confirm", "cancel-batch", "report", "send", "month-end",
            "setup-excel", "demo")
# What click and typer print in English around a command's own text.
ENGLISH = re.compile(r"Usage|Options|Commands|Arguments|Show this message|default|required|Error|Try |"
                     r"Invalid value|Missing|No such|Possible|Got unexpected|<bool>|<path>|<text>|<int>|…")


def tokenbook(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "TOKENBOOK_LOG_DIR": str(Path(kwargs.pop("tmp", "/tmp")) / "logs")}
    return subprocess.run([str(TOKENBOOK), *args], capture_output=True, text=True, env=env, timeout=120, **kwargs)


def assert_japanese_frame(text: str) -> None:
    assert text.strip()
    assert not ENGLISH.search(text), ENGLISH.search(text)
    too_wide = [line for line in text.splitlines() if cell_len(line) > 80]
    assert not too_wide


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_installed_command_is_the_one_under_test():
    assert TOKENBOOK.exists()


def test_the_command_list_is_japanese_and_shows_every_short_help_whole():
    from tokenbook.cli import app
    import typer.main

    done = tokenbook("--help")
    assert done.returncode == 0, done.stderr
    assert_japanese_frame(done.stdout)
    assert done.stdout.startswith("使い方: tokenbook コマンド [オプション]")
    group = typer.main.get_command(app)
    lines = done.stdout.splitlines()
    for name in COMMANDS:
        short = group.commands[name].short_help
        assert any(line.split() == [name, *short.split()] for line in lines), (name, short)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_is_japanese_fits_80_columns_and_keeps_its_whole_text(name):
    from tokenbook.cli import app
    import typer.main

    done = tokenbook(name, "--help")
    assert done.returncode == 0, done.stderr
    assert_japanese_frame(done.stdout)
    command = typer.main.get_command(app).commands[name]
    assert flat(command.help) in flat(done.stdout)  # the long text, wrapped but never cut
    for param in command.params:
        for option in param.opts if param.param_type_name == "option" else ():
            assert option in done.stdout
        if param.help:
            assert flat(param.help) in flat(done.stdout)
    assert "この説明を表示して終わります" in done.stdout


USAGE_ERRORS = [
    (("validate", "--bogus"), ["オプション --bogus はありません", "--book, --json, --as-of, --help"]),
    (("validate", "--jsn"), ["もしかして --json ですか", "--book, --json, --as-of, --help"]),
    (("confirm",), ["--batch を指定してください"]),
    (("frobnicate",), ["コマンド frobnicate はありません", "new-workbook", "month-end"]),
    (("demo", "--banks", "x"), ["--banks の値 'x' は使えません", "1〜254 の整数"]),
    (("demo", "--tokens=0"), ["--tokens の値 '0' は使えません"]),
    (("validate", "--json=yes"), ["--json は値を取りません"]),
    (("validate", "--book"), ["--book の後にパスを書いてください"]),
    (("new-workbook",), ["パスを指定してください"]),
    (("new-workbook", "a.xlsm", "b.xlsm"), ["余分な引数があります: b.xlsm"]),
    (("report", "--month", "2026-13"), ["2026年13月はありません"]),
]


@pytest.mark.parametrize(("args", "expected"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_errors_are_japanese_name_the_real_options_and_exit_2(args, expected, tmp_path):
    done = tokenbook(*args, "--book", str(tmp_path / "none.xlsm"), cwd=tmp_path) if args[0] == "report" \
        else tokenbook(*args, cwd=tmp_path)
    assert done.returncode == 2
    shown = done.stderr + done.stdout
    assert_japanese_frame(shown)
    assert "Traceback" not in shown
    for part in expected:
        assert part in flat(shown) or part in shown, part
    assert not (tmp_path / "a.xlsm").exists()


def test_tokenbook_alone_shows_the_help():
    done = tokenbook()
    assert_japanese_frame(done.stderr + done.stdout)
    assert "コマンド:" in done.stderr + done.stdout


# --- months and dates ------------------------------------------------------------------------------

MONTH_FORMS = ["2026-10", "2026/10", "2026.10", "202610", "2026年10月", "令和8年10月", "R8.10", "r8/10", "Ｒ８．１０",
               "２０２６－１０"]


@pytest.mark.parametrize("typed", MONTH_FORMS)
def test_every_month_form_is_the_same_month(typed):
    assert nz.month(typed) == "2026-10"


@pytest.mark.parametrize(("typed", "expected"), [("H31.4", "2019-04"), ("平成30年12月", "2018-12"), ("令和元年5月", "2019-05"),
                                                 ("R1.5", "2019-05"), ("2099-12", "2099-12"), ("2000/1", "2000-01")])
def test_era_and_edge_months(typed, expected):
    assert nz.month(typed) == expected


@pytest.mark.parametrize(("typed", "reason"), [
    ("2026-13", "2026年13月はありません"), ("2026-00", "2026年0月はありません"), ("令和8年13月", "令和8年13月はありません"),
    ("平成31年5月", "平成31年5月はありません（平成は31年4月まで）"), ("R1.4", "令和元年4月はありません（令和は元年5月から）"),
    ("0000-01", "2000年から2099年までの月を指定してください"), ("9999-12", "2000年から2099年までの月を指定してください"),
    ("H5.1", "2000年から2099年までの月を指定してください（1993年）"),
    ("2026-1x", "のように指定してください"), ("", "のように指定してください"), ("S60.1", "のように指定してください"),
])
def test_impossible_and_unreadable_months_say_why(typed, reason):
    with pytest.raises(nz.Invalid) as info:
        nz.month(typed)
    assert info.value.code == "bad-month" and reason in info.value.params["reason"]


@pytest.mark.slow
def test_the_cli_accepts_each_month_form(book_file, tmp_path):
    """`report --month` in each form makes the same month's folder (the book is clean, so it runs)."""
    book = book_file()
    for typed in ("2026-10", "2026/10", "202610", "令和8年10月", "R8.10"):
        out = tmp_path / typed.replace("/", "_")
        done = tokenbook("report", "--book", str(book), "--month", typed, "--out", str(out), tmp=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "対象月 2026-10" in done.stdout
        assert (out / "2026-10").is_dir()


@pytest.mark.parametrize(("args", "message"), [
    (("report", "--month", "2026-13"), "2026年13月はありません"),
    (("month-end", "--month", "0000-01"), "2000年から2099年までの月"),
    (("send", "--month", "9999-12"), "2000年から2099年までの月"),
    (("allocate", "--as-of", "2026-02-30"), "2026年2月30日はありません"),
    (("confirm", "--batch", "2026-W48", "--shipped-on", "1900-01-01"), "2000年から2099年までの日付"),
    (("allocate", "--as-of", "きのう"), "R8.11.24"),
])
def test_an_impossible_month_or_date_gives_its_message_exit_2_and_writes_nothing(args, message, book_file, tmp_path):
    book = book_file()
    before = book.read_bytes()
    out = ("--out", str(tmp_path / "out")) if args[0] in ("report", "send", "month-end") else ()
    done = tokenbook(*args, "--book", str(book), *out, tmp=tmp_path)
    assert done.returncode == 2
    assert message in done.stdout and "Traceback" not in done.stdout + done.stderr
    assert book.read_bytes() == before and not (tmp_path / "out").exists()


def test_date_reasons_from_the_normaliser():
    with pytest.raises(nz.Invalid) as info:
        nz.date("2026-02-30")
    assert info.value.params["reason"] == "2026年2月30日はありません"


# --- where to look, and a closed pipe ------------------------------------------------------------------

def test_a_run_with_problems_ends_with_where_they_are(book_file, tmp_path):
    book = book_file(requests=[{**POSTAL_REQUEST, "送付先郵便番号": "12-345"}])
    done = tokenbook("validate", "--book", str(book), tmp=tmp_path)
    assert done.returncode == 1
    last = done.stdout.strip().splitlines()[-1]
    assert "チェック結果" in last and str(book) in last and "--json" in last


def test_a_clean_run_does_not_point_anywhere(book_file, tmp_path):
    done = tokenbook("validate", "--book", str(book_file()), tmp=tmp_path)
    assert done.returncode == 0 and "チェック結果" not in done.stdout


@pytest.mark.parametrize(("postal", "code"), [("999-9999", 0), ("12-345", 1)])
def test_a_closed_pipe_ends_quietly_with_the_runs_own_exit_code(postal, code, book_file, tmp_path):
    """The reader goes away before tokenbook writes (as `| head -0` would): no traceback, no
    'Exception ignored', and the exit code of the check itself (warnings 0, errors 1)."""
    book = book_file(requests=[{**POSTAL_REQUEST, "送付先郵便番号": postal}])
    env = {**os.environ, "COLUMNS": "80", "TOKENBOOK_LOG_DIR": str(tmp_path / "logs")}
    process = subprocess.Popen([str(TOKENBOOK), "validate", "--book", str(book)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == code
    assert stderr == ""
    assert not (tmp_path / "logs").exists()  # not taken for an internal error either


def test_a_real_shell_pipe_into_head(book_file, tmp_path):
    book = book_file(requests=[{**POSTAL_REQUEST, "送付先郵便番号": "999-9999"}])
    done = subprocess.run(f"'{TOKENBOOK}' validate --json --book '{book}' | head -c 1; echo \" ${{PIPESTATUS[0]}}\"",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert done.stdout == "[ 0\n" and done.stderr == ""


# --- the wrapper ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [10, 17, 30, 61])
def test_wrap_keeps_every_character_within_the_width_and_obeys_kinsoku(limit):
    text = "月末処理: 入力チェック → 報告書 → メール作成（送信前の確認用 .eml） → --send で送信。ほか、「チェック結果」シート。"
    lines = wrap(text, limit)
    assert flat("".join(lines)) == flat(text)
    assert all(cell_len(line) <= limit for line in lines)
    assert not any(line[0] in "。、）」" for line in lines[1:])
    assert not any(line[-1] in "（「" for line in lines)
