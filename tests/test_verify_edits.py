"""Verifying a patched book by the rows the patch changed (issue 13): `verify_edits` reads back only
row 1 and the patched rows and compares every other byte of the patched sheets with the original as
a digest. It must say yes exactly where the whole re-read (`verify`) says yes, and no to every
written file the whole re-read refuses — on the demo ledger, with edits made at random and files
spoiled at random after writing.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TODAY
from tokenbook import schema
from tokenbook.books import writeback
from tokenbook.demo import run_demo
from tokenbook.files import xlsxpatch
from tokenbook.files.sheetio import UnusableInput
from tokenbook.load import check_book
from tokenbook.models import Ledger

NOW = dt.datetime(2026, 11, 24, 10, 0)
WHOLE_READ = writeback.verify  # kept before a test puts a refusal in its place


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Ledger]:
    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder, banks=3, tokens=400, seed=7, now=NOW)
    book = folder / "tokenbook.xlsm"
    return book, check_book(book, TODAY).ledger


def edited(ledger: Ledger, rng: random.Random, share: float = 0.05) -> Ledger:
    """`ledger` with notes changed on some tokens and requests, and journal rows appended."""
    tokens = [t._replace(note=f"棚卸 {rng.randrange(1000)}") if rng.random() < share else t for t in ledger.tokens]
    requests = [r._replace(memo=f"確認 {i}") if rng.random() < share else r for i, r in enumerate(ledger.requests)]
    last = ledger.journal[-1]
    added = tuple(last._replace(row=last.row + 1 + i, note=f"追記 {i}") for i in range(rng.randrange(4)))
    return replace(ledger, tokens=tuple(tokens), requests=tuple(requests), journal=ledger.journal + added)


def written(book: Path, old: Ledger, new: Ledger, folder: Path) -> tuple[Path, dict]:
    """The book patched from `old` to `new` as write_back patches it (ledger cells and チェック)."""
    edits = writeback.ledger_edits(old, new)
    edits[schema.CHECKS] = writeback.checks_edit([])
    target = folder / "written.xlsm"
    xlsxpatch.patch_package(book, target, edits)
    return target, edits


def fast(path: Path, book: Path, old: Ledger, new: Ledger, edits: dict) -> str | None:
    try:
        writeback.verify_edits(path, book, old, new, edits)
    except (writeback.WriteFailed, UnusableInput) as exc:  # the second made a WriteFailed by apply_edits
        return str(exc)
    return None


def whole(path: Path, new: Ledger) -> str | None:
    try:
        WHOLE_READ(path, new)
    except (writeback.WriteFailed, UnusableInput) as exc:
        return str(exc)
    return None


@pytest.fixture
def no_whole_read(monkeypatch):
    """Fail the test if verify_edits falls back to the whole re-read."""
    def refused(*_):
        raise AssertionError("verify_edits re-read the whole book")
    monkeypatch.setattr(writeback, "verify", refused)


def spoil(path: Path, member: str, change) -> None:
    """Rewrite one member of a written package through `change(bytes) -> bytes`."""
    spoiled = path.with_suffix(".spoiled")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(spoiled, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            out.writestr(info, change(data) if info.filename == member else data)
    spoiled.replace(path)


def part(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return xlsxpatch.sheet_parts(archive)[sheet][0]


def row_of(xml: bytes, number: int) -> tuple[int, int]:
    m = re.search(rb'<row r="%d".*?</row>' % number, xml, re.S)
    assert m is not None
    return m.span()


# --- it agrees where the file is right -----------------------------------------------------------------

@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**6), st.sampled_from([0.0, 0.01, 0.2, 1.0]))
def test_a_rightly_patched_book_is_verified_without_a_whole_read(demo, tmp_path_factory, no_whole_read, seed,
                                                                 share):
    book, old = demo
    new = edited(old, random.Random(seed), share)
    folder = tmp_path_factory.mktemp("w")
    path, edits = written(book, old, new, folder)
    assert whole(path, new) is None
    assert fast(path, book, old, new, edits) is None
    assert sorted(p.name for p in folder.iterdir()) == ["written.xlsm"]  # the verify package is gone


# --- and refuses what the whole re-read refuses ------------------------------------------------------

def test_a_written_file_other_than_the_ledger_expected_is_refused(demo, tmp_path, no_whole_read):
    book, old = demo
    new = edited(old, random.Random(1), 0.1)
    path, edits = written(book, old, new, tmp_path)
    patched = next(t for t, o in zip(new.tokens, old.tokens) if t != o)
    alone = next(t for t, o in zip(new.tokens, old.tokens) if t == o)
    expected = [
        ("a patched row", replace(new, tokens=tuple(t._replace(note="違う") if t is patched else t for t in new.tokens))),
        ("a row left alone", replace(new, tokens=tuple(t._replace(note="違う") if t is alone else t for t in new.tokens))),
        ("a row fewer", replace(new, tokens=new.tokens[:-1])),
        ("a journal row more", replace(new, journal=new.journal + (new.journal[-1]._replace(row=10**5),))),
        ("a request fewer", replace(new, requests=new.requests[1:])),
    ]
    for why, wrong in expected:
        said = fast(path, book, old, wrong, edits)
        assert said is not None and said == whole(path, wrong), why


def test_an_unchanged_row_spoiled_after_writing_is_found_by_the_digest(demo, tmp_path, no_whole_read):
    book, old = demo
    new = edited(old, random.Random(2), 0.1)
    path, edits = written(book, old, new, tmp_path)
    alone = next(t for t, o in zip(new.tokens, old.tokens) if t == o and t.row not in edits[schema.TOKENS].cells)

    def one_byte(xml: bytes) -> bytes:
        start, end = row_of(xml, alone.row)
        at = xml.index(b"<v>", start, end) + 3
        return xml[:at] + (b"8" if xml[at:at + 1] != b"8" else b"9") + xml[at + 1:]

    spoil(path, part(path, schema.TOKENS), one_byte)
    assert whole(path, new) is not None
    assert fast(path, book, old, new, edits) == ("書き込んだブックの「在庫」で、変えていない行が元のブックと違います。"
                                                 "元のブックはそのままです")


def test_a_patched_row_missing_or_short_of_a_cell_is_refused(demo, tmp_path, no_whole_read):
    book, old = demo
    new = edited(old, random.Random(3), 0.1)
    path, edits = written(book, old, new, tmp_path)
    number = min(n for n in edits[schema.TOKENS].cells if n > 1)
    sheet = part(path, schema.TOKENS)
    shutil.copy(path, tmp_path / "kept.xlsm")

    def drop_a_cell(xml: bytes) -> bytes:
        start, end = row_of(xml, number)
        cell = re.search(rb"<c [^>]*?(?:/>|>.*?</c>)", xml[start:end], re.S)
        return xml[:start + cell.start()] + xml[start + cell.end():]

    def drop_the_row(xml: bytes) -> bytes:
        start, end = row_of(xml, number)
        return xml[:start] + xml[end:]

    for change in (drop_a_cell, drop_the_row):
        shutil.copy(tmp_path / "kept.xlsm", path)
        spoil(path, sheet, change)
        said = fast(path, book, old, new, edits)
        assert whole(path, new) is not None and said is not None, change.__name__
        assert "元のブックはそのままです" in said


@pytest.mark.parametrize("which", ["patched sheet", "other member"])
def test_a_member_that_does_not_decompress_is_named(demo, tmp_path, which, no_whole_read):
    book, old = demo
    new = edited(old, random.Random(4), 0.1)
    path, edits = written(book, old, new, tmp_path)
    with zipfile.ZipFile(path) as archive:
        name = part(path, schema.TOKENS) if which == "patched sheet" else "xl/styles.xml"
        info = archive.getinfo(name)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)  # the local header is
    start += int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little") - len(info.extra)
    middle = start + info.compress_size // 2
    data[middle:middle + 8] = bytes(b ^ 0x5A for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))
    said = fast(path, book, old, new, edits)
    assert said == f"書き込んだブックの {name} が壊れています。元のブックはそのままです"
    assert whole(path, new) == said


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**6), st.sampled_from([schema.TOKENS, schema.JOURNAL, schema.REQUESTS]))
def test_no_spoiled_file_passes_that_the_whole_re_read_refuses(demo, tmp_path_factory, seed, sheet):
    """A value changed anywhere in a patched sheet after writing: never verified when it reads wrong."""
    book, old = demo
    rng = random.Random(seed)
    new = edited(old, rng, 0.05)
    folder = tmp_path_factory.mktemp("s")
    path, edits = written(book, old, new, folder)
    if sheet not in edits:
        return

    def a_value(xml: bytes) -> bytes:
        values = [m.start(1) for m in re.finditer(rb"<(?:v|t)(?: [^>]*)?>([^<]+)<", xml)]
        at = rng.choice(values)
        return xml[:at] + rng.choice([b"0", b"X", b" ", b"1"]) + xml[at + 1:]

    spoil(path, part(path, sheet), a_value)
    said = fast(path, book, old, new, edits)
    if whole(path, new) is not None:
        assert said is not None
    assert sorted(p.name for p in folder.iterdir()) == ["written.xlsm"]


# --- where the reasoning does not hold, the whole book is re-read ---------------------------------------

def test_a_book_whose_other_parts_changed_is_re_read_whole(demo, tmp_path, monkeypatch):
    book, old = demo
    new = edited(old, random.Random(5), 0.1)
    path, edits = written(book, old, new, tmp_path)
    calls = []
    monkeypatch.setattr(writeback, "verify", lambda *args: calls.append(args) or WHOLE_READ(*args))
    spoil(path, "xl/styles.xml", lambda xml: xml.replace(b"</styleSheet>", b"<!-- x --></styleSheet>"))
    assert fast(path, book, old, new, edits) is None and len(calls) == 1
    settings_changed = replace(new, settings=new.settings.model_copy(update={"battery_months": 61}))
    assert fast(path, book, old, settings_changed, edits) == whole(path, settings_changed) is not None
    assert len(calls) == 2


def test_rows_apart_takes_rows_and_digests_the_rest():
    xml = (b'<worksheet><sheetData><row r="1"><c r="A1"/></row><row r="3"><c r="A3"/></row>'
           b'<row r="5"/></sheetData></worksheet>')
    apart = xlsxpatch.rows_apart(xml, [1, 4, 5], every=False)
    assert apart.numbers == [1, 5] and apart.rows == [b'<row r="1"><c r="A1"/></row>', b'<row r="5"/>']
    assert apart.xml() == b'<worksheet><sheetData><row r="1"><c r="A1"/></row><row r="5"/></sheetData></worksheet>'
    same = xlsxpatch.rows_apart(xml.replace(b'<c r="A1"/>', b'<c r="A1" t="s"><v>0</v></c>'), [1, 5], every=True)
    assert same.rest == apart.rest
    other = xlsxpatch.rows_apart(xml.replace(b'A3', b'B3'), [1, 5], every=True)
    assert other.rest != apart.rest
    assert xlsxpatch.rows_apart(xml, [1, 4], every=True) is None  # row 4 must be there
    assert xlsxpatch.rows_apart(xml.replace(b'r="3"', b'r="03"'), [1], every=False) is None
    assert xlsxpatch.rows_apart(xml.replace(b'<row r="3">', b'<row>'), [1], every=False) is None


# --- the original's rows, taken apart as the patcher reads them -----------------------------------------

def test_the_originals_the_patcher_saw_are_the_ones_compared(demo, tmp_path, no_whole_read):
    """verify_edits compares with the `originals` it is given (not a second read of the source): an
    original seen with one byte spoiled makes the rightly written file's untouched rows differ."""
    book, old = demo
    new = edited(old, random.Random(6), 0.1)
    seen: dict[str, bytes] = {}
    edits = writeback.ledger_edits(old, new)
    edits[schema.CHECKS] = writeback.checks_edit([])
    path = tmp_path / "written.xlsm"
    numbers: dict[str, list[int] | None] = {}

    def shown(name, xml, found):
        seen[name], numbers[name] = xml, found

    xlsxpatch.patch_package(book, path, edits, shown)
    assert set(seen) == set(edits)  # every patched sheet shown, as it is in the source
    with zipfile.ZipFile(book) as archive:
        assert seen[schema.TOKENS] == archive.read(part(book, schema.TOKENS))
    for sheet in (schema.TOKENS, schema.JOURNAL):  # the patcher's row numbers are the sheet's own
        xml = seen[sheet]
        body = xml.index(b"<sheetData>") + len(b"<sheetData>")
        assert numbers[sheet] == xlsxpatch._row_numbers(xml, body, xml.index(b"</sheetData>")), sheet
        given = xlsxpatch.rows_apart(xml, sorted({1, *edits[sheet].cells}), every=False, numbers=numbers[sheet])
        assert given == xlsxpatch.rows_apart(xml, sorted({1, *edits[sheet].cells}), every=False)

    def taken_apart(xml_of):
        return {sheet: xlsxpatch.rows_apart(xml_of(sheet), sorted({1, *edits[sheet].cells}), every=False)
                for sheet in (schema.TOKENS, schema.JOURNAL, schema.REQUESTS) if sheet in edits}

    writeback.verify_edits(path, book, old, new, edits, taken_apart(seen.__getitem__))
    alone = next(t for t in old.tokens if t.row not in edits[schema.TOKENS].cells)
    start, end = row_of(seen[schema.TOKENS], alone.row)
    spoiled = dict(seen)
    spoiled[schema.TOKENS] = seen[schema.TOKENS][:start] + seen[schema.TOKENS][start:end].replace(
        b"<v>", b"<v>9", 1) + seen[schema.TOKENS][end:]
    with pytest.raises(writeback.WriteFailed, match="「在庫」で、変えていない行が元のブックと違います"):
        writeback.verify_edits(path, book, old, new, edits, taken_apart(spoiled.__getitem__))


def test_write_back_reads_each_patched_sheet_of_the_original_once(demo, tmp_path, monkeypatch, no_whole_read):
    """The whole write-back decompresses 在庫 of the original once (the patcher's read), not again to verify."""
    source, old = demo
    book = tmp_path / "book.xlsm"
    shutil.copy(source, book)
    new = edited(old, random.Random(8), 0.1)
    name = part(book, schema.TOKENS)
    reads: list[str] = []
    real = zipfile.ZipFile.read

    def counted(self, member, pwd=None):
        if Path(str(self.filename)) == book and (getattr(member, "filename", member)) == name:
            reads.append(name)
        return real(self, member, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "read", counted)
    with writeback.BookLock(book) as lock:
        writeback.write_back(lock, old, new, now=NOW)
    assert reads == [name]
    assert check_book(book, TODAY).ledger.tokens == new.tokens
