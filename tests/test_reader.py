"""Reading workbook files: tolerant of layout, strict about what makes a file unusable (exit 2)."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from pathlib import Path

import msoffcrypto.format.ooxml
import openpyxl
import pytest

from conftest import TODAY, default_sheets
from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.files.sheetio import UnusableInput, column_letter
from tokenbook.files.sheetio import read_tables as read_lazily
from tokenbook.load import check_book


def read_tables(path):
    """Every table, waiting for all of them (the reader hands them over as they are read)."""
    return dict(read_lazily(path))


def test_column_letters():
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]


def test_reads_what_the_builder_wrote(book_file):
    tables = read_tables(book_file())
    assert set(tables) == set(schema.TABLES) | set(schema.OPTIONAL_TABLES)  # a new book has the optional ones
    tokens = tables[schema.TOKENS]
    assert tokens.row_numbers == [2, 3, 4]
    assert tokens.column("納品日")[0] == dt.date(2025, 1, 10)


def _edit(path: Path, edit) -> Path:
    """Change a workbook with openpyxl, as a clerk's Excel would (keeping it a real workbook)."""
    book = openpyxl.load_workbook(path)
    edit(book)
    out = path.with_name("edited.xlsx")
    book.save(out)
    return out


def test_column_order_extra_columns_and_blank_rows_are_tolerated(book_file):
    def edit(book):
        ws = book[schema.TOKENS]
        ws.move_range("A1:A10", cols=20)  # シリアル番号 moved to the far right
        ws.cell(1, 16, "担当メモ")
        ws.cell(2, 16, "clerk note")
        ws.insert_rows(3)  # an empty row in the middle
        for row in range(10, 40):
            ws.cell(row, 16, "")  # trailing rows that are empty strings only
    result = check_book(_edit(book_file(), edit), TODAY)
    assert result.problems == ()
    serials = {t.serial: t.row for t in result.ledger.tokens}
    assert serials == {"TK00000001": 2, "TK00000002": 4, "TK00000003": 5}


def test_problem_cells_follow_the_moved_column(book_file):
    def edit(book):
        ws = book[schema.TOKENS]
        ws.insert_cols(1, 2)  # everything shifts two columns right
        ws["E3"] = "使用中"  # 状態 (was C) of the second token
    problems = check_book(_edit(book_file(), edit), TODAY).problems
    assert [(p.sheet, p.cell, p.code) for p in problems] == [("在庫", "E3", "bad-choice")]


def test_numbers_and_text_typed_into_date_and_code_cells(book_file):
    def edit(book):
        ws = book[schema.TOKENS]
        ws["D2"] = 45667  # an Excel serial without a date format: 2025-01-10
        ws["F2"] = "R7.1.15"
        ws["G3"] = 1234  # bank code typed as a number
        ws["H3"] = 1  # branch 001 lost its zeros
    ledger = check_book(_edit(book_file(), edit), TODAY).ledger
    first, second = ledger.tokens[:2]
    assert first.delivered_on == dt.date(2025, 1, 10) and first.received_on == dt.date(2025, 1, 15)
    assert (second.bank_code, second.branch_code) == ("1234", "001")


def test_headers_are_matched_after_nfkc_and_trimming(book_file):
    def edit(book):
        book[schema.REQUESTS]["K1"] = " ＩＢカード "
    assert check_book(_edit(book_file(), edit), TODAY).problems == ()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda b: b.remove(b[schema.JOURNAL]), "シート「履歴」がありません"),
    (lambda b: setattr(b[schema.TOKENS], "title", "在庫一覧"), "シート「在庫」がありません"),
    (lambda b: b[schema.REQUESTS].cell(1, 2, "受付年月日"), "シート「申込」の1行目に見出し「受付日」がありません"),
    (lambda b: b[schema.TOKENS].delete_rows(1), "シート「在庫」の1行目に見出し"),
    (lambda b: b[schema.BANKS].cell(1, 2, "金庫コード"), "見出し「金庫コード」が2つあります"),
])
def test_wrong_sheets_and_headers_are_unusable(book_file, edit, message):
    with pytest.raises(UnusableInput, match=message):
        read_tables(_edit(book_file(), edit))


def test_not_a_workbook(tmp_path):
    text = tmp_path / "notes.xlsm"
    text.write_text("顧客一覧\n", encoding="utf-8")
    with pytest.raises(UnusableInput, match="Excelブック"):
        read_tables(text)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UnusableInput, match="ファイルがありません"):
        read_tables(tmp_path / "nothing.xlsm")
    with pytest.raises(UnusableInput, match="フォルダです"):
        read_tables(tmp_path)


def test_encrypted_workbook(book_file, tmp_path):
    plain = book_file(name="plain.xlsx")
    encrypted = tmp_path / "locked.xlsm"
    with plain.open("rb") as source, encrypted.open("wb") as target:
        msoffcrypto.format.ooxml.OOXMLFile(source).encrypt("secret", target)
    with pytest.raises(UnusableInput, match="暗号化"):
        read_tables(encrypted)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_workbook(book_file, tmp_path, keep):
    whole = book_file().read_bytes()
    cut = tmp_path / "cut.xlsm"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(UnusableInput):
        read_tables(cut)


def test_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "archive.xlsm"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(UnusableInput):
        read_tables(path)


def test_corrupted_sheet_xml(book_file, tmp_path):
    source = book_file()
    broken = tmp_path / "broken.xlsm"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet3.xml":
                data = data[: len(data) // 2]
            dst.writestr(info, data)
    with pytest.raises(UnusableInput):
        read_tables(broken)


@pytest.mark.parametrize("kind", ["text", "encrypted", "missing-sheet", "truncated"])
def test_cli_exit_code_2_and_a_message_not_a_traceback(book_file, tmp_path, capsys, kind):
    path = tmp_path / "bad.xlsm"
    if kind == "text":
        path.write_text("not a workbook")
    elif kind == "encrypted":
        with book_file(name="p.xlsx").open("rb") as source, path.open("wb") as target:
            msoffcrypto.format.ooxml.OOXMLFile(source).encrypt("x", target)
    elif kind == "missing-sheet":
        path = _edit(book_file(), lambda b: b.remove(b[schema.SETTINGS]))
    else:
        path.write_bytes(book_file().read_bytes()[:2000])
    before = path.read_bytes()
    assert main(["validate", "--book", str(path)]) == 2
    out = capsys.readouterr()
    assert "エラー:" in out.out and "Traceback" not in out.out + out.err
    assert path.read_bytes() == before  # changes nothing


def test_large_values_and_odd_types_in_cells(tmp_path):
    sheets = default_sheets()
    sheets[schema.TOKENS][0][13] = "メモ" * 5000  # a very long 備考
    sheets[schema.TOKENS][1][8] = 123.0  # a customer number typed as a number
    result = check_book(build_workbook(tmp_path / "odd.xlsm", sheets), TODAY)
    assert result.problems == ()
    assert result.ledger.tokens[1].customer_no == "123"


def test_the_file_is_not_held_open_after_reading(book_file):
    """Excel on a clerk's PC cannot save a book another program holds open."""
    path = book_file()
    read_tables(path)
    fds = Path("/proc/self/fd")
    if not fds.exists():
        pytest.skip("needs /proc")
    open_files = {os.path.realpath(fds / fd) for fd in os.listdir(fds) if (fds / fd).is_symlink()}
    assert str(path.resolve()) not in open_files


def test_row_types_follow_the_schema_column_order():
    """Rows are built positionally (`_make`), so their fields must be the schema's, in its order."""
    from tokenbook.models import ROW_TYPES

    for sheet, row_type in ROW_TYPES.items():
        assert row_type._fields == ("row", *(c.field for c in schema.TABLES[sheet])), sheet
