"""Benchmark: parse + validate 1,000,000 tokens under different 設定 シリアル形式 patterns.

    python tests/bench/serial_pattern.py               # 1,000,000 tokens, 1 % of serials bad
    python tests/bench/serial_pattern.py --tokens 200000 --bad 0.1

The pattern is a clerk's input. Python's backtracking `re` takes time exponential in the length of
a non-matching serial for patterns such as `^(([0-9A-Z])+)+$`; tokenbook evaluates such patterns
with RE2 (linear time), so the whole check stays in the same budget whatever the pattern. The
tables are built in memory (the reading of the file does not depend on the pattern); each pattern
is measured in a fresh interpreter. The last line shows what plain `re` does with the evil pattern
on a single bad serial, stopped after --re-timeout seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import AS_OF, measure

PATTERNS = {
    "default": r"^[0-9A-Z]{6,20}$",
    "nested (evil)": r"^(([0-9A-Z])+)+$",
    "alternation (evil)": r"^[A-Z]{2}([0-9]|[0-9]{2})+$",
    "alternation (folded)": r"^([0-9A-Z]|[0-9])+$",  # re's parser folds it into one class: safe for re
    "two stars": r"^[A-Z]*[0-9]*$",
}

VALIDATE = """
import datetime as dt, json, resource, sys, time
sys.path.insert(0, "tests")
from conftest import BANK, STOCK, grid, rows_for
from tokenbook import schema
from tokenbook.files.sheetio import table_from_rows
from tokenbook.models import setting_rows
from tokenbook.parse import gc_paused, parse_tables
from tokenbook.validate import check_ledger

tokens, bad_share, pattern = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
bad_every = int(1 / bad_share) if bad_share else 0
records = [dict(STOCK, シリアル番号=("TK" + "7" * 33 + "!" if bad_every and i % bad_every == 0 else f"TK{i:08d}"))
           for i in range(tokens)]
sheets = {schema.BANKS: rows_for(schema.BANKS, [BANK]), schema.TOKENS: rows_for(schema.TOKENS, records)}
sheets[schema.SETTINGS] = [[s.key, pattern if s.field == "serial_pattern" else s.default, ""] for s in setting_rows()]
tables = {sheet: table_from_rows(sheet, grid(sheet, sheets.get(sheet, [])), [c.header for c in schema.TABLES[sheet]])
          for sheet in schema.TABLES}
start = time.perf_counter()
with gc_paused():
    ledger, problems = parse_tables(tables)
    result = check_ledger(ledger, problems, dt.date.fromisoformat(sys.argv[4]))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bad_serial": sum(p.code == "bad-serial" for p in result.problems),
                  "engine": type(ledger.settings.serial_regex).__name__}))
"""

PLAIN_RE = """
import re, sys, time
start = time.perf_counter()
re.fullmatch(sys.argv[1], "TK" + "7" * int(sys.argv[2]) + "!")
print(time.perf_counter() - start)
"""


def plain_re_seconds(pattern: str, length: int, timeout: float) -> str:
    try:
        done = subprocess.run([sys.executable, "-c", PLAIN_RE, pattern, str(length)], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f} s (stopped)"
    return f"{float(done.stdout):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--bad", type=float, default=0.01, help="share of serials that do not match (0–1)")
    parser.add_argument("--re-timeout", type=float, default=60)
    args = parser.parse_args()
    print(f"{args.tokens:,} tokens, {args.bad:.1%} of serials 36 characters and not matching")
    print(f"{'pattern':<22} {'engine':<10} {'parse+validate s':>17} {'peak MB':>8} {'bad-serial':>11} {'vs default':>10}")
    base = None
    for name, pattern in PATTERNS.items():
        result = measure(VALIDATE, str(args.tokens), str(args.bad), pattern, AS_OF.isoformat())
        base = base or result["seconds"]
        print(f"{name:<22} {result['engine']:<10} {result['seconds']:>17.2f} {result['peak_mb']:>8.0f} "
              f"{result['bad_serial']:>11,} {result['seconds'] / base:>9.2f}x", flush=True)
    evil = PATTERNS["nested (evil)"]
    for length in (20, 24, 33):
        print(f"plain re.fullmatch({evil!r}) on one bad serial of {length + 3} characters: "
              f"{plain_re_seconds(evil, length, args.re_timeout)}", flush=True)
    print(json.dumps({"tokens": args.tokens, "bad": args.bad}))


if __name__ == "__main__":
    main()
