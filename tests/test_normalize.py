"""Every normaliser: what it accepts, what it makes of it, what it refuses (and with which code)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, strategies as st

from tokenbook import normalize as nz

SERIAL = re.compile(r"^[0-9A-Z]{6,20}$")
D = dt.date


@pytest.mark.parametrize(("raw", "expected"), [
    ("1234", "1234"), ("１２３４", "1234"), (" 0012 ", "0012"), (12, "0012"), (12.0, "0012"), (9999, "9999"),
])
def test_bank_code_accepts(raw, expected):
    assert nz.bank_code(raw) == expected


@pytest.mark.parametrize("raw", ["123", "12345", "12a4", 12.5, -1, 10000, True, "１２３"])
def test_bank_code_refuses(raw):
    with pytest.raises(nz.Invalid) as info:
        nz.bank_code(raw)
    assert info.value.code == "bad-bank-code"


@pytest.mark.parametrize(("raw", "expected"), [("001", "001"), (7, "007"), ("０４５", "045")])
def test_branch_code(raw, expected):
    assert nz.branch_code(raw) == expected


@pytest.mark.parametrize("raw", ["1", "1234", "A01"])
def test_branch_code_refuses(raw):
    with pytest.raises(nz.Invalid, match="bad-branch-code"):
        nz.branch_code(raw)


@pytest.mark.parametrize(("raw", "expected"), [("CSS", "CSS"), ("ｃｓｓ", "CSS"), ("1234", "1234"), (1234, "1234")])
def test_owner(raw, expected):
    assert nz.owner(raw) == expected


def test_owner_refuses_other_names():
    with pytest.raises(nz.Invalid, match="bad-owner"):
        nz.owner("SSC")


@pytest.mark.parametrize(("raw", "expected"), [
    ("tk001234", "TK001234"), ("ＴＫ００１２３４", "TK001234"), (" TK001234\n", "TK001234"), (12345678.0, "12345678"),
])
def test_serial(raw, expected):
    assert nz.serial(raw, SERIAL) == expected


@pytest.mark.parametrize("raw", ["TK-0012", "TK01", "TK 001234", "トークン001"])
def test_serial_refuses(raw):
    with pytest.raises(nz.Invalid) as info:
        nz.serial(raw, SERIAL)
    assert info.value.code == "bad-serial"
    assert info.value.params["pattern"] == SERIAL.pattern


def test_serial_follows_the_configured_pattern():
    assert nz.serial("ab-123", re.compile(r"^[A-Z]{2}-\d{3}$")) == "AB-123"


def test_serial_list_splits_on_every_separator():
    assert nz.serial_list("TK000001, TK000002;TK000003\nTK000004 TK000005、TK000006", SERIAL) == (
        "TK000001", "TK000002", "TK000003", "TK000004", "TK000005", "TK000006")


@pytest.mark.parametrize(("raw", "expected"), [
    ("100-0001", "100-0001"), ("1000001", "100-0001"), ("〒100-0001", "100-0001"), ("１００－０００１", "100-0001"),
    ("100ー0001", "100-0001"), ("100−0001", "100-0001"), (600000, "060-0000"), (1000001.0, "100-0001"),
])
def test_postal_code(raw, expected):
    assert nz.postal_code(raw) == expected


@pytest.mark.parametrize("raw", ["12-345", "100-00001", "ABC-DEFG", 12345678, "１００"])
def test_postal_code_refuses(raw):
    with pytest.raises(nz.Invalid, match="bad-postal-code"):
        nz.postal_code(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("03-1234-5678", "03-1234-5678"), ("０９０－１２３４－５６７８", "090-1234-5678"), ("0312345678", "0312345678"),
    ("+81 90-1234-5678", "090-1234-5678"), ("(03) 1234-5678", "03-1234-5678"),
])
def test_phone(raw, expected):
    assert nz.phone(raw) == expected


@pytest.mark.parametrize("raw", ["1234-5678", "03-123-456", "090-1234-56789", "03-ABCD-5678", "110"])
def test_phone_refuses(raw):
    with pytest.raises(nz.Invalid, match="bad-phone"):
        nz.phone(raw)


def test_email_list_separators_and_case():
    assert nz.email_list("A.Tanaka@Bank.Example; b@bank.example,\nc@x.example") == (
        "A.Tanaka@bank.example", "b@bank.example", "c@x.example")


@pytest.mark.parametrize("raw", ["tanaka", "a@b", "a@@b.example", "a..b@bank.example", "田中@bank.example"])
def test_email_list_refuses(raw):
    with pytest.raises(nz.Invalid) as info:
        nz.email_list(raw)
    assert info.value.code == "bad-email"


def test_domain_list_and_membership():
    domains = nz.domain_list("@Bank.Example, shinkin.example")
    assert domains == ("bank.example", "shinkin.example")
    assert nz.in_domains("a@bank.example", domains)
    assert nz.in_domains("a@mail.bank.example", domains)
    assert not nz.in_domains("a@evilbank.example", domains)
    with pytest.raises(nz.Invalid, match="bad-domain"):
        nz.domain_list("bank")


@pytest.mark.parametrize(("raw", "expected"), [
    (D(2026, 11, 24), D(2026, 11, 24)),
    (dt.datetime(2026, 11, 24, 13, 5), D(2026, 11, 24)),
    (46350, D(2026, 11, 24)),
    (46350.5, D(2026, 11, 24)),
    ("2026/11/24", D(2026, 11, 24)),
    ("2026-11-24", D(2026, 11, 24)),
    ("2026.11.24", D(2026, 11, 24)),
    ("2026年11月24日", D(2026, 11, 24)),
    ("20261124", D(2026, 11, 24)),
    ("２０２６／１１／２４", D(2026, 11, 24)),
    ("R8.11.24", D(2026, 11, 24)),
    ("r8/11/24", D(2026, 11, 24)),
    ("令和8年11月24日", D(2026, 11, 24)),
    ("令和８年１１月２４日", D(2026, 11, 24)),
    ("令和元年5月1日", D(2019, 5, 1)),
    ("㋿8.11.24", D(2026, 11, 24)),
    ("H31.4.30", D(2019, 4, 30)),
    ("H12.1.1", D(2000, 1, 1)),
    ("2199-12-31", D(2199, 12, 31)),
    ("2026-11-24 00:00:00", D(2026, 11, 24)),
])
def test_date_accepts(raw, expected):
    assert nz.date(raw) == expected


@pytest.mark.parametrize("raw", [
    "2026/02/30", "R8.2.30", "R1.4.30", "H31.5.1", "H0.1.1", "令和", "明日", "11/24", "2026/13/01",
    "平成元年1月7日", "S64.1.8", 0, -5, 10**7, float("nan"), float("inf"), True,
])
def test_date_refuses(raw):
    with pytest.raises(nz.Invalid, match="bad-date"):
        nz.date(raw)


@pytest.mark.parametrize("raw", [
    "平成元年1月8日", "S64.1.7", "1800/01/01", "1999-12-31", "2200-01-01", D(1999, 12, 31), D(9999, 12, 31),
    dt.datetime(1900, 1, 1), 1, 36525, 2_958_465,
])
def test_date_refuses_what_lies_outside_2000_to_2199(raw):
    """Dates before 2000 or after 2199 are refused alike as text, as a date cell and as a serial."""
    with pytest.raises(nz.Invalid, match="date-out-of-range"):
        nz.date(raw)
    with pytest.raises(nz.Invalid, match="date-out-of-range"):
        nz.datetime(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-24 09:30", dt.datetime(2026, 11, 24, 9, 30)),
    ("2026/11/24 9:30:15", dt.datetime(2026, 11, 24, 9, 30, 15)),
    (D(2026, 11, 24), dt.datetime(2026, 11, 24)),
    (46350.75, dt.datetime(2026, 11, 24, 18, 0)),
])
def test_datetime(raw, expected):
    assert nz.datetime(raw) == expected


@pytest.mark.parametrize("raw", ["2026-11-24 25:00", "yesterday", "2026-11-24 9"])
def test_datetime_refuses(raw):
    with pytest.raises(nz.Invalid, match="bad-datetime"):
        nz.datetime(raw)


@pytest.mark.parametrize(("raw", "expected"), [(1, 1), ("3", 3), ("３", 3), (2.0, 2), ("1,000", 1000)])
def test_integer(raw, expected):
    assert nz.integer(raw) == expected


@pytest.mark.parametrize("raw", [0, -1, 1.5, "x", "", True, "1e3"])
def test_integer_refuses(raw):
    with pytest.raises(nz.Invalid, match="bad-integer"):
        nz.integer(raw)


def test_choice_and_yes_no_aliases():
    assert nz.choice(" 利用中 ", ("在庫", "利用中")) == "利用中"
    assert nz.choice("あり", ("有", "無")) == "有"
    assert nz.choice("なし", ("有", "無")) == "無"
    with pytest.raises(nz.Invalid) as info:
        nz.choice("使用中", ("在庫", "利用中"))
    assert info.value.params["choices"] == "在庫・利用中"


def test_text_keeps_what_a_clerk_typed_but_codes_are_normalised():
    assert nz.plain_text(" ﾄｰｸﾝ 株式会社ー ") == "ﾄｰｸﾝ 株式会社ー"
    assert nz.clean_text("ﾄｰｸﾝ") == "トークン"
    assert nz.code_text("Ａ－１２３ー４") == "A-123-4"


@pytest.mark.parametrize(("day", "months", "expected"), [
    (D(2021, 1, 31), 1, D(2021, 2, 28)), (D(2020, 2, 29), 60, D(2025, 2, 28)), (D(2026, 11, 24), 60, D(2031, 11, 24)),
    (D(2026, 1, 15), -1, D(2025, 12, 15)),
])
def test_add_months(day, months, expected):
    assert nz.add_months(day, months) == expected


CELLS = st.one_of(
    st.none(), st.text(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.dates(), st.datetimes(),
)
NORMALISERS = [nz.bank_code, nz.branch_code, nz.owner, nz.postal_code, nz.phone, nz.email_list, nz.domain_list,
               nz.integer, nz.date, nz.datetime, lambda v: nz.serial(v, SERIAL), lambda v: nz.serial_list(v, SERIAL),
               lambda v: nz.choice(v, ("有", "無")), nz.plain_text, nz.code_text, nz.key_code]


@given(value=CELLS)
def test_normalisers_only_ever_refuse_with_invalid(value):
    from tokenbook.problems import CODES

    for normalise in NORMALISERS:
        try:
            normalise(value)
        except nz.Invalid as exc:
            assert exc.code in CODES


@given(value=CELLS)
def test_normalisers_are_idempotent_on_what_they_accept(value):
    for normalise in (nz.bank_code, nz.branch_code, nz.postal_code, nz.phone, nz.date, nz.code_text):
        try:
            once = normalise(value)
        except nz.Invalid:
            continue
        assert normalise(once) == once
