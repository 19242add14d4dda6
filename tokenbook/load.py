"""Loading a ledger file: read → parse → check, the one way from a workbook file to checked values.

Only this module (and the write-back's verification) reads a ledger file; `validate` checks values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .files.sheetio import read_tables
from .parse import gc_paused, parse_tables
from .validate import CheckResult, check_ledger


def check_book(path: Path, today: dt.date) -> CheckResult:
    """read -> parse -> validate. Raises sheetio.UnusableInput for a file that cannot be used."""
    with gc_paused():
        ledger, parse_problems = parse_tables(read_tables(path), Path(path).resolve().parent)
        return check_ledger(ledger, parse_problems, today)
