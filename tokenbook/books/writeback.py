"""Safe headless write-back of the ledger workbook (design §12). The only module that writes it.

A run holds `BookLock` from before it reads until after it replaced the file: it refuses while
Excel has the book open (its `~$` owner file) or LibreOffice or another tokenbook run does. The new
book is written beside the old one (`xlsxpatch` changes only the cells that differ and copies
everything else as it is), re-read and compared with the ledger it should hold, and only then
swapped in with an atomic rename, after the old file was kept as a timestamped backup. Killed at
any moment, the original or the complete new file is in place, never half of one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .. import schema
from ..files.sheetio import read_tables
from ..files.xlsxpatch import SheetEdit, column_index, patch_package, sheet_parts
from ..models import Ledger
from ..parse import gc_paused, parse_tables
from ..problems import Problem
from .build import MENU_PANEL, MENU_PANEL_ROW

KEEP_BACKUPS = 20
_SHEET_ROWS = ((schema.BANKS, "banks"), (schema.TOKENS, "tokens"), (schema.REQUESTS, "requests"),
               (schema.DISPATCH, "dispatches"), (schema.JOURNAL, "journal"), (schema.HOLIDAYS, "holidays"))


class BookBusy(Exception):
    """Someone else has the workbook (exit code 3); the message says who, in Japanese."""


class WriteFailed(Exception):
    """The new workbook did not verify; the original was left as it was."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BookLock:
    """Exclusive use of one workbook for one run."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = self.path.with_name(f".{self.path.name}.tokenbook-lock")
        self.stat: os.stat_result | None = None

    def __enter__(self) -> "BookLock":
        for owner in (f"~${self.path.name}", f"~${self.path.name[2:]}"):
            if (self.path.parent / owner).exists():
                raise BookBusy(f"ブックが Excel で開かれています。閉じてから実行してください: {self.path.name}")
        if (self.path.parent / f".~lock.{self.path.name}#").exists():
            raise BookBusy(f"ブックが LibreOffice で開かれています。閉じてから実行してください: {self.path.name}")
        self._take()
        self.stat = self.path.stat() if self.path.exists() else None
        _remove_stale_temporaries(self.path)
        return self

    def _take(self) -> None:
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": dt.datetime.now().isoformat(timespec="seconds")})
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    self.lock.unlink(missing_ok=True)
                    continue
                raise BookBusy(f"別の tokenbook の処理がこのブックを使用中です: {self.path.name}") from None
            with os.fdopen(fd, "w") as fh:
                fh.write(record)
            return
        raise BookBusy(f"別の tokenbook の処理がこのブックを使用中です: {self.path.name}")

    def _stale(self) -> bool:
        """A lock left by a run on this machine that is no longer running."""
        try:
            holder = json.loads(self.lock.read_text())
        except (OSError, ValueError):
            return True
        return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", 0)))

    def __exit__(self, *exc: object) -> None:
        self.lock.unlink(missing_ok=True)

    def unchanged(self) -> bool:
        now = self.path.stat()
        return self.stat is not None and (now.st_mtime_ns, now.st_size) == (self.stat.st_mtime_ns, self.stat.st_size)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tokenbook-{os.getpid()}.tmp")


def _remove_stale_temporaries(path: Path) -> None:
    for leftover in path.parent.glob(f".{path.name}.tokenbook-*.tmp"):
        leftover.unlink(missing_ok=True)


# --- what to write -------------------------------------------------------------------------------

def ledger_edits(old: Ledger, new: Ledger) -> dict[str, SheetEdit]:
    """The cells that differ between two ledgers of the same workbook, by sheet."""
    edits: dict[str, SheetEdit] = {}
    for sheet, attribute in _SHEET_ROWS:
        columns = schema.TABLES[sheet]
        letters = new.columns.get(sheet) or old.columns.get(sheet, {})
        index = {c.field: _column(letters[c.header]) for c in columns if c.header in letters}
        before = {r.row: r for r in getattr(old, attribute)}
        cells: dict[int, dict[int, Any]] = {}
        for row in getattr(new, attribute):
            previous = before.get(row.row)
            if previous == row:
                continue
            changed = {index[f]: _cell(getattr(row, f)) for f in row._fields[1:]
                       if f in index and (previous is None or getattr(previous, f) != getattr(row, f))}
            if previous is None:
                changed = {k: v for k, v in changed.items() if v not in (None, "")}
            if changed:
                cells[row.row] = changed
        if cells:
            edits[sheet] = SheetEdit(cells)
    return edits


def _column(letters: str) -> int:
    return column_index(letters.encode())


def _cell(value: Any) -> Any:
    if isinstance(value, tuple):
        return "; ".join(value)
    return value


SUMMARY_COLUMN = len(schema.CHECK_COLUMNS)  # the run's summary line, in row 1 just right of the headers
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def checks_summary(problems: Sequence[Problem], last_run: str = "") -> str:
    """`2026/11/30 10:00 週次割当: … — エラー 0 件・警告 2 件`: which run wrote the sheet and its count."""
    errors = sum(p.is_error for p in problems)
    counts = f"エラー {errors} 件・警告 {len(problems) - errors} 件" if problems else "問題はありません"
    return f"{last_run} — {counts}" if last_run else f"入力チェック — {counts}"


def shown_date(value: str) -> str:
    """A date value as the rest of the book shows it (2026/11/16), other values as they are."""
    if _ISO_DATE.fullmatch(value[:10]) and (len(value) == 10 or value[10:11] == "T"):
        return _ISO_DATE.sub(r"\1/\2/\3", value[:10]) + value[10:].replace("T", " ", 1)
    return value


def checks_edit(problems: Sequence[Problem], summary: str | None = None) -> SheetEdit:
    """チェック結果 rewritten: one row per problem (dates as YYYY/MM/DD), the cell column linked to
    the cell, and the run's summary line beside the headers."""
    cells: dict[int, dict[int, Any]] = {1: {SUMMARY_COLUMN: summary if summary is not None else checks_summary(problems)}}
    links = []
    for row, p in enumerate(problems, start=2):
        cells[row] = dict(enumerate((p.severity, p.sheet, p.cell or "", p.header or "", shown_date(p.value), p.message,
                                     p.code)))
        if p.cell:
            links.append((f"C{row}", f"'{p.sheet}'!{p.cell}"))
    return SheetEdit(cells, replace_data=True, hyperlinks=links)


def menu_edit(panel: dict[str, str]) -> SheetEdit:
    """The メニュー status panel: one value beside each label."""
    # the label too: a book built before a label was added gets it beside its value
    return SheetEdit({MENU_PANEL_ROW + offset: {4: label, 5: panel.get(label, "")}
                      for offset, label in enumerate(MENU_PANEL)})


# --- writing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Written:
    path: Path
    backup: Path | None
    cells: int


def write_back(lock: BookLock, old: Ledger, new: Ledger, problems: Iterable[Problem] = (),
               panel: dict[str, str] | None = None, now: dt.datetime | None = None,
               keep_backups: int | None = None) -> Written:
    """Replace the locked workbook with one holding `new`; refreshes チェック結果 and the panel."""
    edits = ledger_edits(old, new)
    with zipfile.ZipFile(lock.path) as archive:
        present = set(sheet_parts(archive))
    # チェック結果 and メニュー are tokenbook's own; a ledger made elsewhere may lack them, and that is fine.
    if schema.CHECKS in present:
        problems = list(problems)
        last_run = (panel or {}).get(MENU_PANEL[3], "")
        edits[schema.CHECKS] = checks_edit(problems, checks_summary(problems, last_run))
    if panel is not None and schema.MENU in present:
        edits[schema.MENU] = menu_edit(panel)
    return apply_edits(lock, edits, lambda written: verify(written, new), now, keep_backups)


def apply_edits(lock: BookLock, edits: dict[str, SheetEdit], check: Callable[[Path], None],
                now: dt.datetime | None = None, keep_backups: int | None = None) -> Written:
    """Patch the locked book beside itself, `check` the result, keep a backup, swap it in."""
    path = lock.path
    tmp = _temporary(path)
    try:
        patch_package(path, tmp, edits)
        _fsync(tmp)
        check(tmp)
        if not lock.unchanged():
            raise WriteFailed("処理中にブックが別のプログラムで変更されました。何も書き込まずに中止しました")
        backup = _backup(path, now or dt.datetime.now(), KEEP_BACKUPS if keep_backups is None else keep_backups)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return Written(path, backup, sum(len(c) for e in edits.values() for c in e.cells.values()))


def verify(path: Path, expected: Ledger) -> None:
    """Re-read a written workbook: every part intact, every ledger row as expected."""
    with zipfile.ZipFile(path) as archive:
        broken = archive.testzip()
    if broken is not None:
        raise WriteFailed(f"書き込んだブックの {broken} が壊れています。元のブックはそのままです")
    with gc_paused():
        actual, _ = parse_tables(read_tables(path))
    for sheet, attribute in _SHEET_ROWS:
        want, got = getattr(expected, attribute), getattr(actual, attribute)
        if want != got:
            row = next((w.row for w, g in zip(want, got) if w != g), min(len(want), len(got)) + 2)
            raise WriteFailed(f"書き込んだブックを読み直すと「{sheet}」{row}行目が一致しません。元のブックはそのままです")
    if actual.settings != expected.settings:
        raise WriteFailed("書き込んだブックの設定が一致しません。元のブックはそのままです")


def _backup(path: Path, now: dt.datetime, keep: int) -> Path:
    folder = path.parent / "backups"
    folder.mkdir(exist_ok=True)
    target = folder / f"{path.stem}-{now:%Y%m%d-%H%M%S}{path.suffix}"
    counter = 1
    while target.exists():
        counter += 1
        target = folder / f"{path.stem}-{now:%Y%m%d-%H%M%S}-{counter}{path.suffix}"
    try:
        os.link(path, target)  # the old inode stays as the backup; the swap below cannot touch it
    except OSError:
        shutil.copy2(path, target)
    backups = sorted(folder.glob(f"{path.stem}-*{path.suffix}"))  # names carry the time
    for old in backups[:-keep] if keep > 0 else []:
        if old != target:
            old.unlink(missing_ok=True)
    return target


def _fsync(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
