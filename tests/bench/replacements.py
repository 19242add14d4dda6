"""Benchmark: the replacement plan at the design limit (issue 11).

    python tests/bench/replacements.py                 # 1,000,000 tokens, 254 banks
    python tests/bench/replacements.py --tokens 200000 --banks 50

The sample ledger file is built once by common.sample_book (the same cached file the batch
benchmark uses) and read with the normal reader in a fresh interpreter; then, timed alone, the
pure function `replacements.plan` for every bank over 期限警告（月） (6 months) and the 26-week stock
walk (週間発送能力 --capacity, default 2,000: every shinkin bank's wave needs more than a regional
CSS's 200), against a plain baseline on the same ledger: one pass that picks the tokens in use due by
then and sorts them by expiry (the least any planner must do). Goal: plan ≤ 10 s at the design
limit. Prints medians of --repeat and the process's peak memory (the ledger included).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from common import AS_OF, PEAK, measure, sample_book

PLAN = """
import datetime as dt, json, sys, time
from pathlib import Path
from tokenbook.load import check_book
from tokenbook.normalize import add_months
from dataclasses import replace
from tokenbook.parse import gc_paused
from tokenbook.replacements import plan
as_of = dt.date.fromisoformat(sys.argv[2])
ledger = check_book(Path(sys.argv[1]), as_of).ledger
ledger = replace(ledger, settings=ledger.settings.model_copy(update={"weekly_capacity": int(sys.argv[4])}))
until = add_months(as_of, ledger.settings.warn_months)
runs, baselines = [], []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    with gc_paused():  # as the plan runs
        due = sorted((t.expires_on, t.serial) for t in ledger.tokens
                     if t.state == "利用中" and t.expires_on is not None and t.expires_on <= until)
    baselines.append(time.perf_counter() - start)
    start = time.perf_counter()
    made = plan(ledger, as_of, until)
    runs.append(time.perf_counter() - start)
""" + PEAK + """
print(json.dumps({"runs": runs, "baselines": baselines, "peak_mb": peak_mb, "tokens": len(ledger.tokens),
                  "banks": len(ledger.banks), "due": len(due), "planned": len(made.lines),
                  "late": sum(l.late for l in made.lines), "batches": len(made.batches), "orders": len(made.orders)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--banks", type=int, default=254)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--capacity", type=int, default=2000,
                        help="週間発送能力 for the run (the default 200 suits a regional CSS, not every bank in Japan)")
    parser.add_argument("--dir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    path, counts = sample_book(args.dir, args.tokens, args.banks, args.tokens // 10)
    result = measure(PLAN, str(path), AS_OF.isoformat(), str(args.repeat), str(args.capacity))
    seconds, baseline = statistics.median(result["runs"]), statistics.median(result["baselines"])
    print(f"replacement plan, {result['tokens']:,} tokens, {result['banks']} banks, as of {AS_OF}, "
          f"週間発送能力 {args.capacity:,}:")
    print(f"  due {result['due']:,} → planned {result['planned']:,} (late {result['late']:,}) over "
          f"{result['batches']} batches, {result['orders']} purchases suggested")
    print(f"  plan {seconds:.2f} s (goal ≤ 10 s)  baseline (pick + sort the due tokens) {baseline:.2f} s  "
          f"ratio {seconds / baseline:.1f}×")
    print(f"  peak memory {result['peak_mb']:,.0f} MB (the whole process, the ledger read included)")


if __name__ == "__main__":
    main()
