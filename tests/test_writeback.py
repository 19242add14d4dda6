"""Headless write-back (design §12): what a run writes, what it keeps, and what it refuses.

Workbooks are real files; after each run they are read back with python-calamine (our reader),
openpyxl (a second, independent reader), olevba and LibreOffice.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from conftest import POSTAL_REQUEST, default_sheets, vba_modules
from tokenbook import schema
from tokenbook.normalize import add_months
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.journal import last_states
from tokenbook.sample import generate
from tokenbook.load import check_book
from tokenbook.books.writeback import BookBusy, BookLock

# The run date of every scenario here (a Tuesday: the week's cutoff day); never the real clock.
TODAY = dt.date(2026, 11, 24)
AS_OF = TODAY.isoformat()


def stock(n, start=1):
    delivered = TODAY - dt.timedelta(days=100)
    return [{"シリアル番号": f"TK{i:08d}", "所有者": "CSS", "状態": "在庫", "納品日": delivered,
             "使用期限": add_months(delivered, 60)} for i in range(start, start + n)]


def requests(n, day=None, start=1):
    day = day or TODAY - dt.timedelta(days=1)
    return [{**POSTAL_REQUEST, "依頼番号": f"R{day:%Y%m%d}-{i:03d}", "受付日": day, "顧客番号": f"{i:07d}"}
            for i in range(start, start + n)]


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_allocate_writes_states_rows_journal_checks_and_panel(tmp_path, capsys):
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(3), requests=requests(2)))
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 0
    out = capsys.readouterr().out
    assert "引当 2件（2本）" in out and "ブックを更新しました" in out

    ledger = check_book(book, TODAY).ledger
    assert [t.state for t in ledger.tokens] == ["引当済", "引当済", "在庫"]
    assert [(d.row, d.serial, d.state) for d in ledger.dispatches] == [(2, "TK00000001", "予定"), (3, "TK00000002", "予定")]
    assert [(e.row, e.operation) for e in ledger.journal] == [(2, "入庫"), (3, "入庫"), (4, "入庫"), (5, "引当"), (6, "引当")]
    assert last_states(ledger.journal) == {t.serial: t.state for t in ledger.tokens}

    # a second, independent reader sees the same, with dates as dates and the filter grown
    wb = openpyxl.load_workbook(book)
    ws = wb["発送"]
    assert ws["F2"].is_date and ws["F2"].value.date() > TODAY
    assert ws.auto_filter.ref == "A1:M3"
    assert wb["履歴"]["A6"].is_date
    panel = {wb["メニュー"].cell(r, 5).value: wb["メニュー"].cell(r, 6).value for r in range(4, 8)}
    assert panel["未処理の申込"] == "受付 0件・保留 0件・割当済 2件"
    assert panel["前回の実行結果"].endswith("週次割当: 引当 2件（2本）・保留 0件・窓口手交 0件")
    assert panel["在庫（所有者別）"] == "CSS 1本"
    backups = list((tmp_path / "backups").iterdir())
    assert len(backups) == 1 and backups[0].stat().st_size > 0


def test_check_results_are_written_with_links_and_replaced_next_run(tmp_path):
    bad = requests(1)[0] | {"送付先郵便番号": "999-9999"}
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(1), requests=[bad]))
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 0
    ws = openpyxl.load_workbook(book)["チェック結果"]
    assert [c.value for c in ws[2]][:7] == ["警告", "申込", "N2", "送付先郵便番号", "999-9999",
                                        "郵便番号 999-9999 は日本郵便のデータにありません", "unknown-postal-code"]
    assert ws["C2"].hyperlink.location == "'申込'!N2"
    assert ws.max_row == 2
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 0  # the warning stays: still one row, not two
    assert openpyxl.load_workbook(book)["チェック結果"].max_row == 2


def test_dry_run_writes_nothing(tmp_path, capsys):
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(2), requests=requests(1)))
    before = book.read_bytes()
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book), "--dry-run"]) == 0
    assert "引当 R" in capsys.readouterr().out
    assert book.read_bytes() == before and not (tmp_path / "backups").exists()


def test_errors_outside_requests_stop_the_batch_and_change_nothing(tmp_path, capsys):
    tokens = stock(2) + [{**stock(1, 5)[0], "状態": "使用中"}]
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=tokens, requests=requests(1)))
    before = book.read_bytes()
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 1
    out = capsys.readouterr().out
    assert "在庫!C4 [bad-choice]" in out and "中止しました" in out
    assert book.read_bytes() == before


def test_errors_in_one_request_hold_only_that_request(tmp_path, capsys):
    rows = requests(2)
    rows[0]["送付先電話"] = "12"
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(2), requests=rows))
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 1
    ledger = check_book(book, TODAY).ledger
    assert [(r.state, r.memo) for r in ledger.requests][0] == ("受付", "")
    assert ledger.requests[1].state == "割当済"
    assert "入力エラーで未処理 1件" in capsys.readouterr().out


def test_confirm_and_cancel_through_the_cli(tmp_path, capsys):
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(2), requests=requests(2)))
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 0
    batch = check_book(book, TODAY).ledger.dispatches[0].batch
    assert main(["cancel-batch", "--book", str(book), "--batch", batch]) == 0
    assert [t.state for t in check_book(book, TODAY).ledger.tokens][:2] == ["在庫", "在庫"]
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 0
    assert main(["confirm", "--book", str(book), "--batch", batch, "--shipped-on", "R8.12.1"]) == 0
    ledger = check_book(book, TODAY).ledger
    assert {t.state for t in ledger.tokens[:2]} == {"利用中"}
    assert {d.shipped_on for d in ledger.dispatches if d.state == "発送済"} == {dt.date(2026, 12, 1)}
    capsys.readouterr()
    assert main(["cancel-batch", "--book", str(book), "--batch", batch]) == 1
    assert "発送済み" in capsys.readouterr().out
    assert main(["confirm", "--book", str(book), "--batch", "W48"]) == 1
    assert main(["confirm", "--book", str(book), "--batch", batch, "--shipped-on", "いつか"]) == 2


# --- locks ---------------------------------------------------------------------------------------------

def test_refuses_while_excel_has_the_book_open(tmp_path, capsys):
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(1), requests=requests(1)))
    (tmp_path / "~$book.xlsm").write_bytes(b"owner")
    before = book.read_bytes()
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 3
    assert "Excel で開かれています" in capsys.readouterr().out
    assert book.read_bytes() == before


def test_refuses_while_another_run_holds_it_and_takes_over_a_dead_runs_lock(tmp_path, capsys):
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(1), requests=requests(1)))
    with BookLock(book):
        assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 3
        with pytest.raises(BookBusy):
            BookLock(book).__enter__()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".book.xlsm.tokenbook-lock").write_text(
        '{"pid": %d, "host": "%s", "since": "x"}' % (dead.pid, os.uname().nodename))
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 0
    assert not (tmp_path / ".book.xlsm.tokenbook-lock").exists()


def test_backups_are_bounded(tmp_path):
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(1), requests=[]))
    from tokenbook.runs import Run, run_allocate
    from tokenbook.books import writeback

    original = writeback.KEEP_BACKUPS
    try:
        writeback.KEEP_BACKUPS = 3
        for minute in range(6):
            run = Run(book, dt.datetime.combine(TODAY, dt.time(10, minute)), "t")
            assert run_allocate(run).exit_code == 0
    finally:
        writeback.KEEP_BACKUPS = original
    assert len(list((tmp_path / "backups").iterdir())) == 3


# --- refusals --------------------------------------------------------------------------------------------

def _with(book: Path, edit) -> Path:
    wb = openpyxl.load_workbook(book, keep_vba=True)
    edit(wb)
    wb.save(book)
    return book


def test_a_formula_in_a_cell_to_overwrite_is_refused(tmp_path, capsys):
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(1), requests=requests(1)))
    _with(book, lambda wb: wb["申込"].__setitem__("V2", '=IF(U2="受付","要処理","")'))
    before = book.read_bytes()
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 1
    assert "数式があるため書き込めません" in capsys.readouterr().out
    assert book.read_bytes() == before


def test_a_table_over_an_appended_sheet_is_refused(tmp_path, capsys):
    from openpyxl.worksheet.table import Table

    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(1), requests=requests(1)))
    _with(book, lambda wb: wb["発送"].add_table(Table(displayName="発送表", ref="A1:M2")))
    before = book.read_bytes()
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 1
    assert "テーブル" in capsys.readouterr().out
    assert book.read_bytes() == before


# --- faults inside a run: nothing is written ---------------------------------------------------------

def _unchanged_after_a_failed_run(tmp_path: Path, book: Path, before: bytes) -> None:
    assert book.read_bytes() == before
    assert not (tmp_path / "backups").exists()
    assert not list(tmp_path.glob(".book.xlsm.tokenbook-*")), "no temporary file or lock is left"


def test_a_written_book_that_reads_back_wrong_is_not_swapped_in(tmp_path, capsys, monkeypatch):
    """Fault in the patch stage: one changed cell is lost on the way to the file; the re-read catches it."""
    from tokenbook.books import writeback

    real = writeback.ledger_edits

    def losing_one_cell(old, new):
        edits = real(old, new)
        row = min(edits[schema.TOKENS].cells)
        edits[schema.TOKENS].cells[row].clear()  # 在庫 row 2 keeps its old state in the file
        return edits

    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(2), requests=requests(1)))
    before = book.read_bytes()
    monkeypatch.setattr(writeback, "ledger_edits", losing_one_cell)
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 1
    out = capsys.readouterr().out
    assert "書き込んだブックを読み直すと「在庫」2行目が一致しません。元のブックはそのままです" in out
    assert "ブックには何も書き込んでいません" in out
    _unchanged_after_a_failed_run(tmp_path, book, before)


def _flip_a_byte(target: Path, member: str, fault: type[Exception]) -> None:
    """Flip one byte of `member`'s compressed data, chosen so that reading it raises `fault`."""
    import io
    import zlib  # noqa: F401  (zlib.error is one of the faults)

    with zipfile.ZipFile(target) as archive:
        info = archive.getinfo(member)
    data = target.read_bytes()
    header = info.header_offset
    start = header + 30 + int.from_bytes(data[header + 26:header + 28], "little") \
        + int.from_bytes(data[header + 28:header + 30], "little")
    for offset in range(info.compress_size // 2, info.compress_size):
        damaged = bytearray(data)
        damaged[start + offset] ^= 0xFF
        try:
            with zipfile.ZipFile(io.BytesIO(bytes(damaged))) as archive:
                archive.read(member)
        except fault:
            target.write_bytes(bytes(damaged))
            return
        except Exception:
            continue
    raise AssertionError(f"no byte of {member} gives {fault.__name__}")


@pytest.mark.parametrize("fault", ["crc", "deflate"])
def test_a_written_book_with_a_broken_part_is_not_swapped_in(tmp_path, capsys, monkeypatch, fault):
    """Fault in the file: a byte of the 在庫 sheet's compressed data flipped after writing (a bad disk),
    found by its CRC or by the decompressor itself."""
    import zlib

    from tokenbook.books import writeback

    real = writeback.patch_package

    def corrupting(source, target, edits, seen=None):
        real(source, target, edits, seen)
        _flip_a_byte(target, "xl/worksheets/sheet2.xml", zipfile.BadZipFile if fault == "crc" else zlib.error)

    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(2), requests=requests(1)))
    before = book.read_bytes()
    monkeypatch.setattr(writeback, "patch_package", corrupting)
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 1
    out = capsys.readouterr().out
    assert "書き込んだブックの xl/worksheets/sheet2.xml が壊れています。元のブックはそのままです" in out
    assert "予期しない" not in out
    _unchanged_after_a_failed_run(tmp_path, book, before)


@pytest.mark.parametrize("how", ["saved in place", "replaced by rename", "same size and time"])
def test_a_book_changed_on_disk_during_the_run_is_not_overwritten(tmp_path, capsys, monkeypatch, how):
    """Another program saves the book while the run computes: the run refuses, the other program's file stays."""
    from tokenbook.books import writeback

    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=stock(2), requests=requests(1)))
    theirs = build_workbook(tmp_path / "theirs.xlsm", default_sheets(tokens=stock(3), requests=requests(1)))
    real = writeback.verify_edits
    saved: list[bytes] = []

    def someone_saves_meanwhile(path, *rest):
        real(path, *rest)
        if how == "replaced by rename":  # as Excel saves: a new file renamed over the old one
            saved.append(theirs.read_bytes())
            os.replace(theirs, book)
        elif how == "saved in place":
            saved.append(theirs.read_bytes())
            book.write_bytes(saved[-1])
        else:  # rewritten in place with the same size and modification time: only the change time tells
            stat = book.stat()
            data = bytearray(book.read_bytes())
            data[len(data) // 2] ^= 0xFF
            saved.append(bytes(data))
            book.write_bytes(saved[-1])
            os.utime(book, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            assert (book.stat().st_size, book.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)

    monkeypatch.setattr(writeback, "verify_edits", someone_saves_meanwhile)
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 1
    out = capsys.readouterr().out
    assert "処理中にブックが別のプログラムで変更されました。何も書き込まずに中止しました" in out
    assert book.read_bytes() == saved[0]
    assert not (tmp_path / "backups").exists()
    assert not list(tmp_path.glob(".book.xlsm.tokenbook-*"))


# --- preservation over many runs ---------------------------------------------------------------------

def _xlwings_vba() -> Path:
    """The VBA project of xlwings' own standalone quickstart workbook (a real Excel-made project)."""
    spec = importlib.util.find_spec("xlwings")
    source = Path(spec.submodule_search_locations[0]) / "quickstart_standalone.xlsm"
    return source


EXTRA = len(schema.TOKEN_COLUMNS) + 1  # the column after tokenbook's own


@pytest.fixture
def clerks_book(tmp_path) -> Path:
    with zipfile.ZipFile(_xlwings_vba()) as archive:
        vba = tmp_path / "vbaProject.bin"
        vba.write_bytes(archive.read("xl/vbaProject.bin"))
    first_week = TODAY - dt.timedelta(days=20 * 7 + 1)
    book = build_workbook(tmp_path / "tokenbook.xlsm", default_sheets(tokens=stock(80), requests=requests(3, first_week)),
                          vba_project=vba, buttons=[("週次割当", "SampleCall"), ("入力チェック", "SampleCall")])

    def clerk(wb):
        ws = wb["在庫"]
        ws.cell(1, EXTRA, "担当メモ")  # an extra column with values
        for row in range(2, 40):
            ws.cell(row, EXTRA, f"棚{row}")
        ws["A2"].fill = openpyxl.styles.PatternFill("solid", fgColor="FFFF00")  # a highlighted cell
        ws.column_dimensions["J"].width = 33
        notes = wb.create_sheet("メモ")  # an extra sheet
        notes["A1"] = "月末に在庫を数える"
    wb = openpyxl.load_workbook(book, keep_vba=True)
    clerk(wb)
    wb.save(book)
    return book


@pytest.mark.slow
def test_twenty_headless_batches_keep_everything_a_clerk_built(clerks_book, tmp_path, convert):
    before = members(clerks_book)
    vba_before = before["xl/vbaProject.bin"]
    macros_before = vba_modules(clerks_book)
    assert ("Module1.bas" in macros_before) and "Sub SampleCall()" in macros_before["Module1.bas"]
    drawings_before = {k: v for k, v in before.items() if "drawing" in k or k.endswith(".vml")}
    assert drawings_before, "the fixture has buttons"
    day = TODAY - dt.timedelta(days=20 * 7)
    for week in range(20):
        day_of_week = day + dt.timedelta(weeks=week)
        wb_rows = requests(2, day=day_of_week, start=10 + week * 2)
        # a clerk types two new requests into the next free rows, as in Excel
        wb = openpyxl.load_workbook(clerks_book, keep_vba=True)
        ws = wb["申込"]
        for record in wb_rows:
            ws.append([record.get(c.header) for c in schema.REQUEST_COLUMNS])
        wb.save(clerks_book)
        run_day = day_of_week + dt.timedelta(days=(1 - day_of_week.weekday()) % 7)
        assert main(["allocate", "--book", str(clerks_book), "--as-of", run_day.isoformat()]) == 0
        batch = check_book(clerks_book, TODAY).ledger.dispatches[-1].batch
        assert main(["confirm", "--book", str(clerks_book), "--batch", batch]) == 0

    after = members(clerks_book)
    assert after["xl/vbaProject.bin"] == vba_before
    assert {k: after[k] for k in drawings_before} == drawings_before
    wb = openpyxl.load_workbook(clerks_book, keep_vba=True)
    ws = wb["在庫"]
    assert ws.cell(1, EXTRA).value == "担当メモ" and [ws.cell(r, EXTRA).value for r in range(2, 40)] == [f"棚{r}" for r in range(2, 40)]
    assert ws["A2"].fill.fgColor.rgb.endswith("FFFF00")
    assert ws.column_dimensions["J"].width == 33
    assert ws.freeze_panes == "A2"
    assert wb["メモ"]["A1"].value == "月末に在庫を数える"
    enums = {r.min_col for dv in wb["申込"].data_validations.dataValidation for r in dv.sqref.ranges}
    assert {8, 10, 11, 21} <= enums  # 申込区分, 発送方法, IBカード, 状態 dropdowns
    ledger = check_book(clerks_book, TODAY).ledger
    assert sum(t.state == "利用中" for t in ledger.tokens) == 43  # 3 + 2 a week for 20 weeks
    assert last_states(ledger.journal) == {t.serial: t.state for t in ledger.tokens}

    # olevba reads the same macros; LibreOffice opens the book
    assert vba_modules(clerks_book) == macros_before
    copy = convert(clerks_book, "xlsx:Calc MS Excel 2007 XML")
    with zipfile.ZipFile(copy) as archive:
        assert any(name.startswith("xl/worksheets/sheet") for name in archive.namelist())


# --- crash safety -----------------------------------------------------------------------------------

CHILD = """
import datetime as dt, sys
from pathlib import Path
from tokenbook.runs import Run, run_allocate
now = dt.datetime.fromisoformat(sys.argv[2])
sys.exit(run_allocate(Run(Path(sys.argv[1]), now, "kill-test"), now.date()).exit_code)
"""
RUN_AT = dt.datetime.combine(TODAY, dt.time(10)).isoformat()  # a fixed clock: every complete run writes the same


def sheet_values(path: Path) -> dict[str, list[list]]:
    """Every cell value of every sheet, as our reader sees it (a torn file raises here)."""
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names}


@pytest.mark.slow
def test_killed_at_any_moment_the_book_is_the_old_or_the_new_one(tmp_path):
    sample = generate(seed=5, banks=6, tokens=4000, as_of=TODAY)
    original = build_workbook(tmp_path / "orig.xlsm", sample.rows)
    book = tmp_path / "book.xlsm"
    book.write_bytes(original.read_bytes())
    started = time.perf_counter()
    assert subprocess.run([sys.executable, "-c", CHILD, str(book), RUN_AT]).returncode == 0
    full = time.perf_counter() - started
    old, new = sheet_values(original), sheet_values(book)
    assert old != new
    assert sum(row[2] == "引当済" for row in new[schema.TOKENS][1:]) > sum(row[2] == "引当済" for row in old[schema.TOKENS][1:])
    rng = random.Random(1)
    outcomes = []
    for _ in range(12):
        book.write_bytes(original.read_bytes())
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(book), RUN_AT])
        time.sleep(rng.uniform(0.05, full))
        child.send_signal(signal.SIGKILL)
        child.wait()
        found = sheet_values(book)
        assert found in (old, new), "the book after a kill is neither the old nor the new one"
        outcomes.append("old" if found == old else "new")
        # whatever the moment, the next run cleans up and works: from the old book it makes the new one
        assert subprocess.run([sys.executable, "-c", CHILD, str(book), RUN_AT]).returncode == 0
        if outcomes[-1] == "old":
            assert sheet_values(book) == new
        assert not list(tmp_path.glob(".book.xlsm.tokenbook-*.tmp"))
        assert not (tmp_path / ".book.xlsm.tokenbook-lock").exists()
    assert "old" in outcomes, outcomes  # some kills did land before the swap


def test_a_ledger_without_tokenbooks_own_sheets_is_still_written(tmp_path):
    book = build_workbook(tmp_path / "book.xlsx", default_sheets(tokens=stock(1), requests=requests(1)))
    wb = openpyxl.load_workbook(book)
    del wb["チェック結果"], wb["メニュー"]
    wb.save(book)
    assert main(["allocate", "--as-of", AS_OF, "--book", str(book)]) == 0
    assert [t.state for t in check_book(book, TODAY).ledger.tokens] == ["引当済"]
