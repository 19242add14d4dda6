"""Benchmark: stocktaking (棚卸) at scale.

    python tests/bench/stocktake.py                 # both measurements
    python tests/bench/stocktake.py --only stage

1. the stocktake itself: 200,000 scanned serials in 4 scanner files (one a box) against a design-limit
   ledger (1,000,000 tokens, 254 banks, ledger already in memory): reading and checking the files with
   their locations, and counting them against the ledger (`run_stocktake`'s compute step), against a
   plain baseline that reads the same files into a set and takes the set differences (no locations,
   no pattern check, no owners). Goal: ≤ 10 s.
2. a whole headless `tokenbook stocktake` (lock, read, check, count, append to 棚卸, re-read, verify,
   replace) at 200,000 tokens.

Each measurement runs in a fresh interpreter; medians of --repeat.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from pathlib import Path

from common import AS_OF, PEAK, measure, sample_book

SCANS = 200_000
BOXES = 4

# The scan files: every token in CSS's hands, in a shuffled order, as many as SCANS allows; if the
# vault holds fewer, the rest are tokens the ledger says are in use (状態違い); 0.1 % of the vault is
# left unscanned (不足), 100 unknown serials (過剰) and 100 scanned twice (重複).
MAKE_SCANS = """
import datetime as dt, json, random, sys
from pathlib import Path
from tokenbook.load import check_book
ledger = check_book(Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])).ledger
folder = Path(sys.argv[3]); folder.mkdir(parents=True, exist_ok=True)
rng = random.Random(7)
in_hand = [t.serial for t in ledger.tokens if t.state in ("在庫", "引当済")]
others = [t.serial for t in ledger.tokens if t.state not in ("在庫", "引当済")]
rng.shuffle(in_hand); rng.shuffle(others)
scanned = in_hand[len(in_hand) // 1000:]
scanned = (scanned + others)[:{scans} - 200] + [f"ZZ{{i:08d}}" for i in range(100)] + scanned[:100]
rng.shuffle(scanned)
size = -(-len(scanned) // {boxes})
for box in range({boxes}):
    (folder / f"box{{box + 1}}.txt").write_text("".join(s + "\\n" for s in scanned[box * size:(box + 1) * size]))
print(json.dumps({{"in_hand": len(in_hand), "scanned": len(scanned)}}))
""".format(scans=SCANS, boxes=BOXES)

STAGE = """
import datetime as dt, json, sys, time
from pathlib import Path
from tokenbook.journal import Context
from tokenbook.load import check_book
from tokenbook.stocktake import count_files
day = dt.date.fromisoformat(sys.argv[2])
ledger = check_book(Path(sys.argv[1]), day).ledger
boxes = sorted(Path(sys.argv[3]).glob("box*.txt"))
marks = []
start = time.perf_counter()
count = count_files(ledger, boxes, day, Context(dt.datetime.combine(day, dt.time(17)), "bench"),
                    lambda _: marks.append(time.perf_counter()))
read = marks[1] - start
seconds = time.perf_counter() - start
""" + PEAK + """
print(json.dumps({"seconds": seconds, "read": read, "peak_mb": peak_mb, "tokens": len(ledger.tokens),
                  "expected": sum(count.expected.values()), "found": sum(count.found.values()),
                  "kinds": {str(k): v for k, v in count.kinds.items()}}))
"""

BASELINE = """
import datetime as dt, json, sys, time
from pathlib import Path
from tokenbook.load import check_book
ledger = check_book(Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])).ledger
boxes = sorted(Path(sys.argv[3]).glob("box*.txt"))
start = time.perf_counter()
scanned = set()
for p in boxes:
    scanned.update(line.strip() for line in p.read_text().splitlines() if line.strip())
expected = {t.serial for t in ledger.tokens if t.state in ("在庫", "引当済")}
known = {t.serial for t in ledger.tokens}
missing, excess = expected - scanned, scanned - known
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "missing": len(missing), "excess": len(excess)}))
"""

HEADLESS = """
import json, sys, time
from tokenbook.cli import main
start = time.perf_counter()
code = main(["stocktake", *sys.argv[3:], "--book", sys.argv[1], "--on", sys.argv[2]])
seconds = time.perf_counter() - start
""" + PEAK + """
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "exit": code}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["stage", "headless200k"], action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    wanted = set(args.only or ["stage", "headless200k"])
    work = args.dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    day = AS_OF.isoformat()

    if "stage" in wanted:
        path, counts = sample_book(args.dir, 1_000_000, 254, 100_000)
        scans = args.dir / "scans-1m"
        made = measure(MAKE_SCANS, str(path), day, str(scans))
        ours = [measure(STAGE, str(path), day, str(scans)) for _ in range(args.repeat)]
        base = [measure(BASELINE, str(path), day, str(scans)) for _ in range(args.repeat)]
        our_s = statistics.median(r["seconds"] for r in ours)
        base_s = statistics.median(r["seconds"] for r in base)
        r = ours[0]
        print(f"stocktake of {made['scanned']:,} scanned serials ({BOXES} files) against {r['tokens']:,} tokens "
              f"({made['in_hand']:,} in CSS's hands): median {our_s:.2f} s (reading the files {r['read']:.2f} s), "
              f"process peak {r['peak_mb']:.0f} MB; differences {r['kinds']}; "
              f"plain set difference {base_s:.2f} s; ratio {our_s / base_s:.1f}x the baseline; goal ≤ 10 s", flush=True)

    if "headless200k" in wanted:
        path, counts = sample_book(args.dir, 200_000, 50, 20_000)
        scans = args.dir / "scans-200k"
        made = measure(MAKE_SCANS, str(path), day, str(scans))
        runs = []
        for _ in range(args.repeat):
            copy = work / f"stocktake{path.suffix}"
            shutil.copyfile(path, copy)
            shutil.rmtree(work / "backups", ignore_errors=True)
            runs.append(measure(HEADLESS, str(copy), day, *map(str, sorted(scans.glob("box*.txt")))))
        print(f"headless stocktake at {counts['在庫']:,} tokens, {made['scanned']:,} scanned: median "
              f"{statistics.median(r['seconds'] for r in runs):.2f} s, peak {max(r['peak_mb'] for r in runs):.0f} MB, "
              f"exit {runs[0]['exit']}", flush=True)


if __name__ == "__main__":
    main()
