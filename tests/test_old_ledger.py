"""A ledger made before this round's columns and sheets existed (round one's layout) still reads,
checks and runs: every column added since is optional on read (`Column.added`), the write-back
adds its header when a run first has a value for it, and optional sheets are simply absent."""

from __future__ import annotations

import datetime as dt

import openpyxl

from conftest import POSTAL_REQUEST, STOCK, default_sheets
from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.load import check_book

AS_OF = "2026-11-24"


def old_ledger(tmp_path):
    """Today's builder, then every column added since round one removed and the optional sheets dropped."""
    path = build_workbook(tmp_path / "old.xlsx", default_sheets(tokens=[STOCK], requests=[POSTAL_REQUEST]))
    wb = openpyxl.load_workbook(path)
    for sheet, columns in schema.TABLES.items():
        ws = wb[sheet]
        headers = [c.value for c in ws[1]]
        for column in reversed([c for c in columns if c.added]):
            if column.header in headers:
                ws.delete_cols(headers.index(column.header) + 1)
                headers.remove(column.header)
    for sheet in (*schema.OPTIONAL_TABLES, schema.HISTORY_LOOKUP, schema.WORKLIST):
        del wb[sheet]
    wb.save(path)
    return path


def test_a_round_one_ledger_validates_and_allocates(tmp_path, capsys):
    path = old_ledger(tmp_path)
    added = {c.header for columns in schema.TABLES.values() for c in columns if c.added}
    assert added >= {"暗号化証明書", "メール暗号化", "電話番号", "ロット番号", "申込書", "ダイジェスト"}
    assert main(["validate", "--book", str(path), "--as-of", AS_OF]) == 0, capsys.readouterr().out
    assert main(["allocate", "--book", str(path), "--as-of", AS_OF]) == 0, capsys.readouterr().out
    ledger = check_book(path, dt.date.fromisoformat(AS_OF)).ledger
    assert [t.state for t in ledger.tokens] == ["引当済"]
    assert "ダイジェスト" in ledger.columns[schema.JOURNAL]  # the run's journal rows are sealed: the header was added
    assert all(e.digest for e in ledger.journal)
    assert schema.STOCKTAKE not in ledger.columns and schema.CLOSINGS not in ledger.columns
