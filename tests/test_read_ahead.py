"""Reading a ledger's sheets at most one ahead of the caller (issue 13, second round): the tables
are the ones read one by one, in any order asked, and no more than one sheet waits unasked
beside 在庫, which is read from the start and taken last (eighth round); the chain checked while
在庫 is still read finds what it finds on the whole ledger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import openpyxl

from conftest import TODAY
from tokenbook import schema
from tokenbook.demo import run_demo
from tokenbook.files.sheetio import Tables, read_sheet
from tokenbook.load import check_book
from tokenbook.models import Ledger
from tokenbook.parse import parse_tables
from tokenbook.validate import check_ledger

NOW = dt.datetime(2026, 11, 24, 10, 0)


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder, banks=3, tokens=300, seed=5, now=NOW)
    return folder / "tokenbook.xlsm"


def waiting(tables: Tables) -> int:
    return sum(1 for sheet in tables._futures if sheet not in tables._taken and sheet != Tables.LONG)


@pytest.mark.parametrize("order", ["parse", "reversed"])
def test_tables_are_the_sheets_read_alone_and_read_one_ahead(book: Path, order: str) -> None:
    tables = Tables(book)
    assert waiting(tables) <= Tables.AHEAD and set(tables._futures) == {Tables.LONG, schema.SETTINGS}
    sheets = list(tables)
    assert set(sheets) >= set(schema.TABLES)
    taking = Tables.taking_order(sheets)
    assert taking[0] == schema.SETTINGS and taking[-1] == Tables.LONG == schema.TOKENS
    assert taking.index(schema.OPENING) < taking.index(schema.JOURNAL) < taking.index(schema.REQUESTS)
    for sheet in (taking if order == "parse" else reversed(sheets)):
        table = tables[sheet]
        assert waiting(tables) <= Tables.AHEAD
        alone = read_sheet(book, sheet)
        assert (table.headers, table.rows, table.row_numbers) == (alone.headers, alone.rows, alone.row_numbers)
    missing = [s for s in schema.OPTIONAL_TABLES if s not in sheets]
    for sheet in missing:  # a ledger made before an optional sheet existed reads it as empty
        assert sheet in tables and tables[sheet].headers == {}
    assert "no such sheet" not in tables
    with pytest.raises(KeyError):
        tables["no such sheet"]


class Watched(dict):
    """The tables of a book, telling which sheets were taken (in order)."""

    def __init__(self, tables) -> None:
        super().__init__((sheet, tables[sheet]) for sheet in tables)
        self.taken: list[str] = []

    def __getitem__(self, sheet):
        self.taken.append(sheet)
        return super().__getitem__(sheet)


def test_the_chain_is_shown_before_stock_is_taken(book: Path) -> None:
    tables = Watched(Tables(book))
    seen = []

    def journal_read(partial: Ledger) -> None:
        seen.append((partial, list(tables.taken)))

    ledger, _ = parse_tables(tables, book.parent, journal_read)
    [(partial, taken_then)] = seen
    assert schema.TOKENS not in taken_then and schema.TOKENS in tables.taken
    assert partial.tokens == () and schema.TOKENS not in partial.columns
    assert partial.journal == ledger.journal and partial.openings == ledger.openings and partial.journal
    assert partial.columns[schema.JOURNAL] == ledger.columns[schema.JOURNAL]


@pytest.mark.parametrize("cell", ["F2", "F4"])
def test_a_chain_checked_early_finds_what_the_whole_ledger_shows(tmp_path: Path, book: Path, cell: str) -> None:
    """A journal edited by hand (one row's 変更後, and a stock row's 状態 beside it): check_book, whose
    chain check runs before 在庫 is parsed, reports what validating the parsed ledger reports."""
    edited = tmp_path / "edited.xlsm"
    workbook = openpyxl.load_workbook(book, keep_vba=True)
    workbook[schema.JOURNAL][cell] = "紛失"
    stock = workbook[schema.TOKENS]["C2"]
    stock.value = next(s for s in schema.TOKEN_STATES if s != stock.value)
    workbook.save(edited)
    early = check_book(edited, TODAY)
    ledger, problems = parse_tables(Tables(edited), edited.parent)
    late = check_ledger(ledger, problems, TODAY)
    assert early.problems == late.problems
    codes = {p.code for p in early.problems}
    assert "journal-row-edited" in codes and "state-differs-from-journal" in codes
