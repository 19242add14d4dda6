"""Monthly report contents (design §8): plain tables per bank and for CSS, computed from a ledger.

Figures for month M are taken as of M's last day by replaying the journal (`history`), so a report
for a past month has the same content whenever it is made. A bank's report holds only that bank's
tokens and customers. Writing the tables into workbooks is `reportbook`'s.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Sequence

from . import schema
from .history import (
    History,
    count_by_month,
    custody_flows,
    month_bounds,
    months_between,
)
from .models import Bank, JournalEntry, Ledger, Token
from .normalize import add_months
from .schema import (
    DispatchState,
    Method,
    Operation,
    RequestKind,
    SendReport,
    TokenState,
)

# Column kinds for the writer: text, date, int, flag (要交換: highlighted when not blank).
TEXT, DATE, INT, FLAG = "text", "date", "int", "flag"


class Flag(StrEnum):
    """要交換 column: a token expired, or due within 期限警告（月）, at the report's date."""

    NONE = ""
    DUE = "要交換"
    EXPIRED = "期限切れ"


class Quantity(NamedTuple):
    """A count with its unit (本 tokens, 件 requests), written as a number that shows the unit."""

    value: int
    unit: str = "本"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str, float], ...]  # (header, kind, width)
    rows: list[tuple[Any, ...]]


@dataclass
class BankReport:
    bank_code: str
    bank_name: str
    month: str
    as_of: dt.date
    created: dt.datetime
    summary: list[tuple[str, Any]]
    expiry_chart: list[tuple[str, int]]
    tables: list[Table]
    file_name: str
    mark: str = ""  # PRELIMINARY / CORRECTION, shown in every title


@dataclass
class CssReport:
    month: str
    as_of: dt.date
    created: dt.datetime
    summary: list[tuple[str, Any]]
    tables: list[Table]
    charts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    file_name: str = ""
    forecast: list[tuple[str, int, int]] = field(default_factory=list)  # (batch, projected CSS stock, 発注点)
    mark: str = ""


# Marks a report's titles carry: 速報 (a month not over yet), 訂正版 (a sent month made again).
PRELIMINARY, CORRECTION = "速報", "訂正版"
_MARK = re.compile(r"【(?:速報|訂正版)】")


def marked(text: str, mark: str) -> str:
    """`text` with `mark` in front, as every title of a marked report shows it."""
    return f"【{mark}】{text}" if mark else text


def unmarked(text: str) -> str:
    """
    >>> unmarked("【訂正版】あおば信用金庫 ハードウェアトークン月次報告（2026年10月）")
    'あおば信用金庫 ハードウェアトークン月次報告（2026年10月）'
    """
    return _MARK.sub("", text)


def month_label(month: str) -> str:
    """`2026-01` -> `2026年1月`, the one way a report names its month (title, body, mail).

    >>> month_label("2026-01")
    '2026年1月'
    """
    year, number = month.split("-")
    return f"{int(year)}年{int(number)}月"


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_name(text: str) -> str:
    """A file-name part that every OS accepts."""
    return _UNSAFE.sub("_", text).strip(" .") or "_"


def bank_file_name(month: str, bank: Bank) -> str:
    return f"{month}_{bank.bank_code}_{safe_name(bank.name)}_トークン月次報告.xlsx"


def css_file_name(month: str) -> str:
    return f"{month}_CSS_在庫月報.xlsx"


USER_COLUMNS = (("顧客番号", TEXT, 12), ("顧客名", TEXT, 26), ("顧客区分", TEXT, 9), ("店番", TEXT, 7),
                ("シリアル番号", TEXT, 15), ("利用開始日", DATE, 12), ("使用期限", DATE, 12), ("残存月数", INT, 9),
                ("要交換", FLAG, 9))
SHIPPED_COLUMNS = (("日付", DATE, 12), ("方法", TEXT, 10), ("依頼番号", TEXT, 15), ("申込区分", TEXT, 9),
                   ("顧客番号", TEXT, 12), ("顧客名", TEXT, 26), ("シリアル番号", TEXT, 15), ("使用期限", DATE, 12),
                   # issue 10: where each parcel went and how to trace it
                   ("店番", TEXT, 7), ("送付先", TEXT, 8), ("IBカード", TEXT, 9), ("追跡番号", TEXT, 15))
STOCK_COLUMNS = (("シリアル番号", TEXT, 15), ("店番", TEXT, 7), ("納品日", DATE, 12), ("使用期限", DATE, 12),
                 ("残存月数", INT, 9), ("要交換", FLAG, 9))


class Month:
    """Everything the reports of one month share: snapshots, flows and indexes, computed once."""

    def __init__(self, ledger: Ledger, month: str, archived: Sequence[JournalEntry] = ()) -> None:
        self.ledger = ledger
        self._shipped: dict[str, list[tuple]] | None = None
        self._arranged: dict[str, Any] | None = None
        self._dispatched: dict[str, list] | None = None
        self._methods: dict[str, str] | None = None
        self.month = month
        self.mark = ""  # PRELIMINARY for every report of a month not over
        self.marks: dict[str, str] = {}  # bank -> CORRECTION for a sent report made again
        self.first, self.last = month_bounds(month)
        self.history = History.of(ledger, archived)  # archived: the entries of archived years (close-year)
        self.archived = tuple(archived)
        self.closing = self.history.at(self.last)
        self.opening = self.history.at(self.first - dt.timedelta(days=1))
        self.warn_until = add_months(self.last, ledger.settings.warn_months)
        self.tokens = {t.serial: t for t in ledger.tokens if t.serial}
        self.kinds = {(r.bank_code, r.customer_no): r.customer_kind for r in ledger.requests
                      if r.customer_no and r.customer_kind}
        self.request_kinds = {r.request_id: r.kind for r in ledger.requests if r.request_id}
        self.in_use: dict[str, list[Token]] = defaultdict(list)
        self.held: dict[str, list[Token]] = defaultdict(list)
        self.custody: dict[str, list[Token]] = defaultdict(list)
        for serial, (state, owner) in self.closing.items():
            token = self.tokens[serial]
            if state == TokenState.IN_USE and token.bank_code:
                self.in_use[token.bank_code].append(token)
            elif state == TokenState.AT_BANK and token.bank_code:
                self.held[token.bank_code].append(token)
            elif state == TokenState.STOCK and owner and owner != schema.CSS:
                self.custody[owner].append(token)
        self.started: Counter[str] = Counter()
        self.stopped: Counter[str] = Counter()
        self.moves: list = list(self.history.during(self.first, self.last))
        self.custody_flows = custody_flows(self.moves, self.opening, self.closing)
        for e in self.moves:
            token = self.tokens.get(e.serial)
            bank = (token.bank_code if token else None) or e.bank_code
            if e.after == TokenState.IN_USE and e.before != TokenState.IN_USE:
                self.started[bank] += 1
            if e.after == TokenState.STOPPED and e.before != TokenState.STOPPED:
                self.stopped[bank] += 1

    @property
    def shipped(self) -> dict[str, list[tuple]]:
        """当月発送 rows per bank, made once."""
        if self._shipped is None:
            self._shipped = _shipped_by_bank(self)
        return self._shipped

    @property
    def arranged(self) -> dict[str, Any]:
        """Old serial -> the replacement under way for it at the month's end
        (`replacements.arranged_replacements`), found once for every bank's 交換対象."""
        if self._arranged is None:
            from .replacements import arranged_replacements

            self._arranged = arranged_replacements(self.ledger, self.last)
        return self._arranged

    @property
    def dispatched(self) -> dict[str, list]:
        """Per bank, the parcels (発送) shipped in the month, in the ledger's order: one pass for all
        banks' 利用明細 instead of one pass over every parcel per bank."""
        if self._dispatched is None:
            self._dispatched = defaultdict(list)
            for d in self.ledger.dispatches:
                if d.state == DispatchState.SHIPPED and d.shipped_on and self.first <= d.shipped_on <= self.last:
                    self._dispatched[d.bank_code].append(d)
        return self._dispatched

    @property
    def methods(self) -> dict[str, str]:
        """Request number -> its 方法, made once."""
        if self._methods is None:
            self._methods = {r.request_id: r.method for r in self.ledger.requests if r.request_id}
        return self._methods

    def bank_report(self, bank: Bank, created: dt.datetime) -> BankReport:
        return _bank_report(self, bank, created, self.shipped.get(bank.bank_code, []))

    def flag(self, token: Token) -> Flag:
        if token.expires_on is None:
            return ""
        if token.expires_on <= self.last:
            return Flag.EXPIRED
        return Flag.DUE if token.expires_on <= self.warn_until else Flag.NONE

    def remaining(self, token: Token) -> int | None:
        return None if token.expires_on is None else max(0, months_between(self.last, token.expires_on))


def reporting_banks(ledger: Ledger) -> list[Bank]:
    return [b for b in ledger.banks if b.send_report == SendReport.YES and b.bank_code]


class UserRow(NamedTuple):  # USER_COLUMNS
    customer_no: str
    customer_name: str
    customer_kind: str
    branch_code: str | None
    serial: str | None
    started_on: dt.date | None
    expires_on: dt.date | None
    remaining: int | None
    flag: str


class StockRow(NamedTuple):  # STOCK_COLUMNS
    serial: str | None
    branch_code: str
    delivered_on: dt.date | None
    expires_on: dt.date | None
    remaining: int | None
    flag: str


class ShippedRow(NamedTuple):  # SHIPPED_COLUMNS
    day: dt.date | None
    method: str
    request_id: str
    kind: str
    customer_no: str
    customer_name: str
    serial: str | None
    expires_on: dt.date | None
    branch_code: str = ""  # issue 10: 店番, 送付先 (顧客 / 金庫), IBカード, 追跡番号
    destination: str = ""
    ib_card: str = ""
    tracking_no: str = ""


DESTINATIONS = {Method.TO_CUSTOMER: "顧客", Method.TO_BANK: "金庫"}


def _user_row(m: Month, t: Token) -> UserRow:
    kind = t.customer_kind or m.kinds.get((t.bank_code, t.customer_no), "")  # the token's own first
    return UserRow(t.customer_no, t.customer_name, kind, t.branch_code,
                   t.serial, t.started_on, t.expires_on, m.remaining(t), m.flag(t))


def _stock_row(m: Month, t: Token) -> StockRow:
    return StockRow(t.serial, t.branch_code or "", t.delivered_on, t.expires_on, m.remaining(t), m.flag(t))


def _shipped_by_bank(m: Month) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = defaultdict(list)
    requests = {r.request_id: r for r in m.ledger.requests if r.request_id}
    for d in m.ledger.dispatches:
        if d.state == DispatchState.SHIPPED and d.shipped_on and m.first <= d.shipped_on <= m.last and d.bank_code:
            t = m.tokens.get(d.serial)
            r = requests.get(d.request_id)
            kind = (r.kind or "") if r is not None else ""
            customer = (t.customer_no, t.customer_name) if t is not None and kind != RequestKind.RESTOCK else ("", "")
            rows[d.bank_code].append(ShippedRow(
                d.shipped_on, "郵送", d.request_id, kind, *customer, d.serial, t.expires_on if t else None,
                (r.branch_code if r is not None else None) or "", DESTINATIONS.get(r.method, "") if r is not None else "",
                d.ib_card or "", d.tracking_no))
    for e in m.moves:
        if e.operation == Operation.HANDOVER:
            t = m.tokens.get(e.serial)
            if t is not None and t.bank_code:
                rows[t.bank_code].append(ShippedRow(e.effective_on, Method.HANDOVER, e.request_id,
                                                    m.request_kinds.get(e.request_id, ""), t.customer_no,
                                                    t.customer_name, t.serial, t.expires_on, t.branch_code or ""))
    for items in rows.values():
        items.sort(key=lambda r: (r.day or dt.date.min, r.request_id, r.serial or ""))
    return rows


def _bank_report(m: Month, bank: Bank, created: dt.datetime, shipped: list[tuple]) -> BankReport:
    code = bank.bank_code
    users = sorted(m.in_use.get(code, []), key=lambda t: (t.branch_code or "", t.customer_no, t.serial))
    user_rows = [_user_row(m, t) for t in users]
    replace = replacement_rows(m, user_rows)
    held = sorted(m.held.get(code, []), key=lambda t: (t.branch_code or "", t.serial))
    custody = sorted(m.custody.get(code, []), key=lambda t: (t.expires_on or dt.date.max, t.serial))
    opening, moved_in, moved_out, closing = m.custody_flows.get(code, (0, 0, 0, 0))
    has_custody = bool(opening or moved_in or moved_out or closing)
    summary: list[tuple[str, Any]] = [
        ("金庫", f"{code} {bank.name}"), ("対象月", month_label(m.month)), ("基準日", m.last), ("作成日時", created),
        ("利用中", Quantity(len(users))), ("当月利用開始", Quantity(m.started[code])), ("当月停止", Quantity(m.stopped[code])),
        (f"期限{m.ledger.settings.warn_months}か月以内", Quantity(sum(1 for r in user_rows if r.flag == Flag.DUE))),
        ("期限切れで利用中", Quantity(sum(1 for r in user_rows if r.flag == Flag.EXPIRED))),
        ("金庫保管", Quantity(len(held))), ("当月発送", Quantity(len(shipped))),
    ]
    if has_custody:
        summary += [("預り在庫 期首", Quantity(opening)), ("預り在庫 受入", Quantity(moved_in)),
                    ("預り在庫 払出", Quantity(moved_out)), ("預り在庫 期末", Quantity(closing))]
    summary.append(("お問い合わせ", m.ledger.settings.contact_line))
    following = m.last + dt.timedelta(days=1)
    chart = count_by_month((t.expires_on for t in users if t.expires_on), following, EXPIRY_MONTHS)
    tables = [Table("利用者一覧", USER_COLUMNS, user_rows), Table("交換対象", REPLACE_COLUMNS, replace),
              Table("当月発送", SHIPPED_COLUMNS, shipped)]
    if has_custody:
        tables.append(Table("預り在庫", STOCK_COLUMNS[:1] + STOCK_COLUMNS[2:], [
            (r.serial, *r[2:]) for r in (_stock_row(m, t) for t in custody)]))
    tables.append(Table("金庫保管", STOCK_COLUMNS, [_stock_row(m, t) for t in held]))
    tables.append(Table("利用明細", STATEMENT_COLUMNS, statement_rows(m, code, shipped, len(held))))
    return BankReport(code, bank.name, m.month, m.last, created, summary, chart, tables, bank_file_name(m.month, bank),
                      m.marks.get(code, m.mark))


# --- CSS ----------------------------------------------------------------------------------------

BANDS = ("期限切れ", "6か月未満", "6〜12か月", "12〜24か月", "24か月以上")


class OwnerStock(NamedTuple):  # 所有者別在庫: owner, name, total, then one count per band
    owner: str
    name: str
    total: int
    bands: tuple[int, ...]


class ExpiredStock(NamedTuple):  # 期限切れ在庫
    owner: str | None
    serial: str | None
    delivered_on: dt.date | None
    expires_on: dt.date | None


class BankKpi(NamedTuple):  # 金庫別KPI
    bank_code: str | None
    name: str
    in_use: int
    started: int
    stopped: int
    due: int
    expired_in_use: int
    at_bank: int
    custody: int
    shipped: int


def band(months: int | None, expired: bool) -> str:
    if expired or months is None:
        return BANDS[0]
    return BANDS[1] if months < 6 else BANDS[2] if months < 12 else BANDS[3] if months < 24 else BANDS[4]


def css_report(ledger: Ledger, month: str, created: dt.datetime, m: Month | None = None) -> CssReport:
    m = m or Month(ledger, month)
    settings = ledger.settings
    stock: dict[str, Counter[str]] = defaultdict(Counter)
    expired_rows = []
    for serial, (state, owner) in m.closing.items():
        if state != TokenState.STOCK:
            continue
        t = m.tokens[serial]
        expired = t.expires_on is not None and t.expires_on <= m.last
        stock[owner or "?"][band(m.remaining(t), expired)] += 1
        if expired:
            expired_rows.append(ExpiredStock(owner, t.serial, t.delivered_on, t.expires_on))
    owners = sorted(stock, key=lambda o: (o != schema.CSS, o))
    names = {b.bank_code: b.name for b in ledger.banks}
    stock_rows = [OwnerStock(o, "CSS" if o == schema.CSS else names.get(o, ""), sum(stock[o].values()),
                             tuple(stock[o][b] for b in BANDS)) for o in owners]
    flow_rows = vault_flow(m)
    usable = stock[schema.CSS][BANDS[4]] if settings.min_remaining_months >= 24 else sum(
        stock[schema.CSS][b] for b in BANDS[1:])
    demand = _monthly_demand(m)
    target = settings.reorder_point + math.ceil(3 * demand)
    lot = settings.order_lot
    order = max(0, math.ceil((target - usable) / lot) * lot) if usable < target else 0
    ahead = forecast(m)
    first_order = ahead.orders[0] if ahead.orders else None
    reorder_rows = [("CSS在庫（使用可：残存24か月以上）", usable), ("直近3か月の月平均需要", round(demand, 1)),
                    ("発注点", settings.reorder_point), ("目標在庫（発注点＋3か月分）", target), ("発注提案数", order),
                    ("発注ロット", lot), ("納品リードタイム（週）", settings.lead_weeks),
                    ("26週予測の発注合計", sum(o.quantity for o in ahead.orders)),
                    ("26週予測の最初の発注数", first_order.quantity if first_order else 0)]
    kpi_rows = []
    shipped = m.shipped
    for bank in sorted(ledger.banks, key=lambda b: b.bank_code or ""):
        code = bank.bank_code
        users = m.in_use.get(code, [])
        flags = Counter(m.flag(t) for t in users)
        kpi_rows.append(BankKpi(code, bank.name, len(users), m.started[code], m.stopped[code], flags[Flag.DUE],
                                flags[Flag.EXPIRED], len(m.held.get(code, [])), len(m.custody.get(code, [])),
                                len(shipped.get(code, []))))
    summary = [("対象月", month_label(m.month)), ("基準日", m.last), ("作成日時", created),
               ("在庫合計", Quantity(sum(r.total for r in stock_rows))),
               ("うちCSS所有", Quantity(sum(stock[schema.CSS].values()))),
               ("期限切れ在庫", Quantity(len(expired_rows))), ("発注提案数", Quantity(order)),
               ("次の発注（26週予測）", f"{first_order.order_by:%Y/%m/%d}までに{first_order.quantity:,}本"
                + ("（至急）" if first_order.urgent else "") if first_order else "なし"),
               ("金庫数", Quantity(len(kpi_rows), "件"))]
    kpi_rows.append(BankKpi("合計", f"{len(kpi_rows)} 金庫", *(sum(r[i] for r in kpi_rows) for i in range(2, 10))))
    tables = [
        Table("所有者別在庫", (("所有者", TEXT, 10), ("名称", TEXT, 24), ("在庫", INT, 9),
                         *((b, INT, 11) for b in BANDS)), [(*r[:3], *r.bands) for r in stock_rows]),
        Table("期限切れ在庫", (("所有者", TEXT, 10), ("シリアル番号", TEXT, 15), ("納品日", DATE, 12), ("使用期限", DATE, 12)),
              sorted(expired_rows, key=lambda r: (r.owner != schema.CSS, r.owner or "", r.expires_on or dt.date.min,
                                                  r.serial or ""))),
        Table("月間フロー", (("区分", TEXT, 10), ("項目", TEXT, 36), ("本数", INT, 10)), flow_rows),
        Table("発注提案", (("項目", TEXT, 34), ("値", INT, 12)), reorder_rows),
        Table("金庫別KPI", (("金庫コード", TEXT, 10), ("金庫名", TEXT, 24), ("利用中", INT, 9), ("当月開始", INT, 9),
                         ("当月停止", INT, 9), ("期限警告", INT, 9), ("期限切れ利用中", INT, 12), ("金庫保管", INT, 9),
                         ("預り在庫", INT, 9), ("当月発送", INT, 9)), kpi_rows),
    ]
    tables.append(batch_table(m))
    tables.append(Table("監査", AUDIT_COLUMNS, audit_rows(m)))
    summary, tables = _with_stocktake(ledger, m, summary, tables)
    tables += forecast_tables(ahead)
    charts = {"CSS在庫の残存期間": [(b, stock[schema.CSS][b]) for b in BANDS],
              "金庫別 利用中": [(f"{r.bank_code} {r.name}", r.in_use) for r in kpi_rows[:-1]]}  # every bank, by code
    return CssReport(month, m.last, created, summary, tables, charts, css_file_name(month),
                     forecast_points(ahead, settings.reorder_point), m.mark)


_VAULT = (TokenState.STOCK, TokenState.ALLOCATED)  # physically in CSS's vault (allocated: not yet shipped)


def vault_flow(m: Month) -> list[tuple[str, str, int]]:
    """月間フロー as a stock count reconciles: opening vault stock, what came in and went out by kind,
    closing stock split into free, custody and allocated-but-not-shipped. Each token is walked
    through its month's journal from its opening state; where the journal does not explain its
    closing state (a token with no entry), the difference is shown as 履歴外 so the sum holds."""
    inflow: Counter[str] = Counter()
    outflow: Counter[str] = Counter()
    moves: dict[str, list] = defaultdict(list)
    for e in m.moves:
        moves[e.serial].append(e)
    opened, closed = ({serial for serial, held in states.items() if held and held[0] in _VAULT}
                      for states in (m.opening, m.closing))
    for serial in opened | closed | moves.keys():  # a token outside the vault all month, unmoved, adds nothing
        inside = serial in opened
        for e in moves.get(serial, ()):
            now = e.after in _VAULT
            if now != inside:
                (inflow if now else outflow)[_flow_kind(e)] += 1
            inside = now
        closing = serial in closed
        if closing != inside:
            (inflow if closing else outflow)["履歴外（入庫日・手作業）"] += 1
    opening = sum(1 for state, _ in m.opening.values() if state in _VAULT)
    closing_states = Counter((state, owner == schema.CSS) for state, owner in m.closing.values() if state in _VAULT)
    closing = sum(closing_states.values())
    rows = [("期首", "期首在庫（在庫＋引当済）", opening)]
    rows += [("受入", kind, n) for kind, n in sorted(inflow.items())]
    rows += [("払出", kind, n) for kind, n in sorted(outflow.items())]
    rows += [("期末", "期末在庫（在庫＋引当済）", closing),
             ("期末内訳", "CSS在庫", closing_states[(TokenState.STOCK, True)]),
             ("期末内訳", "預り在庫（金庫所有）", closing_states[(TokenState.STOCK, False)]),
             ("期末内訳", "引当済・未発送", closing_states[(TokenState.ALLOCATED, True)]
              + closing_states[(TokenState.ALLOCATED, False)])]
    balanced = opening + sum(inflow.values()) - sum(outflow.values()) == closing
    rows.append(("照合", "期首＋受入−払出＝期末" + ("（一致）" if balanced else "（不一致: 履歴を確認してください）"),
                 opening + sum(inflow.values()) - sum(outflow.values())))
    return rows


def _flow_kind(e) -> str:
    if e.operation == Operation.SHIP:
        return "発送（金庫補充）" if e.after == TokenState.AT_BANK else "発送（顧客・利用開始）"
    return {Operation.RECEIVE: "入庫（購入・預り受入）", Operation.DISPOSE: "廃棄", Operation.CORRECT: "修正（手作業）",
            Operation.HANDOVER: "手交", Operation.STOP: "停止",
            Operation.RETURN: "返品（SSCへ）"}.get(e.operation, str(e.operation or "その他"))


def month_batches(ledger: Ledger, first: dt.date, last: dt.date) -> list:
    """The batches whose cutoff or ★ falls in the month, with their dates (バッチ日程 applied)."""
    from .schedule import dates_from_cutoff, last_weekday_on_or_before, ledger_calendar

    calendar = ledger_calendar(ledger)
    cutoff = last_weekday_on_or_before(first - dt.timedelta(days=21), ledger.settings.cutoff_weekday)
    found = []
    while cutoff <= last:
        dates = dates_from_cutoff(cutoff, ledger.settings, calendar)
        if cutoff >= first or dates.ship >= first:
            found.append(dates)
        cutoff += dt.timedelta(days=7)
    return found


def batch_table(m: Month) -> Table:
    """バッチ日程: the month's batches, where their dates came from, and their parcels."""
    planned = Counter(d.batch for d in m.ledger.dispatches if d.state != DispatchState.CANCELLED)
    shipped = Counter(d.batch for d in m.ledger.dispatches if d.state == DispatchState.SHIPPED)
    rows = [(d.batch_id, d.cutoff, d.card, d.receipt, d.ship, "バッチ日程" if d.override else "標準",
             planned[d.batch_id], shipped[d.batch_id]) for d in month_batches(m.ledger, m.first, m.last)]
    return Table("バッチ日程", (("バッチ", TEXT, 10), ("締切", DATE, 12), ("●カード作成", DATE, 12),
                            ("◆カード受領", DATE, 12), ("★発送", DATE, 12), ("日程", TEXT, 11),
                            ("引当", INT, 8), ("発送済", INT, 8)), rows)


def _monthly_demand(m: Month) -> float:
    since = add_months(m.first, -2)
    moved = sum(1 for e in m.history.during(since, m.last) if e.operation in (Operation.ALLOCATE, Operation.HANDOVER))
    return moved / 3


# --- 監査: what a manager signs off for the month (issue 12) -------------------------------------------

AUDIT_COLUMNS = (("区分", TEXT, 8), ("日時", TEXT, 18), ("担当者", TEXT, 12), ("シリアル番号", TEXT, 15),
                 ("バッチ", TEXT, 10), ("内容", TEXT, 60))


class AuditRow(NamedTuple):  # AUDIT_COLUMNS
    kind: str  # 修正 (a hand edit found and journalled) or 実行 (a run that journalled movements)
    recorded: str
    operator: str
    serial: str
    batch: str
    what: str


def audit_rows(m: Month) -> list[AuditRow]:
    """The month's hand edits (修正 entries recorded in it), then the runs made in it: entries
    recorded together (one 日時 and 担当者) are one run, described by what it journalled."""
    recorded = sorted((e for items in m.history.entries.values() for e in items
                       if e.recorded_at and m.first <= e.recorded_at.date() <= m.last),
                      key=lambda e: (e.recorded_at, e.serial or ""))
    edits = [AuditRow("修正", f"{e.recorded_at:%Y-%m-%d %H:%M:%S}", e.operator, e.serial or "", e.batch,
                      f"{e.before or '（なし）'} → {e.after}" + (f"（{e.note}）" if e.note else ""))
             for e in recorded if e.operation == Operation.CORRECT]
    runs: dict[tuple[dt.datetime, str], Counter[str]] = defaultdict(Counter)
    batches: dict[tuple[dt.datetime, str], set[str]] = defaultdict(set)
    for e in recorded:
        runs[(e.recorded_at, e.operator)][e.operation] += 1
        if e.batch:
            batches[(e.recorded_at, e.operator)].add(e.batch)
    made = [AuditRow("実行", f"{when:%Y-%m-%d %H:%M:%S}", operator, "", "・".join(sorted(batches[(when, operator)])),
                     "・".join(f"{op} {counts[op]:,}件" for op in schema.OPERATIONS if counts[op]))
            for (when, operator), counts in sorted(runs.items())]
    return edits + made


# --- the last stocktake (issue 17) -----------------------------------------------------------------

def _with_stocktake(ledger: Ledger, m: Month, summary: list[tuple[str, Any]],
                    tables: list[Table]) -> tuple[list[tuple[str, Any]], list[Table]]:
    """The CSS report's line for the last stocktake on or before the month's end, and its differences."""
    from .stocktake import differences_of, last_stocktake

    last = last_stocktake(ledger, m.last)
    found = differences_of(last)
    summary = [*summary, ("最終棚卸日", last[0].counted_on if last else "なし"),
               ("棚卸差異", len(found) if last else "—")]
    rows = [(d.kind, d.owner, d.serial, d.state, d.file, d.line, d.note) for d in found]
    table = Table("棚卸差異", (("区分", TEXT, 9), ("所有者", TEXT, 9), ("シリアル番号", TEXT, 16), ("台帳の状態", TEXT, 11),
                            ("ファイル", TEXT, 22), ("行", INT, 7), ("備考", TEXT, 40)), rows)
    return summary, [*tables, table]


# --- issue 11: replacements under way, the five-year expiry view, the statement, the forecast --------

EXPIRY_MONTHS = 60  # the bank sees its next replacement wave years ahead
REPLACE_COLUMNS = USER_COLUMNS + (("交換手配", TEXT, 11), ("発送予定日", DATE, 12))
STATEMENT_COLUMNS = (("区分", TEXT, 16), ("項目", TEXT, 26), ("数量", INT, 10), ("単位", TEXT, 6))


def replacement_rows(m: Month, user_rows: list[UserRow]) -> list[tuple]:
    """交換対象: the flagged users, each with the replacement under way for it (交換手配中 and its
    planned ship date), so a bank sees which of its customers are already being taken care of."""
    arranged = m.arranged if any(r.flag for r in user_rows) else {}
    rows = []
    for r in user_rows:
        if r.flag:
            a = arranged.get(r.serial)
            rows.append((*r, "交換手配中" if a else "", a.ship_on if a else None))
    return rows


def statement_rows(m: Month, code: str, shipped: list[ShippedRow], at_bank: int) -> list[tuple]:
    """利用明細: what CSS did for the bank in the month, the figures it bills by. Tokens are the rows
    of 当月発送 (so the totals match it), parcels are distinct 発送番号 by the request's method."""
    kinds = Counter(r.kind for r in shipped if r.method != Method.HANDOVER)
    handed = sum(1 for r in shipped if r.method == Method.HANDOVER)
    methods = m.methods
    parcels: dict[str, set[str]] = defaultdict(set)
    cards: set[str] = set()
    for d in m.dispatched.get(code, ()):
        parcels[methods.get(d.request_id) or ""].add(d.dispatch_id)
        if d.ib_card == schema.YesNo.YES:
            cards.add(d.dispatch_id)
    opening, _, _, closing = m.custody_flows.get(code, (0, 0, 0, 0))
    rows: list[tuple] = [("発送トークン", kind, kinds[kind], "本") for kind in schema.REQUEST_KINDS]
    rows.append(("発送トークン", "計", sum(kinds.values()), "本"))
    rows += [("発送（小包）", method, len(parcels[method]), "個") for method in schema.POSTAL_METHODS]
    rows.append(("発送（小包）", "計", sum(len(v) for v in parcels.values()), "個"))
    rows += [("窓口手交", "手交したトークン", handed, "本"), ("IBカード", "IBカード同封の発送", len(cards), "個"),
             ("預り在庫", "月初", opening, "本"), ("預り在庫", "月末", closing, "本"),
             ("金庫保管", "月末（手交待ち）", at_bank, "本"), ("合計", "当月発送・手交のトークン", len(shipped), "本")]
    return rows


def month_end_ledger(m: Month) -> Ledger:
    """The ledger as it stood at the month's end, as far as the journal tells: every token in the
    state and with the owner of the closing snapshot; requests received by then (a planned 交換
    request counted from when its answer was taken in), open then if they are open now or had their
    tokens allocated only later; planned parcels of then; answers taken in by then. So the forecast
    of a past month comes out the same when made again later."""
    from dataclasses import replace as changed

    closing = m.closing
    tokens = tuple(t if (t.state, t.owner) == closing[t.serial]  # most tokens stand as they did then
                   else t._replace(state=closing[t.serial][0], owner=closing[t.serial][1])
                   for t in m.ledger.tokens if t.serial in closing)
    answers = tuple(a for a in m.ledger.replacement_answers if a.taken_in_at and a.taken_in_at.date() <= m.last)
    planned = {a.request_id for a in answers if a.request_id}
    # the journal as it stood: archived years (close-year) first, without the opening 繰越 rows
    full = [e for e in (*m.archived, *m.ledger.journal) if e.operation != Operation.CARRY]
    allocated_on: dict[str, dt.date] = {}
    for e in full:
        if e.operation == Operation.ALLOCATE and e.effective_on and e.request_id:
            allocated_on[e.request_id] = min(e.effective_on, allocated_on.get(e.request_id, e.effective_on))
    later = {request_id for request_id, day in allocated_on.items() if day > m.last}
    shipped_later = {d.request_id for d in m.ledger.dispatches
                     if d.state == DispatchState.SHIPPED and d.shipped_on and d.shipped_on > m.last}
    requests = []
    for r in m.ledger.requests:
        if r.received_on is None or r.state == schema.RequestState.CANCELLED:
            continue
        if r.received_on > m.last and r.request_id not in planned:
            continue
        if r.request_id in later:
            requests.append(r._replace(state=schema.RequestState.RECEIVED))
        elif r.request_id in shipped_later and r.state == schema.RequestState.DONE:
            requests.append(r._replace(state=schema.RequestState.ALLOCATED))
        else:
            requests.append(r)
    dispatches = tuple(d._replace(state=DispatchState.PLANNED, shipped_on=None)
                       if d.state == DispatchState.SHIPPED and d.shipped_on and d.shipped_on > m.last else d
                       for d in m.ledger.dispatches if d.request_id not in later)
    journal = tuple(e for e in full if e.effective_on and e.effective_on <= m.last)
    return changed(m.ledger, tokens=tokens, requests=tuple(requests), dispatches=dispatches, journal=journal,
                   replacement_answers=answers)


def forecast(m: Month):
    """The 26-week stock forecast from the month's end (replacements.plan over `month_end_ledger`)."""
    from .replacements import FORECAST_WEEKS, plan

    ledger = month_end_ledger(m)
    weeks = dt.timedelta(weeks=FORECAST_WEEKS + ledger.settings.replacement_margin_weeks)
    return plan(ledger, m.last + dt.timedelta(days=1), until=m.last + weeks)


def forecast_tables(ahead) -> list[Table]:
    """在庫予測 (26 weeks, per owner) and 発注予定 (the purchases it suggests)."""
    first = {b.batch_id for b in ahead.batches[:26]}
    rows = [(w.batch.batch_id, w.batch.ship, w.owner, w.opening, w.aged_out, w.requests, w.demand, w.replacements,
             w.arriving, w.closing, w.short) for w in ahead.stock if w.batch.batch_id in first]
    orders = [(o.order_by, o.batch.batch_id, o.batch.ship, o.quantity, "至急" if o.urgent else "")
              for o in ahead.orders if o.batch.batch_id in first]
    return [
        Table("在庫予測", (("バッチ", TEXT, 10), ("発送日", DATE, 12), ("所有者", TEXT, 9), ("使用可（期首）", INT, 12),
                       ("残存不足で除外", INT, 12), ("申込", INT, 8), ("見込需要", INT, 9), ("交換", INT, 8),
                       ("発注分納品", INT, 10), ("使用可（期末）", INT, 12), ("不足", INT, 8)), rows),
        Table("発注予定", (("発注期限", DATE, 12), ("納品バッチ", TEXT, 10), ("発送日", DATE, 12), ("数量", INT, 10),
                       ("至急", FLAG, 8)), orders),
    ]


def forecast_points(ahead, reorder_point: int) -> list[tuple[str, int, int]]:
    """The forecast chart's points: CSS's usable stock after each of the 26 batches, and 発注点."""
    first = {b.batch_id for b in ahead.batches[:26]}
    return [(w.batch.batch_id, w.closing, reorder_point) for w in ahead.stock
            if w.owner == schema.CSS and w.batch.batch_id in first]
