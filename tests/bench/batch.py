"""Benchmark: the weekly batch at scale.

    python tests/bench/batch.py                    # all three measurements
    python tests/bench/batch.py --only headless200k

1. allocation alone: 20,000 open requests against 1,000,000 tokens (the pure function, ledger in memory);
2. a whole headless `tokenbook allocate` (lock, read, check, allocate, patch, re-read, verify, replace)
   at 200,000 tokens, against openpyxl's bare load + save of the same file;
3. the same headless run at the design limit (1,000,000 tokens), its time and peak memory.

Every whole run is a fresh process; peak memory is that process's max RSS. Medians of --repeat.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from pathlib import Path

from common import AS_OF, PEAK, measure, sample_book

ALLOCATE_ONLY = PEAK.replace("peak_mb =", "_ =") + """
import datetime as dt, json, sys, time
from pathlib import Path
from tokenbook.batch import allocate
from tokenbook.journal import Context
from tokenbook.load import check_book
ledger = check_book(Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])).ledger
open_requests = sum(r.state in ("受付", "保留") for r in ledger.requests)
start = time.perf_counter()
result = allocate(ledger, dt.date.fromisoformat(sys.argv[2]), Context(dt.datetime(2026, 11, 24, 18), "bench"))
seconds = time.perf_counter() - start
""" + PEAK + """
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "open": open_requests,
                  "allocated": len(result.summary.allocated), "held": len(result.summary.held)}))
"""
OPENPYXL_ROUND_TRIP = """
import json, sys, time
import openpyxl
start = time.perf_counter()
book = openpyxl.load_workbook(sys.argv[1])
book.save(sys.argv[2])
seconds = time.perf_counter() - start
""" + PEAK + """
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
"""


HEADLESS = """
import json, sys, time
from tokenbook.cli import main
start = time.perf_counter()
code = main(["allocate", "--book", sys.argv[1], "--as-of", sys.argv[2]])
seconds = time.perf_counter() - start
""" + PEAK + """
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "exit": code}))
"""


def headless(path: Path, work: Path, repeat: int) -> list[dict]:
    """Whole `tokenbook allocate` runs on a fresh copy each, in a fresh interpreter (its own peak)."""
    runs = []
    for _ in range(repeat):
        copy = work / f"run{path.suffix}"
        shutil.copyfile(path, copy)
        shutil.rmtree(work / "backups", ignore_errors=True)
        runs.append(measure(HEADLESS, str(copy), AS_OF.isoformat()))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["allocation", "headless200k", "headless1m"], action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    wanted = set(args.only or ["allocation", "headless200k", "headless1m"])
    work = args.dir / "work"
    work.mkdir(parents=True, exist_ok=True)

    if "allocation" in wanted:
        path, counts = sample_book(args.dir, 1_000_000, 254, 100_000, open_requests=20_000)
        runs = [measure(ALLOCATE_ONLY, str(path), AS_OF.isoformat()) for _ in range(args.repeat)]
        print(f"allocation alone: {runs[0]['open']:,} open requests against {counts['在庫']:,} tokens: "
              f"median {statistics.median(r['seconds'] for r in runs):.2f} s "
              f"(allocated {runs[0]['allocated']:,}, held {runs[0]['held']:,}); process peak {runs[0]['peak_mb']:.0f} MB",
              flush=True)

    if "headless200k" in wanted:
        path, counts = sample_book(args.dir, 200_000, 50, 20_000)
        ours = headless(path, work, args.repeat)
        base = [measure(OPENPYXL_ROUND_TRIP, str(path), str(work / "openpyxl.xlsx"))]
        our_s = statistics.median(r["seconds"] for r in ours)
        print(f"headless allocate at {counts['在庫']:,} tokens ({sum(counts.values()):,} rows): median {our_s:.2f} s, "
              f"peak {max(r['peak_mb'] for r in ours):.0f} MB; openpyxl load+save {base[0]['seconds']:.2f} s, "
              f"peak {base[0]['peak_mb']:.0f} MB; ratio {base[0]['seconds'] / our_s:.1f}x", flush=True)

    if "headless1m" in wanted:
        path, counts = sample_book(args.dir, 1_000_000, 254, 100_000)
        ours = headless(path, work, 1)
        print(f"headless allocate at {counts['在庫']:,} tokens ({sum(counts.values()):,} rows): {ours[0]['seconds']:.1f} s, "
              f"peak {ours[0]['peak_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
