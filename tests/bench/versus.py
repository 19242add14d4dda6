"""Benchmark: read + validate (or a whole headless allocate) of the same ledger file by this tree
and by an earlier revision.

    python tests/bench/versus.py --rev 459bdb1 --tokens 200000
    python tests/bench/versus.py --rev 477aee7 --tokens 1000000 --what allocate --repeat 1

The earlier revision is checked out into a temporary worktree and imported in a fresh interpreter
(PYTHONPATH first), so both read the very same file with the same libraries. Prints the medians and
the ratio now / then (below 1: this tree is faster). A file of today's layout carries columns and
settings the earlier code does not know; it reads them as extra columns and unknown settings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import AS_OF, sample_book

SIZES = {200_000: (50, 20_000), 1_000_000: (254, 100_000)}

CHECK = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
try:
    from tokenbook.load import check_book
except ImportError:  # before load.py existed
    from tokenbook.validate import check_book
import tokenbook
start, cpu = time.perf_counter(), time.process_time()
result = check_book(Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "module": tokenbook.__file__,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
ALLOCATE = """
import io, json, resource, shutil, sys, time
from contextlib import redirect_stdout
from pathlib import Path
import tokenbook
from tokenbook.cli import main
work = Path(sys.argv[3])
copy = work / "versus-run.xlsx"
shutil.copyfile(sys.argv[1], copy)
shutil.rmtree(work / "backups", ignore_errors=True)
start, cpu = time.perf_counter(), time.process_time()
with redirect_stdout(io.StringIO()):
    code = main(["allocate", "--book", str(copy), "--as-of", sys.argv[2]])
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "module": tokenbook.__file__,
                  "exit": code, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(path: Path, code_root: Path, what: str = "check", work: Path = Path("build/bench/work")) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code_root))
    work.mkdir(parents=True, exist_ok=True)
    code = CHECK if what == "check" else ALLOCATE
    done = subprocess.run([sys.executable, "-c", code, str(path.resolve()), AS_OF.isoformat(), str(work.resolve())],
                          capture_output=True, text=True, env=env, cwd=code_root)  # -c puts the working folder first on sys.path
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", required=True, help="the earlier revision (a commit or tag)")
    parser.add_argument("--tokens", type=int, default=200_000, choices=sorted(SIZES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--what", choices=["check", "allocate"], default="check",
                        help="read + validate, or the whole headless allocate on a fresh copy")
    parser.add_argument("--dir", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[2]
    banks, kept = SIZES[args.tokens]
    path, counts = sample_book(args.dir, args.tokens, banks, kept)
    with tempfile.TemporaryDirectory() as folder:
        then_root = Path(folder) / "then"
        subprocess.run(["git", "-C", str(here), "worktree", "add", "-q", "--detach", str(then_root), args.rev], check=True)
        try:
            times = {"now": [], "then": []}
            for _ in range(args.repeat):  # interleaved, so a busy moment hits both alike
                for label, root in (("now", here), ("then", then_root)):
                    result = run(path, root, args.what, args.dir / "work")
                    assert Path(result["module"]).is_relative_to(root), result
                    times[label].append(result)
        finally:
            subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(then_root)], check=True)
    rows = {label: (statistics.median(r["seconds"] for r in rs), max(r["peak_mb"] for r in rs),
                    statistics.median(r["cpu"] for r in rs)) for label, rs in times.items()}
    print(f"{'read + validate' if args.what == 'check' else 'headless allocate'}, {args.tokens:,} tokens, {sum(counts.values()):,} rows, medians of {args.repeat}:")
    for label, (seconds, peak, cpu) in rows.items():
        print(f"  {label:4} ({'this tree' if label == 'now' else args.rev}): {seconds:6.2f} s "
              f"(CPU {cpu:6.2f} s, both threads), peak {peak:,.0f} MB")
    print(f"  ratio now / then: {rows['now'][0] / rows['then'][0]:.2f} (CPU {rows['now'][2] / rows['then'][2]:.2f})")


if __name__ == "__main__":
    main()
