"""Benchmark: close-year at the design limit (1,000,000 tokens, a full year of journal), then read +
validate of the rolled-over ledger against the same before the roll-over.

    python tests/bench/close_year.py                    # 1,000,000 tokens
    python tests/bench/close_year.py --tokens 200000
    python tests/bench/close_year.py --repeat 3 --rev 6da2023   # beside an earlier revision, interleaved

The sample ledger's journal is the year up to 2027-01-05, so closing 2026 moves nearly all of it
into 履歴_2026.xlsx and leaves one row per token in the 繰越 sheet. Each measurement runs in a fresh
interpreter on a fresh copy of the ledger. close-year's memory is the peak of the PSS summed over
its process tree, sampled every 200 ms (one process today; an archive writer forked beside the
ledger's patch was tried and doubled it), with the main process's own peak and max RSS beside it;
read + validate is not sampled (sampling slows it) and its memory is its max RSS. Read +
validate before and after are run alternately, `--repeat` times each (medians). With `--rev`, an
earlier revision (a temporary worktree, imported first) runs the same, interleaved. The goal of
issue 12 is ≤ 60 s and ≤ 3 GB for close-year at 1,000,000 tokens. The baseline is openpyxl's write-only mode
writing only the archive's rows (what a plain script would spend on the archive alone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import PEAK, measure, run_sampled, sample_book

AS_OF = dt.date(2027, 1, 5)
SIZES = {1_000_000: (254, 100_000), 200_000: (50, 20_000)}

CLOSE_YEAR = """
import datetime as dt, json, sys, time
from pathlib import Path
from tokenbook.runs import Run, run_close_year
start, cpu = time.perf_counter(), time.process_time()
outcome = run_close_year(Run(Path(sys.argv[1]), dt.datetime(2027, 1, 6, 9, 0), "bench"), 2026)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
""" + PEAK + """
print("\\n".join(outcome.lines), file=sys.stderr)
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "exit": outcome.exit_code}))
"""

READ_VALIDATE = """
import datetime as dt, json, sys, time
from pathlib import Path
from tokenbook.load import check_book
start, cpu = time.perf_counter(), time.process_time()
result = check_book(Path(sys.argv[1]), dt.date(2027, 1, 6))
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
""" + PEAK + """
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "journal": len(result.ledger.journal),
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
    parser.add_argument("--rev", help="an earlier revision to run beside this tree (a commit or tag)")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[2]
    roots = {"now": here}
    with tempfile.TemporaryDirectory() as scratch:
        if args.rev:
            roots["then"] = Path(scratch) / "then"
            subprocess.run(["git", "-C", str(here), "worktree", "add", "-q", "--detach", str(roots["then"]), args.rev],
                           check=True)
        try:
            for tokens in args.tokens or [1_000_000]:
                banks, kept = SIZES.get(tokens, (max(1, min(254, tokens // 4000)), tokens // 10))
                source, counts = sample_book(args.dir, tokens, banks, kept, as_of=AS_OF)
                print(f"{tokens:,} tokens, {counts.get('履歴', 0):,} journal rows ({counts})", flush=True)
                runs = {label: [] for label in roots}
                reads = {(label, when): [] for label in roots for when in ("before", "after")}
                for _ in range(args.repeat):  # interleaved
                    for label, root in roots.items():
                        work = (args.dir / f"close-year-{label}").resolve()
                        shutil.rmtree(work, ignore_errors=True)
                        work.mkdir(parents=True)
                        shutil.copyfile(source, work / "book.xlsx")
                        runs[label].append(run_sampled(CLOSE_YEAR, [str(work / "book.xlsx")], root))
                        assert runs[label][-1]["exit"] == 0, runs[label][-1]
                for _ in range(args.repeat):
                    for label, root in roots.items():
                        for when, path in (("before", source.resolve()),
                                           ("after", (args.dir / f"close-year-{label}" / "book.xlsx").resolve())):
                            reads[label, when].append(measure(READ_VALIDATE, str(path), root=root))
                for label in roots:
                    _report(label, args.rev, runs[label], reads[label, "before"], reads[label, "after"],
                            args.dir / f"close-year-{label}")
                if args.rev:
                    now, then = (statistics.median(r["seconds"] for r in runs[k]) for k in ("now", "then"))
                    pss = [statistics.median(r["pss_mb"] for r in runs[k]) for k in ("now", "then")]
                    cpu = [statistics.median(r["cpu"] for r in runs[k]) for k in ("now", "then")]
                    print(f"  ratio now / then, close-year: time {now / then:.2f}, CPU {cpu[0] / cpu[1]:.2f}, "
                          f"summed PSS {pss[0] / pss[1]:.2f}")
                if args.baseline:
                    work = args.dir / "close-year-now"
                    base = measure(OPENPYXL_ARCHIVE, str(work / "履歴_2026.xlsx"), str(work / "openpyxl-archive.xlsx"))
                    seconds = statistics.median(r["seconds"] for r in runs["now"])
                    print(f"  baseline, openpyxl write-only writing the archive's 履歴 rows alone ({base['rows']:,}): "
                          f"{base['seconds']:.1f} s, peak {base['peak_mb']:,.0f} MB -> ratio {base['seconds'] / seconds:.2f}x")
        finally:
            if args.rev:
                subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(roots["then"])], check=True)


def _report(label: str, rev: str | None, runs: list[dict], before: list[dict], after: list[dict], work: Path) -> None:
    seconds = statistics.median(r["seconds"] for r in runs)
    medians = {when: statistics.median(r["seconds"] for r in rs) for when, rs in (("before", before), ("after", after))}
    print(f"  {label} ({'this tree' if label == 'now' else rev}): close-year 2026: median {seconds:.1f} s of "
          f"{[round(r['seconds'], 1) for r in runs]} (CPU {statistics.median(r['cpu'] for r in runs):.1f} s, all "
          f"threads), peak PSS summed over {max(r['processes'] for r in runs)} "
          f"processes {statistics.median(r['pss_mb'] for r in runs):,.0f} MB (main process "
          f"{statistics.median(r['main_pss_mb'] for r in runs):,.0f} MB, max RSS {max(r['peak_mb'] for r in runs):,.0f} MB) "
          f"(goal 60 s, 3,000 MB); archive {(work / '履歴_2026.xlsx').stat().st_size / 1e6:.0f} MB")
    for when, rs in (("before", before), ("after", after)):
        print(f"    read + validate {when:6}: median {medians[when]:.1f} s of {[round(r['seconds'], 1) for r in rs]} "
              f"(CPU {statistics.median(r['cpu'] for r in rs):.1f} s), "
              f"{max(r['peak_mb'] for r in rs):,.0f} MB, 履歴 {rs[0]['journal']:,} rows, 繰越 {rs[0]['openings']:,}, "
              f"errors {rs[0]['errors']}" + (f" -> {medians['before'] / medians['after']:.2f}x" if when == "after" else ""),
              flush=True)


if __name__ == "__main__":
    main()
