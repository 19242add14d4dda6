"""Shared by the benchmark scripts: cached sample workbooks and measuring a fresh interpreter."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
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


def measure(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON line as its last line."""
    completed = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if completed.returncode not in (0, 1):
        raise RuntimeError(completed.stdout + completed.stderr)
    return json.loads(completed.stdout.strip().splitlines()[-1])
