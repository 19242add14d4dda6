"""Report rows written a row at a time (issue 13, sixth round) are the bytes xlsxwriter writes cell by
cell: every part of every bank's and CSS's workbook of the demo month, and of workbooks of random
tables whose cells hold every kind of value a report can hold (control characters, `_xHHHH_` look-
alikes, entities, leading and trailing spaces, characters beyond the BMP, text over Excel's limit,
numbers, dates in any column). The one difference is meant: text that looks like rich text
(`<r>…</r>`) is written escaped, where xlsxwriter would put it in as XML.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest
import python_calamine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbook.books import reportbook
from tokenbook.demo import run_demo
from tokenbook.load import check_book
from tokenbook.report import DATE, FLAG, INT, TEXT, BankReport, Month, Table, css_report, reporting_banks

NOW = dt.datetime(2026, 11, 24, 10, 0)
CREATED = dt.datetime(2026, 11, 24, 9, 0)
_MADE = re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*</dcterms:\1>")  # when xlsxwriter wrote the file


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: _MADE.sub(b"", z.read(name)) for name in z.namelist()}


def written_both_ways(write, report, folder: Path, monkeypatch) -> tuple[dict[str, bytes], dict[str, bytes]]:
    (folder / "rows").mkdir(parents=True, exist_ok=True)
    (folder / "cells").mkdir(parents=True, exist_ok=True)
    fast = write(report, folder / "rows")
    with monkeypatch.context() as m:
        m.setattr(reportbook, "_rows", reportbook._rows_by_cell)
        slow = write(report, folder / "cells")
    return parts(fast), parts(slow)


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> Month:
    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder, banks=4, tokens=900, seed=11, now=NOW)
    return Month(check_book(folder / "tokenbook.xlsm", NOW.date()).ledger, "2026-10")


def test_the_demo_months_workbooks_are_the_bytes_written_cell_by_cell(month, tmp_path, monkeypatch):
    banks = reporting_banks(month.ledger)
    assert banks
    rows = 0
    for bank in banks:
        report = month.bank_report(bank, CREATED)
        rows += sum(len(t.rows) for t in report.tables)
        fast, slow = written_both_ways(reportbook.write_bank_report, report, tmp_path / report.bank_code, monkeypatch)
        assert fast.keys() == slow.keys()
        for name in fast:
            assert fast[name] == slow[name], (bank.code, name)
    fast, slow = written_both_ways(reportbook.write_css_report, css_report(month.ledger, "2026-10", CREATED, month), tmp_path / "css", monkeypatch)
    assert fast == slow
    assert rows > 500  # the comparison covered real rows, not empty sheets


def test_the_fast_path_is_taken(month, tmp_path, monkeypatch):
    """The comparison above would pass if `_rows` fell back to the cell-by-cell writer every time: it
    hands xlsxwriter only each table's last row (written when the workbook is closed)."""
    by_cell = reportbook._rows_by_cell
    taken = []
    monkeypatch.setattr(reportbook, "_rows_by_cell", lambda ws, table, *a: (taken.append(len(table.rows)),
                                                                              by_cell(ws, table, *a)))
    report = month.bank_report(reporting_banks(month.ledger)[0], CREATED)
    reportbook.write_bank_report(report, tmp_path)
    assert reportbook._FAST
    assert sum(len(t.rows) for t in report.tables) > 100
    assert taken and set(taken) <= {0, 1}


TEXTS = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from(list("aZ_x0F9 \t\n\r\x00\x01\x0b\x1f&<>\"'\u3000\ufffe\uffff山🀄")), max_size=16),
    st.sampled_from(["_x0041_", "a_x00ZZ_", " lead", "trail ", "\u3000全角", "=1+1", "007", "1e3", "TRUE"]),
    st.integers(min_value=16380, max_value=16400).map(lambda n: "🀄" * n),  # over 32,767 UTF-16 units
    st.integers(min_value=32760, max_value=32780).map(lambda n: "あ" * n),
).filter(lambda s: not (s.startswith("<r>") and s.endswith("</r>")))
VALUES = st.one_of(
    st.none(), st.just(""), TEXTS,
    st.integers(min_value=-(2 ** 53), max_value=2 ** 53), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 31)),
)


@st.composite
def tables(draw) -> list[Table]:
    found = []
    for index in range(draw(st.integers(1, 3))):
        kinds = draw(st.lists(st.sampled_from([TEXT, DATE, INT, FLAG]), min_size=1, max_size=6))
        columns = tuple((f"列{n}", kind, 10.0) for n, kind in enumerate(kinds))
        rows = draw(st.lists(st.tuples(*[VALUES] * len(kinds)), max_size=12))
        found.append(Table(f"表{index}", columns, rows))
    return found


def bank_report(tables: list[Table]) -> BankReport:
    return BankReport("1001", "テスト信用金庫", "2026-10", dt.date(2026, 10, 31), CREATED, [("利用中", 1)],
                      [("2026-11", 0)], tables, "report.xlsx")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables())
def test_any_table_is_written_as_xlsxwriter_writes_it_cell_by_cell(tmp_path_factory, monkeypatch, tables):
    fast, slow = written_both_ways(reportbook.write_bank_report, bank_report(tables), tmp_path_factory.mktemp("t"),
                                   monkeypatch)
    assert fast == slow


def test_text_that_looks_like_rich_text_stays_text(tmp_path):
    """xlsxwriter puts a string `<r>…</r>` into the sheet as XML (「<r>&</r>」 in a 備考 made a sheet no
    reader could open); in any row, the last one written by xlsxwriter too, it is the text it was."""
    import openpyxl

    odd = ["<r>" + "あ" * 40000 + "</r>", "<r><t>x</t></r>", "<r></r>", "<r>&</r>", "<r> </r>"]
    table = Table("表", (("備考", TEXT, 20.0), ("状態", FLAG, 8.0)), [(text, text) for text in odd])
    path = reportbook.write_bank_report(bank_report([table]), tmp_path)
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        values = book.get_sheet_by_name("表").to_python()
    finally:
        book.close()
    cut = [text[:32767] for text in odd]  # Excel's limit, as for any text
    assert [row[:2] for row in values[3:]] == [[text, text] for text in cut]
    sheet = openpyxl.load_workbook(path)["表"]
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=4, max_col=2)] == [[t, t] for t in cut]
    # the same text in the last row alone (written by xlsxwriter's calls)
    (tmp_path / "last").mkdir()
    table = Table("表", (("備考", TEXT, 20.0),), [(odd[0],)])
    path = reportbook.write_bank_report(bank_report([table]), tmp_path / "last")
    assert openpyxl.load_workbook(path)["表"]["A4"].value == cut[0]


def test_a_number_excel_cannot_hold_is_refused_as_xlsxwriter_refuses_it(tmp_path):
    table = Table("表", (("本数", INT, 8.0),), [(1,), (float("nan"),)])
    with pytest.raises(TypeError):
        reportbook.write_bank_report(bank_report([table]), tmp_path)
    assert list(tmp_path.iterdir()) == []  # no half-written workbook is left
