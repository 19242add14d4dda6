"""Property tests: arbitrary values in every column never crash the reader or the validator, and
every value a column cannot take is reported at exactly its cell."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import TODAY, default_sheets, tables_for
from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.models import Settings, setting_rows
from tokenbook.parse import parse_tables
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


# --- an oracle written from the contract (design §3), independent of tokenbook.normalize ---------------

ACCEPTED = "accepted"  # the cell must not be reported for its kind; a code: it must be, with that code
KIND_CODES = {"bad-bank-code", "bad-branch-code", "bad-integer", "bad-postal-code", "bad-date", "date-out-of-range",
              "bad-choice"}


def _typed(value: str) -> str:
    """What a clerk sees in a text cell: NFKC (full-width digits are digits), trimmed."""
    return unicodedata.normalize("NFKC", value.strip()).strip()


def _digits(value: Any, width: int, code: str) -> str:
    """A code of exactly `width` digits; a number Excel stripped of leading zeros counts."""
    if isinstance(value, bool):
        return code
    if isinstance(value, (int, float)):
        whole = isinstance(value, int) or value.is_integer()
        return ACCEPTED if whole and 0 <= value < 10**width else code
    if isinstance(value, str):
        return ACCEPTED if re.fullmatch(rf"[0-9]{{{width}}}", _typed(value)) else code
    return code  # a date is no code


def _integer(value: Any) -> str:
    if isinstance(value, (bool, dt.date)):
        return "bad-integer"
    if isinstance(value, float):
        if not value.is_integer():
            return "bad-integer"
        value = int(value)
    if isinstance(value, str):
        text = _typed(value).replace(",", "")
        if not re.fullmatch(r"[0-9]{1,9}", text):
            return "bad-integer"
        value = int(text)
    return ACCEPTED if 1 <= value <= 10**9 else "bad-integer"


def _postal(value: Any) -> str | None:
    if isinstance(value, str):
        text = _typed(value)
        if re.fullmatch(r"〒?[0-9]{3}-?[0-9]{4}", text):
            return ACCEPTED
        return "bad-postal-code" if len(re.findall("[0-9]", text)) != 7 else None  # else: no claim
    return _digits(value, 7, "bad-postal-code")


def _in_range(day: dt.date) -> str:
    """The contract's plausible range for every ledger date: 2000-01-01 .. 2199-12-31."""
    return ACCEPTED if dt.date(2000, 1, 1) <= day <= dt.date(2199, 12, 31) else "date-out-of-range"


def _date(value: Any) -> str | None:
    if isinstance(value, dt.date):  # dates and datetimes as Excel holds them
        return _in_range(value if not isinstance(value, dt.datetime) else value.date())
    if isinstance(value, bool):
        return "bad-date"
    if isinstance(value, (int, float)):  # an Excel serial day: day 1 is 1900-01-01, 60 the phantom 1900-02-29
        if not math.isfinite(value) or value < 1 or value >= 2_958_466:
            return "bad-date"
        if value < 61:
            return "date-out-of-range"  # 1900, whichever way the phantom day is read
        return _in_range(dt.date(1899, 12, 30) + dt.timedelta(days=int(value)))
    text = _typed(value)
    match = re.fullmatch(r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})", text)
    if match:
        try:
            day = dt.date(*map(int, match.groups()))
        except ValueError:
            return "bad-date"
        return _in_range(day)
    return "bad-date" if not re.search("[0-9]", text) else None  # other forms (eras, times): no claim


def expected(column: schema.Column, value: Any) -> str | None:
    """ACCEPTED, the problem code the cell must get, or None where this oracle makes no claim."""
    kind = column.kind
    if kind is schema.Kind.BANK_CODE:
        return _digits(value, 4, "bad-bank-code")
    if kind is schema.Kind.BRANCH_CODE:
        return _digits(value, 3, "bad-branch-code")
    if kind is schema.Kind.INTEGER:
        return _integer(value)
    if kind is schema.Kind.POSTAL_CODE:
        return _postal(value)
    if kind is schema.Kind.DATE:
        return _date(value)
    if kind is schema.Kind.ENUM and isinstance(value, str):
        return ACCEPTED if _typed(value) in column.choices else None
    if kind is schema.Kind.ENUM and isinstance(value, (int, float, dt.date)) and not isinstance(value, bool):
        return "bad-choice"
    return None


@settings(max_examples=400, deadline=None)
@given(target=SHEET_COLUMN, value=CELL)
def test_any_value_in_any_column_is_located_never_a_crash(target, value):
    sheet, index = target
    sheets = _place(sheet, index, value)
    ledger, parse_problems = parse_tables(tables_for(sheets))
    result = check_ledger(ledger, parse_problems, TODAY)
    _assert_located(result.problems, sheets)

    column = schema.TABLES[sheet][index]
    if value is None or (isinstance(value, str) and not value.strip()):
        return
    want = expected(column, value)
    found = {p.code for p in result.problems if (p.sheet, p.cell) == (sheet, f"{column_letter(index)}2")}
    if want == ACCEPTED:
        assert not found & KIND_CODES, (column.header, value, found)
    elif want is not None:
        assert want in found, (column.header, value, found)


BOUNDARY = [0, 1, 7, 99, 100, 999, 1000, 9999, 10000, 999999, 1000000, 9999999, 10**7, 10**9, 10**9 + 1, -1, 1.5,
            12.0, 1e20, float("inf"), True, "0", "00", "001", "0123", "01234", "１２３４", "１２３", " 045 ", "12a4", "1,000",
            "1,000,000,000", "1000000001", "123456", "123-456", "123-4567", "1234567", "〒100-0001", "〒１００－０００１", "12-345", "12345678",
            "2026-11-24", "2026/2/28", "2026/2/30", "1899-12-31", "2200-01-01", "abc", "在庫", " 利用中 ", "使用中",
            dt.date(2026, 11, 24), dt.datetime(2026, 11, 24, 9, 30), 46350, 109574]
ORACLE_KINDS = {schema.Kind.BANK_CODE, schema.Kind.BRANCH_CODE, schema.Kind.INTEGER, schema.Kind.POSTAL_CODE,
                schema.Kind.DATE, schema.Kind.ENUM}
ORACLE_COLUMNS = [(sheet, i) for sheet, columns in schema.TABLES.items() if sheet != schema.SETTINGS
                  for i, c in enumerate(columns) if c.kind in ORACLE_KINDS]


def test_boundary_values_in_every_column_the_oracle_knows():
    """Deterministic edges (widths, ranges, full-width digits, impossible dates) where chance rarely goes."""
    misses = []
    for sheet, index in ORACLE_COLUMNS:
        column = schema.TABLES[sheet][index]
        for value in BOUNDARY:
            want = expected(column, value)
            if want is None:
                continue
            sheets = _place(sheet, index, value)
            ledger, parse_problems = parse_tables(tables_for(sheets))
            found = {p.code for p in check_ledger(ledger, parse_problems, TODAY).problems
                     if (p.sheet, p.cell) == (sheet, f"{column_letter(index)}2")}
            if (want == ACCEPTED and found & KIND_CODES) or (want != ACCEPTED and want not in found):
                misses.append((sheet, column.header, value, want, sorted(found)))
    assert not misses, misses[:10]


def test_the_oracle_claims_both_ways():
    """The oracle is not vacuous: it accepts and refuses each kind it knows."""
    columns = {c.kind: c for columns in schema.TABLES.values() for c in columns}
    cases = {schema.Kind.BANK_CODE: ("０１２３", 12.0, "123"), schema.Kind.BRANCH_CODE: (7, "001", "A01"),
             schema.Kind.INTEGER: ("１,０００", 3.0, 0), schema.Kind.POSTAL_CODE: ("〒100-0001", 600000, "12-345"),
             schema.Kind.DATE: ("2026/11/24", 46350, "2026-02-30")}
    for kind, (good, also_good, bad) in cases.items():
        assert expected(columns[kind], good) == expected(columns[kind], also_good) == ACCEPTED, kind
        assert expected(columns[kind], bad) not in (ACCEPTED, None), kind


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


# The numeric and weekday settings (design §4 and the 設定 sheet's own messages), written out as the oracle.
INT_SETTINGS = {"電池寿命（月）": (1, 240), "最低残存期間（月）": (0, 120), "期限警告（月）": (0, 120), "発注点": (0, 10**7),
                "SMTPポート": (1, 65535)}
WEEKDAY_SETTINGS = ("受付締切曜日", "カード作成曜日", "カード受領曜日", "発送曜日")


def expected_setting(key: str, value: Any) -> tuple[bool, Any] | None:
    """(accepted, the value then held) for the settings this oracle knows, else None."""
    if key in INT_SETTINGS:
        low, high = INT_SETTINGS[key]
        if value is None or isinstance(value, (bool, dt.date)):
            return False, None
        if isinstance(value, float):
            if not value.is_integer():
                return False, None
            value = int(value)
        text = str(value) if isinstance(value, int) else _typed(value)
        if not re.fullmatch("[0-9]+", text):
            return False, None
        return (True, int(text)) if low <= int(text) <= high else (False, None)
    if key in WEEKDAY_SETTINGS:
        text = _typed(value) if isinstance(value, str) else ""
        text = text.removesuffix("曜日").removesuffix("曜")
        return (True, "月火水木金土日".index(text)) if len(text) == 1 and text in "月火水木金土日" else (False, None)
    return None


@settings(max_examples=120, deadline=None)
@given(key=st.sampled_from([s.key for s in setting_rows()]), value=CELL)
def test_any_setting_value_is_reported_or_accepted(key, value):
    rows = [[s.key, value if s.key == key else s.default, ""] for s in setting_rows()]
    ledger, problems = parse_tables(tables_for({**default_sheets(), schema.SETTINGS: rows}))
    spec = next(s for s in setting_rows() if s.key == key)
    cell = f"B{setting_rows().index(spec) + 2}"
    mine = [p for p in problems if p.sheet == schema.SETTINGS]
    for p in mine:
        assert p.code in ("bad-setting", "password-in-settings") and p.cell == cell, p
    held, default = getattr(ledger.settings, spec.field), getattr(Settings(), spec.field)
    if any(p.code == "bad-setting" for p in mine):
        assert held == default  # refused: the default stays
    claim = expected_setting(key, value)
    if claim is not None:
        accepted, value_held = claim
        assert (not mine) == accepted, (key, value, mine)
        assert held == (value_held if accepted else default), (key, value, held)


def test_boundary_setting_values():
    values = [-1, 0, 1, 59.5, 60, 60.0, "６０", " 60 ", "60日", 120, 121, 240, 241, 65535, 65536, 10**7, 10**7 + 1,
              "月", "月曜", "月曜日", "（月）", "げつ", "日曜日", "", None, True, dt.date(2026, 1, 1)]
    misses = []
    for key in (*INT_SETTINGS, *WEEKDAY_SETTINGS):
        spec = next(s for s in setting_rows() if s.key == key)
        for value in values:
            rows = [[s.key, value if s.key == key else s.default, ""] for s in setting_rows()]
            ledger, problems = parse_tables(tables_for({**default_sheets(), schema.SETTINGS: rows}))
            accepted, held = expected_setting(key, value)
            reported = any(p.sheet == schema.SETTINGS for p in problems)
            got = getattr(ledger.settings, spec.field)
            if reported == accepted or got != (held if accepted else getattr(Settings(), spec.field)):
                misses.append((key, value, reported, got))
    assert not misses, misses[:10]


def test_the_settings_oracle_claims_both_ways():
    assert expected_setting("電池寿命（月）", "６０") == (True, 60) and expected_setting("電池寿命（月）", 0) == (False, None)
    assert expected_setting("発送曜日", "月曜日") == (True, 0) and expected_setting("発送曜日", "月火") == (False, None)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=SHEET_COLUMN, value=st.one_of(st.text(max_size=30), st.integers(-10**6, 10**6), st.dates()))
def test_the_same_through_a_real_file(tmp_path, target, value):
    sheet, index = target
    sheets = _place(sheet, index, value)
    path = build_workbook(tmp_path / "prop.xlsm", sheets)
    _assert_located(check_book(path, TODAY).problems, sheets)
