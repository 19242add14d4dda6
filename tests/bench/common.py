"""Shared by the benchmark scripts: cached sample workbooks and measuring a fresh interpreter."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

AS_OF = dt.date(2026, 11, 24)


def sample_book(directory: Path, tokens: int, banks: int, kept: int, open_requests: int | None = None,
                as_of: dt.date = AS_OF) -> tuple[Path, dict]:
    """A sample ledger file (its journal: the year up to `as_of`), built once per parameter set and
    kept in `directory`."""
    from tokenbook.books.build import build_workbook
    from tokenbook.sample import generate

    directory.mkdir(parents=True, exist_ok=True)
    dated = "" if as_of == AS_OF else f"-{as_of:%Y%m%d}"
    path = directory / f"bench-{tokens}-{banks}-{kept}-{open_requests}{dated}.xlsx"
    counts_file = path.with_suffix(".json")
    if path.exists() and counts_file.exists():
        return path, json.loads(counts_file.read_text())
    start = time.perf_counter()
    sample = generate(seed=11, banks=banks, tokens=tokens, as_of=as_of, completed_requests=kept,
                      open_requests=open_requests)
    build_workbook(path, sample.rows)
    counts = {sheet: len(rows) for sheet, rows in sample.rows.items() if rows}
    counts_file.write_text(json.dumps(counts, ensure_ascii=False))
    print(f"  built {path.name} in {time.perf_counter() - start:.1f} s: {counts}", flush=True)
    return path, counts


PEAK = "import resource; peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024"


def measure(code: str, *args: str, root: Path | None = None) -> dict:
    """Run `code` in a fresh interpreter (importing tokenbook from `root` first, if given); it
    prints one JSON line as its last line. Nothing samples it: its memory is its own max RSS."""
    env = dict(os.environ, PYTHONPATH=str(root)) if root else None
    completed = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                               cwd=root)
    if completed.returncode not in (0, 1):
        raise RuntimeError(completed.stdout + completed.stderr)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def run_sampled(code: str, args: list[str], root: Path) -> dict:
    """Run `code` in a fresh interpreter (PYTHONPATH: `root`) while sampling the summed PSS of its
    process tree; the JSON line it prints, with `pss_mb` (peak of the sum) and `main_pss_mb`."""
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=root)
    peak = {"sum": 0, "main": 0, "processes": 0}

    def sample() -> None:
        while proc.poll() is None:
            pids = _tree(proc.pid)
            sizes = [_pss_kb(p) for p in pids]
            peak["sum"] = max(peak["sum"], sum(sizes))
            peak["main"] = max(peak["main"], sizes[0])
            peak["processes"] = max(peak["processes"], len(pids))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(stdout + stderr)
    result = json.loads(stdout.strip().splitlines()[-1])
    return {**result, "pss_mb": peak["sum"] / 1024, "main_pss_mb": peak["main"] / 1024,
            "processes": peak["processes"]}
