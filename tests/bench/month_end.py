"""Benchmark: the month-end at 200,000 tokens (50 banks) and at the design limit (254 banks,
1,000,000 tokens, a year of journal).

    python tests/bench/month_end.py [--tokens 200000 1000000] [--repeat 3] [--rev 5d1c0a2]

For each size: the whole `tokenbook month-end` (read, validate, replay, the bank workbooks and the
CSS one, the .eml files; no send) in a fresh interpreter, its wall time and its peak memory as the
sum of PSS (proportional set size: a page shared by n processes counts 1/n in each) over the main
process and every worker it starts, sampled from /proc/<pid>/smaps_rollup every 200 ms; the main
process's own peak PSS beside it. With `--rev`, an earlier revision (checked out into a temporary
worktree, imported first) runs the same month-end on the same file, interleaved with this tree's
runs, so a busy moment on the shared machine hits both alike. Medians of `--repeat` runs.

Then report writing against openpyxl's write-only mode, both on one process: the same bank reports
(made once, beforehand, not timed) written by `reportbook.write_bank_report` (formatted, charts,
print setup) and by openpyxl (plain rows), one workbook per bank; medians, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import run_sampled, sample_book

SIZES = {200_000: (50, 20_000), 1_000_000: (254, 100_000)}

MONTH_END = """
import io, json, shutil, sys, time
from contextlib import redirect_stdout
from pathlib import Path
import tokenbook
from tokenbook.cli import main
out = Path(sys.argv[2])
shutil.rmtree(out, ignore_errors=True)
out.mkdir(parents=True)
book = out / "book.xlsx"  # a copy: a month-end that journals hand edits writes its book
shutil.copyfile(sys.argv[1], book)
start = time.perf_counter()
with redirect_stdout(io.StringIO()):
    code = main(["month-end", "--book", str(book), "--month", "2026-10", "--out", str(out / "reports")])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "exit": code, "module": tokenbook.__file__}))
"""

WRITE_STAGE = """
import datetime as dt, gc, json, shutil, statistics, sys, time
from pathlib import Path
from tokenbook.report import Month, Quantity, reporting_banks
from tokenbook.books.reportbook import write_bank_report
from tokenbook.load import check_book
ledger = check_book(Path(sys.argv[1]), dt.date(2026, 11, 24)).ledger
created = dt.datetime(2026, 11, 24, 9)
month = Month(ledger, "2026-10")
reports = [month.bank_report(bank, created) for bank in reporting_banks(ledger)]
del month, ledger
gc.collect()
rows = sum(len(t.rows) for r in reports for t in r.tables)


def ours(out):
    for report in reports:
        write_bank_report(report, out)


def plain(out):
    import openpyxl
    for report in reports:
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("概要")
        for label, value in report.summary:
            sheet.append([label, value.value if isinstance(value, Quantity) else value])
        for label, count in report.expiry_chart:
            sheet.append([label, count])
        for table in report.tables:
            sheet = book.create_sheet(table.name)
            sheet.append([h for h, _, _ in table.columns])
            for row in table.rows:
                sheet.append(list(row))
        book.save(out / report.file_name)


times = {"tokenbook": [], "openpyxl": []}
for _ in range(int(sys.argv[3])):
    for label, write in (("tokenbook", ours), ("openpyxl", plain)):
        out = Path(sys.argv[2]) / label
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        start = time.process_time()  # one process, one thread: CPU time, less disturbed by the load
        wall = time.perf_counter()
        write(out)
        times[label].append((time.process_time() - start, time.perf_counter() - wall))
print(json.dumps({"rows": rows, "books": len(reports), "times": times}))
"""


def month_end(path: Path, work: Path, roots: dict[str, Path], repeat: int) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {label: [] for label in roots}
    for _ in range(repeat):  # interleaved
        for label, root in roots.items():
            result = run_sampled(MONTH_END, [str(path.resolve()), str((work / f"month-end-{label}").resolve())], root)
            assert Path(result["module"]).is_relative_to(root), result
            runs[label].append(result)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rev", help="an earlier revision to run beside this tree (a commit or tag)")
    parser.add_argument("--skip-write", action="store_true", help="only the whole month-end")
    parser.add_argument("--skip-month-end", action="store_true", help="only report writing against openpyxl")
    parser.add_argument("--dir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[2]
    work = args.dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        roots = {"now": here}
        if args.rev:
            roots["then"] = Path(folder) / "then"
            subprocess.run(["git", "-C", str(here), "worktree", "add", "-q", "--detach", str(roots["then"]), args.rev],
                           check=True)
        try:
            for tokens in args.tokens:
                banks, kept = SIZES.get(tokens, (254, tokens // 10))
                path, counts = sample_book(args.dir, tokens, banks, kept)
                if args.skip_month_end:
                    runs = {}
                else:
                    runs = month_end(path, work, roots, args.repeat)
                    print(f"month-end at {counts['在庫']:,} tokens, {counts['金庫']} banks, {counts['履歴']:,} journal rows, "
                          f"medians of {args.repeat} (load average {os.getloadavg()[0]:.1f}):", flush=True)
                for label, results in runs.items():
                    print(f"  {label:4} ({'this tree' if label == 'now' else args.rev}): "
                          f"{statistics.median(r['seconds'] for r in results):6.1f} s wall "
                          f"(exit {results[0]['exit']}), peak PSS summed over {max(r['processes'] for r in results)} "
                          f"processes {statistics.median(r['pss_mb'] for r in results):,.0f} MB, main process "
                          f"{statistics.median(r['main_pss_mb'] for r in results):,.0f} MB; "
                          f"runs {', '.join(format(r['seconds'], '.1f') for r in results)} s", flush=True)
                if "then" in runs:
                    now, then = (statistics.median(r["seconds"] for r in runs[k]) for k in ("now", "then"))
                    pss = [statistics.median(r["pss_mb"] for r in runs[k]) for k in ("now", "then")]
                    print(f"  ratio now / then: time {now / then:.2f}, summed PSS {pss[0] / pss[1]:.2f}", flush=True)
                if args.skip_write:
                    continue
                stage = run_sampled(WRITE_STAGE, [str(path.resolve()), str((work / "write-stage").resolve()),
                                                  str(args.repeat)], here)
                ours, plain = ([statistics.median(t[0] for t in stage["times"][k]) for k in ("tokenbook", "openpyxl")])
                walls = [statistics.median(t[1] for t in stage["times"][k]) for k in ("tokenbook", "openpyxl")]
                print(f"  writing {stage['books']} bank workbooks, {stage['rows']:,} rows, reports given, one process, "
                      f"CPU s (wall), medians of {args.repeat}: tokenbook (formatted, charts) {ours:.1f} s "
                      f"({walls[0]:.1f}); openpyxl write-only (plain rows) {plain:.1f} s ({walls[1]:.1f}); "
                      f"ratio {plain / ours:.2f}x", flush=True)
        finally:
            if args.rev:
                subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(roots["then"])], check=True)


if __name__ == "__main__":
    main()
