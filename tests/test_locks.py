"""The run lock beside the book (design §12): every kind of leftover lock ends in a clear answer.

A lock that names no live process on this host is stale: the run removes it, says so and goes on.
A live process or another host means busy (exit 3), naming the lock file, host, user, process and
since when. Nothing here is an internal error, and a run killed while it takes or clears a lock
leaves the book whole and the next run free to work.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import POSTAL_REQUEST, STOCK, TODAY, default_sheets
from tokenbook.books.build import build_workbook
from tokenbook.books.writeback import BookBusy, BookLock
from tokenbook.cli import main
from tokenbook.load import check_book

AS_OF = TODAY.isoformat()


@pytest.fixture(autouse=True)
def _log_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENBOOK_LOG_DIR", str(tmp_path / "logs"))


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=[STOCK], requests=[POSTAL_REQUEST]))


def lock_of(book: Path) -> Path:
    return book.with_name(f".{book.name}.tokenbook-lock")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leave(path: Path, content: str, encoding: str = "utf-8") -> None:
    """A lock file left behind a minute ago."""
    path.write_text(content, encoding=encoding)
    old(path)


def old(path: Path) -> Path:
    """Age a lock file past the grace a run being written gets (by the file system's clock)."""
    probe = path.with_name("clock-probe")
    probe.write_text("")
    past = probe.stat().st_mtime - 60
    probe.unlink()
    os.utime(path, (past, past))
    return path


STALE = {
    "pid 0": lambda: json.dumps({"pid": 0, "host": socket.gethostname(), "since": "2026-11-20T09:00:00"}),
    "pid -1": lambda: json.dumps({"pid": -1, "host": socket.gethostname(), "since": "2026-11-20T09:00:00"}),
    "a dead process": lambda: json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "user": "clerk",
                                          "since": "2026-11-20T09:00:00"}),
    "a pid too big": lambda: json.dumps({"pid": 10**30, "host": socket.gethostname()}),
    "text abc": lambda: "abc",
    "a JSON list": lambda: "[1, 2, 3]",
    "a JSON string": lambda: '"abc"',
    "pid as text": lambda: json.dumps({"pid": "abc", "host": socket.gethostname()}),
    "empty": lambda: "",
    "binary": lambda: b"\xff\xfe\x00garbage".decode("latin-1"),
}


@pytest.mark.parametrize("content", list(STALE), ids=list(STALE))
def test_a_stale_lock_is_removed_with_a_warning_and_the_run_goes_on(book, capsys, content):
    leave(lock_of(book), STALE[content](), encoding="latin-1")
    assert main(["allocate", "--book", str(book), "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "警告" in out and "ロックファイルを削除しました" in out and str(lock_of(book)) in out
    assert not lock_of(book).exists()
    assert [t.state for t in check_book(book, TODAY).ledger.tokens] == ["引当済"]
    assert not list(book.parent.glob(".book.xlsm.tokenbook-lock.*"))


def test_an_empty_folder_where_the_lock_goes_is_removed_a_full_one_is_refused(book, capsys):
    lock_of(book).mkdir()
    assert main(["allocate", "--book", str(book), "--as-of", AS_OF, "--dry-run"]) == 0
    assert "空のフォルダを削除しました" in capsys.readouterr().out
    lock_of(book).mkdir()
    (lock_of(book) / "something").write_text("x")
    before = book.read_bytes()
    assert main(["allocate", "--book", str(book), "--as-of", AS_OF]) == 3
    out = capsys.readouterr().out
    assert "フォルダがあります" in out and str(lock_of(book)) in out
    assert book.read_bytes() == before and (lock_of(book) / "something").exists()


def test_a_lock_from_another_host_is_busy_and_says_who_and_how_to_clear_it(book, capsys):
    leave(lock_of(book), json.dumps({"pid": 4242, "host": "kasumi-pc07", "user": "yamada",
                                              "since": "2026-11-24T08:59:00"}))
    before = book.read_bytes()
    for _ in range(2):  # the same answer every time, not a crash and not a take-over
        assert main(["allocate", "--book", str(book), "--as-of", AS_OF]) == 3
        out = capsys.readouterr().out
        for part in (str(lock_of(book)), "kasumi-pc07", "yamada", "4242", "2026-11-24T08:59:00", "削除"):
            assert part in out
    assert book.read_bytes() == before and lock_of(book).exists()


def test_a_live_process_holds_the_book(book, capsys):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_of(book).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "user": "sato",
                                             "since": "2026-11-24T10:00:00"}))
        before = book.read_bytes()
        assert main(["allocate", "--book", str(book), "--as-of", AS_OF]) == 3
        out = capsys.readouterr().out
        for part in (str(lock_of(book)), socket.gethostname(), "sato", str(holder.pid), "2026-11-24T10:00:00"):
            assert part in out
        assert book.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
    assert main(["allocate", "--book", str(book), "--as-of", AS_OF]) == 0  # now it is stale


def test_a_lock_being_written_is_not_taken_over(book):
    """Content that is not yet readable, a moment old, may be a run that is writing it (on a file
    system without hard links): busy, not stale."""
    lock_of(book).write_text("")
    with pytest.raises(BookBusy):
        BookLock(book).__enter__()


def test_the_lock_names_its_holder_and_goes_away_after_the_run(book):
    with BookLock(book):
        record = json.loads(lock_of(book).read_text(encoding="utf-8"))
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert record["user"] and dt.datetime.fromisoformat(record["since"])
        with pytest.raises(BookBusy) as busy:
            BookLock(book).__enter__()
        assert str(os.getpid()) in str(busy.value)
    assert not lock_of(book).exists()


def test_leaving_never_removes_a_lock_another_run_took(book):
    lock = BookLock(book).__enter__()
    lock_of(book).unlink()
    lock_of(book).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    lock.__exit__(None, None, None)
    assert lock_of(book).exists()


# --- killed while taking or clearing a lock ------------------------------------------------------------

CHILD = """
import sys
from tokenbook.cli import main
sys.exit(main(["allocate", "--book", sys.argv[1], "--as-of", sys.argv[2]]))
"""


@pytest.mark.slow
def test_killed_while_taking_or_clearing_a_lock_the_next_run_works(tmp_path):
    """A run is killed at a random moment (often while it takes the lock or clears a stale one);
    the book is the old or the new one, and the next run clears what was left and works."""
    original = build_workbook(tmp_path / "orig.xlsm", default_sheets(tokens=[STOCK], requests=[POSTAL_REQUEST]))
    book = tmp_path / "book.xlsm"
    env = dict(os.environ, TOKENBOOK_LOG_DIR=str(tmp_path / "logs"))
    rng = random.Random(7)
    kinds = [k for k in STALE if k != "empty"]
    # The kills are spread over how long a whole run takes on this machine (timed once, past a stale
    # lock), so that some land before its write and some in or after it, on a fast machine or a slow one.
    book.write_bytes(original.read_bytes())
    leave(lock_of(book), STALE[kinds[0]](), encoding="latin-1")
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", CHILD, str(book), AS_OF], env=env, check=True, capture_output=True)
    whole = time.monotonic() - started
    outcomes = set()
    for attempt in range(10):
        book.write_bytes(original.read_bytes())
        kind = kinds[attempt % len(kinds)]
        leave(lock_of(book), STALE[kind](), encoding="latin-1")
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(book), AS_OF], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(whole * rng.uniform(0.1 + attempt / 10, 0.2 + attempt / 10))  # 10 % of a run to all of it
        child.send_signal(signal.SIGKILL)
        child.wait()
        states = [t.state for t in check_book(book, TODAY).ledger.tokens]
        assert states in (["在庫"], ["引当済"])
        outcomes.add(states[0])
        if lock_of(book).exists():
            old(lock_of(book))  # what the killed run left is now as old as a real leftover would be
        done = subprocess.run([sys.executable, "-c", CHILD, str(book), AS_OF], env=env, capture_output=True,
                              text=True)
        assert done.returncode == 0, (kind, done.stdout)
        assert [t.state for t in check_book(book, TODAY).ledger.tokens] == ["引当済"]
        assert not lock_of(book).exists()
        assert not list(tmp_path.glob(".book.xlsm.tokenbook-*"))
    assert "在庫" in outcomes


def test_concurrent_runs_past_a_stale_lock_allocate_once(tmp_path):
    """Three runs start together against a stale lock: each ends 0 or 3, and the token is
    allocated once, with one 引当 in the journal."""
    book = build_workbook(tmp_path / "book.xlsm", default_sheets(tokens=[STOCK], requests=[POSTAL_REQUEST]))
    leave(lock_of(book), STALE["pid 0"]())
    env = dict(os.environ, TOKENBOOK_LOG_DIR=str(tmp_path / "logs"))
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(book), AS_OF], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    codes = [child.wait() for child in children]
    outputs = [child.stdout.read() for child in children]
    assert set(codes) <= {0, 3} and 0 in codes, outputs
    assert all("予期しない" not in out for out in outputs)
    ledger = check_book(book, TODAY).ledger
    assert [t.state for t in ledger.tokens] == ["引当済"]
    assert sum(j.operation == "引当" for j in ledger.journal) == 1
    assert not lock_of(book).exists()
