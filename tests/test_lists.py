"""Lists someone else made (files/lists.py): CSV in UTF-8 or cp932, the first sheet of a workbook,
scanner text; rows keep their line; unusable files are refused with a Japanese message."""

from __future__ import annotations

import pytest
import xlsxwriter

from tokenbook.files.lists import read_lines, read_list
from tokenbook.files.sheetio import UnusableInput


def test_a_cp932_csv_keeps_its_line_numbers_and_locates_problems(tmp_path):
    slip = tmp_path / "slip.csv"
    slip.write_bytes("シリアル番号,ロット番号,納品日\r\nTK0001,L1,2026/11/24\r\n\r\nTK0002,L1,令和8年11月24日\r\n".encode("cp932"))
    read = read_list(slip, ["シリアル番号", "納品日"])
    assert read.column("シリアル番号") == ["TK0001", "TK0002"]
    assert read.table.row_numbers == [2, 4]  # the blank line 3 is skipped, not renumbered
    assert read.at("duplicate-key", 1, "シリアル番号", "TK0002", first=2).render().startswith("slip.csv:4 [duplicate-key]")


def test_utf8_with_bom_and_any_column_order(tmp_path):
    slip = tmp_path / "slip.csv"
    slip.write_text("\ufeff納品日,シリアル番号\n2026-11-24,TK0001\n", encoding="utf-8")
    assert read_list(slip, ["シリアル番号", "納品日"]).column("シリアル番号") == ["TK0001"]


def test_the_first_sheet_of_a_workbook_with_cells_in_locations(tmp_path):
    path = tmp_path / "1001_申込書.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("申込")
    sheet.write_row(0, 0, ["受付日", "顧客番号"])
    sheet.write_row(1, 0, ["2026/11/24", "0001"])
    book.add_worksheet("説明")
    book.close()
    read = read_list(path, ["顧客番号"])
    assert read.where == "1001_申込書.xlsx!申込"
    assert read.at("required", 0, "顧客番号").render().startswith("1001_申込書.xlsx!申込!B2 [required]")


def test_scanner_lines(tmp_path):
    scan = tmp_path / "box1.txt"
    scan.write_text("TK0001\n\nTK0002\r\n", encoding="utf-8")
    read = read_lines(scan)
    assert read.column("値") == ["TK0001", "TK0002"] and read.table.row_numbers == [1, 3]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("none.csv", None, "ファイルがありません"),
    ("binary.csv", b"\x00\x01\x02PK", "文字のファイル"),
    ("latin.csv", "caf\xe9,\xff\xfe".encode("latin-1") + b"\x81", "文字コード"),
    ("empty.csv", b"", "表の形"),
    ("noheader.csv", "シリアル番号\nTK1\n".encode(), "見出し「納品日」がありません"),
    ("broken.xlsx", b"PK\x03\x04 truncated", "ブック"),
])
def test_unusable_lists_are_refused_in_japanese(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnusableInput, match=message):
        read_list(path, ["シリアル番号", "納品日"])
