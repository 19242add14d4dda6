"""The parcels of a batch (発送書類, issue 10): what the clerk who packs on ★ needs, as values.

`parcels_of` groups a batch's planned 発送 rows (or, once all have shipped, its shipped ones) by 発送番号 into parcels in packing order (bank, parcel),
each with its destination (the request's address, or the bank's for 金庫郵送), its tokens (serial,
lot, 使用期限), whether an IB card goes with it, and where each destination field stands in the
ledger, so a problem found while writing a label points at the cell to correct. The documents
themselves — picking list, cover letters, carrier file — are written in `books/parcelbook.py` and
`books/carrier.py`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import schema
from .batch import BatchError
from .models import Ledger
from .problems import Problem, problem
from .schedule import Calendar, batch_by_id
from .schema import CustomerKind, DispatchState, Method, RequestKind, YesNo

TO_CUSTOMER, TO_BANK = "顧客", "金庫"


@dataclass(frozen=True)
class Item:
    serial: str
    lot: str
    expires_on: dt.date | None


@dataclass(frozen=True)
class Place:
    """Where a value of a parcel was read: sheet, row and column letter."""

    sheet: str
    row: int
    letter: str | None

    def problem(self, code: str, header: str, value: object = "", **params: object) -> Problem:
        return problem(code, self.sheet, self.row, header, self.letter, value, **params)


@dataclass(frozen=True)
class Parcel:
    parcel_id: str
    batch: str
    bank_code: str
    bank_name: str
    request_id: str
    kind: str  # 申込区分
    destination: str  # 顧客 / 金庫
    postal_code: str
    address: str
    name: str
    honorific: str  # 様 / 御中, or "" when the name already ends with one
    organisation: str  # for a parcel to a bank whose name the addressee lacks: the bank's name
    phone: str
    ib_card: bool
    ship_on: dt.date | None
    items: tuple[Item, ...]
    places: dict[str, Place]  # header (送付先郵便番号, 送付先住所, 送付先氏名, 送付先電話) -> its cell

    @property
    def addressee(self) -> str:
        return f"{self.name}　{self.honorific}" if self.honorific else self.name


@dataclass(frozen=True)
class Batch:
    batch_id: str
    ship_on: dt.date
    parcels: tuple[Parcel, ...]
    problems: tuple[Problem, ...]


_HONORIFICS = ("様", "御中", "殿", "行", "宛")


def parcels_of(ledger: Ledger, batch_id: str) -> Batch:
    """The batch's parcels in packing order; problems where a label would lack a field.
    Raises BatchError for a batch id that is none, or a batch without parcels."""
    dates = batch_by_id(batch_id, ledger.settings, Calendar.of(h.day for h in ledger.holidays))
    if dates is None:
        raise BatchError(f"バッチ番号は 2026-W48 の形で指定してください: {batch_id!r}")
    live = [d for d in ledger.dispatches if d.batch == dates.batch_id and d.state != DispatchState.CANCELLED]
    # what is still to be packed; once all of it has shipped, the shipped parcels again (a reprint)
    rows = [d for d in live if d.state == DispatchState.PLANNED] or live
    if not rows:
        raise BatchError(f"バッチ {dates.batch_id} の発送がありません（週次割当の後に作ります）")
    banks = {b.bank_code: b for b in ledger.banks if b.bank_code}
    requests = {r.request_id: r for r in ledger.requests if r.request_id}
    tokens = {t.serial: t for t in ledger.tokens if t.serial}
    letters = ledger.columns
    grouped: dict[str, list] = {}
    for d in rows:
        grouped.setdefault(d.dispatch_id, []).append(d)
    parcels: list[Parcel] = []
    problems: list[Problem] = []
    for parcel_id, members in grouped.items():
        first = members[0]
        r = requests.get(first.request_id)
        bank = banks.get(first.bank_code)
        to_bank = r is not None and r.method == Method.TO_BANK
        places = {h: Place(schema.DISPATCH, first.row, letters.get(schema.DISPATCH, {}).get(h))
                  for h in ("送付先郵便番号", "送付先住所", "送付先氏名")}
        phone = (r.ship_phone if r is not None else None) or ""
        places["送付先電話"] = Place(schema.REQUESTS, r.row if r is not None else 0,
                                   letters.get(schema.REQUESTS, {}).get("送付先電話"))
        if not phone and to_bank and bank is not None:  # the bank's own phone, and the cell to fill if blank
            phone = bank.phone or ""
            places["送付先電話"] = Place(schema.BANKS, bank.row, letters.get(schema.BANKS, {}).get("電話番号"))
        corporate = to_bank or (r is not None and r.customer_kind == CustomerKind.CORPORATE)
        name = first.name
        honorific = "" if name.endswith(_HONORIFICS) else ("御中" if corporate else "様")
        items = tuple(sorted((Item(d.serial or "", tokens[d.serial].lot if d.serial in tokens else "",
                                   tokens[d.serial].expires_on if d.serial in tokens else None) for d in members),
                             key=lambda i: i.serial))
        parcel = Parcel(parcel_id, dates.batch_id, first.bank_code or "", bank.name if bank else "", first.request_id,
                        (r.kind if r is not None else "") or "", TO_BANK if to_bank else TO_CUSTOMER,
                        first.postal_code or "", first.address, name, honorific,
                        bank.name if to_bank and bank is not None and bank.name not in name else "", phone,
                        any(d.ib_card == YesNo.YES for d in members), first.planned_on or dates.ship, items, places)
        for header, value in (("送付先郵便番号", parcel.postal_code), ("送付先住所", parcel.address),
                              ("送付先氏名", parcel.name)):
            if not value:
                problems.append(places[header].problem("parcel-address-missing", header, parcel=parcel_id))
        parcels.append(parcel)
    parcels.sort(key=lambda p: (p.bank_code, p.parcel_id))
    return Batch(dates.batch_id, dates.ship, tuple(parcels), tuple(problems))


def restock(parcel: Parcel) -> bool:
    return parcel.kind == RequestKind.RESTOCK
