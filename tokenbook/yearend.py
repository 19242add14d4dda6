"""The year-end roll-over (close-year) and the archives it leaves (design §3.5, §13; issue 12).

`close_year` is a pure stage: from a checked ledger and a year it makes the archive's rows (every
履歴 row that took effect in or before that year, as they are, sealed anew as one segment of the
chain after the previous archive), one opening entry
(繰越) per token as it stood at the end of the year, and the new 履歴: the opening entries first,
then the rows that took effect later, all chained after the archive's last row. 年次締め gets one
row naming the archive with the digest of its content. What refuses (a year not over, a batch of
the year not confirmed, a later year already closed) raises `YearEndRefused`; a year already
closed gives a result that changes nothing, so running it again is harmless. Writing the archive
and swapping the ledger is `books.writeback.write_year_end`.

Archives are read back here: `read_archive` parses an archive's 履歴 and refuses one whose content
no longer gives the digest recorded in 年次締め; `archived_entries` gives what a month's replay of
an archived year needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

from . import schema
from .files.sheetio import UnusableInput, column_letter, read_sheet
from .history import History
from .journal import Context, chain_break, entry, last_digest, seal_entries, split_digest
from .models import Closing, JournalEntry, Ledger
from .parse import gc_paused, read_rows
from .problems import Problem, problem
from .schedule import Calendar, batch_by_id
from .schema import DispatchState, Operation


class YearEndRefused(Exception):
    """close-year cannot be done as asked; the message (Japanese) says why. Nothing was changed."""


def archive_name(year: int) -> str:
    return f"{schema.JOURNAL}_{year}.xlsx"


def content_digest(entries: Iterable[JournalEntry]) -> str:
    """SHA-256 of an archive's content: every row's values and its chain digest, in order."""
    h = hashlib.sha256()
    for e in entries:
        h.update("\x1f".join("" if v is None else str(v) for v in e[1:]).encode())
        h.update(b"\x1e")
    return h.hexdigest()


@dataclass(frozen=True)
class YearEnd:
    """What close-year does: the new ledger, the archive's rows and where they go."""

    ledger: Ledger
    year: int
    archive: str
    archived: tuple[JournalEntry, ...]
    digest: str
    opening: int  # opening entries made
    kept: int  # rows that stay (they took effect after the year)
    done_before: bool = False  # the year was closed already: nothing changes
    problems: tuple[Problem, ...] = ()


def closing_of(ledger: Ledger, year: int) -> Closing | None:
    return next((c for c in ledger.closings if c.year == year), None)


def close_year(ledger: Ledger, year: int, today: dt.date, ctx: Context) -> YearEnd:
    """The roll-over of `year` (pure). Raises YearEndRefused."""
    if (done := closing_of(ledger, year)) is not None:
        return YearEnd(ledger, year, done.archive, (), done.digest, 0, len(ledger.journal), done_before=True)
    if year >= today.year:
        raise YearEndRefused(f"{year}年はまだ終わっていません（年次締めは {year + 1}年1月1日以降に実行します）")
    later = [c.year for c in ledger.closings if c.year is not None and c.year > year]
    if later:
        raise YearEndRefused(f"{max(later)}年が締め済みのため、{year}年は締められません")
    end = dt.date(year, 12, 31)
    calendar = Calendar.of(h.day for h in ledger.holidays)
    open_batches = sorted({d.batch for d in ledger.dispatches if d.state == DispatchState.PLANNED
                           and (dates := batch_by_id(d.batch, ledger.settings, calendar)) is not None
                           and dates.cutoff <= end})
    if open_batches:
        raise YearEndRefused(f"{year}年のバッチ {'、'.join(open_batches)} が発送確定されていません。"
                             "発送確定（confirm）かバッチ取消（cancel-batch）をしてから実行してください")
    archived = tuple(e for e in ledger.journal if e.effective_on is not None and e.effective_on <= end)
    kept = [e for e in ledger.journal if not (e.effective_on is not None and e.effective_on <= end)]
    opening = opening_entries(ledger, year, ctx)
    # The archive is sealed anew as one segment of the chain (the chain was checked whole before: a
    # broken one stops the run): its rows left 履歴 from wherever they stood between later ones, and
    # rows from before the chain began get their digests here. It follows the previous archive,
    # whose last digest the first row of 履歴 links to.
    archived, last = seal_entries(archived, _previous_archive_digest(ledger))
    archived = tuple(archived)
    journal, _ = seal_entries([*opening, *kept], last, first_row=2)
    name = archive_name(year)
    digest = content_digest(archived)
    closing = Closing(max((c.row for c in ledger.closings), default=1) + 1, year, name, len(archived), digest,
                      ctx.now.replace(microsecond=0))
    new = replace(ledger, journal=tuple(journal), closings=(*ledger.closings, closing))
    return YearEnd(new, year, name, archived, digest, len(opening), len(kept))


def _previous_archive_digest(ledger: Ledger) -> str:
    """The last digest of the previous archive: what the first row of 履歴 links to ("" before any)."""
    if not ledger.closings or not ledger.journal:
        return ""
    parts = split_digest(ledger.journal[0].digest)
    return parts[1] if parts else ""


def opening_entries(ledger: Ledger, year: int, ctx: Context) -> list[JournalEntry]:
    """One 繰越 per token that existed at the end of `year`: its state, owner and bank then; its
    customer and dates (as 在庫 shows them) in 備考. Numbered from 2 (close_year renumbers)."""
    end = dt.date(year, 12, 31)
    history = History.of(ledger)
    states = history.at(end)
    opening_day = end + dt.timedelta(days=1)
    entries = []
    for token in ledger.tokens:
        if token.serial not in states:
            continue
        state, owner = states[token.serial]
        bank = next((e.bank_code for e in reversed(history.entries.get(token.serial, ())) if e.effective_on <= end),
                    token.bank_code)
        details = [f"{label} {value}" for label, value in (
            ("顧客番号", token.customer_no), ("店番", token.branch_code), ("利用開始日", token.started_on),
            ("納品日", token.delivered_on), ("使用期限", token.expires_on)) if value]
        note = f"{year}年末の状態" + (f"（{'・'.join(map(str, details))}）" if details else "")
        e = entry(ctx, 2, opening_day, Operation.CARRY, token._replace(owner=owner), state, state, note=note,
                  bank_code=bank)
        entries.append(e)
    return entries


def describe_year_end(result: YearEnd) -> tuple[str, list[str]]:
    if result.done_before:
        headline = f"{result.year}年は締め済みです（{result.archive}）"
        return headline, [headline + "。何も変更していません。"]
    headline = (f"{result.year}年の履歴 {len(result.archived):,}行を {result.archive} に移し、"
                f"繰越 {result.opening:,}行を記録しました")
    lines = [headline, f"履歴に残した翌年以降の行: {result.kept:,}行",
             f"保管用ブックのダイジェスト（年次締めに記録）: {result.digest}"]
    return headline, lines


# --- reading archives -------------------------------------------------------------------------------

# An archive is written in schema column order: its ダイジェスト column is the last one.
ARCHIVE_DIGEST_LETTER = column_letter(len(schema.JOURNAL_COLUMNS) - 1)


class ArchiveChanged(UnusableInput):
    """An archive whose content does not give the digest recorded in 年次締め (or that is missing)."""


def read_entries(path: Path, pattern: re.Pattern[str]) -> tuple[JournalEntry, ...]:
    """The 履歴 rows of an archive workbook, as they are."""
    problems: list[Problem] = []
    with gc_paused():
        return read_rows(read_sheet(path, schema.JOURNAL), JournalEntry, pattern, problems)


def read_archive(folder: Path, closing: Closing, pattern: re.Pattern[str]) -> tuple[JournalEntry, ...]:
    """The archive's 履歴 rows, checked against 年次締め: refused when missing, unreadable or changed."""
    path = Path(folder) / closing.archive
    if not path.exists():
        raise ArchiveChanged(f"{closing.year}年の保管用ブック {closing.archive} がブックと同じフォルダにありません")
    entries = read_entries(path, pattern)
    if content_digest(entries) != closing.digest or len(entries) != closing.rows:
        raise ArchiveChanged(f"保管用ブック {closing.archive} の内容が年次締めの記録（{closing.rows:,}行・ダイジェスト "
                             f"{closing.digest[:12]}…）と一致しません。変更されたブックは使えません。"
                             "バックアップから元に戻してください")
    return entries


def archived_entries(folder: Path, ledger: Ledger, first_day: dt.date) -> tuple[JournalEntry, ...]:
    """The archived entries a replay from `first_day` needs: every archive of that year or later,
    oldest first (each begins with the opening entries of its year). Empty when nothing is archived."""
    wanted = sorted((c for c in ledger.closings if c.year is not None and c.year >= first_day.year),
                    key=lambda c: c.year)
    entries: list[JournalEntry] = []
    for closing in wanted:
        entries.extend(read_archive(folder, closing, ledger.settings.serial_regex))
    return tuple(entries)


def verify_journal(folder: Path, ledger: Ledger) -> list[Problem]:
    """The chain through every archive (oldest first) and the ledger's 履歴: each archive's digest,
    then the first break of the chain in each, located in its file."""
    found: list[Problem] = []
    previous: str | None = None
    letters = ledger.columns.get(schema.JOURNAL, {})
    for closing in sorted(ledger.closings, key=lambda c: c.year or 0):
        try:
            entries = read_archive(folder, closing, ledger.settings.serial_regex)
        except UnusableInput as exc:
            found.append(problem("archive-changed", f"{schema.CLOSINGS}", closing.row, "ダイジェスト",
                                 ledger.columns.get(schema.CLOSINGS, {}).get("ダイジェスト"), closing.archive,
                                 reason=str(exc)))
            previous = None
            continue
        found += _breaks(entries, previous, f"{closing.archive}!{schema.JOURNAL}", ARCHIVE_DIGEST_LETTER)
        previous = last_digest(entries)
    found += _breaks(ledger.journal, previous, schema.JOURNAL, letters.get("ダイジェスト"))
    return found


def _breaks(entries: Sequence[JournalEntry], previous: str | None, sheet: str, letter: str | None) -> list[Problem]:
    broken = chain_break(entries, previous)
    if broken is None:
        return []
    value = next((e.digest for e in entries if e.row == broken.row), "")
    return [problem(broken.code, sheet, broken.row, "ダイジェスト", letter, value)]
