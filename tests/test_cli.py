"""The command line: output format, --json, exit codes 0 / 1 / 2, and no traceback for anything."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from conftest import IN_USE, POSTAL_REQUEST, STOCK
from tokenbook.cli import main


def test_validate_clean_book_exits_0(book_file, capsys):
    assert main(["validate", "--book", str(book_file())]) == 0
    assert "問題はありません" in capsys.readouterr().out


def test_validate_warnings_alone_exit_0(book_file, capsys):
    path = book_file(requests=[{**POSTAL_REQUEST, "送付先郵便番号": "999-9999"}])
    assert main(["validate", "--book", str(path)]) == 0
    out = capsys.readouterr().out
    assert "申込!N2 [unknown-postal-code]" in out and "警告 1 件" in out


def test_validate_errors_exit_1_with_located_lines(book_file, capsys):
    path = book_file(requests=[{**POSTAL_REQUEST, "送付先郵便番号": "12-345"}])
    before = path.read_bytes()
    assert main(["validate", "--book", str(path)]) == 1
    out = capsys.readouterr().out
    assert "申込!N2 [bad-postal-code] 郵便番号が7桁ではありません: '12-345'" in out
    assert "エラー 1 件" in out
    assert path.read_bytes() == before


def test_validate_json(book_file, capsys):
    path = book_file(tokens=[{**STOCK, "状態": "使用中"}, IN_USE])
    assert main(["validate", "--book", str(path), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)
    assert problems == [{"sheet": "在庫", "row": 2, "header": "状態", "cell": "C2", "value": "使用中",
                         "code": "bad-choice", "severity": "エラー",
                         "message": "「状態」は 在庫・引当済・金庫保管・利用中・停止・廃棄 のいずれかです"}]


def test_missing_book_exits_2(tmp_path, capsys):
    assert main(["validate", "--book", str(tmp_path / "none.xlsm")]) == 2
    assert "ファイルがありません" in capsys.readouterr().out


def test_usage_error_exits_2(capsys):
    assert main(["validate", "--no-such-option"]) == 2


def test_unexpected_exception_is_one_line_and_logged(book_file, tmp_path, capsys, monkeypatch):
    import tokenbook.runs as runs

    def boom(*args, **kwargs):
        raise RuntimeError("customer 佐藤 secret")

    monkeypatch.setenv("TOKENBOOK_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(runs, "check_book", boom)
    assert main(["validate", "--book", str(book_file())]) == 1
    out = capsys.readouterr()
    assert "予期しない内部エラー" in out.out and "Traceback" not in out.out + out.err
    log = (tmp_path / "logs" / "tokenbook.log").read_text(encoding="utf-8")
    assert "RuntimeError" in log and "in boom" in log
    assert "佐藤" not in log and "secret" not in log  # an exception's message may quote a cell: never logged


def test_demo_builds_checks_and_runs_the_weekly_cycle(tmp_path, capsys):
    as_of = "2026-11-24"  # the demo's "today" (a Tuesday); never the real clock
    assert main(["demo", "--dir", str(tmp_path), "--banks", "4", "--tokens", "600", "--as-of", as_of]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "tokenbook.xlsm").exists()
    assert "在庫 600 行" in out
    assert "入力チェック: エラー 0 件" in out or "入力チェック: 問題はありません" in out
    for step in ("先週のバッチを割当: 引当", "先週のバッチを発送確定: 発送済", "今週のバッチを割当: 引当"):
        assert step in out
    from tokenbook.load import check_book
    ledger = check_book(tmp_path / "tokenbook.xlsm", dt.date.fromisoformat(as_of)).ledger
    assert any(d.state == "発送済" and d.batch.startswith("20") and d.dispatch_id.startswith(d.batch)
               for d in ledger.dispatches)
    assert any(t.state == "引当済" for t in ledger.tokens)
    from test_sample_shape import shape_problems  # business days, batch ids, parcel numbers, no busy month
    assert shape_problems(ledger, dt.date.today()) == []


def test_help_is_japanese_and_lists_the_commands():
    completed = subprocess.run([sys.executable, "-m", "tokenbook", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0
    for command in ("new-workbook", "validate", "allocate", "confirm", "cancel-batch", "demo"):
        assert command in completed.stdout
    assert "台帳" in completed.stdout


@pytest.mark.parametrize("command", [["validate", "--help"], ["demo", "--help"], ["new-workbook", "--help"],
                                     ["allocate", "--help"], ["confirm", "--help"], ["cancel-batch", "--help"]])
def test_each_command_has_help(command, capsys):
    assert main(command) == 0


def test_validate_as_of_judges_expiry_on_that_day(book_file, capsys):
    path = book_file(tokens=[{**STOCK, "使用期限": dt.date(2026, 12, 1)}, IN_USE])
    assert main(["validate", "--book", str(path), "--as-of", "2026-11-30"]) == 0
    assert "expired-stock" not in capsys.readouterr().out
    assert main(["validate", "--book", str(path), "--as-of", "R8.12.2"]) == 0  # a warning alone: still 0
    assert "在庫!E2 [expired-stock]" in capsys.readouterr().out
    assert main(["validate", "--book", str(path), "--as-of", "いつか"]) == 2


def test_demo_with_a_date_and_a_seed_makes_the_same_ledger_twice(tmp_path):
    import python_calamine

    def values(folder):
        assert main(["demo", "--dir", str(folder), "--banks", "3", "--tokens", "300", "--as-of", "2026-11-24"]) == 0
        book = python_calamine.CalamineWorkbook.from_path(str(folder / "tokenbook.xlsm"))
        return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}

    assert values(tmp_path / "one") == values(tmp_path / "two")
