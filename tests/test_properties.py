"""Property tests: arbitrary values in every column never crash the reader or the validator, and
every value a column cannot take is reported at exactly its cell."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import TODAY, default_sheets, tables_for
from tokenbook import normalize as nz
from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.models import setting_rows
from tokenbook.parse import normaliser, parse_tables
from tokenbook.files.sheetio import column_letter
from tokenbook.validate import check_ledger
from tokenbook.load import check_book

CELL = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(alphabet="0123456789０１２３-ー/.年月日令和RHS ", max_size=14),
    st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2300, 1, 1)),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
)
SHEET_COLUMN = st.sampled_from([(sheet, i) for sheet, columns in schema.TABLES.items() if sheet != schema.SETTINGS
                                for i in range(len(columns))])


def _place(sheet: str, index: int, value) -> dict:
    sheets = default_sheets()
    rows = sheets.setdefault(sheet, [])
    if not rows:
        rows.append([None] * len(schema.TABLES[sheet]))
    rows[0][index] = value
    return sheets


def _assert_located(problems, sheets) -> None:
    for p in problems:
        assert p.code != "internal-error", p
        if p.cell is None:
            continue
        headers = [c.header for c in schema.TABLES[p.sheet]]
        letter = column_letter(headers.index(p.header))
        rows = len(sheets.get(p.sheet) or []) + 1
        assert p.cell == f"{letter}{p.row}" and 2 <= p.row <= rows, p
        assert p.message and p.severity in ("エラー", "警告")


@settings(max_examples=400, deadline=None)
@given(target=SHEET_COLUMN, value=CELL)
def test_any_value_in_any_column_is_located_never_a_crash(target, value):
    sheet, index = target
    sheets = _place(sheet, index, value)
    ledger, parse_problems = parse_tables(tables_for(sheets))
    result = check_ledger(ledger, parse_problems, TODAY)
    _assert_located(result.problems, sheets)

    column = schema.TABLES[sheet][index]
    cell = f"{column_letter(index)}2"
    if nz.is_blank(value) or value == "":
        return
    try:
        normaliser(column, ledger.settings.serial_regex)(value)
    except nz.Invalid as exc:
        assert (sheet, cell, exc.code) in {(p.sheet, p.cell, p.code) for p in result.problems}


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.tuples(SHEET_COLUMN, CELL), min_size=1, max_size=25))
def test_many_bad_cells_at_once_are_all_reported(values):
    sheets = default_sheets()
    for (sheet, index), value in values:
        rows = sheets.setdefault(sheet, [])
        if not rows:
            rows.append([None] * len(schema.TABLES[sheet]))
        rows[0][index] = value
    ledger, parse_problems = parse_tables(tables_for(sheets))
    _assert_located(check_ledger(ledger, parse_problems, TODAY).problems, sheets)


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from([s.key for s in setting_rows()]), value=CELL)
def test_any_setting_value_is_reported_or_accepted(key, value):
    rows = [[s.key, value if s.key == key else s.default, ""] for s in setting_rows()]
    ledger, problems = parse_tables(tables_for({**default_sheets(), schema.SETTINGS: rows}))
    for p in (p for p in problems if p.sheet == schema.SETTINGS):
        assert p.code in ("bad-setting", "password-in-settings") and p.cell and p.cell.startswith("B"), p
    assert ledger.settings.battery_months >= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=SHEET_COLUMN, value=st.one_of(st.text(max_size=30), st.integers(-10**6, 10**6), st.dates()))
def test_the_same_through_a_real_file(tmp_path, target, value):
    sheet, index = target
    sheets = _place(sheet, index, value)
    path = build_workbook(tmp_path / "prop.xlsm", sheets)
    _assert_located(check_book(path, TODAY).problems, sheets)
