"""Raw tables -> ledger models plus located problems (one problem per unreadable cell).

Normalising is done column by column: a column of 200,000 dates holds a few hundred distinct
values, so each distinct raw value is normalised once. Cross-field and cross-sheet rules are
`validate`'s; this stage only reads what each cell says.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from contextlib import contextmanager
from itertools import compress
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from pydantic import ValidationError

from . import normalize as nz
from . import schema
from .files.sheetio import Table, Tables, column_letter
from .models import OPTIONAL_ROW_TYPES, ROW_TYPES, SHEET_FIELDS, AsRead, Ledger, Settings, setting_rows
from .problems import Problem, problem
from .schema import Column, Kind


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic values (rows, tuples):
    its passes would otherwise take about a third of the time. Reference counting still frees."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_EMPTY: dict[Kind, Any] = {Kind.TEXT: "", Kind.CODE: "", Kind.EMAIL_LIST: (), Kind.DOMAIN_LIST: (), Kind.SERIAL_LIST: (),
                         Kind.PATH_LIST: ()}




def normaliser(column: Column, serial_pattern: nz.Matcher) -> Callable[[Any], Any]:
    """The function that reads one non-blank cell of `column`."""
    kind = column.kind
    if kind is Kind.ENUM:
        return lambda v: nz.choice(v, column.choices)
    if kind is Kind.SERIAL:
        return lambda v: nz.serial(v, serial_pattern)
    if kind is Kind.SERIAL_LIST:
        return lambda v: nz.serial_list(v, serial_pattern)
    return {
        Kind.TEXT: nz.plain_text,
        Kind.CODE: nz.key_code,
        Kind.BANK_CODE: nz.bank_code,
        Kind.BRANCH_CODE: nz.branch_code,
        Kind.OWNER: nz.owner,
        Kind.DATE: nz.date,
        Kind.DATETIME: nz.datetime,
        Kind.INTEGER: nz.integer,
        Kind.EMAIL_LIST: nz.email_list,
        Kind.DOMAIN_LIST: nz.domain_list,
        Kind.POSTAL_CODE: nz.postal_code,
        Kind.PHONE: nz.phone,
        Kind.PATH_LIST: nz.path_list,
        Kind.COUNT: nz.count,
    }[kind]


_BLANK = object()


def read_column(
    table: Table, column: Column, serial_pattern: nz.Matcher, problems: list[Problem]
) -> list[Any]:
    """Normalised values of one column; unreadable cells become None plus a problem.

    A column of 200,000 dates holds a few hundred distinct values, so each distinct raw value is
    normalised once and the column is mapped through the results; distinct values that are already
    in normal form (most serials and codes) are taken as they are, without a call each. Problems
    come in row order, as a cell-by-cell pass would make them.
    """
    raw_values = table.column(column.header)
    letter = table.letter(column.header)
    if _all_as_is(column.kind, raw_values, serial_pattern):  # a clean column of serials or keys: one pass
        return raw_values
    if column.kind is Kind.TEXT:
        if set(map(type, raw_values)) <= {str}:  # all text (a million serials, notes or digests):
            values = list(map(str.strip, raw_values))  # trimmed in C, the very same str where nothing is
        elif (distinct := _distinct(raw_values)) is None:
            values = [v.strip() if v.__class__ is str else nz.plain_text(v) for v in raw_values]
        else:
            texts = {v: v.strip() if v.__class__ is str else nz.plain_text(v) for v in distinct}
            values = list(map(texts.__getitem__, raw_values))
        if column.required and "" in values:
            for index, value in enumerate(values):
                if value == "":
                    problems.append(problem("required", table.sheet, table.row_numbers[index], column.header, letter))
        return values
    distinct = _distinct(raw_values)

    read = normaliser(column, serial_pattern)

    def safe(raw: Any) -> Any:
        if raw.__class__ is str:
            if not raw or raw.isspace():
                return _BLANK
        elif raw is None:
            return _BLANK
        try:
            return read(raw)
        except nz.Invalid as exc:
            return exc
        except Exception as exc:  # a normaliser bug must not become a clerk's traceback
            return nz.Invalid("internal-error", detail=type(exc).__name__)

    empty = _EMPTY.get(column.kind)
    default = read(column.default) if column.default is not None else empty
    if distinct is None:  # values that cannot be shared: one call per cell
        values = list(map(safe, raw_values))
    else:
        as_is = _as_is(column.kind, distinct, serial_pattern)
        read_once = {raw: safe(raw) for raw in (distinct.difference(as_is) if as_is else distinct)}
        shown = {}  # the flagged raw values, with what each read as
        for raw, value in read_once.items():
            if value is _BLANK:
                if column.required:
                    shown[raw] = value
                read_once[raw] = default
            elif value.__class__ is nz.Invalid:
                shown[raw] = value
                read_once[raw] = empty
        results = dict(zip(as_is, as_is))
        results.update(read_once)
        flagged = shown.keys()
        values = list(map(results.__getitem__, raw_values))
        if not flagged:
            return values
        # only the rows holding a flagged value are visited, in row order
        for index in [i for i, raw in enumerate(raw_values) if raw in flagged]:
            value = shown[raw_values[index]]
            if value is _BLANK:
                problems.append(problem("required", table.sheet, table.row_numbers[index], column.header, letter))
            else:
                problems.append(problem(value.code, table.sheet, table.row_numbers[index], column.header, letter,
                                        raw_values[index], **value.params))
        return values
    for index, value in enumerate(values):
        if value is _BLANK:
            if column.required:
                problems.append(problem("required", table.sheet, table.row_numbers[index], column.header, letter))
            values[index] = default
        elif value.__class__ is nz.Invalid:
            problems.append(problem(value.code, table.sheet, table.row_numbers[index], column.header, letter,
                                    raw_values[index], **value.params))
            values[index] = empty
    return values


def _distinct(raw_values: Sequence[Any]) -> set[Any] | None:
    """The distinct raw values of a column; None where values cannot be shared safely (unhashable
    cells, or booleans beside the numbers 0 and 1: True == 1 but they read differently)."""
    try:
        distinct = set(raw_values)
    except TypeError:
        return None
    if True in distinct or False in distinct:  # a boolean, or a number equal to one
        kinds = set(map(type, raw_values))
        if bool in kinds and (int in kinds or float in kinds):
            return None
    return distinct


_AS_IS = {Kind.CODE: nz.KEY_CODE_AS_IS, Kind.POSTAL_CODE: nz.POSTAL_CODE_AS_IS, Kind.PHONE: nz.PHONE_AS_IS}
_FIRST_MOMENT = dt.datetime.combine(nz.FIRST_DATE, dt.time())
_LAST_MOMENT = dt.datetime.combine(nz.LAST_DATE, dt.time.max)


def _as_is(kind: Kind, distinct: set[Any], serial_pattern: nz.Matcher) -> list[Any]:
    """The distinct raw values that are already what their normaliser would return (compared
    equal), found by C-level matching instead of a Python call per value."""
    if kind is Kind.DATETIME:  # whole seconds within the dates tokenbook reads
        return [v for v in distinct if v.__class__ is dt.datetime and not v.microsecond and v.tzinfo is None
                and _FIRST_MOMENT <= v <= _LAST_MOMENT]
    if kind is Kind.SERIAL:
        texts = _texts(distinct)
        shaped = list(compress(texts, map(nz.SERIAL_AS_IS.fullmatch, texts)))
        return list(compress(shaped, map(serial_pattern.fullmatch, shaped)))
    pattern = _AS_IS.get(kind)
    if pattern is None:
        return []
    texts = _texts(distinct)
    return list(compress(texts, map(pattern.fullmatch, texts)))


def _all_as_is(kind: Kind, raw_values: list[Any], serial_pattern: nz.Matcher) -> bool:
    """True when every cell of a column of codes or serials is already in normal form (then there
    is nothing to share: such columns hold a million distinct values)."""
    pattern = nz.SERIAL_AS_IS if kind is Kind.SERIAL else _AS_IS.get(kind)
    if pattern is None or not raw_values:
        return False
    try:
        if not all(map(pattern.fullmatch, raw_values)) or set(map(type, raw_values)) != {str}:
            return False
        return kind is not Kind.SERIAL or all(map(serial_pattern.fullmatch, raw_values))
    except (TypeError, AttributeError):  # a cell that is not text
        return False


def _texts(distinct: set[Any]) -> Sequence[Any]:
    """The str values among `distinct` (the set itself when they all are)."""
    if set(map(type, distinct)) == {str}:
        return list(distinct)
    return [v for v in distinct if v.__class__ is str]


def read_rows(table: Table, row_type: type, serial_pattern: nz.Matcher, problems: list[Problem]) -> tuple:
    """One row value per data row of `table` (fields in schema order after `row`)."""
    columns = schema.table_columns(table.sheet)
    data = [read_column(table, c, serial_pattern, problems) for c in columns]
    table.release()  # a sheet read from a file for this parse: its raw cells are no longer needed
    return tuple(map(row_type._make, zip(table.row_numbers, *data)))


_PASSWORDISH = re.compile(r"パスワード|password|passwd|暗証", re.IGNORECASE)


def read_settings(table: Table, problems: list[Problem]) -> Settings:
    """設定 as typed values (see `models.Settings`); a bad value is an error at its cell and the
    default is used in its place."""
    key_letter, value_letter = table.letter("項目"), table.letter("値")
    raw: dict[str, tuple[int, Any]] = {}
    for key, value, row in zip(table.column("項目"), table.column("値"), table.row_numbers):
        name = nz.clean_text(key)
        if not name:
            continue
        if _PASSWORDISH.search(name) and "{" not in name:
            problems.append(problem("password-in-settings", table.sheet, row, "項目", key_letter, name))
            continue
        raw[name] = (row, value)
    specs = {nz.clean_text(s.key): s for s in setting_rows()}
    for name, (row, _) in raw.items():
        if name not in specs:
            problems.append(problem("unknown-setting", table.sheet, row, "項目", key_letter, name, key=name))
    given: dict[str, tuple[int, Any]] = {}
    for name, spec in specs.items():
        if name in raw:
            given[spec.field] = raw[name]
        else:
            problems.append(problem("missing-setting", table.sheet, None, "項目", None, "", key=spec.key,
                                    default=_short(spec.default) or "（空欄）"))
    try:
        return Settings(**{field: value for field, (_, value) in given.items()})
    except ValidationError as exc:
        bad: dict[str, str] = {}
        for error in exc.errors():
            bad.setdefault(str(error["loc"][0]), _reason(error))
        for field, reason in bad.items():
            row, value = given[field]
            problems.append(problem("bad-setting", table.sheet, row, "値", value_letter, value,
                                    key=Settings.model_fields[field].title, reason=reason))
        return Settings(**{field: value for field, (_, value) in given.items() if field not in bad})


def _reason(error: Any) -> str:
    """A Japanese reason for one pydantic error: our validators' own text, or the field's bounds."""
    if error["type"] == "bad_setting":
        return error["msg"]
    if error["type"] in ("greater_than_equal", "less_than_equal"):
        metadata = Settings.model_fields[str(error["loc"][0])].metadata
        low = next(m.ge for m in metadata if getattr(m, "ge", None) is not None)
        high = next(m.le for m in metadata if getattr(m, "le", None) is not None)
        return f"{low}〜{high}の整数です"
    return "読めない値です"


def setting_positions(table: Table) -> dict[str, int]:
    """Settings field -> the 設定 row it was read from (the last, as `read_settings` takes it)."""
    fields = {nz.clean_text(s.key): s.field for s in setting_rows()}
    found = ((fields.get(nz.clean_text(key)), row) for key, row in zip(table.column("項目"), table.row_numbers))
    return {name: row for name, row in found if name}


# The sheets of the chain: what `journal_read` is shown (with 設定 and the sheets taken before them)
JOURNAL_SHEETS = (schema.CLOSINGS, schema.OPENING, schema.JOURNAL)  # 年次締め: what 繰越 is compared with


def parse_tables(tables: Mapping[str, Table], folder: Path | None = None,
                 journal_read: Callable[[Ledger], None] | None = None) -> tuple[Ledger, list[Problem]]:
    """Every table -> one Ledger, plus the problems of cells that could not be read. `folder` is the
    book's, where relative file names in it (certificates) start. The sheets are taken in the order
    a `Tables` reads them, 在庫 last. `journal_read` is shown the ledger so far (設定 and the sheets
    taken until then) as soon as `JOURNAL_SHEETS` are parsed: what needs only them (the chain) is
    done while 在庫, the longest to read, and the sheets after them are still read."""
    problems: list[Problem] = []
    settings = read_settings(tables[schema.SETTINGS], problems)
    pattern = settings.serial_regex
    types = {**ROW_TYPES, **OPTIONAL_ROW_TYPES}
    done = [schema.SETTINGS]
    fields: dict[str, tuple] = {}

    def ledger_so_far(sheets: Iterable[str]) -> Ledger:
        return Ledger(settings=settings, columns=_columns(tables, sheets), folder=folder,
                      setting_row=setting_positions(tables[schema.SETTINGS]), **fields)

    for sheet in Tables.taking_order(types):
        # Sheets added after ledgers were in use (年次締め): a ledger without them reads as an empty table.
        table = tables[sheet] if sheet in tables else Table(sheet, {})
        rows = read_rows(table, types[sheet], pattern, problems)
        if sheet == schema.TOKENS:
            rows = _derive_expiry(rows, settings.battery_months, table, problems)
        if table.fingerprint is not None:  # 繰越: its cells' digest as read, which validate compares
            rows = AsRead(rows)
            rows.fingerprint = table.fingerprint
        fields[SHEET_FIELDS[sheet]] = rows
        done.append(sheet)
        if journal_read is not None and set(JOURNAL_SHEETS) <= set(done):
            journal_read(ledger_so_far(done))
            journal_read = None
    return _optional_tables(ledger_so_far(tables), tables, pattern, problems), problems


def _columns(tables: Mapping[str, Table], sheets: Iterable[str]) -> dict[str, dict[str, str]]:
    """Sheet -> header -> column letter, of `sheets` that the book has (in the order of `tables`)."""
    wanted = set(sheets)
    return {sheet: {header: column_letter(i) for header, i in table.headers.items()}
            for sheet in tables if sheet in wanted and (table := tables[sheet]).headers}


def _optional_tables(ledger: Ledger, tables: Mapping[str, Table], pattern: nz.Matcher,
                     problems: list[Problem]) -> Ledger:
    """The sheets a ledger may have (棚卸): read when present, their layout in `columns`."""
    from .models import StocktakeLine

    table = tables.get(schema.STOCKTAKE)
    if table is None or not table.headers:  # a ledger made before the sheet existed
        return ledger
    columns = {**ledger.columns, schema.STOCKTAKE: {h: column_letter(i) for h, i in table.headers.items()}}
    return replace(ledger, stocktakes=read_rows(table, StocktakeLine, pattern, problems), columns=columns)


def _derive_expiry(tokens: tuple, battery: int, table: Table, problems: list[Problem]) -> tuple:
    """A blank 使用期限 is 納品日 + 電池寿命; one that would pass the last date tokenbook reads
    stays blank, with a problem at its cell (it could not be written or compared)."""
    expiry: dict = {}  # per distinct 納品日: a few hundred among a million tokens

    def expires(delivered: Any) -> Any:
        if delivered not in expiry:
            try:
                expiry[delivered] = nz.in_range(nz.add_months(delivered, battery))
            except (OverflowError, nz.Invalid):
                expiry[delivered] = None
        return expiry[delivered]

    derived, noted = [], []
    for t in tokens:
        if t.expires_on is None and t.delivered_on:
            day = expires(t.delivered_on)
            if day is None:
                problems.append(problem("expiry-not-computable", table.sheet, t.row, "使用期限", table.letter("使用期限"),
                                        "", months=battery, last=nz.LAST_DATE.isoformat()))
            else:
                t = t._replace(expires_on=day)
                noted.append(t.row)
        derived.append(t)
    if noted:  # said once, at the first such cell: a ledger may leave thousands blank
        problems.append(expiry_note(noted, table.letter("使用期限"), battery))
    return tuple(derived)


def expiry_note(rows: list[int], letter: str | None, battery_months: int) -> Problem:
    """One warning for every blank 使用期限 derived (a ledger may leave thousands blank), at the first."""
    cells = "、".join(f"{letter}{r}" for r in rows[:5]) + (f" ほか{len(rows) - 5}" if len(rows) > 5 else "")
    return problem("expiry-derived", schema.TOKENS, rows[0], "使用期限", letter, "", count=len(rows),
                   months=battery_months, cells=cells)


def _short(text: str) -> str:
    first = text.split("\n", 1)[0]
    return first if len(first) <= 30 and first == text else first[:30] + "…"
