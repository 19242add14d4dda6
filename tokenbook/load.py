"""Loading a ledger file: read → parse → check, the one way from a workbook file to checked values.

Only this module (and the write-back's verification) reads a ledger file; `validate` checks values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .files.sheetio import read_tables
from .parse import gc_paused, parse_tables
from .models import Ledger
from .problems import Problem
from .validate import TOKENLESS, Check, CheckResult, check_ledger, run_checks


def check_book(path: Path, today: dt.date) -> CheckResult:
    """read -> parse -> validate. Raises sheetio.UnusableInput for a file that cannot be used. The
    checks that read no token (the chain through 繰越 and 履歴) run while 在庫 is still read."""
    done: dict[Check, list[Problem]] = {}

    def tokenless(partial: Ledger) -> None:  # 繰越 and 履歴 are parsed, 在庫 is still read
        done.update(run_checks(partial, today, TOKENLESS))

    with gc_paused():
        ledger, parse_problems = parse_tables(read_tables(path), Path(path).resolve().parent, tokenless)
        return check_ledger(ledger, parse_problems, today, done)
