"""Personal data stays with its bank (design §8, §12): nothing of bank A's customers or tokens in
anything addressed to bank B, and no customer names in the logs."""

from __future__ import annotations

import datetime as dt
import email
import io
from email import policy

import pytest
import python_calamine

from tokenbook import batch, sample
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.load import check_book

AS_OF = dt.date(2026, 11, 24)  # the demo's "today" (a Tuesday); never the real clock


def workbook_cells(data: bytes) -> set[str]:
    """Every cell's text (compared whole: 林 拓也 is not inside 小林 拓也)."""
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    cells = set()
    for name in book.sheet_names:
        for row in book.get_sheet_by_name(name).to_python():
            cells.update(str(v) for v in row if v not in ("", None))
    return cells


@pytest.mark.slow
def test_no_bank_sees_another_banks_customers_or_tokens(tmp_path):
    demo = tmp_path / "demo"
    assert main(["demo", "--dir", str(demo), "--banks", "8", "--tokens", "2500", "--seed", "3",
                 "--as-of", AS_OF.isoformat()]) == 0
    ledger = check_book(demo / "tokenbook.xlsm", AS_OF).ledger
    private: dict[str, set[str]] = {}
    for t in ledger.tokens:
        if t.bank_code:
            private.setdefault(t.bank_code, set()).update(v for v in (t.serial, t.customer_no, t.customer_name) if v)
    month = next(m for m in sorted((demo / "reports").iterdir()) if (m / "outbox").exists())
    outbox = month / "outbox"
    checked = 0
    for eml in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        (attachment,) = list(message.iter_attachments())
        code = attachment.get_filename().split("_")[1]
        body = message.get_body(("plain",)).get_content()
        cells = workbook_cells(attachment.get_content())
        report = next(month.glob(f"*_{code}_*.xlsx"))
        assert attachment.get_content() == report.read_bytes()
        mine = private.get(code, set())
        for other, values in private.items():
            if other == code:
                continue
            leaked = {v for v in values - mine if v in cells or v in body}
            assert not leaked, (code, other, sorted(leaked)[:5])
        assert message["To"].endswith(f"@shinkin{code}.example")
        assert any(v in cells for v in mine), "the report does hold this bank's own customers"
        checked += 1
    assert checked >= 7
    # issue 11: each replacement proposal holds only its own bank's customers and tokens
    proposals = sorted((demo / "reports").glob("*/*_交換計画.xlsx"))
    assert proposals
    for proposal in proposals:
        code = proposal.name.split("_")[1]
        cells = workbook_cells(proposal.read_bytes())
        mine = private.get(code, set())
        leaked = {v for other, values in private.items() if other != code for v in values - mine if v in cells}
        assert not leaked, (proposal.name, sorted(leaked)[:5])
        assert any(v in cells for v in mine)


def test_a_bug_deep_in_a_run_logs_where_it_happened_but_no_customer_names(tmp_path, monkeypatch, capsys):
    """A real ledger full of names is read and checked, then the allocation trips over a name (a bug that
    takes a name for a number). The log says what failed and where, never whose; the book is untouched."""
    monkeypatch.setenv("TOKENBOOK_LOG_DIR", str(tmp_path / "logs"))
    book = build_workbook(tmp_path / "tokenbook.xlsm", sample.generate(seed=4, banks=5, tokens=900, as_of=AS_OF).rows)
    ledger = check_book(book, AS_OF).ledger
    names = {n for n in (*(t.customer_name for t in ledger.tokens), *(r.customer_name for r in ledger.requests),
                         *(r.ship_name for r in ledger.requests)) if n}
    assert len(names) > 300
    raised: list[str] = []
    real = batch._destination

    def tripping_over_a_name(work, request):
        found = real(work, request)
        try:
            float(request.ship_name)
        except ValueError as exc:
            raised.append(str(exc))
            raise
        return found

    monkeypatch.setattr(batch, "_destination", tripping_over_a_name)
    before = book.read_bytes()
    assert main(["allocate", "--book", str(book), "--as-of", AS_OF.isoformat()]) == 1
    out = capsys.readouterr().out
    assert "予期しない内部エラーが起きました（ValueError）" in out
    assert raised and any(n in raised[0] for n in names), "the fault did carry a customer's name"
    log = (tmp_path / "logs" / "tokenbook.log").read_text(encoding="utf-8")
    assert "ValueError" in log and "in tripping_over_a_name" in log and "in _allocate_postal" in log
    assert not {n for n in names if n in log}
    assert not {n for n in names if n in out}
    assert book.read_bytes() == before
