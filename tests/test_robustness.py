"""Inputs that used to end in an internal error, hang, or pass unchecked (issue 18): each is now a
located problem or a clear refusal (exit 2), and nothing is written.

One test (or a few) per defect: dates outside the plausible range and a 使用期限 that cannot be
derived; a シリアル形式 that backtracks catastrophically; a package missing a part Excel needs;
report folders that cannot be written, a 金庫名 too long for a file name, a --shipped-on before
2000; key columns holding control characters, more than a cell holds, or formula-like text.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from conftest import BANK, IN_USE, POSTAL_REQUEST, STOCK, TODAY
from tokenbook import schema
from tokenbook.cli import main
from tokenbook.files.xlsxpatch import SheetEdit, patch_package
from tokenbook.load import check_book
from tokenbook.models import setting_rows

D = dt.date
AS_OF = TODAY.isoformat()


@pytest.fixture(autouse=True)
def _log_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENBOOK_LOG_DIR", str(tmp_path / "logs"))


def located(path: Path, today: dt.date = TODAY) -> set[tuple[str, str | None, str]]:
    return {(p.sheet, p.cell, p.code) for p in check_book(path, today).problems}


def settings_rows(**values: str) -> list[dict[str, str]]:
    """The 設定 sheet with some values replaced (by key)."""
    return [{"項目": s.key, "値": values.get(s.key, s.default), "説明": ""} for s in setting_rows()]


def poke(path: Path, sheet: str, cell: tuple[int, int], value: object) -> Path:
    """Write one raw value into a cell with the package patcher (which holds any length of text)."""
    patched = path.with_name("poked-" + path.name)
    patch_package(path, patched, {sheet: SheetEdit({cell[0]: {cell[1]: value}})})
    patched.replace(path)
    return path


def no_internal_error(out: str) -> None:
    assert "予期しない内部エラー" not in out and "Traceback" not in out, out


# --- 2. dates ----------------------------------------------------------------------------------------

def test_a_delivery_date_cell_of_9999_is_a_located_problem_not_an_internal_error(book_file, capsys):
    book = book_file(tokens=[dict(STOCK, 納品日=D(9999, 12, 31))])
    before = book.read_bytes()
    assert main(["validate", "--book", str(book)]) == 1
    out = capsys.readouterr().out
    no_internal_error(out)
    assert "在庫!D2 [date-out-of-range]" in out
    assert main(["allocate", "--book", str(book), "--as-of", AS_OF]) == 1
    no_internal_error(capsys.readouterr().out)
    assert book.read_bytes() == before


def test_a_delivery_after_the_run_date_and_an_expiry_that_cannot_be_derived(book_file):
    book = book_file(tokens=[dict(STOCK, 納品日=D(2199, 12, 31), 使用期限=None)])  # + 60 months passes 2199-12-31
    assert {("在庫", "D2", "future-date"), ("在庫", "E2", "expiry-not-computable")} <= located(book)


@pytest.mark.parametrize("value", [D(1999, 12, 31), "1999/12/31", "H11.12.31", 36525, D(2200, 1, 1), "2200-01-01"])
@pytest.mark.parametrize(("sheet", "header", "cell"), [("tokens", "納品日", "D2"), ("tokens", "入庫日", "F2"),
                                                       ("tokens", "使用期限", "E2"), ("requests", "受付日", "B2")])
def test_dates_outside_2000_to_2199_are_errors_as_text_and_as_date_cells(check_rows, value, sheet, header, cell):
    record = dict(STOCK if sheet == "tokens" else POSTAL_REQUEST, **{header: value})
    found = check_rows(**{sheet: [record]})
    assert (schema.TOKENS if sheet == "tokens" else schema.REQUESTS, cell, "date-out-of-range") in found


@pytest.mark.parametrize(("header", "cell"), [("納品日", "D2"), ("入庫日", "F2")])
def test_delivery_and_intake_after_the_run_date_are_errors(book_file, header, cell):
    """'Today' is the run date passed in: the same cell is fine on the next day."""
    book = book_file(tokens=[dict(STOCK, **{header: D(2026, 11, 25)}), IN_USE])
    assert ("在庫", cell, "future-date") in located(book, TODAY)
    assert ("在庫", cell, "future-date") not in located(book, TODAY + dt.timedelta(days=1))


# --- 4. a pattern that backtracks ---------------------------------------------------------------------

EVIL = r"^(([0-9A-Z])+)+$"
HANG_GUARD = """
import datetime as dt, sys
from pathlib import Path
from tokenbook.load import check_book
result = check_book(Path(sys.argv[1]), dt.date(2026, 11, 24))
print(sorted({(p.cell, p.code) for p in result.problems if p.sheet == "在庫"}))
"""


def test_a_catastrophic_serial_pattern_does_not_hang_validate(book_file, tmp_path):
    bad = "TK" + "7" * 33 + "!"  # 36 characters: Python's backtracking engine would run for days
    book = book_file(tokens=[dict(STOCK, シリアル番号=bad)], settings=settings_rows(シリアル形式=EVIL))
    # A guard against a hang, not a timing: the check itself takes well under a second.
    done = subprocess.run([sys.executable, "-c", HANG_GUARD, str(book)], capture_output=True, text=True, timeout=120)
    assert "('A2', 'bad-serial')" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("pattern", [r"^(TK)\d+\1$", r"^(?=TK)[0-9A-Z]+$", r"^(?<!X)TK\d+$", "[", "^(TK"])
def test_a_serial_pattern_re2_cannot_run_is_a_located_settings_error(book_file, pattern):
    book = book_file(settings=settings_rows(シリアル形式=pattern))
    row = 2 + [s.key for s in setting_rows()].index("シリアル形式")
    assert ("設定", f"B{row}", "bad-setting") in located(book)


def test_serials_are_still_checked_under_the_default_and_a_re2_pattern(book_file):
    for pattern in (r"^[0-9A-Z]{6,20}$", r"^[A-Z]*[0-9]*$"):  # the second runs on RE2
        book = book_file(f"{len(pattern)}.xlsm", tokens=[STOCK, dict(IN_USE, シリアル番号="TK-0002")],
                         settings=settings_rows(シリアル形式=pattern))
        assert {p for p in located(book) if p[2] == "bad-serial"} == {("在庫", "A3", "bad-serial")}


# --- 6. a package without a part Excel needs ----------------------------------------------------------

def without(path: Path, member: str) -> Path:
    target = path.with_name(f"without-{member.replace('/', '_')}-{path.name}")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename != member:
                out.writestr(info, source.read(info))
    return target


@pytest.mark.parametrize("member", ["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml",
                                    "xl/_rels/workbook.xml.rels", "xl/styles.xml", "xl/worksheets/sheet1.xml",
                                    "xl/worksheets/sheet9.xml"])
def test_a_package_missing_a_part_excel_needs_is_unusable_and_nothing_is_written(book_file, capsys, member):
    broken = without(book_file(), member)
    before = broken.read_bytes()
    assert main(["validate", "--book", str(broken)]) == 2
    assert main(["allocate", "--book", str(broken), "--as-of", AS_OF]) == 2
    out = capsys.readouterr().out
    no_internal_error(out)
    assert "Excel で開けません" in out or "ブックではありません" in out
    assert broken.read_bytes() == before
    assert not list(broken.parent.glob("backups/*"))


def test_a_content_type_missing_for_a_sheet_is_unusable(book_file, capsys):
    book = book_file()
    target = book.with_name("no-type.xlsm")
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b'<Override PartName="/xl/worksheets/sheet2.xml"', b'<Override PartName="/xl/x.xml"')
            out.writestr(info, data)
    assert main(["validate", "--book", str(target)]) == 2


# --- 7. clear refusals --------------------------------------------------------------------------------

def test_report_out_naming_an_existing_file_is_refused(book_file, tmp_path, capsys):
    book = book_file()
    (tmp_path / "a-file").write_text("keep me")
    assert main(["report", "--book", str(book), "--month", "2026-10", "--out", str(tmp_path / "a-file")]) == 2
    out = capsys.readouterr().out
    no_internal_error(out)
    assert "--out" in out and "フォルダ" in out
    assert (tmp_path / "a-file").read_text() == "keep me"


@pytest.mark.parametrize("where", ["a-file", "a-file/below", "/proc/tokenbook-reports"])
def test_a_report_folder_setting_that_cannot_be_written_is_refused(book_file, tmp_path, capsys, where):
    (tmp_path / "a-file").write_text("keep me")
    folder = where if where.startswith("/") else str(tmp_path / where)
    book = book_file(settings=settings_rows(報告書出力先=folder))
    assert main(["report", "--book", str(book), "--month", "2026-10"]) == 2
    out = capsys.readouterr().out
    no_internal_error(out)
    assert "報告書出力先" in out
    assert (tmp_path / "a-file").read_text() == "keep me"


def test_a_bank_name_too_long_for_a_file_name_is_a_located_error(book_file, tmp_path, capsys):
    book = book_file(banks=[dict(BANK, 金庫名="あ" * 300)])
    assert ("金庫", "B2", "bank-name-too-long") in located(book)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw Python warning reaches the operator
        assert main(["report", "--book", str(book), "--month", "2026-10", "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    no_internal_error(out)
    assert "UserWarning" not in out
    assert not (tmp_path / "out").exists()


def test_the_longest_bank_name_allowed_makes_its_report_without_a_warning(book_file, tmp_path):
    book = book_file(banks=[dict(BANK, 金庫名="&" * 50)])  # & doubles in a page header
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["report", "--book", str(book), "--month", "2026-10", "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out" / "2026-10").glob("2026-10_1234_*.xlsx"))) == 1


@pytest.mark.parametrize(("shipped_on", "code", "said"), [("1900-01-01", 2, "2000年から2099年までの日付です"),
                                                          ("2026-11-01", 1, "受付締切日 2026-11-24 より前")])
def test_confirm_refuses_a_shipping_date_that_cannot_be_and_writes_nothing(book_file, capsys, shipped_on, code, said):
    book = book_file(tokens=[STOCK], requests=[POSTAL_REQUEST])
    assert main(["allocate", "--book", str(book), "--as-of", AS_OF]) == 0
    before = book.read_bytes()
    assert main(["confirm", "--book", str(book), "--batch", "2026-W48", "--shipped-on", shipped_on]) == code
    out = capsys.readouterr().out
    no_internal_error(out)
    assert said in out and "一致しません" not in out
    assert book.read_bytes() == before


# --- 8. key columns -----------------------------------------------------------------------------------

KEY_VALUES = [("AB\x00C", "control-character"), ("12\t34", "control-character"), ("12\n34", "control-character"),
              ("=DDE(\"cmd\";\"/c calc\";\"x\")", "formula-like-code"), ("+81", "formula-like-code"),
              ("-1", "formula-like-code"), ("@SUM(A1)", "formula-like-code"), ("＝1+1", "formula-like-code")]


@pytest.mark.parametrize(("value", "code"), KEY_VALUES)
def test_key_columns_refuse_control_characters_and_formula_like_text(check_rows, value, code):
    found = check_rows(requests=[dict(POSTAL_REQUEST, 顧客番号=value, 依頼番号=value)],
                       tokens=[STOCK, dict(IN_USE, 顧客番号=value)])
    assert {("申込", "E2", code), ("申込", "A2", code), ("在庫", "I3", code)} <= found


def test_a_key_longer_than_a_cell_holds_is_refused(book_file):
    book = poke(book_file(), schema.REQUESTS, (2, 4), "9" * 40_000)  # 顧客番号 of the request
    assert ("申込", "E2", "too-long") in located(book)


def test_request_numbers_that_are_fine_still_read(check_rows):
    found = check_rows(requests=[dict(POSTAL_REQUEST, 依頼番号="R20261120-001", 顧客番号="０００１２３")])
    assert not any(code in ("control-character", "formula-like-code", "too-long") for _, _, code in found)
