"""Every workbook tokenbook writes passes an independent OOXML validator (issue 20).

`openxml-audit` is a pure-Python port of the Open XML SDK's schemas and semantic checks: an error
there is the kind of thing that makes Excel "repair" a file. It is run on the committed workbook, a
fresh .xlsm and .xlsx, the ledger after each kind of headless write, and every .xlsx/.xlsm file the
demo writes (found by glob, so workbooks added to the demo later are covered without a change here).
Notes (inline strings instead of shared ones) are warnings, not errors, and are allowed.

`assert_valid_ooxml(path)` is the check, for other tests to call.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import pytest
from openxml_audit import OpenXmlValidator, ValidationSeverity

from tokenbook import sample
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.demo import run_demo
from tokenbook.schedule import batch_for
from tokenbook.load import check_book

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 11, 24, 10, 0)


def ooxml_errors(path: Path) -> list[str]:
    result = OpenXmlValidator().validate(str(path))
    return [str(e) for e in result.errors if e.severity == ValidationSeverity.ERROR]


def assert_valid_ooxml(path: Path) -> None:
    errors = ooxml_errors(path)
    assert not errors, f"{path.name}: {len(errors)} OOXML error(s):\n" + "\n".join(errors[:20])


def test_the_committed_workbook_and_fresh_builds_are_valid(tmp_path):
    assert_valid_ooxml(ROOT / "workbook" / "tokenbook.xlsm")
    for name in ("fresh.xlsm", "plain.xlsx"):
        assert main(["new-workbook", str(tmp_path / name)]) == 0
        assert_valid_ooxml(tmp_path / name)


def test_the_validator_sees_what_makes_excel_repair_a_file(tmp_path):
    # <cols> after <sheetData> breaks CT_Worksheet's sequence: Excel repairs such a sheet
    good = build_workbook(tmp_path / "good.xlsx")
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as target:
        moved = 0
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/sheet") and b"<cols>" in data and not moved:
                text = data.decode()
                cols = text[text.index("<cols>"):text.index("</cols>") + len("</cols>")]
                text = text.replace(cols, "").replace("</sheetData>", "</sheetData>" + cols)
                data, moved = text.encode(), 1
            target.writestr(item, data)
    assert moved
    assert ooxml_errors(good) == []
    assert len(ooxml_errors(bad)) >= 1


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("ooxml-ledger")
    data = sample.generate(seed=3, banks=3, tokens=400, as_of=NOW.date())
    return build_workbook(directory / "tokenbook.xlsm", data.rows)


@pytest.mark.slow
def test_the_ledger_stays_valid_through_every_headless_write(ledger, tmp_path):
    book = tmp_path / "tokenbook.xlsm"
    shutil.copy(ledger, book)
    assert_valid_ooxml(book)
    settings = check_book(book, NOW.date()).ledger.settings
    last, this = batch_for(NOW.date() - dt.timedelta(days=7), settings), batch_for(NOW.date(), settings)
    steps = [
        ("allocate", ["allocate", "--book", str(book), "--as-of", last.cutoff.isoformat()]),
        ("confirm", ["confirm", "--batch", last.batch_id, "--book", str(book),
                     "--shipped-on", min(last.ship, NOW.date()).isoformat()]),
        ("allocate again", ["allocate", "--book", str(book), "--as-of", NOW.date().isoformat()]),
        ("cancel-batch", ["cancel-batch", "--batch", this.batch_id, "--book", str(book)]),
        ("setup-excel", ["setup-excel", "--book", str(book)]),
    ]
    for title, command in steps:
        before = book.read_bytes()
        assert main(command) == 0, title
        assert book.read_bytes() != before, f"{title} wrote nothing: the check would prove nothing"
        errors = ooxml_errors(book)
        assert not errors, f"after {title}: " + "\n".join(errors[:20])


@pytest.mark.slow
def test_every_workbook_the_demo_writes_is_valid(tmp_path):
    outcome = run_demo(tmp_path, banks=3, tokens=400, seed=5, now=NOW)
    assert outcome.exit_code == 0, outcome.lines
    written = sorted(p for pattern in ("*.xlsx", "*.xlsm") for p in tmp_path.rglob(pattern))
    names = [p.name for p in written]
    assert "tokenbook.xlsm" in names and any("_CSS_" in n for n in names)
    assert sum("トークン月次報告" in n for n in names) >= 1
    failures = {p.relative_to(tmp_path).as_posix(): ooxml_errors(p) for p in written}
    assert not {k: v for k, v in failures.items() if v}, failures
