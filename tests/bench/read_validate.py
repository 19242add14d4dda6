"""Benchmark: read + validate a ledger file, against plain `openpyxl.load_workbook` of the same file.

    python tests/bench/read_validate.py                 # 200,000 and 1,000,000 tokens
    python tests/bench/read_validate.py --tokens 200000 --repeat 5

Each measurement runs in a fresh interpreter, so its peak memory (max RSS) is its own. Prints
medians, peak memory and the ratio openpyxl / tokenbook (how many times faster tokenbook is).
Sample files are cached in --dir by their parameters; delete them to rebuild.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from common import AS_OF, measure, sample_book

SIZES = {200_000: (50, 20_000), 1_000_000: (254, 100_000)}  # tokens -> (banks, kept completed requests)

TOKENBOOK = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
from tokenbook.load import check_book
start = time.perf_counter()
result = check_book(Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "problems": len(result.problems), "errors": len(result.errors)}))
"""
OPENPYXL = """
import json, resource, sys, time
import openpyxl
start = time.perf_counter()
book = openpyxl.load_workbook(sys.argv[1])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build(directory: Path, tokens: int) -> tuple[Path, dict[str, int]]:
    banks, kept = SIZES.get(tokens, (max(1, min(254, tokens // 4000)), tokens // 10))
    return sample_book(directory, tokens, banks, kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, action="append", help="ledger size (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="tokenbook runs per size (median)")
    parser.add_argument("--baseline-repeat", type=int, default=1, help="openpyxl runs per size (median)")
    parser.add_argument("--dir", type=Path, default=Path("build/bench"), help="where sample files are kept")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"{'tokens':>10} {'rows':>10} {'tokenbook s':>12} {'peak MB':>8} {'openpyxl s':>11} {'peak MB':>8} {'ratio':>6}")
    for tokens in args.tokens or list(SIZES):
        path, counts = build(args.dir, tokens)
        ours = [measure(TOKENBOOK, str(path), AS_OF.isoformat()) for _ in range(args.repeat)]
        base = [measure(OPENPYXL, str(path)) for _ in range(args.baseline_repeat)]
        our_s = statistics.median(r["seconds"] for r in ours)
        base_s = statistics.median(r["seconds"] for r in base)
        print(f"{tokens:>10,} {sum(counts.values()):>10,} {our_s:>12.2f} {max(r['peak_mb'] for r in ours):>8.0f} "
              f"{base_s:>11.2f} {max(r['peak_mb'] for r in base):>8.0f} {base_s / our_s:>5.1f}x", flush=True)
        print(f"{'':>10} problems found: {ours[0]['problems']} (errors {ours[0]['errors']}); sheets: {counts}")


if __name__ == "__main__":
    main()
