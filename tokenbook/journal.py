"""The movement journal (design §3.5, §4): making entries, replaying them, reconciling with 在庫.

The journal is append-only and its row order is the order things happened to a token, so the last
entry of a serial says what 在庫 should show. `reconcile` finds what a clerk changed by hand: a
token with no entry at all is journalled as 入庫 (if it is newer than the journal, or the journal is
empty, or the year was closed: then every token has an entry), a state that differs from the last
entry is journalled as 修正 and reported as a warning.

Tamper evidence: every row tokenbook writes carries a chained digest in ダイジェスト,
`own:previous` (12 hex digits each), where own = SHA-256 of the previous row's own digest and the
row's content. `entry` builds one row without knowing its predecessor, so the chain is applied
where a run's rows are written: `seal(old, new)` (runs._change, close-year) digests the rows a run
added, in order, after the last sealed row. The chain starts at the first row with a digest (rows
of a ledger from before the chain began have none and are reported once as a warning); after it,
a row whose content no longer gives its digest was edited, a row whose `previous` is not its
predecessor's own digest follows a deleted row, and a row without a digest was inserted by hand.
The chain continues across archives: the first row of 履歴 after close-year links to the last row
of the archive (checked by `verify-journal`, which reads the archives). The digest is not a
signature: it shows a hand edit, not a forger who recomputes the chain (the archive digests in
年次締め and the backups are the rest of the evidence).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, replace
from operator import attrgetter, itemgetter
from typing import Collection, Iterable, Sequence

from . import schema
from .models import Closing, JournalEntry, Ledger, Opening, Token
from .problems import Problem, problem
from .schema import Operation


@dataclass(frozen=True)
class Context:
    """Who and when, for every entry one run makes."""

    now: dt.datetime
    operator: str


def entry(ctx: Context, row: int, effective_on: dt.date, operation: str, token: Token, before: str, after: str,
          request_id: str = "", batch: str = "", note: str = "", bank_code: str | None = None) -> JournalEntry:
    """One journal row for one token's transition."""
    return JournalEntry(
        row=row, recorded_at=ctx.now.replace(microsecond=0), effective_on=effective_on, operation=operation,
        serial=token.serial, before=before, after=after, owner=token.owner,
        bank_code=bank_code if bank_code is not None else token.bank_code,
        request_id=request_id, batch=batch, operator=ctx.operator, note=note,
    )


def last_states(journal: Iterable[JournalEntry]) -> dict[str, str]:
    """Serial -> the state its last journal entry left it in (entries in recording order)."""
    return {e.serial: e.after for e in journal if e.serial}  # a later entry overwrites an earlier one


def journalled_states(ledger: Ledger) -> dict[str, str]:
    """Serial -> the state the journal leaves it in: its last 履歴 entry, else its 繰越 row."""
    states = {o.serial: o.state for o in ledger.openings if o.serial and o.state}
    states.update(last_states(ledger.journal))
    return states


def differences(ledger: Ledger) -> list[tuple[Token, str]]:
    """Tokens whose 状態 differs from what the journal says, with the journalled state."""
    journalled = journalled_states(ledger)
    return [(t, journalled[t.serial]) for t in ledger.tokens
            if t.serial in journalled and t.state is not None and journalled[t.serial] != t.state]


def journal_start(ledger: Ledger) -> dt.date | None:
    return min((e.effective_on for e in ledger.journal if e.effective_on), default=None)


def is_new(token: Token, journalled: dict[str, str], start: dt.date | None) -> bool:
    """A token the journal has never seen that came in during the journal's period (or the journal
    is empty: the first run records every token). Tokens received before the journal's first day,
    or with no 入庫日 at all, were journalled in an earlier, archived year: they are carried over."""
    if token.serial is None or token.serial in journalled:
        return False
    return start is None or (token.received_on is not None and token.received_on >= start)


def check_journal(ledger: Ledger, today: dt.date) -> list[Problem]:
    """Validation: every token whose state differs from its journal (a hand edit), as a warning."""
    letters = ledger.columns.get(schema.TOKENS, {})
    return [problem("state-differs-from-journal", schema.TOKENS, t.row, "状態", letters.get("状態"), t.state,
                    journalled=journalled) for t, journalled in differences(ledger)]


def reconcile(ledger: Ledger, ctx: Context, first_row: int) -> tuple[list[JournalEntry], list[Problem]]:
    """Entries that record what was changed by hand since the last run, numbered from `first_row`."""
    journalled = journalled_states(ledger)
    # After close-year every token has an entry (its 繰越), so a token without one is new, whatever its 入庫日.
    start = None if ledger.closings else journal_start(ledger)
    entries: list[JournalEntry] = []
    for token in ledger.tokens:
        if token.state is None:
            continue
        if is_new(token, journalled, start):
            came_in = token.received_on or token.delivered_on or ctx.now.date()
            entries.append(entry(ctx, first_row + len(entries), came_in, Operation.RECEIVE, token,
                                 "", token.state, note="在庫シートへの追加を記録"))
    found = check_journal(ledger, ctx.now.date())
    for t, before in differences(ledger):
        entries.append(entry(ctx, first_row + len(entries), ctx.now.date(), Operation.CORRECT, t, before, t.state,
                             note="手作業の変更を記録"))
    return entries, found


# --- the tamper-evident chain -----------------------------------------------------------------------

DIGEST_HEX = 12


def content(e: JournalEntry) -> bytes:
    """The row's values as read back (every column but the row number and the digest)."""
    values = e[1:-1]
    if None in values:
        return "\x1f".join("" if v is None else str(v) for v in values).encode()
    return "\x1f".join(map(str, values)).encode()


def journal_contents(entries: Sequence[JournalEntry]) -> list[bytes]:
    """`content` of every row, made column by column (see `row_contents`)."""
    return row_contents(entries, range(1, len(JournalEntry._fields) - 1))


def own_digest(previous: str, e: JournalEntry) -> str:
    return _own(previous, content(e))


def split_digest(cell: str) -> tuple[str, str] | None:
    """`own:previous` -> (own, previous); None when the cell is not one."""
    own, sep, previous = cell.partition(":")
    if not sep or len(own) != DIGEST_HEX or len(previous) not in (0, DIGEST_HEX):
        return None
    return own, previous


def last_digest(journal: Sequence[JournalEntry]) -> str:
    """The own digest of the last sealed row ("" when none is)."""
    for e in reversed(journal):
        parts = split_digest(e.digest) if e.digest else None
        if parts:
            return parts[0]
    return ""


def seal_entries(entries: Iterable[JournalEntry], previous: str,
                 first_row: int | None = None) -> tuple[list[JournalEntry], str]:
    """`entries` with their chained digests after `previous` (and, given `first_row`, numbered from
    it); returns them and the last own digest."""
    entries = list(entries)
    rows = map(attrgetter("row"), entries) if first_row is None else range(first_row, first_row + len(entries))
    digests, previous = _sealed_digests(journal_contents(entries), previous)
    make = JournalEntry._make
    return [make((row, *e[1:-1], d)) for row, e, d in zip(rows, entries, digests)], previous


def _sealed_digests(bodies: Iterable[bytes], previous: str) -> tuple[list[str], str]:
    """The `own:previous` cell of each row after `previous` (each own chained on the one before:
    one hash at a time, so the loop is kept to that) and the last own digest."""
    sha256, cells = hashlib.sha256, []
    append = cells.append
    for body in bodies:
        own = sha256(previous.encode() + b"\x1e" + body).hexdigest()[:DIGEST_HEX]
        append(f"{own}:{previous}")
        previous = own
    return cells, previous


def seal(old: Ledger, new: Ledger) -> Ledger:
    """`new` with the journal rows it added to `old` sealed, chained after the last sealed row."""
    known = max((e.row for e in old.journal), default=1)
    journal = list(new.journal)
    first = next((i for i, e in enumerate(journal) if e.row > known and not e.digest), None)
    if first is None:
        return new
    sealed, _ = seal_entries(journal[first:], last_digest(journal[:first]))
    return replace(new, journal=tuple(journal[:first]) + tuple(sealed))


@dataclass(frozen=True)
class Break:
    """Where a chain breaks: the row (as numbered in its sheet) and what was done there."""

    row: int
    code: str  # journal-row-edited / -deleted / -inserted


def chain_break(journal: Sequence[JournalEntry], previous: str | None = None) -> Break | None:
    """The first row where the chain breaks, or None. With `previous` (the own digest the chain must
    continue from, e.g. the last row of the archive before), the first row must link to it;
    without it the chain may start anywhere (at the first row with a digest)."""
    digests = list(map(attrgetter("digest"), journal))
    bodies = journal_contents(journal)
    if digests and _intact(digests, bodies, previous):
        return None
    return _first_break(zip(map(attrgetter("row"), journal), digests, bodies), previous)


def _first_break(rows: Iterable[tuple[int, str, bytes]], previous: str | None,
                 sealed_throughout: bool = False) -> Break | None:
    """The chain check over (row number, digest cell, content digested) triples. `sealed_throughout`:
    every row must have a digest (繰越: close-year writes them all), though the first may link to
    anything (the archive before, not read here)."""
    started = previous is not None
    before_last = last = previous or ""
    previous_row = 0
    for row, digest, body in rows:
        if not digest:
            if started or sealed_throughout:
                return Break(row, "journal-row-inserted")
            continue
        parts = split_digest(digest)
        if parts is None:
            return Break(row, "journal-row-edited")
        own, link = parts
        if started and link != last:
            return Break(previous_row, "journal-row-inserted") if link == before_last and link else \
                Break(row, "journal-row-deleted")
        if _own(link, body) != own:
            return Break(row, "journal-row-edited")
        started = True
        before_last, last, previous_row = last, own, row
    return None


def _own(previous: str, row_content: bytes) -> str:
    return hashlib.sha256(previous.encode() + b"\x1e" + row_content).hexdigest()[:DIGEST_HEX]


_SHAPE = re.compile(f"(?s)[^:]{{{DIGEST_HEX}}}:(?:.{{{DIGEST_HEX}}})?")  # what split_digest accepts
_OWN_PART = itemgetter(slice(0, DIGEST_HEX))
_LINK_PART = itemgetter(slice(DIGEST_HEX + 1, None))


def _intact(digests: list, bodies: list[bytes], previous: str | None) -> bool:
    """True when every row is sealed and the chain holds throughout (then `_first_break` finds no
    break), checked a column at a time in C: every cell shaped `own:link`, each link the row
    before's own (the first `previous`, if given), each own the digest of its link and content. A
    million rows are checked on every read; where this is False, `_first_break` says where."""
    try:
        if not all(map(_SHAPE.fullmatch, digests)):
            return False
    except TypeError:  # a cell that is not text (or empty: None)
        return False
    owns = list(map(_OWN_PART, digests))
    links = list(map(_LINK_PART, digests))
    if links[1:] != owns[:-1] or (previous is not None and links[0] != previous):
        return False
    keyed = map(bytes.__add__, map(str.encode, map("{}\x1e".format, links)), bodies)
    return list(map(_OWN_PART, map(_HEXDIGEST, map(hashlib.sha256, keyed)))) == owns


_HEXDIGEST = type(hashlib.sha256()).hexdigest


# --- 繰越: the opening entries, chained like 履歴 -----------------------------------------------------

def opening_contents(openings: Sequence[Opening]) -> list[bytes]:
    """Each 繰越 row's values as digested (every column but the row number and the digest)."""
    return row_contents(openings, range(1, len(Opening._fields) - 1))


def row_contents(rows: Sequence[tuple], fields: Iterable[int]) -> list[bytes]:
    """Each row's values at `fields`, as text joined by U+001F and encoded (None as ""), built column
    by column: a million rows are digested on every read + validate, and a column of dates, states
    or owners holds a few distinct values, each made into text once."""
    texts = []
    for index in fields:
        column = list(map(itemgetter(index), rows))
        if set(map(type, column)) <= {str}:
            texts.append(column)  # serials, customer numbers, notes: text already
        else:
            shown = {v: "" if v is None else str(v) for v in set(column)}
            texts.append(list(map(shown.__getitem__, column)))
    return [*map(str.encode, map("\x1f".join, zip(*texts)))]


def seal_openings(openings: Sequence[Opening], previous: str) -> tuple[list[Opening], str]:
    """The 繰越 rows (numbered from 2) with their chained digests after `previous`; and the last own digest."""
    digests, previous = _sealed_digests(opening_contents(openings), previous)
    make = Opening._make
    return [make((row, *o[1:-1], d)) for row, o, d in zip(range(2, len(digests) + 2), openings, digests)], previous


def opening_break(openings: Sequence[Opening], previous: str | None = None) -> Break | None:
    """The first 繰越 row where the chain breaks (codes as for 履歴; see `opening_code`)."""
    digests = list(map(attrgetter("digest"), openings))
    bodies = opening_contents(openings)
    if digests and _intact(digests, bodies, previous):
        return None
    return _first_break(zip(map(attrgetter("row"), openings), digests, bodies), previous, sealed_throughout=True)


def opening_code(code: str) -> str:
    """journal-row-edited -> opening-row-edited: the same break, told of the 繰越 sheet."""
    return code.replace("journal-", "opening-", 1)


def carried_entries(openings: Iterable[Opening], closing: Closing | None, notes: bool = True) -> list[JournalEntry]:
    """The 繰越 rows as the journal entries a replay, the history and the audit list read: 発効日 1
    January after the closed year, 変更前 = 変更後 = the state, "YYYY年末の状態（the customer and
    dates）" in 備考 (unless not `notes`: a replay does not read it), 日時 and 担当者 of the close."""
    if closing is None or closing.year is None:
        return []
    year = closing.year
    opening_day = dt.date(year + 1, 1, 1)
    recorded = closing.closed_at
    entries = []
    make = JournalEntry
    if not notes:
        return [make(o.row, recorded, opening_day, Operation.CARRY, o.serial, o.state or "", o.state or "", o.owner,
                     o.bank_code, "", "", closing.operator, "", o.digest) for o in openings]
    for o in openings:
        note = f"{year}年末の状態（{o.note}）" if o.note else f"{year}年末の状態"
        entries.append(make(o.row, recorded, opening_day, Operation.CARRY, o.serial, o.state or "", o.state or "",
                            o.owner, o.bank_code, "", "", closing.operator, note, o.digest))
    return entries


def last_closing(ledger: Ledger) -> Closing | None:
    """The 年次締め row of the latest closed year (the close that made 繰越), if any."""
    return max((c for c in ledger.closings if c.year is not None), key=lambda c: c.year, default=None)


def ledger_openings(ledger: Ledger, serials: Collection[str] | None = None, notes: bool = True) -> list[JournalEntry]:
    """The ledger's 繰越 rows (of `serials`, or all) as journal entries, made by the last close-year."""
    if not ledger.openings:
        return []
    last = last_closing(ledger)
    openings = ledger.openings if serials is None else [o for o in ledger.openings if o.serial in serials]
    return carried_entries(openings, last, notes)


def last_opening_digest(openings: Sequence[Opening]) -> str | None:
    """The own digest of the last 繰越 row, which 履歴's first row follows (None without 繰越 rows)."""
    parts = split_digest(openings[-1].digest) if openings and openings[-1].digest else None
    return parts[0] if parts else None


def check_chain(ledger: Ledger, today: dt.date) -> list[Problem]:
    """Validation: the first break of the 繰越 chain and of the 履歴 chain (which follows 繰越) as an
    error at its row; unsealed rows from before the chain began as one warning; a serial twice in 繰越."""
    letters = ledger.columns.get(schema.JOURNAL, {})
    found: list[Problem] = []
    if ledger.openings:
        found += check_openings(ledger)
    legacy = []
    for e in ledger.journal:
        if e.digest:
            break
        legacy.append(e.row)
    previous = last_opening_digest(ledger.openings)
    if legacy and previous is None:
        found.append(problem("journal-before-chain", schema.JOURNAL, legacy[0], "ダイジェスト",
                             letters.get("ダイジェスト"), "", first=legacy[0], last=legacy[-1], count=len(legacy)))
    broken = chain_break(ledger.journal, previous)
    if broken is not None:
        found.append(problem(broken.code, schema.JOURNAL, broken.row, "ダイジェスト", letters.get("ダイジェスト"),
                             next((e.digest for e in ledger.journal if e.row == broken.row), "")))
    return found


def _as_sealed(ledger: Ledger) -> bool:
    """Whether 繰越 was read from a file whose cells digest (`sheetio.text_fingerprint`) to what the
    last close-year recorded of the rows it sealed (年次締め 繰越ダイジェスト): then every cell,
    digests too, is as sealed, its chain holds and the row-by-row check would find nothing (a
    million rows hashed one at a time on every read). A 繰越 changed in any way, read otherwise,
    or made before the digest was recorded, is checked row by row. verify-journal always is."""
    fingerprint = getattr(ledger.openings, "fingerprint", None)
    last = last_closing(ledger)
    return bool(fingerprint) and last is not None and fingerprint == last.opening_digest


def check_openings(ledger: Ledger) -> list[Problem]:
    """The 繰越 sheet: its chain's first break and every serial that appears twice."""
    letters = ledger.columns.get(schema.OPENING, {})
    found: list[Problem] = []
    first: dict[str, int] = {}
    for o in ledger.openings:
        if o.serial is None:
            continue
        if o.serial in first:
            found.append(problem("duplicate-key", schema.OPENING, o.row, "シリアル番号", letters.get("シリアル番号"),
                                 o.serial, first=first[o.serial]))
        else:
            first[o.serial] = o.row
    if _as_sealed(ledger):
        return found
    broken = opening_break(ledger.openings)
    if broken is not None:
        found.append(problem(opening_code(broken.code), schema.OPENING, broken.row, "ダイジェスト",
                             letters.get("ダイジェスト"),
                             next((o.digest for o in ledger.openings if o.row == broken.row), "")))
    return found
