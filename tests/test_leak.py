"""Personal data stays with its bank (design §8, §12): nothing of bank A's customers or tokens in
anything addressed to bank B, and no customer names in the logs."""

from __future__ import annotations

import datetime as dt
import email
import io
from email import policy
from pathlib import Path

import python_calamine

from tokenbook.cli import main
from tokenbook.load import check_book


def workbook_cells(data: bytes) -> set[str]:
    """Every cell's text (compared whole: 林 拓也 is not inside 小林 拓也)."""
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    cells = set()
    for name in book.sheet_names:
        for row in book.get_sheet_by_name(name).to_python():
            cells.update(str(v) for v in row if v not in ("", None))
    return cells


def test_no_bank_sees_another_banks_customers_or_tokens(tmp_path):
    demo = tmp_path / "demo"
    assert main(["demo", "--dir", str(demo), "--banks", "8", "--tokens", "2500", "--seed", "3"]) == 0
    ledger = check_book(demo / "tokenbook.xlsm", dt.date.today()).ledger
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


def test_logs_hold_no_customer_names(tmp_path, monkeypatch, book_file):
    from tokenbook import runs

    monkeypatch.setenv("TOKENBOOK_LOG_DIR", str(tmp_path / "logs"))
    book = book_file()
    monkeypatch.setattr(runs, "check_book", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    assert main(["validate", "--book", str(book)]) == 1
    log = (tmp_path / "logs" / "tokenbook.log").read_text(encoding="utf-8")
    ledger = check_book(book, dt.date.today()).ledger
    for t in ledger.tokens:
        assert not t.customer_name or t.customer_name not in log
    assert Path(tmp_path / "logs").exists()
