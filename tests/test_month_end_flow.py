"""The month-end's report flow (issue 13, second round) gives exactly what the straightforward one
gives: every cell value of every sheet of every bank's workbook, made in the parent and written by
writer processes that never hold the ledger, equals the workbook made and written bank by bank in
one process; and the figures now found once per month (replacements under way, parcels and their
methods) equal the ones found per bank as before.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pytest
import python_calamine

from tokenbook import mail, schema
from tokenbook.books.reportbook import write_bank_report, write_bank_reports, writer_pool
from tokenbook.demo import run_demo
from tokenbook.load import check_book
from tokenbook.report import Month, reporting_banks
from tokenbook.replacements import arranged_replacements
from tokenbook.schema import DispatchState

NOW = dt.datetime(2026, 11, 24, 10, 0)
CREATED = dt.datetime(2026, 11, 24, 9, 0)


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> Month:
    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder, banks=6, tokens=1500, seed=5, now=NOW)  # more than 3 banks: written on the writer processes
    ledger = check_book(folder / "tokenbook.xlsm", NOW.date()).ledger
    return Month(ledger, "2026-10")


def cells(path: Path) -> dict[str, list[list]]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names}
    finally:
        book.close()


def reference_statement_parcels(m: Month, code: str) -> tuple[dict[str, set[str]], set[str]]:
    """利用明細's parcels and IB cards as first written: every parcel of the ledger looked at per bank."""
    methods = {r.request_id: r.method for r in m.ledger.requests if r.request_id}
    parcels: dict[str, set[str]] = defaultdict(set)
    cards: set[str] = set()
    for d in m.ledger.dispatches:
        if d.bank_code == code and d.state == DispatchState.SHIPPED and d.shipped_on and m.first <= d.shipped_on <= m.last:
            parcels[methods.get(d.request_id) or ""].add(d.dispatch_id)
            if d.ib_card == schema.YesNo.YES:
                cards.add(d.dispatch_id)
    return parcels, cards


def test_figures_found_once_are_the_per_bank_ones(month: Month) -> None:
    assert month.arranged == arranged_replacements(month.ledger, month.last)
    for bank in reporting_banks(month.ledger):
        parcels, cards = reference_statement_parcels(month, bank.bank_code)
        found: dict[str, set[str]] = defaultdict(set)
        for d in month.dispatched.get(bank.bank_code, ()):
            found[month.methods.get(d.request_id) or ""].add(d.dispatch_id)
        assert found == parcels
        assert {d.dispatch_id for d in month.dispatched.get(bank.bank_code, ()) if d.ib_card == schema.YesNo.YES} == cards
    assert any(month.dispatched.values()), "the demo ships parcels in the month"


@pytest.mark.parametrize("forked", [True, False], ids=["writers forked beforehand", "writers spawned"])
def test_workbooks_written_by_writer_processes_are_the_one_process_ones(month: Month, tmp_path: Path,
                                                                        forked: bool) -> None:
    banks = reporting_banks(month.ledger)
    assert len(banks) >= 4
    alone, apart = tmp_path / "alone", tmp_path / "apart"
    alone.mkdir()
    apart.mkdir()
    expected = [write_bank_report(month.bank_report(bank, CREATED), alone) for bank in banks]
    called = []
    if forked:
        with writer_pool() as pool:
            written = list(write_bank_reports(month, banks, CREATED, apart, pool=pool,
                                              meanwhile=lambda: called.append(1)))
    else:
        written = list(write_bank_reports(month, banks, CREATED, apart, meanwhile=lambda: called.append(1)))
    assert called == [1]
    assert [p.name for p in written] == [p.name for p in expected]  # in the banks' order
    assert sorted(p.name for p in apart.iterdir()) == sorted(p.name for p in expected)  # no temporary left
    # the writers read each workbook's content digest back where they wrote it; the parent keeps it
    known = {p: mail._DIGESTS.get(mail.file_key(p)) for p in written}
    assert all(known.values())
    mail._DIGESTS.clear()
    for mine, theirs in zip(written, expected):
        got, want = cells(mine), cells(theirs)
        assert list(got) == list(want)
        assert got == want, mine.name
        assert known[mine] == mail.content_digest(mine) == mail.content_digest(theirs)  # read again here
    assert sum(len(rows) for p in written for rows in cells(p).values()) > 1000
