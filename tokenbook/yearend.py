"""The year-end roll-over (close-year) and the archives it leaves (design §3.5, §13; issue 12).

`close_year` is a pure stage: from a checked ledger and a year it makes the archive's content (the
繰越 rows that opened the year, then every 履歴 row that took effect in or before that year, as they
are, sealed anew as one segment of the chain after the previous archive), one opening entry per
token as it stood at the end of the year — the new 繰越 sheet — and the new 履歴: the rows that took
effect later, chained after the last 繰越 row, which follows the archive's last row. 年次締め gets
one row naming the archive with the digest of its content. The opening entries have their own sheet
so that 履歴 keeps the whole sheet (1,048,576 rows) for the year's movements at a million tokens.
What refuses (a year not over, a batch of the year not confirmed, a later year already closed)
raises `YearEndRefused`; a year already closed gives a result that changes nothing, so running it
again is harmless. Writing the archive
and swapping the ledger is `books.writeback.write_year_end`.

Archives are read back here: `read_archive` parses an archive's 繰越 and 履歴 and refuses one whose
content no longer gives the digest recorded in 年次締め; `archived_entries` gives what a month's
replay of an archived year needs (each archive's 繰越 rows as entries, then its 履歴 rows).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, replace
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from . import schema
from .files.sheetio import UnusableInput, column_letter, read_sheet
from .history import states_at
from .journal import (Context, carried_entries, chain_break, last_digest, last_opening_digest, opening_break,
                      opening_code, row_contents, seal_entries, seal_openings, split_digest)
from .models import Closing, JournalEntry, Ledger, Opening, Token
from .parse import gc_paused, read_rows
from .problems import Problem, problem
from .schedule import Calendar, batch_by_id
from .schema import DispatchState


class YearEndRefused(Exception):
    """close-year cannot be done as asked; the message (Japanese) says why. Nothing was changed."""


def archive_name(year: int) -> str:
    return f"{schema.JOURNAL}_{year}.xlsx"


def content_digest(entries: Iterable[JournalEntry], openings: Sequence[Opening] = ()) -> str:
    """SHA-256 of an archive's content: its 繰越 rows, then its 履歴 rows, every row's values and its
    chain digest, in order (an archive without 繰越 rows digests as before there were any)."""
    h = hashlib.sha256()
    for rows, width in ((openings, len(Opening._fields)), (entries, len(JournalEntry._fields))):
        rows = list(rows)
        for start in range(0, len(rows), _DIGEST_ROWS):  # each row's values and digest, then U+001E
            h.update(b"\x1e".join(row_contents(rows[start:start + _DIGEST_ROWS], range(1, width))) + b"\x1e")
    return h.hexdigest()


_DIGEST_ROWS = 65_536  # rows digested at a time: a year's rows made into text at once took 200 MB more


class Archive(NamedTuple):
    """What an archive workbook holds: the 繰越 rows that opened its year, then the year's 履歴 rows."""

    openings: tuple[Opening, ...]
    entries: tuple[JournalEntry, ...]

    def digest(self) -> str:
        return content_digest(self.entries, self.openings)


@dataclass(frozen=True)
class YearEnd:
    """What close-year does: the new ledger, the archive's content and where it goes."""

    ledger: Ledger
    year: int
    archive: str
    content: Archive
    digest: str
    opening: int  # opening entries made (the new 繰越 rows)
    kept: int  # rows that stay (they took effect after the year)
    done_before: bool = False  # the year was closed already: nothing changes
    problems: tuple[Problem, ...] = ()

    @property
    def archived(self) -> tuple[JournalEntry, ...]:
        return self.content.entries


def closing_of(ledger: Ledger, year: int) -> Closing | None:
    return next((c for c in ledger.closings if c.year == year), None)


def close_year(ledger: Ledger, year: int, today: dt.date, ctx: Context) -> YearEnd:
    """The roll-over of `year` (pure). Raises YearEndRefused."""
    if (done := closing_of(ledger, year)) is not None:
        return YearEnd(ledger, year, done.archive, Archive((), ()), done.digest, 0, len(ledger.journal),
                       done_before=True)
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
    archived = [e for e in ledger.journal if e.effective_on is not None and e.effective_on <= end]
    kept = [e for e in ledger.journal if not (e.effective_on is not None and e.effective_on <= end)]
    opening = opening_rows(ledger, year)
    # The archive is sealed anew as one segment of the chain (the chain was checked whole before: a
    # broken one stops the run): its 繰越 rows, then its 履歴 rows, which left 履歴 from wherever they
    # stood between later ones; rows from before the chain began get their digests here. It follows
    # the previous archive, whose last digest the first 繰越 row (or the first row of 履歴) links to.
    carried, last = seal_openings(ledger.openings, _previous_archive_digest(ledger))
    archived, last = seal_entries(archived, last)
    content = Archive(tuple(o._replace(row=row) for row, o in enumerate(carried, start=2)), tuple(archived))
    openings, last = seal_openings(opening, last)
    journal, _ = seal_entries(kept, last, first_row=2)
    name = archive_name(year)
    digest = content.digest()
    closing = Closing(max((c.row for c in ledger.closings), default=1) + 1, year, name, len(archived), digest,
                      ctx.now.replace(microsecond=0), ctx.operator, content_digest((), openings))
    new = replace(ledger, journal=tuple(journal), openings=tuple(openings), closings=(*ledger.closings, closing))
    return YearEnd(new, year, name, content, digest, len(opening), len(kept))


def _previous_archive_digest(ledger: Ledger) -> str:
    """The last digest of the previous archive: what the first 繰越 row (or, in a ledger whose 繰越
    rows are in 履歴, the first row of 履歴) links to ("" before any)."""
    first = ledger.openings[0].digest if ledger.openings else ledger.journal[0].digest if ledger.journal else ""
    if not ledger.closings or not first:
        return ""
    parts = split_digest(first)
    return parts[1] if parts else ""


def opening_rows(ledger: Ledger, year: int) -> list[Opening]:
    """One 繰越 row per token that existed at the end of `year`: its state, owner and bank then; its
    customer and dates as 在庫 shows them. Numbered from 2."""
    states = states_at(ledger, dt.date(year, 12, 31))
    tokens = [t for t in ledger.tokens if t.serial in states]
    return [Opening(row, t.serial, *states[t.serial], details)
            for row, t, details in zip(range(2, len(tokens) + 2), tokens, opening_details(tokens))]


_DETAILS = (("顧客番号", "customer_no"), ("店番", "branch_code"), ("利用開始日", "started_on"),
            ("納品日", "delivered_on"), ("使用期限", "expires_on"))


def opening_details(tokens: Sequence[Token]) -> list[str]:
    """Each token's 繰越 備考: "顧客番号 X・店番 Y・利用開始日 …", the fields it has, made a column at
    a time (a million tokens; a column of dates holds a few thousand distinct values)."""
    pieces = []
    for label, name in _DETAILS:
        column = list(map(attrgetter(name), tokens))
        shown = {v: f"・{label} {v}" if v else "" for v in set(column)}
        pieces.append(map(shown.__getitem__, column))
    return list(map(_DROP_FIRST, map("".join, zip(*pieces))))  # each led by "・": the first one dropped


_DROP_FIRST = itemgetter(slice(1, None))


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

# An archive is written in schema column order: its ダイジェスト columns are the last ones.
ARCHIVE_DIGEST_LETTER = column_letter(len(schema.JOURNAL_COLUMNS) - 1)
ARCHIVE_OPENING_DIGEST_LETTER = column_letter(len(schema.OPENING_COLUMNS) - 1)


class ArchiveChanged(UnusableInput):
    """An archive whose content does not give the digest recorded in 年次締め (or that is missing)."""


def read_entries(path: Path, pattern: re.Pattern[str]) -> tuple[JournalEntry, ...]:
    """The 履歴 rows of an archive workbook, as they are."""
    problems: list[Problem] = []
    with gc_paused():
        return read_rows(read_sheet(path, schema.JOURNAL), JournalEntry, pattern, problems)


def read_content(path: Path, pattern: re.Pattern[str]) -> Archive:
    """An archive workbook's 繰越 rows (none in an archive without the sheet) and 履歴 rows, as they are."""
    problems: list[Problem] = []
    with gc_paused():
        openings = read_rows(read_sheet(path, schema.OPENING, optional=True), Opening, pattern, problems)
    return Archive(openings, read_entries(path, pattern))


def read_archive(folder: Path, closing: Closing, pattern: re.Pattern[str]) -> Archive:
    """The archive's content, checked against 年次締め: refused when missing, unreadable or changed."""
    path = Path(folder) / closing.archive
    if not path.exists():
        raise ArchiveChanged(f"{closing.year}年の保管用ブック {closing.archive} がブックと同じフォルダにありません")
    content = read_content(path, pattern)
    if content.digest() != closing.digest or len(content.entries) != closing.rows:
        raise ArchiveChanged(f"保管用ブック {closing.archive} の内容が年次締めの記録（{closing.rows:,}行・ダイジェスト "
                             f"{closing.digest[:12]}…）と一致しません。変更されたブックは使えません。"
                             "バックアップから元に戻してください")
    return content


def archived_entries(folder: Path, ledger: Ledger, first_day: dt.date) -> tuple[JournalEntry, ...]:
    """The archived entries a replay from `first_day` needs: every archive of that year or later,
    oldest first, each its 繰越 rows (as entries) then its 履歴 rows. Empty when nothing is archived."""
    wanted = sorted((c for c in ledger.closings if c.year is not None and c.year >= first_day.year),
                    key=lambda c: c.year)
    entries: list[JournalEntry] = []
    for closing in wanted:
        content = read_archive(folder, closing, ledger.settings.serial_regex)
        opened_by = closing_of(ledger, closing.year - 1) or Closing(0, closing.year - 1, "", None, "", None)
        entries.extend(carried_entries(content.openings, opened_by))
        entries.extend(content.entries)
    return tuple(entries)


def verify_journal(folder: Path, ledger: Ledger) -> list[Problem]:
    """The chain through every archive (oldest first) and the ledger's 繰越 and 履歴: each archive's
    digest, then the first break of the chain in each sheet, located in its file."""
    found: list[Problem] = []
    previous: str | None = None
    for closing in sorted(ledger.closings, key=lambda c: c.year or 0):
        try:
            content = read_archive(folder, closing, ledger.settings.serial_regex)
        except UnusableInput as exc:
            found.append(problem("archive-changed", f"{schema.CLOSINGS}", closing.row, "ダイジェスト",
                                 ledger.columns.get(schema.CLOSINGS, {}).get("ダイジェスト"), closing.archive,
                                 reason=str(exc)))
            previous = None
            continue
        found += _opening_breaks(content.openings, previous, f"{closing.archive}!{schema.OPENING}",
                                 ARCHIVE_OPENING_DIGEST_LETTER)
        previous = last_opening_digest(content.openings) or previous
        found += _breaks(content.entries, previous, f"{closing.archive}!{schema.JOURNAL}", ARCHIVE_DIGEST_LETTER)
        previous = last_digest(content.entries) or previous
    found += _opening_breaks(ledger.openings, previous, schema.OPENING,
                             ledger.columns.get(schema.OPENING, {}).get("ダイジェスト"))
    previous = last_opening_digest(ledger.openings) or previous
    found += _breaks(ledger.journal, previous, schema.JOURNAL, ledger.columns.get(schema.JOURNAL, {}).get("ダイジェスト"))
    return found


def _breaks(entries: Sequence[JournalEntry], previous: str | None, sheet: str, letter: str | None) -> list[Problem]:
    broken = chain_break(entries, previous)
    if broken is None:
        return []
    value = next((e.digest for e in entries if e.row == broken.row), "")
    return [problem(broken.code, sheet, broken.row, "ダイジェスト", letter, value)]


def _opening_breaks(openings: Sequence[Opening], previous: str | None, sheet: str, letter: str | None) -> list[Problem]:
    if not openings:
        return []
    broken = opening_break(openings, previous)
    if broken is None:
        return []
    value = next((o.digest for o in openings if o.row == broken.row), "")
    return [problem(opening_code(broken.code), sheet, broken.row, "ダイジェスト", letter, value)]
