"""Benchmark: the month-end at the design limit (254 banks, 1,000,000 tokens, a year of journal).

    python tests/bench/month_end.py [--tokens 1000000]

Prints the whole `tokenbook month-end` (read, validate, replay, 254 bank workbooks and the CSS one
on two processes, 254 .eml files) wall time and peak memory (the main process and, separately, the
largest writer process), then the report-writing stage alone against openpyxl's write-only mode
writing the same rows, one workbook per bank, in one process.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import PEAK, measure, sample_book

SIZES = {1_000_000: (254, 100_000), 200_000: (50, 20_000)}

MONTH_END = """
import json, resource, shutil, sys, time
from pathlib import Path
from tokenbook.cli import main
out = Path(sys.argv[2])
shutil.rmtree(out, ignore_errors=True)
start = time.perf_counter()
code = main(["month-end", "--book", sys.argv[1], "--month", "2026-10", "--out", str(out)])
seconds = time.perf_counter() - start
""" + PEAK + """
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "worker_peak_mb": children, "exit": code}))
"""

WRITE_STAGE = """
import datetime as dt, json, shutil, sys, time
from pathlib import Path
from tokenbook.report import Month, reporting_banks
from tokenbook.books.reportbook import write_bank_reports
from tokenbook.load import check_book
ledger = check_book(Path(sys.argv[1]), dt.date(2026, 11, 24)).ledger
created = dt.datetime(2026, 11, 24, 9)
month = Month(ledger, "2026-10")
banks = reporting_banks(ledger)
reports = [month.bank_report(bank, created) for bank in banks]  # made here only to count rows (and for openpyxl)
rows = sum(len(t.rows) for r in reports for t in r.tables)
out = Path(sys.argv[2]); shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
start = time.perf_counter()
if sys.argv[3] == "tokenbook":  # makes the reports again, in the workers: counted in our time
    list(write_bank_reports(month, banks, created, out))
else:
    import openpyxl
    for report in reports:
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("概要")
        for label, value in report.summary:
            sheet.append([label, value])
        for month, count in report.expiry_chart:
            sheet.append([month, count])
        for table in report.tables:
            sheet = book.create_sheet(table.name)
            sheet.append([h for h, _, _ in table.columns])
            for row in table.rows:
                sheet.append(list(row))
        book.save(out / report.file_name)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": rows, "books": len(reports)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    banks, kept = SIZES.get(args.tokens, (254, args.tokens // 10))
    path, counts = sample_book(args.dir, args.tokens, banks, kept)
    out = args.dir / "work" / "month-end"
    run = measure(MONTH_END, str(path), str(out))
    print(f"month-end at {counts['在庫']:,} tokens, {counts['金庫']} banks, {counts['履歴']:,} journal rows: "
          f"{run['seconds']:.1f} s (exit {run['exit']}), main process peak {run['peak_mb']:.0f} MB, "
          f"largest writer process {run['worker_peak_mb']:.0f} MB", flush=True)
    ours = measure(WRITE_STAGE, str(path), str(args.dir / "work" / "ours"), "tokenbook")
    base = measure(WRITE_STAGE, str(path), str(args.dir / "work" / "openpyxl"), "openpyxl")
    print(f"writing {ours['books']} bank workbooks, {ours['rows']:,} rows: tokenbook (made and written, formatted, "
          f"charts, 2 processes) {ours['seconds']:.1f} s; openpyxl write-only (plain rows given, 1 process) "
          f"{base['seconds']:.1f} s; "
          f"ratio {base['seconds'] / ours['seconds']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
