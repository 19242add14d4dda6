"""Years of operation (issue 12): close-year, archives, reports of archived months, the chain.

Every scenario runs on real workbook files, with the dates given (never today's): a sample ledger
as of 2026-11-24 has a journal from 2025-11-24, so it spans two years.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import default_sheets
from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.load import check_book
from tokenbook.runs import Run, run_allocate, run_close_year, run_confirm, run_history, run_month_end, run_verify_journal
from tokenbook.sample import generate
from tokenbook.journal import ledger_openings
from tokenbook.yearend import content_digest, read_content, read_entries

AS_OF = dt.date(2026, 11, 24)
LATE_2026 = dt.datetime(2026, 11, 25, 9, 0)
EARLY_2027 = dt.datetime(2027, 1, 12, 9, 0)


def run(book: Path, now: dt.datetime) -> Run:
    return Run(book, now, "tester")


@pytest.fixture(scope="module")
def sample_book(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    sample = generate(seed=7, banks=4, tokens=1500, as_of=AS_OF)
    return build_workbook(folder / "book.xlsm", sample.rows)


@pytest.fixture
def book(sample_book, tmp_path) -> Path:
    copy = tmp_path / "book.xlsm"
    shutil.copyfile(sample_book, copy)
    return copy


def dump(folder: Path) -> dict[str, dict[str, list]]:
    """Every cell value of every report workbook in `folder`."""
    result = {}
    for path in sorted(folder.glob("*.xlsx")):
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
        result[path.name] = {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}
    assert result, f"no reports in {folder}"
    return result


def reports(book: Path, month: str, out: Path, now: dt.datetime = LATE_2026) -> dict:
    outcome = run_month_end(run(book, now), month, out, make_mail=False)
    assert outcome.exit_code == 0, outcome.lines
    return dump(out / month)


def journal_rows(path: Path) -> list[tuple]:
    """The 履歴 rows of a ledger or an archive, without their row numbers and digests."""
    return [tuple(e[1:-1]) for e in read_entries(path, check_book_pattern())]


def check_book_pattern():
    import re
    return re.compile(r"^[0-9A-Z]{6,20}$")


# --- the two-year scenario ---------------------------------------------------------------------------

@pytest.mark.slow
def test_reports_of_a_month_in_each_year_are_the_same_after_each_roll_over(book, tmp_path):
    before = {month: reports(book, month, tmp_path / "before") for month in ("2025-12", "2026-10")}
    journal = check_book(book, AS_OF).ledger.journal

    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    ledger = check_book(book, LATE_2026.date()).ledger
    archive = book.parent / "履歴_2025.xlsx"
    assert [c.year for c in ledger.closings] == [2025] and ledger.closings[0].archive == archive.name
    archived = read_entries(archive, ledger.settings.serial_regex)
    assert len(archived) == ledger.closings[0].rows == sum(e.effective_on.year == 2025 for e in journal)
    assert content_digest(archived) == ledger.closings[0].digest
    # every row once: in the archive or still in 履歴, each in its order; the opening entries in 繰越
    assert [e[1:-1] for e in archived] == [e[1:-1] for e in journal if e.effective_on.year == 2025]
    assert [e[1:-1] for e in ledger.journal] == [e[1:-1] for e in journal if e.effective_on.year == 2026]
    assert not any(e.operation == "繰越" for e in ledger.journal)
    opening = ledger_openings(ledger)
    assert len(opening) == len(ledger.openings) == len(ledger.tokens) - sum(
        t.received_on is not None and t.received_on.year == 2026 for t in ledger.tokens)
    assert {e.effective_on for e in opening} == {dt.date(2026, 1, 1)} and {e.operator for e in opening} == {"tester"}
    for month in before:
        assert reports(book, month, tmp_path / "after-2025") == before[month], month
    opened_2026 = [o[1:-1] for o in ledger.openings]

    # the next year: its last batch confirmed, then 2026 closed in January 2027
    planned = sorted({d.batch for d in ledger.dispatches if d.state == "予定"})
    for batch in planned:
        assert run_confirm(run(book, dt.datetime(2026, 12, 1, 9, 0)), batch).exit_code in (0, 1)
    assert run_close_year(run(book, EARLY_2027), 2026).exit_code == 0
    ledger = check_book(book, EARLY_2027.date()).ledger
    assert [c.year for c in ledger.closings] == [2025, 2026]
    assert ledger.journal == () and ledger.openings  # nothing took effect in 2027 yet
    archived = read_content(book.parent / "履歴_2026.xlsx", ledger.settings.serial_regex)
    assert [o[1:-1] for o in archived.openings] == opened_2026 and archived.digest() == ledger.closings[1].digest
    for month in before:
        assert reports(book, month, tmp_path / "after-2026") == before[month], month
    assert run_verify_journal(run(book, EARLY_2027)).exit_code == 0


def test_running_it_again_is_harmless(book):
    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    after = book.read_bytes()
    again = run_close_year(run(book, LATE_2026), 2025)
    assert again.exit_code == 0 and "締め済み" in again.lines[0]
    assert book.read_bytes() == after


def test_refused_while_the_year_is_not_over(book):
    original = book.read_bytes()
    outcome = run_close_year(run(book, LATE_2026), 2026)
    assert outcome.exit_code == 1 and "まだ終わっていません" in outcome.lines[0]
    assert book.read_bytes() == original and not (book.parent / "履歴_2026.xlsx").exists()


def test_refused_while_a_batch_of_the_year_is_unconfirmed(book):
    assert run_allocate(run(book, dt.datetime(2026, 11, 24, 15, 0))).exit_code in (0, 1)  # 2026-W48, not confirmed
    ledger = check_book(book, AS_OF).ledger
    planned = sorted({d.batch for d in ledger.dispatches if d.state == "予定"})
    assert planned == ["2026-W48"]
    original = book.read_bytes()
    outcome = run_close_year(run(book, EARLY_2027), 2026)
    assert outcome.exit_code == 1 and planned[0] in outcome.lines[0] and "発送確定" in outcome.lines[0]
    assert book.read_bytes() == original and not (book.parent / "履歴_2026.xlsx").exists()


def test_refused_when_the_archive_exists_with_other_content(book):
    other = book.parent / "履歴_2025.xlsx"
    other.write_bytes(b"someone else's file")
    original = book.read_bytes()
    outcome = run_close_year(run(book, LATE_2026), 2025)
    assert outcome.exit_code == 1 and "内容が違います" in outcome.lines[0]
    assert book.read_bytes() == original and other.read_bytes() == b"someone else's file"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_an_archive_that_reads_back_otherwise_stops_everything(book, monkeypatch):
    """An archive that reads back otherwise than it should is not put in place, the ledger is not
    touched, and nothing is left beside the book."""
    from tokenbook import yearend

    real = yearend.read_content

    def spoiled(path, pattern):
        content = real(path, pattern)
        return content._replace(entries=content.entries[:-1]) if ".tokenbook-" in path.name else content

    monkeypatch.setattr(yearend, "read_content", spoiled)
    original = book.read_bytes()
    outcome = run_close_year(run(book, LATE_2026), 2025)
    assert outcome.exit_code != 0 and "保管用ブック 履歴_2025.xlsx を読み直すと内容が一致しません" in "\n".join(outcome.lines)
    assert book.read_bytes() == original and not (book.parent / "履歴_2025.xlsx").exists()
    assert _leftovers(book.parent) == []


def test_a_ledger_that_reads_back_otherwise_keeps_the_old_ledger_beside_a_complete_archive(book, monkeypatch):
    """The archive is written and verified first: a ledger refused at its verification stays as it
    was, the archive stays complete, and the next run finds it and only swaps the ledger."""
    from tokenbook.books import writeback

    def refused(*args):
        raise writeback.WriteFailed("書き込んだブックの「履歴」が一致しません（テスト）")

    monkeypatch.setattr(writeback, "verify_rewritten", refused)
    original = book.read_bytes()
    outcome = run_close_year(run(book, LATE_2026), 2025)
    assert outcome.exit_code != 0 and "テスト" in "\n".join(outcome.lines)
    assert book.read_bytes() == original and (book.parent / "履歴_2025.xlsx").exists()
    assert _leftovers(book.parent) == []
    monkeypatch.undo()
    again = run_close_year(run(book, LATE_2026), 2025)
    assert again.exit_code == 0 and any("前回の実行で書き込み済み" in line for line in again.lines)


def _spoil_member(path: Path, name: str) -> None:
    """Bytes in the middle of one member's compressed data flipped (its CRC no longer holds)."""
    import zipfile
    with zipfile.ZipFile(path) as package:
        info = package.getinfo(name)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little") \
        + int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    middle = start + info.compress_size // 2
    data[middle:middle + 8] = bytes(b ^ 0x5A for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("which, member", [("archive", "xl/styles.xml"), ("archive", "履歴"),
                                           ("ledger", "xl/styles.xml"), ("ledger", "繰越")])
def test_a_written_member_that_does_not_decompress_is_named_and_nothing_changes(book, monkeypatch, which, member):
    """close-year checks every member of what it wrote against its CRC (beside reading it back):
    a broken one, read back or not, is named, and the ledger, the folder and the archive stay as they were."""
    from tokenbook.books import writeback
    from tokenbook.files.xlsxpatch import sheet_parts
    import zipfile

    named = []
    real = writeback._fsync

    def spoiling(path: Path) -> None:  # the written file, before it is checked
        real(path)
        is_archive = path.name.startswith(".履歴_2025.xlsx")
        if path.name.endswith(".tmp") and is_archive == (which == "archive"):
            with zipfile.ZipFile(path) as package:
                name = sheet_parts(package)[member][0] if member in ("履歴", "繰越") else member
            _spoil_member(path, name)
            named.append(name)

    monkeypatch.setattr(writeback, "_fsync", spoiling)
    original = book.read_bytes()
    outcome = run_close_year(run(book, LATE_2026), 2025)
    said = "\n".join(outcome.lines)
    assert named, [p.name for p in book.parent.iterdir()]
    what = "保管用ブック 履歴_2025.xlsx" if which == "archive" else "ブック"
    assert outcome.exit_code != 0 and f"書き込んだ{what}の {named[0]} が壊れています" in said, said
    assert book.read_bytes() == original and _leftovers(book.parent) == []
    assert (book.parent / "履歴_2025.xlsx").exists() == (which == "ledger")


def test_an_archive_digested_a_block_of_rows_at_a_time_digests_as_all_rows_at_once(book, monkeypatch):
    import hashlib

    from tokenbook import yearend
    from tokenbook.journal import row_contents
    from tokenbook.models import JournalEntry, Opening

    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    assert run_close_year(run(book, EARLY_2027), 2026).exit_code == 0
    ledger = check_book(book, EARLY_2027.date()).ledger
    content = read_content(book.parent / "履歴_2026.xlsx", ledger.settings.serial_regex)
    assert content.openings and len(content.entries) > 10
    whole = hashlib.sha256()
    for rows, width in ((content.openings, len(Opening._fields)), (content.entries, len(JournalEntry._fields))):
        whole.update(b"".join(body + b"\x1e" for body in row_contents(rows, range(1, width))))
    for block in (1, 7, 10**9):
        monkeypatch.setattr(yearend, "_DIGEST_ROWS", block)
        assert content.digest() == whole.hexdigest() == ledger.closings[-1].digest, block


def test_an_archive_edited_by_hand_is_refused(book, tmp_path):
    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    archive = book.parent / "履歴_2025.xlsx"
    wb = openpyxl.load_workbook(archive)
    wb["履歴"]["F3"] = "廃棄"
    wb.save(archive)
    outcome = run_month_end(run(book, LATE_2026), "2025-12", tmp_path / "out", make_mail=False)
    assert outcome.exit_code == 2 and "履歴_2025.xlsx の内容が年次締めの記録" in outcome.lines[0]
    assert not list((tmp_path / "out").rglob("*.xlsx"))
    assert reports(book, "2026-10", tmp_path / "current")  # a month of the open year needs no archive
    checked = run_verify_journal(run(book, LATE_2026))
    assert checked.exit_code == 1 and [p.code for p in checked.problems] == ["archive-changed"]


@pytest.mark.slow
def test_hand_edit_to_a_token_from_before_the_journal_began_is_now_detected(book):
    ledger = check_book(book, AS_OF).ledger
    journalled = {e.serial for e in ledger.journal}
    carried = next(t for t in ledger.tokens if t.serial not in journalled and t.state == "利用中")

    def edit_by_hand(path: Path) -> None:
        wb = openpyxl.load_workbook(path, keep_vba=True)
        wb["在庫"].cell(carried.row, 3, "停止")
        wb["在庫"].cell(carried.row, 13, "紛失")
        wb.save(path)

    before_close = book.with_name("unclosed.xlsm")
    shutil.copyfile(book, before_close)
    edit_by_hand(before_close)
    codes = {(p.cell, p.code) for p in check_book(before_close, LATE_2026.date()).problems}
    assert (f"C{carried.row}", "state-differs-from-journal") not in codes  # the old blind spot

    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    edit_by_hand(book)
    codes = {(p.cell, p.code) for p in check_book(book, LATE_2026.date()).problems}
    assert (f"C{carried.row}", "state-differs-from-journal") in codes
    assert run_allocate(run(book, dt.datetime(2026, 11, 25, 10, 0))).exit_code in (0, 1)
    after = check_book(book, LATE_2026.date()).ledger
    last = [e for e in (*ledger_openings(after), *after.journal) if e.serial == carried.serial]
    assert [(e.operation, e.before, e.after) for e in last] == [("繰越", "利用中", "利用中"), ("修正", "利用中", "停止")]

    # the month-end's CSS report lists the hand edit and the runs of the month for the manager
    out = book.parent / "reports"
    assert run_month_end(run(book, dt.datetime(2026, 12, 1, 9, 0)), "2026-11", out, make_mail=False).exit_code == 0
    audit = dump(out / "2026-11")["2026-11_CSS_在庫月報.xlsx"]["監査"]
    rows = [r for r in audit if r and r[0] in ("修正", "実行")]
    edits = [r for r in rows if r[0] == "修正"]
    assert [(r[2], r[3], r[5].split("（")[0]) for r in edits] == [("tester", carried.serial, "利用中 → 停止")]
    runs = [r for r in rows if r[0] == "実行" and r[2] == "tester"]
    assert [r[1] for r in runs] == ["2026-11-25 09:00:00", "2026-11-25 10:00:00"]  # close-year, then allocate
    assert runs[0][5].startswith("繰越 ") and "修正 1件" in runs[1][5]


def test_history_of_a_token_and_of_a_customer_across_the_archive(book):
    ledger = check_book(book, AS_OF).ledger
    moved = {e.serial for e in ledger.journal if e.effective_on.year == 2025 and e.operation == "発送"}
    token = next(t for t in ledger.tokens if t.serial in moved and t.customer_no)
    expected = [e for e in ledger.journal if e.serial == token.serial]
    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    outcome, rows = run_history(run(book, LATE_2026), token.serial)
    assert outcome.exit_code == 0
    kinds = [r["操作"] for r in rows]
    assert kinds == [e.operation for e in expected if e.effective_on.year == 2025] + ["繰越"] + \
        [e.operation for e in expected if e.effective_on.year == 2026]
    assert all(token.customer_name not in line for line in outcome.lines)
    by_customer, customer_rows = run_history(run(book, LATE_2026), token.customer_no)
    assert by_customer.exit_code == 0 and {r["シリアル番号"] for r in customer_rows} == {
        t.serial for t in ledger.tokens if t.customer_no == token.customer_no}
    missing, _ = run_history(run(book, LATE_2026), "NOSUCH0001")
    assert missing.exit_code == 1


def test_history_and_verify_journal_on_the_command_line(book, capsys):
    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    serial = check_book(book, AS_OF).ledger.openings[0].serial
    assert main(["history", serial, "--book", str(book), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["シリアル番号"] for r in rows} == {serial} and rows[0]["操作"] == "繰越"
    assert main(["verify-journal", "--book", str(book)]) == 0
    assert "保管用ブック 1 件" in capsys.readouterr().out


# --- 繰越: the opening entries' own sheet -------------------------------------------------------------

def test_the_opening_sheet_holds_one_row_per_token_and_its_bad_input_is_located(book):
    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    ledger = check_book(book, LATE_2026.date()).ledger
    assert ledger.columns["繰越"]["ダイジェスト"] == "F" and [o.row for o in ledger.openings[:2]] == [2, 3]
    assert len({o.serial for o in ledger.openings}) == len(ledger.openings)
    assert not [p for p in check_book(book, LATE_2026.date()).problems if p.sheet == "繰越"]

    def problems_after(edit) -> set[tuple[str, str | None, str]]:
        copy = book.with_name("edited.xlsm")
        shutil.copyfile(book, copy)
        wb = openpyxl.load_workbook(copy, keep_vba=True)
        edit(wb["繰越"])
        wb.save(copy)
        found = [p for p in check_book(copy, LATE_2026.date()).problems if p.sheet == "繰越"]
        assert all(p.is_error and not p.message.isascii() for p in found)
        original = copy.read_bytes()
        assert run_allocate(run(copy, dt.datetime(2026, 11, 25, 10, 0))).exit_code == 1  # errors stop every run
        assert copy.read_bytes() == original
        return {(p.cell, p.code) for p in found}

    def bad_state(ws) -> None:
        ws["B5"] = "不明"

    def other_state(ws) -> None:
        ws["B5"] = "廃棄" if ws["B5"].value != "廃棄" else "在庫"

    def deleted(ws) -> None:
        ws.delete_rows(5)

    def repeated(ws) -> None:
        ws["A6"] = ws["A5"].value

    assert ("B5", "bad-choice") in problems_after(bad_state)
    assert problems_after(other_state) == {("F5", "opening-row-edited")}
    assert problems_after(deleted) == {("F5", "opening-row-deleted")}
    assert problems_after(repeated) == {("A6", "duplicate-key"), ("F6", "opening-row-edited")}


# --- 繰越 as sealed: its digest in 年次締め spares validate the row-by-row hashing -------------------

@pytest.fixture
def rolled_book(sealed_book) -> Path:
    """The small sealed ledger after its batch's 発送確定 and close-year 2026: five 繰越 rows,
    年次締め with their digest."""
    assert run_confirm(run(sealed_book, dt.datetime(2026, 12, 1, 9, 0)), "2026-W48").exit_code == 0
    assert run_close_year(run(sealed_book, EARLY_2027), 2026).exit_code == 0
    return sealed_book


def test_close_year_records_the_digest_of_the_opening_rows_and_both_readers_give_it(rolled_book, monkeypatch):
    from tokenbook.files import sheetio
    from tokenbook.journal import _as_sealed

    ledger = check_book(rolled_book, EARLY_2027.date()).ledger
    closing = ledger.closings[-1]
    assert len(ledger.openings) == 5 and closing.opening_digest == content_digest((), ledger.openings)
    assert ledger.columns["年次締め"]["繰越ダイジェスト"] == "G"
    assert ledger.openings.fingerprint == closing.opening_digest and _as_sealed(ledger)
    monkeypatch.setattr(sheetio, "COLUMN_WISE_BYTES", 0)  # 繰越 read column-wise through Arrow
    again = check_book(rolled_book, EARLY_2027.date()).ledger
    assert again.openings.fingerprint == closing.opening_digest and again.openings == ledger.openings
    # any change to the rows (a new tuple) is checked row by row
    assert not _as_sealed(dataclasses.replace(ledger, openings=tuple(ledger.openings)))
    assert not _as_sealed(dataclasses.replace(ledger, openings=ledger.openings[1:]))


_OPENING_EDITS = st.one_of(
    st.tuples(st.just("cell"), st.integers(2, 6), st.integers(1, 6),
              st.one_of(st.none(), st.sampled_from(["在庫", "廃棄", "CSS", " 在庫", "TK00000003", "1234", "x:y"]),
                        st.integers(0, 9999), st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=6))),
    st.tuples(st.just("delete"), st.integers(2, 6), st.just(0), st.none()),
    st.tuples(st.just("copy"), st.integers(2, 6), st.integers(2, 6), st.none()),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(_OPENING_EDITS, min_size=0, max_size=3))
def test_the_sealed_opening_shortcut_finds_what_the_row_by_row_check_finds(rolled_book, tmp_path, edits):
    from tokenbook.journal import check_chain

    copy = tmp_path / "edited.xlsm"
    shutil.copyfile(rolled_book, copy)
    if edits:
        wb = openpyxl.load_workbook(copy, keep_vba=True)
        ws = wb["繰越"]
        for how, row, col, value in edits:
            if how == "cell":
                ws.cell(row, col, value)
            elif how == "delete":
                ws.delete_rows(row)
            else:  # a row copied over another, digest and all
                for c in range(1, 7):
                    ws.cell(col, c, ws.cell(row, c).value)
        wb.save(copy)
    try:
        ledger = check_book(copy, EARLY_2027.date()).ledger
    except Exception as exc:  # a sheet edited into something unreadable is refused whole, not checked
        assert type(exc).__name__ == "UnusableInput"
        return
    shortcut = check_chain(ledger, EARLY_2027.date())
    row_by_row = check_chain(dataclasses.replace(ledger, openings=tuple(ledger.openings)), EARLY_2027.date())
    assert shortcut == row_by_row


def test_an_opening_row_edited_with_its_recorded_digest_is_found_by_verify_journal(rolled_book):
    """validate trusts 繰越ダイジェスト; someone who rewrites it to match an edited 繰越 is found by
    verify-journal, which checks every row (the README says so)."""
    wb = openpyxl.load_workbook(rolled_book, keep_vba=True)
    wb["繰越"]["B3"] = "廃棄" if wb["繰越"]["B3"].value != "廃棄" else "在庫"
    wb.save(rolled_book)
    ledger = check_book(rolled_book, EARLY_2027.date()).ledger
    assert any(p.code == "opening-row-edited" and p.cell == "F3" for p in check_book(rolled_book, EARLY_2027.date()).problems)
    wb = openpyxl.load_workbook(rolled_book, keep_vba=True)
    wb["年次締め"]["G2"] = ledger.openings.fingerprint
    wb.save(rolled_book)
    assert not [p for p in check_book(rolled_book, EARLY_2027.date()).problems if p.sheet == "繰越"]
    outcome = run_verify_journal(run(rolled_book, EARLY_2027))
    assert outcome.exit_code == 1
    assert [(p.sheet, p.cell, p.code) for p in outcome.problems] == [("繰越", "F3", "opening-row-edited")]


def test_the_one_pass_states_agree_with_the_replay(book):
    from tokenbook.history import History, states_at

    for when in ("before", "after"):
        if when == "after":
            assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
        ledger = check_book(book, LATE_2026.date()).ledger
        history = History.of(ledger)
        for day in (dt.date(2025, 6, 30), dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2026, 11, 24)):
            states = states_at(ledger, day)
            assert {serial: state[:2] for serial, state in states.items()} == history.at(day), (when, day)


def test_close_year_asks_for_the_opening_sheet_when_the_book_lacks_it(book):
    wb = openpyxl.load_workbook(book, keep_vba=True)
    del wb["繰越"]
    wb.save(book)
    original = book.read_bytes()
    outcome = run_close_year(run(book, LATE_2026), 2025)
    assert outcome.exit_code != 0 and "「繰越」シート" in outcome.lines[0] and "シリアル番号・状態" in outcome.lines[0]
    assert book.read_bytes() == original and not (book.parent / "履歴_2025.xlsx").exists()


# --- the chain ---------------------------------------------------------------------------------------

@pytest.fixture
def sealed_book(tmp_path) -> Path:
    """A small ledger after three runs: every 履歴 row written by tokenbook, so all are sealed."""
    stock = [{"シリアル番号": f"TK{i:08d}", "所有者": "CSS", "状態": "在庫", "納品日": dt.date(2026, 1, 10),
              "入庫日": dt.date(2026, 1, 15)} for i in range(1, 6)]
    path = build_workbook(tmp_path / "chain.xlsm", default_sheets(tokens=stock))
    assert run_allocate(run(path, dt.datetime(2026, 11, 24, 10, 0))).exit_code == 0
    journal = check_book(path, AS_OF).ledger.journal
    assert len(journal) == 6 and all(e.digest for e in journal)
    return path


def chain_problems(path: Path) -> set[tuple[str, str | None, str]]:
    return {(p.sheet, p.cell, p.code) for p in check_book(path, AS_OF).problems if p.code.startswith("journal-")}


def test_a_sealed_journal_has_no_problems_and_runs_extend_it(sealed_book):
    assert chain_problems(sealed_book) == set()
    assert run_allocate(run(sealed_book, dt.datetime(2026, 11, 24, 11, 0))).exit_code == 0
    assert chain_problems(sealed_book) == set()


@pytest.mark.parametrize("how, expected", [
    ("edit", ("履歴", "M4", "journal-row-edited")),
    ("delete", ("履歴", "M4", "journal-row-deleted")),
    ("insert", ("履歴", "M4", "journal-row-inserted")),
    ("forge", ("履歴", "M4", "journal-row-deleted")),  # row 4 gone, row 5 copied (digest and all) in its place
])
def test_a_row_edited_deleted_or_inserted_by_hand_is_located(sealed_book, how, expected):
    wb = openpyxl.load_workbook(sealed_book, keep_vba=True)
    ws = wb["履歴"]
    if how == "edit":
        ws["F4"] = "廃棄"
    elif how == "delete":
        ws.delete_rows(4)
    elif how == "insert":
        ws.insert_rows(4)
        for col, value in enumerate(["2026-11-24 10:30", "2026-11-24", "廃棄", "TK00000005", "在庫", "廃棄"], 1):
            ws.cell(4, col, value)
    elif how == "forge":  # a row copied over another, digest and all
        for col in range(1, 14):
            ws.cell(4, col, ws.cell(5, col).value)
    wb.save(sealed_book)
    assert chain_problems(sealed_book) == {expected}
    original = sealed_book.read_bytes()
    assert run_allocate(run(sealed_book, dt.datetime(2026, 11, 24, 12, 0))).exit_code == 1  # nothing signs over it
    assert sealed_book.read_bytes() == original


def test_an_old_ledger_without_digests_starts_the_chain_at_its_next_run(tmp_path):
    entry = {"日時": dt.datetime(2026, 11, 1, 9, 0), "発効日": dt.date(2026, 11, 1), "操作": "入庫",
             "シリアル番号": "TK00000001", "変更後": "在庫", "所有者": "CSS"}
    path = build_workbook(tmp_path / "old.xlsm", default_sheets(
        tokens=[{"シリアル番号": "TK00000001", "所有者": "CSS", "状態": "在庫", "納品日": dt.date(2026, 1, 10),
                 "入庫日": dt.date(2026, 11, 1)}], journal=[entry]))
    wb = openpyxl.load_workbook(path, keep_vba=True)
    wb["履歴"].delete_cols(13)  # a ledger made before the ダイジェスト column existed
    wb.save(path)
    assert chain_problems(path) == {("履歴", None, "journal-before-chain")}
    wb = openpyxl.load_workbook(path, keep_vba=True)
    wb["在庫"]["C2"] = "廃棄"  # a hand edit: the next run journals it as 修正, the first sealed row
    wb.save(path)
    assert run_allocate(run(path, dt.datetime(2026, 11, 24, 10, 0))).exit_code == 0
    ledger = check_book(path, AS_OF).ledger
    assert ledger.columns["履歴"]["ダイジェスト"] == "M"  # the header was added
    assert [(e.operation, bool(e.digest)) for e in ledger.journal] == [("入庫", False), ("修正", True)]
    assert chain_problems(path) == {("履歴", "M2", "journal-before-chain")}


# --- killed at any moment ----------------------------------------------------------------------------

CHILD = """
import datetime as dt, sys
from pathlib import Path
from tokenbook.runs import Run, run_close_year
sys.exit(run_close_year(Run(Path(sys.argv[1]), dt.datetime(2026, 11, 25, 9, 0), "tester"), 2025).exit_code)
"""


@pytest.mark.slow
def test_close_year_killed_at_any_moment_loses_no_row_and_a_rerun_completes(sample_book, tmp_path):
    import hashlib
    import random
    import signal
    import subprocess
    import sys
    import time

    book = tmp_path / "book.xlsm"
    archive = tmp_path / "履歴_2025.xlsx"
    original = sample_book.read_bytes()
    journal = sorted(e[1:-1] for e in check_book(sample_book, AS_OF).ledger.journal)
    book.write_bytes(original)
    started = time.perf_counter()
    assert subprocess.run([sys.executable, "-c", CHILD, str(book)]).returncode == 0
    full = time.perf_counter() - started
    finished_journal = check_book(book, AS_OF).ledger.journal
    expected_archive = read_entries(archive, check_book_pattern())

    def holds_every_row_once() -> None:
        ledger = check_book(book, AS_OF).ledger
        assert [c.year for c in ledger.closings] == [2025]
        archived = read_entries(archive, ledger.settings.serial_regex)
        assert content_digest(archived) == ledger.closings[0].digest
        rows = [e[1:-1] for e in archived] + [e[1:-1] for e in ledger.journal if e.operation != "繰越"]
        assert sorted(rows) == journal

    rng = random.Random(12)
    outcomes = set()
    for _ in range(10):
        book.write_bytes(original)
        archive.unlink(missing_ok=True)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(book)])
        time.sleep(rng.uniform(0.1, full))
        child.send_signal(signal.SIGKILL)
        child.wait()
        if hashlib.sha256(book.read_bytes()).digest() == hashlib.sha256(original).digest():
            # nothing changed in the ledger; an archive, if written, is complete and the one the run makes
            outcomes.add("archive only" if archive.exists() else "old")
            if archive.exists():
                assert read_entries(archive, check_book_pattern()) == expected_archive
        else:
            outcomes.add("new")
            holds_every_row_once()
        # whatever the moment, running it again completes the roll-over (or finds it done)
        assert subprocess.run([sys.executable, "-c", CHILD, str(book)]).returncode == 0
        holds_every_row_once()
        assert check_book(book, AS_OF).ledger.journal == finished_journal
        assert not list(tmp_path.glob(".*.tokenbook-*"))
    assert "old" in outcomes or "archive only" in outcomes


def test_the_history_button_fills_the_lookup_sheet_across_the_archive(book):
    from test_buttons import MemoryBook
    from tokenbook.excel.buttons import press

    assert run_close_year(run(book, LATE_2026), 2025).exit_code == 0
    ledger = check_book(book, AS_OF).ledger
    token = next(t for t in ledger.tokens if t.customer_no and t.state == "利用中")
    _, expected = run_history(run(book, LATE_2026), token.customer_no)
    memory = MemoryBook(book)
    memory.write("履歴照会", {1: {2: token.customer_no}})
    outcome = press("history", memory, LATE_2026, "clerk")
    assert outcome.exit_code == 0 and "履歴照会" in memory.messages[-1][0]
    grid = memory.values("履歴照会")
    assert grid[2][:12] == list(schema.HISTORY_HEADERS)
    shown = [row[:12] for row in grid[3:] if any(v is not None for v in row)]
    assert [(r[2], r[3]) for r in shown] == [(e["操作"], e["シリアル番号"]) for e in expected]
    assert all(token.customer_name not in str(v) for r in shown for v in r)
    memory.write("履歴照会", {1: {2: None}})
    assert press("history", memory, LATE_2026, "clerk").exit_code == 1
