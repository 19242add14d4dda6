"""Stocktaking (棚卸): what a clerk scanned in the vault, counted against the ledger.

Expected is every token the ledger says is in CSS's hands on the day — 状態 在庫 or 引当済, CSS's own
and the banks' custody stock alike: as 在庫 shows it when the day is today, else as the journal
replayed to the end of that day (`history`). The differences, each with its serial, owner, ledger
state and where it was scanned: 不足 (expected, not scanned), 過剰 (scanned, not in the ledger),
状態違い (scanned, but in use, at a bank, stopped or disposed by the ledger), 重複 (scanned again).
Counts per owner, expected and found. The result is rows for the 棚卸 sheet; a stocktake never
changes 在庫 — the clerk resolves differences (hand edits are journalled as 修正).

Scanned files are read with the one intake design (`files.lists`): a scanner's text file with one
serial a line, or a CSV / workbook with a シリアル番号 column. A serial the 設定 pattern rejects is a
located error, never dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence

from . import normalize as nz
from . import schema
from .files.lists import WORKBOOK_SUFFIXES, ListFile, _is_zip, read_list, read_lines, read_text
from .files.sheetio import UnusableInput, header_text
from .history import History
from .journal import Context
from .models import Ledger, StocktakeLine
from .parse import gc_paused
from .problems import Problem
from .schema import StocktakeKind, TokenState

SERIAL = "シリアル番号"
IN_HAND = (TokenState.STOCK, TokenState.ALLOCATED)
SHEET_ROWS = 1_048_576  # a worksheet's last row
NO_SHEET = (f"このブックには「{schema.STOCKTAKE}」シートがないため、結果はブックに記録していません"
            "（tokenbook new-workbook で作ったブックにはあります）。")
TOO_MANY = (f"差異が多すぎて「{schema.STOCKTAKE}」シートに入りきらないため、結果はブックに記録していません"
            "（読み取ったファイルと棚卸日を確かめてください）。")


def read_scan(path: Path) -> tuple[ListFile, str]:
    """One scanned file and the header its serials are under: a workbook or a CSV whose first line
    has シリアル番号, else a scanner's text with one serial a line (headed `値`)."""
    path = Path(path)
    if path.suffix.lower() in WORKBOOK_SUFFIXES or _is_zip(path):
        return read_list(path, [SERIAL]), SERIAL
    text = read_text(path)
    first = next((line for line in text.splitlines() if line.strip()), "")
    cells = {header_text(c) for row in csv.reader(io.StringIO(first)) for c in row}
    cells |= {header_text(c) for c in first.split("\t")}
    if SERIAL in cells:
        return read_list(path, [SERIAL]), SERIAL
    return read_lines(path), "値"


class Scan(NamedTuple):
    serial: str
    file: str  # `box1.txt` or `box.xlsx!Sheet1`
    line: int


def scans_of(lists: Sequence[tuple[ListFile, str]], pattern) -> tuple[list[Scan], list[Problem]]:
    """Every scanned serial in file and line order, normalised; a value the pattern rejects is a
    located error."""
    scans: list[Scan] = []
    problems: list[Problem] = []
    for lf, header in lists:
        where = lf.where
        numbers = lf.table.row_numbers
        for i, raw in enumerate(lf.column(header)):
            if nz.is_blank(raw):
                continue
            try:
                serial = nz.serial(raw if isinstance(raw, str) else nz.code_text(raw), pattern)
            except nz.Invalid as exc:
                problems.append(lf.at(exc.code, i, header, raw, **exc.params))
                continue
            scans.append(Scan(serial, where, numbers[i]))
    return scans, problems


@dataclass(frozen=True)
class Count:
    """One stocktake: per owner expected and found, every difference, and the ledger with its 棚卸 rows."""

    ledger: Ledger
    on: dt.date
    files: int
    scanned: int
    expected: Counter = field(default_factory=Counter)  # owner -> tokens expected in the vault
    found: Counter = field(default_factory=Counter)  # owner -> of those, scanned
    differences: tuple[StocktakeLine, ...] = ()
    unrecorded: str = ""  # why the rows did not go to 棚卸 (NO_SHEET, TOO_MANY), "" when they did
    problems: tuple[Problem, ...] = ()

    def of_kind(self, kind: StocktakeKind) -> list[StocktakeLine]:
        return [d for d in self.differences if d.kind == kind]

    @property
    def kinds(self) -> Counter:
        return Counter(d.kind for d in self.differences)


def count_files(ledger: Ledger, paths: Sequence[Path], on: dt.date, ctx: Context,
                step: Callable[[str], None] = lambda _: None) -> Count:
    """Read the scanned files and count them against the ledger (UnusableInput for a file that
    cannot be used). The collector is paused: a design-limit ledger holds millions of objects, and
    each pass over them while 200,000 scans are built would cost seconds."""
    if not paths:
        raise UnusableInput("読み取ったファイルを1つ以上指定してください")
    with gc_paused():
        step("棚卸: 読み取りファイルの読み込み")
        lists = [read_scan(Path(p)) for p in paths]
        scans, problems = scans_of(lists, ledger.settings.serial_regex)
        step("棚卸: 照合")
        return count_vault(ledger, scans, len(lists), on, ctx, problems)


def states_on(ledger: Ledger, on: dt.date, today: dt.date) -> dict[str, tuple[str, str | None]]:
    """Serial -> (state, owner) on `on`: 在庫 as it is for today, the replayed journal for a past day."""
    if on >= today:
        return {t.serial: (t.state, t.owner) for t in ledger.tokens if t.serial and t.state}
    return History.of(ledger).at(on)


def count_vault(ledger: Ledger, scans: Iterable[Scan], files: int, on: dt.date, ctx: Context,
                problems: Sequence[Problem] = ()) -> Count:
    """The stocktake of `scans` against the ledger on `on` (see the module docstring)."""
    states = states_on(ledger, on, ctx.now.date())
    expected_owner = {s: owner or "" for s, (state, owner) in states.items() if state in IN_HAND}
    first_seen: dict[str, Scan] = {}
    found: Counter = Counter()
    excess, wrong, repeated = [], [], []
    base = dict(counted_on=on, recorded_at=ctx.now.replace(microsecond=0), operator=ctx.operator)
    scanned = 0
    for scan in scans:
        scanned += 1
        serial = scan.serial
        state, owner = states.get(serial, ("", None))
        where = dict(serial=serial, file=scan.file, line=scan.line, owner=owner or None, state=state or "")
        earlier = first_seen.get(serial)
        if earlier is not None:
            repeated.append(dict(kind=StocktakeKind.DUPLICATE, note=f"1回目: {earlier.file}:{earlier.line}", **where))
            continue
        first_seen[serial] = scan
        if serial in expected_owner:
            found[expected_owner[serial]] += 1
        elif state:
            wrong.append(dict(kind=StocktakeKind.WRONG_STATE, note=f"台帳では「{state}」です", **where))
        else:
            excess.append(dict(kind=StocktakeKind.EXCESS, note="台帳（在庫シート）にありません", **where))
    expected = Counter(expected_owner.values())
    missing = sorted((_owner_key(o), s) for s, o in expected_owner.items() if s not in first_seen)
    missing_rows = [dict(kind=StocktakeKind.MISSING, serial=s, owner=states[s][1] or None, state=states[s][0],
                         note="台帳では預かっていますが、読み取られていません") for _, s in missing]
    differences = [*missing_rows, *excess, *wrong, *repeated]
    owners = sorted(set(expected) | set(found), key=_owner_key)
    kinds = Counter(d["kind"] for d in differences)
    summary = [dict(kind=StocktakeKind.OWNER, owner=o or None, expected=expected[o], found=found[o]) for o in owners]
    total_note = (f"読取 {scanned:,} 件・ファイル {files} 個・" +
                  "・".join(f"{k} {kinds[k]:,}" for k in (StocktakeKind.MISSING, StocktakeKind.EXCESS,
                                                         StocktakeKind.WRONG_STATE, StocktakeKind.DUPLICATE)))
    summary.append(dict(kind=StocktakeKind.TOTAL, expected=sum(expected.values()), found=sum(found.values()),
                        note=total_note))
    start = max((line.row for line in ledger.stocktakes), default=1) + 1
    rows = tuple(StocktakeLine(row=start + n, **base, **values) for n, values in enumerate([*summary, *differences]))
    unrecorded = (NO_SHEET if schema.STOCKTAKE not in ledger.columns else
                  TOO_MANY if start + len(rows) - 1 > SHEET_ROWS else "")
    new = ledger if unrecorded else replace(ledger, stocktakes=ledger.stocktakes + rows)
    return Count(new, on, files, scanned, expected, found, rows[len(summary):], unrecorded, tuple(problems))


def _owner_key(owner: str | None) -> tuple[bool, bool, str]:
    """CSS first, then the banks, then what has no owner (a serial the ledger does not know)."""
    return (not owner, owner != schema.CSS, owner or "")


def last_stocktake(ledger: Ledger, until: dt.date) -> list[StocktakeLine]:
    """The rows of the last stocktake taken on or before `until` (the latest run of that day)."""
    rows = [r for r in ledger.stocktakes if r.counted_on is not None and r.counted_on <= until]
    if not rows:
        return []
    last = max((r.counted_on, r.recorded_at or dt.datetime.min) for r in rows)
    return [r for r in rows if (r.counted_on, r.recorded_at or dt.datetime.min) == last]


def differences_of(rows: Iterable[StocktakeLine]) -> list[StocktakeLine]:
    """The difference rows of a stocktake (not its counts)."""
    return [r for r in rows if r.kind not in (StocktakeKind.OWNER, StocktakeKind.TOTAL)]


def describe(count: Count, limit: int = 20) -> tuple[str, list[str]]:
    """(headline, lines) for the console and the dialog: counts, then each difference with its place."""
    kinds = count.kinds
    total = len(count.differences)
    figures = "・".join(f"{k} {kinds[k]:,}" for k in (StocktakeKind.MISSING, StocktakeKind.EXCESS,
                                                    StocktakeKind.WRONG_STATE, StocktakeKind.DUPLICATE) if kinds[k])
    found = sum(count.found.values())
    headline = (f"棚卸 {count.on:%Y/%m/%d}: 差異 {total:,} 件（{figures}）" if total else
                f"棚卸 {count.on:%Y/%m/%d}: 差異なし（{found:,}本一致）")
    lines = [f"棚卸 {count.on:%Y/%m/%d}: 読取 {count.scanned:,} 件（ファイル {count.files} 個）・"
             f"予定 {sum(count.expected.values()):,}本・一致 {found:,}本", headline]
    for kind in (StocktakeKind.MISSING, StocktakeKind.EXCESS, StocktakeKind.WRONG_STATE, StocktakeKind.DUPLICATE):
        of_kind = count.of_kind(kind)
        for d in of_kind[:limit]:  # each kind gets its share, so a long 不足 list cannot hide a 過剰
            place = f" {d.file}:{d.line}" if d.file else ""
            owner = f" 所有者 {d.owner}" if d.owner else ""
            state = f" 台帳「{d.state}」" if d.state else ""
            lines.append(f"  {d.kind} {d.serial}{owner}{state}{place}" + (f"（{d.note}）" if d.kind == StocktakeKind.DUPLICATE else ""))
        if len(of_kind) > limit:
            lines.append(f"  …{kind} ほか {len(of_kind) - limit:,} 件（「{schema.STOCKTAKE}」シートにすべてあります）")
    if count.unrecorded:
        lines.append(count.unrecorded)
    elif total:
        lines.append(f"差異は「{schema.STOCKTAKE}」シートに記録しました。在庫は変えていません: 確かめて在庫シートを直してください"
                     "（手作業の変更は次の実行で履歴に「修正」として記録されます）。")
    return headline, lines


def owner_table(count: Count, names: dict[str, str]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Per owner: expected, found, and the differences that are that owner's."""
    by_owner: dict[str, Counter] = {}
    for d in count.differences:
        by_owner.setdefault(d.owner or "", Counter())[d.kind] += 1
    owners = sorted(set(count.expected) | set(count.found) | set(by_owner), key=_owner_key)
    rows = []
    for o in owners:
        c = by_owner.get(o, Counter())
        label = o or "（台帳になし）"
        rows.append((label, "CSS" if o == schema.CSS else names.get(o, ""), f"{count.expected[o]:,}",
                     f"{count.found[o]:,}", f"{c[StocktakeKind.MISSING]:,}", f"{c[StocktakeKind.WRONG_STATE]:,}",
                     f"{c[StocktakeKind.EXCESS] + c[StocktakeKind.DUPLICATE]:,}"))
    return ("所有者", "名称", "予定", "実数", "不足", "状態違い", "過剰・重複"), rows

