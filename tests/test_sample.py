"""The sample-data generator: seeded, consistent (validates without errors), realistic in shape."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from tokenbook import postal, schema
from tokenbook.books.build import build_workbook
from tokenbook.sample import generate
from tokenbook.load import check_book

AS_OF = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def sample():
    return generate(seed=7, banks=12, tokens=3000, as_of=AS_OF)


def column(book, sheet, header):
    index = [c.header for c in schema.TABLES[sheet]].index(header)
    return [row[index] for row in book.rows[sheet]]


def test_same_seed_same_data_other_seed_other_data(sample):
    assert generate(seed=7, banks=12, tokens=3000, as_of=AS_OF).rows == sample.rows
    assert generate(seed=8, banks=12, tokens=3000, as_of=AS_OF).rows != sample.rows


def test_sample_validates_without_errors(sample, tmp_path):
    result = check_book(build_workbook(tmp_path / "sample.xlsm", sample.rows), AS_OF)
    assert result.errors == ()
    # the only warnings are the expected ones: expired tokens still in the vault
    assert {p.code for p in result.problems} <= {"expired-stock", "suspicious-duplicate"}
    assert any(p.code == "expired-stock" for p in result.problems)


def test_banks_are_fictional_with_reserved_mail_domains(sample):
    names = column(sample, schema.BANKS, "金庫名")
    assert len(set(names)) == 12 and all(n.endswith("信用金庫") or "信用金庫第" in n for n in names)
    assert all(m.endswith(".example") for m in column(sample, schema.BANKS, "報告先メール"))
    assert "しない" in column(generate(seed=1, banks=20, tokens=50, as_of=AS_OF), schema.BANKS, "報告送付")


def test_postal_codes_are_real_and_agree_with_addresses(sample):
    for code, address in zip(column(sample, schema.REQUESTS, "送付先郵便番号"), column(sample, schema.REQUESTS, "送付先住所")):
        if code:
            assert postal.prefecture_of(code) == postal.address_prefecture(address)


def test_tokens_span_five_years_with_some_near_or_past_expiry(sample):
    delivered = column(sample, schema.TOKENS, "納品日")
    expires = column(sample, schema.TOKENS, "使用期限")
    assert min(delivered) < AS_OF - dt.timedelta(days=5 * 365) and max(delivered) > AS_OF - dt.timedelta(days=200)
    assert any(e < AS_OF for e in expires)
    assert any(AS_OF <= e < AS_OF + dt.timedelta(days=180) for e in expires)
    states = Counter(column(sample, schema.TOKENS, "状態"))
    assert set(states) == {"在庫", "金庫保管", "利用中", "停止", "廃棄"}
    assert states["利用中"] > len(delivered) / 2


def test_custody_stock_for_some_banks(sample):
    owners = {o for o, s in zip(column(sample, schema.TOKENS, "所有者"), column(sample, schema.TOKENS, "状態"))
              if s == "在庫" and o != "CSS"}
    assert 1 <= len(owners) < 12


def test_requests_of_every_kind_and_method(sample):
    open_rows = [r for r in sample.rows[schema.REQUESTS] if r[20] == "受付"]
    kinds = {r[7] for r in open_rows}
    methods = {r[9] for r in open_rows}
    assert kinds == set(schema.REQUEST_KINDS)
    assert methods == set(schema.METHODS)
    assert "有" in {r[10] for r in open_rows}
    assert {"法人", "個人"} <= {r[6] for r in open_rows}
    assert any(r[0] is None for r in open_rows), "some request numbers are left for tokenbook to assign"


def test_every_token_in_use_carries_its_customer_kind(sample):
    """As 発送確定 keeps 顧客区分 on the token (issue 9), so a token in use has it in 在庫 itself."""
    pairs = zip(column(sample, schema.TOKENS, "状態"), column(sample, schema.TOKENS, "顧客区分"))
    kinds = Counter(kind for state, kind in pairs if state in ("利用中", "停止"))
    assert set(kinds) == {"法人", "個人"}, kinds


def test_a_year_of_journal(sample):
    effective = column(sample, schema.JOURNAL, "発効日")
    assert AS_OF - dt.timedelta(days=365) <= min(effective) < AS_OF - dt.timedelta(days=300)
    assert max(effective) <= AS_OF
    assert {"入庫", "引当", "発送", "停止"} <= set(column(sample, schema.JOURNAL, "操作"))


def test_scales_down_to_a_handful():
    tiny = generate(seed=3, banks=1, tokens=5, as_of=AS_OF)
    assert len(tiny.rows[schema.TOKENS]) == 5 and len(tiny.rows[schema.BANKS]) == 1


def test_older_completed_requests_can_be_archived():
    book = generate(seed=2, banks=3, tokens=2000, as_of=AS_OF, completed_requests=25, open_requests=5)
    states = column(book, schema.REQUESTS, "状態")
    assert states.count("完了") == 25 and states.count("受付") == 5
    kept = set(column(book, schema.REQUESTS, "依頼番号"))
    assert set(column(book, schema.DISPATCH, "依頼番号")) <= kept


def test_journal_replays_to_the_token_sheet(sample, tmp_path):
    from tokenbook.journal import Context, reconcile

    ledger = check_book(build_workbook(tmp_path / "s.xlsm", sample.rows), AS_OF).ledger
    entries, problems = reconcile(ledger, Context(dt.datetime(2026, 11, 24, 12), "t"), 10**6)
    assert entries == [] and problems == []
