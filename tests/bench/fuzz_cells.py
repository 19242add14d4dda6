"""A long run of the cell fuzz (tests/test_fuzz.py): at least --values random values written into
random cells of every ledger sheet of a small real ledger, each book then run through
`validate` and `allocate` on the command line.

    python tests/bench/fuzz_cells.py                    # 10,000 values
    python tests/bench/fuzz_cells.py --values 50000 --per-book 30

Every book must end without an internal error, with every problem located (sheet and cell), and
rewritten only by a run that says so and never past an error outside 申込. Prints what it tried
(values by type, cells by sheet) and what it found (problem codes, runs that wrote or refused);
the first book that breaks a rule is shrunk by hypothesis to its smallest form and shown.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import test_fuzz  # noqa: E402
from tokenbook.load import check_book  # noqa: E402


def kind_of(value: object) -> str:
    if isinstance(value, str):
        if len(value) > 32_767:
            return "text over 32,767"
        if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
            return "text with control characters"
        if value[:1] in "=+-@＝" or value.lstrip()[:1] == "=":
            return "formula-like text"
        return "text"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date" if 2000 <= value.year <= 2199 else "date outside 2000–2199"
    return "blank" if value is None else type(value).__name__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=10_000, help="at least this many values in all")
    parser.add_argument("--per-book", type=int, default=12, help="most values written into one book")
    args = parser.parse_args()

    values = collections.Counter()
    sheets = collections.Counter()
    codes = collections.Counter()
    runs = collections.Counter()
    books = 0
    started = time.perf_counter()

    @settings(max_examples=100, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(written=st.lists(test_fuzz.cells(), min_size=1, max_size=args.per_book))
    def one_book(written):
        nonlocal books
        with tempfile.TemporaryDirectory() as folder:
            finding = test_fuzz.check_cells(Path(folder), written)
            result = check_book(Path(folder) / "book.xlsm", dt.date.fromisoformat(test_fuzz.RUN_DAY))
        books += 1
        values.update(kind_of(v) for *_, v in written)
        sheets.update(sheet for sheet, *_ in written)
        codes.update(p.code for p in result.problems)
        runs["allocate wrote the book" if finding.written else "allocate wrote nothing"] += 1
        runs[f"allocate exit {finding.allocate_code}"] += 1
        if books % 50 == 0:
            print(f"  {books} books, {sum(values.values()):,} values, {time.perf_counter() - started:.0f} s", flush=True)

    try:
        while sum(values.values()) < args.values:  # rounds of 100 books, each with fresh random choices
            one_book()
        verdict = "no rule broken"
    except Exception as exc:  # hypothesis has shrunk the failing book and printed it above
        verdict = f"RULE BROKEN: {type(exc).__name__}: {str(exc)[:500]}"
    print(f"\n{books:,} books, {sum(values.values()):,} values in {time.perf_counter() - started:.0f} s: {verdict}")
    print("values by type:", ", ".join(f"{k} {n:,}" for k, n in values.most_common()))
    print("cells by sheet:", ", ".join(f"{k} {n:,}" for k, n in sheets.most_common()))
    print("runs:", ", ".join(f"{k} {n:,}" for k, n in sorted(runs.items())))
    print("problems found:", ", ".join(f"{k} {n:,}" for k, n in codes.most_common()))
    sys.exit(0 if verdict == "no rule broken" else 1)


if __name__ == "__main__":
    main()
