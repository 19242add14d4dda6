"""Benchmark: close-year at the design limit (1,000,000 tokens, a full year of journal), then read +
validate of the rolled-over ledger against the same before the roll-over.

    python tests/bench/close_year.py                    # 1,000,000 tokens
    python tests/bench/close_year.py --tokens 200000

The sample ledger's journal is the year up to 2027-01-05, so closing 2026 moves nearly all of it
into 履歴_2026.xlsx and leaves one row per token in the 繰越 sheet. Each measurement runs in a fresh
interpreter on a fresh copy of the ledger, so its peak memory (max RSS) is its own; read + validate
before and after are run alternately, `--repeat` times each (medians). The goal of issue 12 is
≤ 60 s and ≤ 3 GB for close-year at 1,000,000 tokens. The baseline is openpyxl's write-only mode
writing only the archive's rows (what a plain script would spend on the archive alone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
from pathlib import Path

from common import PEAK, measure, sample_book

AS_OF = dt.date(2027, 1, 5)
SIZES = {1_000_000: (254, 100_000), 200_000: (50, 20_000)}

CLOSE_YEAR = """
import datetime as dt, json, sys, time
from pathlib import Path
from tokenbook.runs import Run, run_close_year
start = time.perf_counter()
outcome = run_close_year(Run(Path(sys.argv[1]), dt.datetime(2027, 1, 6, 9, 0), "bench"), 2026)
seconds = time.perf_counter() - start
""" + PEAK + """
print("\\n".join(outcome.lines), file=sys.stderr)
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "exit": outcome.exit_code}))
"""

READ_VALIDATE = """
import datetime as dt, json, sys, time
from pathlib import Path
from tokenbook.load import check_book
start = time.perf_counter()
result = check_book(Path(sys.argv[1]), dt.date(2027, 1, 6))
seconds = time.perf_counter() - start
""" + PEAK + """
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "journal": len(result.ledger.journal),
                  "openings": len(result.ledger.openings), "errors": len(result.errors)}))
"""

OPENPYXL_ARCHIVE = """
import json, sys, time
import python_calamine, openpyxl
rows = python_calamine.CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_name("履歴").to_python()
start = time.perf_counter()
book = openpyxl.Workbook(write_only=True)
sheet = book.create_sheet("履歴")
for row in rows:
    sheet.append(row)
book.save(sys.argv[2])
seconds = time.perf_counter() - start
""" + PEAK + """
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "rows": len(rows) - 1}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, action="append", help="ledger size (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="close-year runs per size (median)")
    parser.add_argument("--dir", type=Path, default=Path("build/bench"), help="where sample files are kept")
    parser.add_argument("--baseline", action="store_true", help="also time openpyxl writing the archive's rows")
    args = parser.parse_args()
    for tokens in args.tokens or [1_000_000]:
        banks, kept = SIZES.get(tokens, (max(1, min(254, tokens // 4000)), tokens // 10))
        source, counts = sample_book(args.dir, tokens, banks, kept, as_of=AS_OF)
        work = args.dir / "close-year"
        runs = []
        for _ in range(args.repeat):
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            book = work / "book.xlsx"
            shutil.copyfile(source, book)
            runs.append(measure(CLOSE_YEAR, str(book)))
            assert runs[-1]["exit"] == 0, runs[-1]
        reads = {"before": [], "after": []}
        for _ in range(args.repeat):
            reads["before"].append(measure(READ_VALIDATE, str(source)))
            reads["after"].append(measure(READ_VALIDATE, str(work / "book.xlsx")))
        before, after = ({"seconds": statistics.median(r["seconds"] for r in rs), "peak_mb": max(r["peak_mb"] for r in rs),
                          "journal": rs[0]["journal"], "openings": rs[0]["openings"], "errors": rs[0]["errors"]}
                         for rs in (reads["before"], reads["after"]))
        archive = work / "履歴_2026.xlsx"
        base = measure(OPENPYXL_ARCHIVE, str(archive), str(work / "openpyxl-archive.xlsx")) if args.baseline else None
        seconds = statistics.median(r["seconds"] for r in runs)
        print(f"{tokens:,} tokens, {counts.get('履歴', 0):,} journal rows ({counts})")
        print(f"  close-year 2026: median {seconds:.1f} s of {[round(r['seconds'], 1) for r in runs]}, "
              f"peak {max(r['peak_mb'] for r in runs):,.0f} MB (goal 60 s, 3,000 MB); "
              f"archive {archive.stat().st_size / 1e6:.0f} MB")
        if base:
            print(f"  baseline, openpyxl write-only writing the archive's 履歴 rows alone ({base['rows']:,}): "
                  f"{base['seconds']:.1f} s, peak {base['peak_mb']:,.0f} MB -> ratio {base['seconds'] / seconds:.2f}x")
        print(f"  read + validate before: median {before['seconds']:.1f} s of "
              f"{[round(r['seconds'], 1) for r in reads['before']]}, {before['peak_mb']:,.0f} MB, "
              f"履歴 {before['journal']:,} rows, 繰越 {before['openings']:,}, errors {before['errors']}")
        print(f"  read + validate after:  median {after['seconds']:.1f} s of "
              f"{[round(r['seconds'], 1) for r in reads['after']]}, {after['peak_mb']:,.0f} MB, "
              f"履歴 {after['journal']:,} rows, 繰越 {after['openings']:,}, errors {after['errors']} "
              f"-> {before['seconds'] / after['seconds']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
