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
import getpass
import json
import os
import re
import shutil
import socket
import stat
import time
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .. import schema
from ..files.sheetio import Table, Tables, UnusableInput, read_sheet, read_tables
from ..files.sheetio import column_letter as column_letters
from ..files.xlsxpatch import (Block, PatchRefused, RowsApart, SheetEdit, column_index, patch_package, rows_apart,
                               rows_package, sheet_parts)
from ..models import OPTIONAL_ROW_TYPES, ROW_TYPES, SHEET_FIELDS, Ledger, StocktakeLine
from ..parse import _derive_expiry, gc_paused, parse_tables, read_rows, read_settings
from ..problems import Problem
from ..schema import Kind
from .build import MENU_PANEL, MENU_PANEL_ROW

KEEP_BACKUPS = 20
_SHEET_ROWS = tuple(SHEET_FIELDS.items())


class BookBusy(Exception):
    """Someone else has the workbook (exit code 3); the message says who, in Japanese."""


class WriteFailed(Exception):
    """The new workbook did not verify; the original was left as it was."""


def _alive(pid: int) -> bool:
    """Whether a process with this id runs here. Only ids above 0 name one process: kill(0) and
    kill(-1) would signal a whole group, so a lock naming them names no one."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:  # an id too big for the OS names no one
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a service account)
        return "?"


@dataclass(frozen=True)
class Holder:
    """Who a lock file says holds the book; fields it lacks or garbles are None."""

    pid: int | None
    host: str | None
    user: str | None
    since: str | None

    @classmethod
    def read(cls, text: str) -> "Holder":
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return cls(None, None, None, None)
        def text(key: str) -> str | None:
            value = record.get(key)
            return str(value)[:100] if value not in (None, "") else None

        pid = record.get("pid")
        return cls(pid if type(pid) is int else None, text("host"), text("user"), text("since"))

    def describe(self) -> str:
        return (f"ホスト {self.host or '不明'}・ユーザー {self.user or '不明'}・プロセス {self.pid if self.pid is not None else '不明'}"
                f"・{self.since or '開始時刻不明'} から")


_STALE_GRACE = 5.0  # seconds: a lock file younger than this may still be being written by its run


class BookLock:
    """Exclusive use of one workbook for one run.

    The lock is a file beside the book naming the run that holds it (pid, host, user, since). It is
    made complete in one step (written aside, then hard-linked into place), so a lock file is never
    seen half-written. A lock naming no live process on this host is stale: it is removed and a
    warning kept in `notes` for the run to show. A live process, or another host (whose processes
    cannot be seen from here), means busy, with who and since when.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = self.path.with_name(f".{self.path.name}.tokenbook-lock")
        self.stat: os.stat_result | None = None
        self.notes: list[str] = []
        self.taken: str | None = None  # our lock file's content
        self._written_at = 0.0

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
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "user": _user(),
                             "since": dt.datetime.now().isoformat(timespec="seconds"), "tool": "tokenbook"},
                            ensure_ascii=False)
        for _ in range(3):
            if self._create(record):
                return
            self._clear_if_stale()
        raise BookBusy(self._busy_message(Holder(None, None, None, None)))

    def _create(self, record: str) -> bool:
        """Make the lock file with its content in one step; False when one is already there."""
        aside = self.lock.with_name(f"{self.lock.name}.{os.getpid()}.new")
        aside.write_text(record, encoding="utf-8")
        self._written_at = os.lstat(aside).st_mtime  # "now" by the file system's clock, as lock ages are
        try:
            os.link(aside, self.lock)
            self.taken = record
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive create, then write
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(record)
            self.taken = record
            return True
        finally:
            aside.unlink(missing_ok=True)

    def _clear_if_stale(self) -> None:
        """Remove a lock that names no live process here (with a note); BookBusy for a live one."""
        try:
            seen = os.lstat(self.lock)
        except FileNotFoundError:
            return  # released meanwhile
        if stat.S_ISDIR(seen.st_mode):
            try:
                self.lock.rmdir()
            except FileNotFoundError:
                return
            except OSError:
                raise BookBusy(f"ロックファイルの場所にフォルダがあります。中身を確かめて削除してください: {self.lock}") from None
            self.notes.append(f"警告: ロックファイルの場所にあった空のフォルダを削除しました: {self.lock}")
            return
        try:
            content = self.lock.read_text(encoding="utf-8", errors="replace")
            holder = Holder.read(content)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BookBusy(f"ロックファイルを読めません（{type(exc).__name__}）。確かめて削除してください: {self.lock}") from None
        if holder.host is not None and holder.host != socket.gethostname():
            raise BookBusy(self._busy_message(holder, other_host=True))
        if holder.pid is not None and _alive(holder.pid):
            raise BookBusy(self._busy_message(holder))
        if holder.pid is None and self._written_at - seen.st_mtime < _STALE_GRACE:
            raise BookBusy(self._busy_message(holder))  # perhaps a run still writing it (no hard links)
        # Delete only the lock judged, and only one run at a time: a run holding the breaker sees the
        # lock as it judged it, because nobody else removes a stale lock meanwhile (its owner is gone,
        # other runs wait for the breaker). Renaming it aside instead left a gap in which a third run
        # could take the lock while a second one's fresh lock was being put back: two holders.
        breaker = self.lock.with_name(f"{self.lock.name}.break")
        if not _hold(breaker):
            return  # another run is clearing it: try to take the lock again
        try:
            try:
                now = os.lstat(self.lock)
                if now.st_ino != seen.st_ino or self.lock.read_text(encoding="utf-8", errors="replace") != content:
                    return  # cleared and taken afresh since we looked: that run holds it
                self.lock.unlink()
            except FileNotFoundError:
                return
        finally:
            breaker.unlink(missing_ok=True)
        what = "壊れた" if holder.pid is None else "終了した処理が残した"
        self.notes.append(f"警告: {what}ロックファイルを削除しました: {self.lock}（{holder.describe()}）")

    def _busy_message(self, holder: Holder, other_host: bool = False) -> str:
        where = f"別のPC（{holder.host}）の tokenbook" if other_host else "別の tokenbook の処理"
        return (f"{where}がこのブックを使用中です: {self.path.name}\n"
                f"  ロックファイル: {self.lock}（{holder.describe()}）\n"
                "  その処理が終わっていないか確かめてください。終わっているのに残っているときは、"
                "このロックファイルを削除してから実行し直してください。")

    def __exit__(self, *exc: object) -> None:
        try:
            if self.lock.read_text(encoding="utf-8") == self.taken:  # never remove a lock another run took
                self.lock.unlink()
        except OSError:
            pass

    def unchanged(self) -> bool:
        """The book is the file this run read: same inode, size, modification and change time.

        The change time (ctime) is set by the kernel on every write or rename and cannot be set back,
        so it catches a program that restores the modification time; a digest would cost a second
        read of a large book for nothing more."""
        return self.stat is not None and _identity(self.path.stat()) == _identity(self.stat)


def _hold(breaker: Path) -> bool:
    """Take the breaker (a file made exclusively); one left by a run killed while clearing a lock —
    which takes milliseconds — is taken over once it is a minute old."""
    for _ in range(2):
        try:
            os.close(os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            try:
                if time.time() - os.lstat(breaker).st_mtime < 60:
                    return False
                breaker.unlink()
            except FileNotFoundError:
                pass
    return False


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tokenbook-{os.getpid()}.tmp")


def _remove_stale_temporaries(path: Path) -> None:
    """What killed runs left: half-written books, and lock records written aside or moved aside
    (held now, we are the only run; one racing us for the lock only loses its try)."""
    for pattern in (f".{path.name}.tokenbook-*.tmp", f".{path.name}.tokenbook-lock.*.new",
                    f".{path.name}.tokenbook-lock.*.stale"):
        for leftover in path.parent.glob(pattern):
            leftover.unlink(missing_ok=True)


# --- what to write -------------------------------------------------------------------------------

def ledger_edits(old: Ledger, new: Ledger) -> dict[str, SheetEdit]:
    """The cells that differ between two ledgers of the same workbook, by sheet."""
    edits: dict[str, SheetEdit] = {}
    for sheet, attribute in _SHEET_ROWS:
        columns = schema.table_columns(sheet)
        letters = new.columns.get(sheet) or old.columns.get(sheet, {})
        if not letters:
            continue  # an optional sheet the ledger does not have
        if getattr(old, attribute) is getattr(new, attribute):
            continue  # unchanged (繰越's million rows, on every run but close-year)
        index = {c.field: _column(letters[c.header]) for c in columns if c.header in letters}
        before = {r.row: r for r in getattr(old, attribute)}
        cells: dict[int, dict[int, Any]] = {}
        # A column added after the ledger was made (履歴's ダイジェスト) gets its header in the next free column
        # once there is something to write in it.
        free = max(map(_column, letters.values()), default=-1) + 1
        for c in columns:
            if c.added and c.field not in index and any(getattr(r, c.field) for r in getattr(new, attribute)):
                index[c.field] = free
                cells.setdefault(1, {})[free] = c.header
                free += 1
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


def table_edit(rows: Sequence[Sequence[Any]]) -> SheetEdit:
    """A sheet tokenbook owns entirely (作業一覧) rewritten: the header row stays, `rows` follow it."""
    return SheetEdit({row: {i: _cell(v) for i, v in enumerate(values) if v not in (None, "")}
                      for row, values in enumerate(rows, start=2)}, replace_data=True)


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
               keep_backups: int | None = None, views: dict[str, SheetEdit] | None = None) -> Written:
    """Replace the locked workbook with one holding `new`; refreshes チェック結果, the panel and the
    `views` (sheets derived from the ledger, such as 作業一覧) the book has."""
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
    edits.update({sheet: edit for sheet, edit in (views or {}).items() if sheet in present})
    originals: dict[str, RowsApart | None] = {}

    def seen(sheet: str, xml: bytes, numbers: list[int] | None) -> None:  # as the patcher reads the original
        if sheet in dict(_SHEET_ROWS):
            originals[sheet] = rows_apart(xml, sorted({1, *edits[sheet].cells}), every=False, numbers=numbers)

    return apply_edits(lock, edits, lambda written: verify_edits(written, lock.path, old, new, edits, originals),
                       now, keep_backups, seen)


def apply_edits(lock: BookLock, edits: dict[str, SheetEdit], check: Callable[[Path], None],
                now: dt.datetime | None = None, keep_backups: int | None = None,
                seen: Callable[[str, bytes, list[int] | None], None] | None = None) -> Written:
    """Patch the locked book beside itself, `check` the result, keep a backup, swap it in; `seen` is
    shown each patched sheet's original XML (as `patch_package`)."""
    path = lock.path
    tmp = _temporary(path)
    try:
        patch_package(path, tmp, edits, seen)
        _fsync(tmp)
        try:
            check(tmp)
        except UnusableInput as exc:  # a sheet of the written file its reader cannot parse
            raise WriteFailed(f"書き込んだブックを読み直せません（{exc}）。元のブックはそのままです") from None
        if not lock.unchanged():
            raise WriteFailed("処理中にブックが別のプログラムで変更されました。何も書き込まずに中止しました")
        backup = _backup(path, now or dt.datetime.now(), KEEP_BACKUPS if keep_backups is None else keep_backups)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return Written(path, backup, sum(len(c) for e in edits.values() for c in e.cells.values()))


def verify(path: Path, expected: Ledger) -> None:
    """Re-read a written workbook: every part intact, every ledger row as expected.

    Sheet by sheet: each sheet's cells are read, parsed, compared with the rows it should hold and
    let go before the next is parsed, so the run never holds a second whole ledger beside the
    one it wrote (at a million tokens that second ledger and its cells were gigabytes)."""
    with _parts_intact(path), gc_paused():
        tables = read_tables(path)
        if any(sheet not in _ROW_TYPES for sheet, _ in _SHEET_ROWS):  # a sheet this check does not know
            _compare(parse_tables(tables)[0], expected)
            return
        problems: list[Problem] = []  # the re-read file's problems are the ones the run already knew
        settings = read_settings(tables[schema.SETTINGS], problems)
        attributes = dict(_SHEET_ROWS)
        for sheet in Tables.taking_order(attributes):  # as they are read: 在庫 last
            attribute = attributes[sheet]
            table = tables[sheet] if sheet in tables else Table(sheet, {})
            if sheet == schema.STOCKTAKE and not table.headers:
                got: tuple = ()  # as parse_tables: a ledger without 棚卸
            else:
                got = read_rows(table, _ROW_TYPES[sheet], settings.serial_regex, problems)
            if sheet == schema.TOKENS:
                got = _derive_expiry(got, settings.battery_months, table, problems)
            _compare_rows(sheet, getattr(expected, attribute), got)
            del got, table
    if settings != expected.settings:
        raise WriteFailed("書き込んだブックの設定が一致しません。元のブックはそのままです")


_ROW_TYPES = {**ROW_TYPES, **OPTIONAL_ROW_TYPES, schema.STOCKTAKE: StocktakeLine}


def verify_edits(path: Path, source: Path, old: Ledger, new: Ledger, edits: dict[str, SheetEdit],
                 originals: dict[str, RowsApart | None] | None = None) -> None:
    """`verify` for a book written by patching `edits` into `source` (still in place, and read as
    `old` under the lock), by the rows the patch changed instead of a second read of every row.

    Every part intact; in each patched ledger sheet every byte outside the patched rows the same as
    in `source` (the two compared as digests, so those rows read as they did: as `old`), and row 1 and
    the patched rows, read back by themselves in a package made for it, as `new` holds them; every
    ledger row the patch left alone the same in `old` and `new`. Reading back means reading the
    patched rows, not re-reading 在庫's and 履歴's hundreds of megabytes. Where that reasoning does
    not hold (設定, styles, shared strings or any other part changed, a sheet rewritten whole or
    written in a block, rows without their numbers), the written book is re-read whole (`verify`).
    `originals` holds the source's patched sheets already taken apart (`rows_apart`) by the patcher's
    reading of them; a sheet not there is read from `source` again."""
    attributes = dict(_SHEET_ROWS)
    patched = [sheet for sheet in attributes if sheet in edits]
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(path) as after:
        parts = sheet_parts(after)
        if not _reads_as_before(before, after, parts, old, new, edits):
            return verify(path, new)
        with _parts_intact(path, skip={parts[sheet][0] for sheet in patched}):
            _verify_patched(path, before, after, parts, patched, old, new, edits, originals)


def _verify_patched(path: Path, before: zipfile.ZipFile, after: zipfile.ZipFile, parts: dict[str, tuple[str, int]],
                    patched: list[str], old: Ledger, new: Ledger, edits: dict[str, SheetEdit],
                    originals: dict[str, RowsApart | None] | None) -> None:
    """`verify_edits` once the rest of the book is known to read as before: the patched sheets."""
    attributes = dict(_SHEET_ROWS)
    alone: dict[str, bytes] = {}
    cut: dict[str, set[int]] = {}
    for sheet in patched:
        part = parts[sheet][0]
        if originals is not None and sheet in originals:
            then = originals[sheet]
        else:
            then = rows_apart(before.read(part), sorted({1, *edits[sheet].cells}), every=False)
        if then is None:
            return verify(path, new)
        try:
            written = after.read(part)
        except (zipfile.BadZipFile, zlib.error, EOFError):
            raise WriteFailed(f"書き込んだブックの {part} が壊れています。元のブックはそのままです") from None
        now = rows_apart(written, sorted({*then.numbers, *edits[sheet].cells}), every=True)
        del written
        if now is None or now.rest != then.rest:
            raise WriteFailed(f"書き込んだブックの「{sheet}」で、変えていない行が元のブックと違います。"
                              "元のブックはそのままです")
        alone[sheet], cut[sheet] = now.xml(), set(now.numbers)
        del then, now
        rows = attributes[sheet]
        _compare_rows(sheet, tuple(r for r in getattr(new, rows) if r.row not in cut[sheet]),
                      tuple(r for r in getattr(old, rows) if r.row not in cut[sheet]))
    package = path.with_name(f".{path.name}.tokenbook-verify.tmp")
    try:
        rows_package(after, package, alone)
        _compare_alone(package, new, cut)
    finally:
        package.unlink(missing_ok=True)


def _reads_as_before(before: zipfile.ZipFile, after: zipfile.ZipFile, parts: dict[str, tuple[str, int]],
                     old: Ledger, new: Ledger, edits: dict[str, SheetEdit]) -> bool:
    """Whether every row of the written book outside the patched ones reads as in the original:
    the same members, each the same bytes (CRC and size) but the patched sheets' and workbook.xml
    (whose filter names may grow), 設定 not patched, no sheet rewritten whole or in a block, and the
    ledger sheets left alone the same in `old` and `new`."""
    if any(sheet not in _ROW_TYPES for sheet, _ in _SHEET_ROWS) or schema.SETTINGS in edits:
        return False
    if old.settings != new.settings or parts != sheet_parts(before):
        return False
    attributes = dict(_SHEET_ROWS)
    patched = {parts[sheet][0] for sheet in edits if sheet in parts}
    for sheet, edit in edits.items():
        if sheet in attributes and (edit.replace_data or edit.block is not None):
            return False
    for sheet, rows in _SHEET_ROWS:
        if sheet not in edits and getattr(old, rows) != getattr(new, rows):
            return False
    if [i.filename for i in before.infolist()] != [i.filename for i in after.infolist()]:
        return False
    for then, now in zip(before.infolist(), after.infolist()):
        if then.filename == "xl/workbook.xml":
            if _FILTER_NAMES.sub(b"", before.read(then)) != _FILTER_NAMES.sub(b"", after.read(now)):
                return False
        elif then.filename not in patched and (then.CRC, then.file_size) != (now.CRC, now.file_size):
            return False
    return True


_FILTER_NAMES = re.compile(rb'<definedName\b[^>]*name="_xlnm\._FilterDatabase"[^>]*>[^<]*</definedName>')


def _compare_alone(package: Path, expected: Ledger, cut: dict[str, set[int]]) -> None:
    """The patched rows, read back by themselves, against the rows of `expected` they should hold."""
    attributes = dict(_SHEET_ROWS)
    settings = expected.settings
    found: list[Problem] = []  # the rows' problems are the ones the run already knew
    with gc_paused():
        for sheet, numbers in cut.items():
            table = read_sheet(package, sheet)
            got = read_rows(table, _ROW_TYPES[sheet], settings.serial_regex, found)
            if sheet == schema.TOKENS:
                got = _derive_expiry(got, settings.battery_months, table, found)
            _compare_rows(sheet, tuple(r for r in getattr(expected, attributes[sheet]) if r.row in numbers), got)



def _compare(actual: Ledger, expected: Ledger) -> None:
    for sheet, attribute in _SHEET_ROWS:
        _compare_rows(sheet, getattr(expected, attribute), getattr(actual, attribute))
    if actual.settings != expected.settings:
        raise WriteFailed("書き込んだブックの設定が一致しません。元のブックはそのままです")


def _compare_rows(sheet: str, want: Sequence[Any], got: Sequence[Any]) -> None:
    if want != got:  # the first row where they part: a row differing, missing or one too many
        row = next((min(w.row, g.row) for w, g in zip(want, got) if w != g), None)
        if row is None:
            row = (want[len(got)] if len(want) > len(got) else got[len(want)]).row
        raise WriteFailed(f"書き込んだブックを読み直すと「{sheet}」{row}行目が一致しません。元のブックはそのままです")


def verify_rewritten(path: Path, expected: Ledger, sheets: Sequence[str]) -> None:
    """`verify` for a write that rewrote only `sheets` (close-year: 履歴, 繰越, 年次締め): every part
    intact (the other sheets are copied as they were, member by member), and the rewritten sheets
    read back as expected — without re-reading 在庫's million rows."""
    attributes = dict(_SHEET_ROWS)
    found: list[Problem] = []
    with _parts_intact(path), gc_paused():
        pattern = read_settings(read_sheet(path, schema.SETTINGS), found).serial_regex
        for sheet in sheets:
            want = getattr(expected, attributes[sheet])
            got = read_rows(read_sheet(path, sheet), _ROW_TYPES[sheet], pattern, found)
            _compare_rows(sheet, want, got)


@contextmanager
def _parts_intact(path: Path, skip: set[str] | frozenset[str] = frozenset(), what: str = "ブック") -> Iterator[None]:
    """Every member of the written book (but those in `skip`) checked against its CRC on a thread
    while the block reads it back (zlib lets go of the GIL: at a million tokens that is 2 s of
    decompressing off the critical path); a broken member is a WriteFailed after the block, also
    when the block itself failed on it."""
    with ThreadPoolExecutor(1, thread_name_prefix="tokenbook-crc") as pool:
        checked = pool.submit(_broken_part, path, skip)
        try:
            yield
        except BaseException:
            if not checked.cancel():
                broken = checked.result()
                if broken is not None:
                    raise WriteFailed(f"書き込んだ{what}の {broken} が壊れています。元のブックはそのままです") from None
            raise
        broken = checked.result()
    if broken is not None:
        raise WriteFailed(f"書き込んだ{what}の {broken} が壊れています。元のブックはそのままです")


def _broken_part(path: Path, skip: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The first member (but those in `skip`) that does not decompress to its CRC (`ZipFile.testzip`
    lets zlib errors escape)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename in skip:
                continue
            try:
                with archive.open(info) as member:
                    while member.read(1 << 20):
                        pass
            except (zipfile.BadZipFile, zlib.error, EOFError):
                return info.filename
    return None


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


# --- close-year: the archive first, then the ledger ---------------------------------------------------

class ArchiveExists(Exception):
    """An archive of that name is there with other content; nothing was written."""


def journal_rows_edit(new: Ledger) -> SheetEdit:
    """履歴 rewritten: every data row dropped and `new.journal` written from row 2 (close-year)."""
    return rows_edit(schema.JOURNAL, new.journal, new.columns.get(schema.JOURNAL, {}))


def opening_rows_edit(new: Ledger) -> SheetEdit:
    """繰越 rewritten: every data row dropped and `new.openings` written from row 2 (close-year)."""
    return rows_edit(schema.OPENING, new.openings, new.columns.get(schema.OPENING, {}))


def rows_edit(sheet: str, rows: Sequence[Any], letters: dict[str, str], numbered: bool = True) -> SheetEdit:
    """A sheet tokenbook rewrites whole (close-year's 履歴 and 繰越, and the archive's): every data row
    dropped and `rows` written column by column from row 2 (their own row numbers, `numbered`, must
    say so; else they are left aside: the archive's rows keep the numbers they had in the ledger)."""
    table = schema.table_columns(sheet)
    index = {c.field: _column(letters[c.header]) for c in table if c.header in letters}
    cells: dict[int, dict[int, Any]] = {}
    free = max(map(_column, letters.values()), default=-1) + 1
    for c in table:
        if c.field not in index:  # a column added later (ダイジェスト) that this ledger's sheet lacks
            index[c.field] = free
            cells[1] = {**cells.get(1, {}), free: c.header}
            free += 1
    if numbered and [r.row for r in rows[:1]] + [r.row for r in rows[-1:]] not in ([], [2, len(rows) + 1]):
        raise ValueError(f"{sheet} rows must be numbered from 2 without gaps")  # close-year numbers them so
    lists = (Kind.EMAIL_LIST, Kind.DOMAIN_LIST, Kind.SERIAL_LIST, Kind.PATH_LIST)  # the kinds read as tuples
    columns = [(index[c.field], [_cell(v) for v in values] if c.kind in lists else list(values))
               for c, values in zip(table, list(zip(*rows))[1:] if rows else [() for _ in table])]
    return SheetEdit(cells, replace_data=True, block=Block(2, columns) if rows else None)


@dataclass
class ArchiveAside:
    """close-year's archive workbook written beside its place (`tmp`): verified (written, fsynced,
    read back and its content digest compared: on any thread), then put in place. A killed run's
    leftovers are removed when the next one writes; one with this very content at its place is
    taken as written; one with other content is an ArchiveExists."""

    path: Path
    tmp: Path
    digest: str
    digest_of: Callable[[Any], str]
    read: Callable[[Path], Any]

    @classmethod
    def write(cls, path: Path, content: Any, digest: str, digest_of: Callable[[Any], str],
              read: Callable[[Path], Any]) -> ArchiveAside | None:
        """`content` written and fsynced beside `path`; None when an archive with this very content
        is at `path` already; ArchiveExists when one with other content is."""
        from .build import build_archive

        path = Path(path)
        for leftover in path.parent.glob(f".{path.name}.tokenbook-*"):  # of a run killed while writing it
            leftover.unlink(missing_ok=True)  # (the ledger's lock is held: no other run writes this archive)
        if path.exists():
            try:
                same = digest_of(read(path)) == digest
            except Exception:  # unreadable: not ours to replace
                same = False
            if same:
                return None
            raise ArchiveExists(f"保管用ブック {path.name} が既にあり、内容が違います。年次締めに記録されていない"
                                "ブックなら別の場所に移してから実行してください。何も書き込んでいません")
        template = path.with_name(f".{path.name}.tokenbook-{os.getpid()}.template")
        tmp = _temporary(path)
        try:
            build_archive(template)
            letters = {sheet: {c.header: column_letters(i) for i, c in enumerate(schema.table_columns(sheet))}
                       for sheet in (schema.JOURNAL, schema.OPENING)}
            patch_package(template, tmp, {schema.JOURNAL: rows_edit(schema.JOURNAL, content.entries,
                                                                    letters[schema.JOURNAL], numbered=False),
                                          schema.OPENING: rows_edit(schema.OPENING, content.openings,
                                                                    letters[schema.OPENING])})
            _fsync(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            template.unlink(missing_ok=True)
        return cls(path, tmp, digest, digest_of, read)

    def verify(self) -> None:
        """Every member intact and the content read back giving the digest (WriteFailed otherwise)."""
        name = self.path.name
        try:
            with _parts_intact(self.tmp, what=f"保管用ブック {name}"):
                same = self.digest_of(self.read(self.tmp)) == self.digest
        except UnusableInput as exc:
            raise WriteFailed(f"書き込んだ保管用ブック {name} を読み直せません（{exc}）。元のブックはそのままです") from None
        if not same:
            raise WriteFailed(f"書き込んだ保管用ブック {name} を読み直すと内容が一致しません。元のブックはそのままです")

    def place(self) -> None:
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)

    def __enter__(self) -> ArchiveAside:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tmp.unlink(missing_ok=True)  # not placed: nothing is left beside the book


def write_year_end(lock: BookLock, old: Ledger, new: Ledger, archive: Path, content: Any, digest: str,
                   digest_of: Callable[[Any], str], read: Callable[[Path], Any],
                   problems: Iterable[Problem] = (), panel: dict[str, str] | None = None,
                   now: dt.datetime | None = None) -> tuple[Written, bool]:
    """close-year's write: the archive written, verified and put in place first, then the ledger
    (履歴 and 繰越 replaced, the 年次締め row appended) verified and swapped in like every other
    write. Killed between the two, the old ledger and a complete archive are there, and running
    close-year again finds the archive as it would write it and only swaps the ledger. An archive
    that does not verify is not put in place, and the ledger is not swapped."""
    with zipfile.ZipFile(lock.path) as package:
        present = set(sheet_parts(package))
    for sheet in (schema.CLOSINGS, schema.OPENING):
        if sheet not in present or not new.columns.get(sheet):
            raise PatchRefused(f"ブックに「{sheet}」シートがありません。見出し "
                               f"{'・'.join(c.header for c in schema.table_columns(sheet) if not c.added)} "
                               "の1行目だけのシートを追加してから実行してください")
    # The archive is written first; it is read back on a thread while the ledger is patched (its
    # parsing lets go of the GIL), and put in place, verified, before the ledger is read back and
    # swapped. (Writing the archive too on that thread held both sheets' XML at once: 2.9-3.1 GB at
    # a million tokens, against the 3 GB of issue 12.)
    staged = ArchiveAside.write(archive, content, digest, digest_of, read)
    if staged is None:  # there already, with this content
        return apply_edits(lock, _year_end_edits(old, new, present, problems, panel),
                           lambda written: verify_rewritten(written, new, _REWRITTEN), now), False
    with staged, gc_paused(), ThreadPoolExecutor(1, thread_name_prefix="tokenbook-archive") as pool:
        verified = pool.submit(staged.verify)

        def check(written: Path) -> None:
            verified.result()  # WriteFailed: the ledger is not swapped, nothing is put in place
            staged.place()
            verify_rewritten(written, new, _REWRITTEN)

        # (leaving the block waits for the archive's reading before its file is removed, if not placed)
        return apply_edits(lock, _year_end_edits(old, new, present, problems, panel), check, now), True


_REWRITTEN = (schema.JOURNAL, schema.OPENING, schema.CLOSINGS)


def _year_end_edits(old: Ledger, new: Ledger, present: set[str], problems: Iterable[Problem],
                    panel: dict[str, str] | None) -> dict[str, SheetEdit]:
    edits = ledger_edits(old, replace(new, journal=old.journal, openings=old.openings))  # rewritten whole, below
    edits[schema.JOURNAL] = journal_rows_edit(new)
    edits[schema.OPENING] = opening_rows_edit(new)
    if schema.CHECKS in present:
        edits[schema.CHECKS] = checks_edit(list(problems))
    if panel is not None and schema.MENU in present:
        edits[schema.MENU] = menu_edit(panel)
    return edits
