"""The package patcher on its own: random cell edits and appended rows land exactly where asked,
as the types asked, and everything else in the sheet and the package is left as it was."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import python_calamine
from hypothesis import HealthCheck, given, settings, strategies as st

from tokenbook.files.xlsxpatch import SheetEdit, excel_serial, patch_package

VALUES = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(lambda s: s.strip() == s),
    st.integers(-10**9, 10**9),
    st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2150, 12, 31)),
    st.sampled_from(["=1+1", "+81-3", "@SUM(A1)", "-5", "_x0041_", "a\nb", "<&>\"'"]),
)


def base_book(path: Path) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "data"
    ws.append(["A", "B", "C", "D"])
    for i in range(2, 12):
        ws.append([f"r{i}", i, dt.datetime(2026, 1, i), None])
    ws["B3"].font = openpyxl.styles.Font(bold=True)
    ws.auto_filter.ref = "A1:D11"
    other = book.create_sheet("other")
    other["A1"] = "keep me"
    book.save(path)
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.dictionaries(st.integers(2, 25), st.dictionaries(st.integers(0, 6), VALUES, min_size=1, max_size=4),
                             min_size=1, max_size=8))
def test_random_edits_read_back_exactly(tmp_path, edits):
    source = base_book(tmp_path / "in.xlsx")
    target = tmp_path / "out.xlsx"
    patch_package(source, target, {"data": SheetEdit(edits)})
    before = openpyxl.load_workbook(source)["data"]
    after_book = openpyxl.load_workbook(target)
    after = after_book["data"]
    # python-calamine decodes OOXML's _xHHHH_ escapes as Excel does (openpyxl leaves them as typed)
    text = python_calamine.CalamineWorkbook.from_path(str(target)).get_sheet_by_name("data").to_python(
        skip_empty_area=False)
    for row in range(1, 27):
        for col in range(7):
            cell = after.cell(row, col + 1)
            if row in edits and col in edits[row]:
                want = edits[row][col]
                if isinstance(want, dt.date):
                    assert cell.is_date and cell.value.date() == want, (row, col)
                elif isinstance(want, str):
                    assert cell.data_type == "s" and text[row - 1][col] == want, (row, col)  # text, never a formula
                else:
                    assert cell.value == want, (row, col)
            else:
                assert cell.value == before.cell(row, col + 1).value, (row, col)
    if 1 not in edits.get(3, {}):
        assert after["B3"].font.b  # the style of a cell that was not edited
    last = max([11, *edits])
    assert after.auto_filter.ref == f"A1:D{last}"
    assert after_book["other"]["A1"].value == "keep me"
    with zipfile.ZipFile(source) as a, zipfile.ZipFile(target) as b:
        for name in a.namelist():
            if name not in ("xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/styles.xml"):
                assert a.read(name) == b.read(name), name


def test_a_date_keeps_a_date_format_even_in_a_general_cell(tmp_path):
    source = base_book(tmp_path / "in.xlsx")
    target = tmp_path / "out.xlsx"
    patch_package(source, target, {"data": SheetEdit({2: {3: dt.date(2026, 11, 24)}, 3: {3: dt.datetime(2026, 11, 24, 9, 30)}})})
    ws = openpyxl.load_workbook(target)["data"]
    assert ws["D2"].is_date and ws["D2"].value == dt.datetime(2026, 11, 24)
    assert ws["D3"].value == dt.datetime(2026, 11, 24, 9, 30)


def test_excel_serials():
    assert excel_serial(dt.date(2026, 11, 24)) == 46350
    assert excel_serial(dt.datetime(2026, 11, 24, 18)) == 46350.75


# --- replacing a sheet's rows in bulk (close-year) -----------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(VALUES, VALUES | st.just(None), VALUES), min_size=1, max_size=30))
def test_a_block_replaces_every_data_row_and_keeps_the_rest(tmp_path, rows):
    from tokenbook.files.xlsxpatch import Block

    source = base_book(tmp_path / "base.xlsx")
    target = tmp_path / "out.xlsx"
    columns = [(col, [r[col] for r in rows]) for col in range(3)]
    patch_package(source, target, {"data": SheetEdit({1: {3: "added"}}, replace_data=True, block=Block(2, columns))})
    wb = python_calamine.CalamineWorkbook.from_path(str(target))
    grid = wb.get_sheet_by_name("data").to_python()
    assert grid[0] == ["A", "B", "C", "added"]
    expected = [[excel_value(v) for v in r] + [""] for r in rows]
    assert [[excel_value(v) for v in row] for row in grid[1:]] == expected  # nothing of the old rows is left
    assert wb.get_sheet_by_name("other").to_python() == [["keep me"]]
    ws = openpyxl.load_workbook(target)["data"]  # a second reader: the ranges follow the new rows
    assert ws.max_row == len(rows) + 1 and ws.auto_filter.ref == f"A1:D{max(len(rows) + 1, 2)}"
    with zipfile.ZipFile(source) as a, zipfile.ZipFile(target) as b:
        assert a.read("xl/worksheets/sheet2.xml") == b.read("xl/worksheets/sheet2.xml")


def excel_value(value):
    """A value as a reader gives it back from a cell (dates as datetimes, whole floats as ints, blank as "")."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
