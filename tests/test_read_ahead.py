"""Reading a ledger's sheets at most one ahead of the caller (issue 13, second round): the tables
are the ones read one by one, in any order asked, and no more than one sheet waits unasked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tokenbook import schema
from tokenbook.demo import run_demo
from tokenbook.files.sheetio import Tables, read_sheet

NOW = dt.datetime(2026, 11, 24, 10, 0)


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder, banks=3, tokens=300, seed=5, now=NOW)
    return folder / "tokenbook.xlsm"


def waiting(tables: Tables) -> int:
    return sum(1 for sheet in tables._futures if sheet not in tables._taken)


@pytest.mark.parametrize("order", ["parse", "reversed"])
def test_tables_are_the_sheets_read_alone_and_read_one_ahead(book: Path, order: str) -> None:
    tables = Tables(book)
    assert waiting(tables) <= Tables.AHEAD and len(tables._futures) == 1
    sheets = list(tables)
    assert set(sheets) >= set(schema.TABLES)
    for sheet in (Tables.ORDER if order == "parse" else reversed(sheets)):
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
