"""The ledger as values that do not change: one NamedTuple per sheet row, settings, the ledger.

Rows are NamedTuples (as beancount's directives are): immutable, cheap to build by the hundred
thousand, changed with `_replace`. Field values are already normalised (see `normalize`); a cell
that could not be read is None and has a problem of its own. Each row keeps `row`, its row number
in the sheet, so every later check can point at the cell. Settings are a frozen pydantic model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from . import normalize as nz
from . import schema


class Bank(NamedTuple):
    row: int
    bank_code: str | None
    name: str
    report_to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    postal_code: str | None = None
    address: str = ""
    addressee: str = ""
    send_report: str = "する"
    note: str = ""


class Token(NamedTuple):
    row: int
    serial: str | None
    owner: str | None
    state: str | None
    delivered_on: dt.date | None
    expires_on: dt.date | None
    received_on: dt.date | None = None
    bank_code: str | None = None
    branch_code: str | None = None
    customer_no: str = ""
    customer_name: str = ""
    started_on: dt.date | None = None
    request_id: str = ""
    stop_reason: str | None = None
    note: str = ""


class Request(NamedTuple):
    row: int
    request_id: str
    received_on: dt.date | None
    bank_code: str | None
    branch_code: str | None
    customer_no: str = ""
    customer_name: str = ""
    customer_kind: str | None = None
    kind: str | None = None
    quantity: int | None = 1
    method: str | None = None
    ib_card: str | None = "無"
    handover_serials: tuple[str, ...] = ()
    old_serial: str | None = None
    ship_postal_code: str | None = None
    ship_address: str = ""
    ship_name: str = ""
    ship_phone: str | None = None
    ib_registered_on: dt.date | None = None
    center_sent_on: dt.date | None = None
    ib_card_received_on: dt.date | None = None
    state: str | None = "受付"
    memo: str = ""


class Dispatch(NamedTuple):
    row: int
    dispatch_id: str
    batch: str
    request_id: str
    serial: str | None
    bank_code: str | None
    planned_on: dt.date | None = None
    shipped_on: dt.date | None = None
    postal_code: str | None = None
    address: str = ""
    name: str = ""
    ib_card: str | None = "無"
    tracking_no: str = ""
    state: str | None = None


class JournalEntry(NamedTuple):
    row: int
    recorded_at: dt.datetime | None
    effective_on: dt.date | None
    operation: str | None
    serial: str | None
    before: str = ""
    after: str = ""
    owner: str | None = None
    bank_code: str | None = None
    request_id: str = ""
    batch: str = ""
    operator: str = ""
    note: str = ""


class Holiday(NamedTuple):
    row: int
    day: dt.date | None
    name: str = ""


class Settings(BaseModel):
    """設定 as typed values; defaults are schema.SETTINGS_SPEC's."""

    model_config = ConfigDict(frozen=True)

    battery_months: int = 60
    min_remaining_months: int = 24
    warn_months: int = 6
    cutoff_weekday: int = 1  # Monday = 0
    card_weekday: int = 2
    receipt_weekday: int = 4
    ship_weekday: int = 0
    reorder_point: int = 100
    serial_pattern: str = r"^[0-9A-Z]{6,20}$"
    report_dir: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "STARTTLS"
    smtp_user: str = ""
    sender: str = ""
    sender_name: str = "CSS トークン管理係"
    mail_subject: str = "【トークン月次報告】{対象月} {金庫名}"
    mail_body: str = next(s.default for s in schema.SETTINGS_SPEC if s.field == "mail_body")

    @cached_property
    def serial_regex(self) -> nz.Matcher:
        """シリアル形式 compiled with a bounded engine (see normalize.serial_matcher)."""
        return nz.serial_matcher(self.serial_pattern)


@dataclass(frozen=True)
class Ledger:
    """Everything tokenbook knows from one workbook. `columns` says where each header stood in each
    sheet as read (sheet -> header -> column letter), so problems found later point at real cells."""

    banks: tuple[Bank, ...] = ()
    tokens: tuple[Token, ...] = ()
    requests: tuple[Request, ...] = ()
    dispatches: tuple[Dispatch, ...] = ()
    journal: tuple[JournalEntry, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    settings: Settings = field(default_factory=Settings)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)


ROW_TYPES = {
    schema.BANKS: Bank,
    schema.TOKENS: Token,
    schema.REQUESTS: Request,
    schema.DISPATCH: Dispatch,
    schema.JOURNAL: JournalEntry,
    schema.HOLIDAYS: Holiday,
}
