"""The workbook contract: sheet names, header labels, enumerations and column kinds (design §3).

Everything that names a sheet or a header takes it from here, so the contract lives in one place.
Column order is free in a clerk's workbook; the order here is the order `new-workbook` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a column's cells are read and normalised."""

    TEXT = "text"
    CODE = "code"
    BANK_CODE = "bank_code"
    BRANCH_CODE = "branch_code"
    OWNER = "owner"
    SERIAL = "serial"
    SERIAL_LIST = "serial_list"
    DATE = "date"
    DATETIME = "datetime"
    INTEGER = "integer"
    ENUM = "enum"
    EMAIL_LIST = "email_list"
    DOMAIN_LIST = "domain_list"
    POSTAL_CODE = "postal_code"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    field: str
    kind: Kind = Kind.TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    width: float = 12
    default: str | None = None


BANKS = "金庫"
TOKENS = "在庫"
REQUESTS = "申込"
DISPATCH = "発送"
JOURNAL = "履歴"
SETTINGS = "設定"
HOLIDAYS = "休業日"
CHECKS = "チェック結果"
MENU = "メニュー"
BATCH_SCHEDULE = "バッチ日程"

# Enumerations (design §3, §4). Logic compares with these members, never with display text; a
# member is its Japanese text (StrEnum), so cells and messages show it as it is.

class SendReport(StrEnum):
    YES = "する"
    NO = "しない"


class TokenState(StrEnum):
    STOCK = "在庫"
    ALLOCATED = "引当済"
    AT_BANK = "金庫保管"
    IN_USE = "利用中"
    STOPPED = "停止"
    DISPOSED = "廃棄"


class StopReason(StrEnum):
    REPLACED = "交換"
    LOST = "紛失"
    BROKEN = "故障"
    CANCELLED = "解約"
    OTHER = "その他"


class CustomerKind(StrEnum):
    CORPORATE = "法人"
    PERSONAL = "個人"


class RequestKind(StrEnum):
    NEW = "新規"
    MIDTERM = "途中"
    REPLACEMENT = "交換"
    REISSUE = "再発行"
    RESTOCK = "金庫補充"


class Method(StrEnum):
    TO_CUSTOMER = "顧客郵送"
    TO_BANK = "金庫郵送"
    HANDOVER = "窓口手交"


class YesNo(StrEnum):
    YES = "有"
    NO = "無"


class RequestState(StrEnum):
    RECEIVED = "受付"
    HELD = "保留"
    ALLOCATED = "割当済"
    DONE = "完了"
    CANCELLED = "取消"


class DispatchState(StrEnum):
    PLANNED = "予定"
    SHIPPED = "発送済"
    CANCELLED = "取消"


class Operation(StrEnum):
    RECEIVE = "入庫"
    ALLOCATE = "引当"
    RELEASE = "引当取消"
    SHIP = "発送"
    HANDOVER = "手交"
    STOP = "停止"
    DISPOSE = "廃棄"
    CORRECT = "修正"


SEND_REPORT = tuple(SendReport)
TOKEN_STATES = tuple(TokenState)
STOP_REASONS = tuple(StopReason)
CUSTOMER_KINDS = tuple(CustomerKind)
REQUEST_KINDS = tuple(RequestKind)
METHODS = tuple(Method)
POSTAL_METHODS = (Method.TO_CUSTOMER, Method.TO_BANK)
YES_NO = tuple(YesNo)
REQUEST_STATES = tuple(RequestState)
OPEN_REQUEST_STATES = (RequestState.RECEIVED, RequestState.HELD)
DISPATCH_STATES = tuple(DispatchState)
OPERATIONS = tuple(Operation)
CSS = "CSS"

BANK_COLUMNS = (
    Column("金庫コード", "bank_code", Kind.BANK_CODE, required=True, width=10),
    Column("金庫名", "name", required=True, width=22),
    Column("報告先メール", "report_to", Kind.EMAIL_LIST, width=34),
    Column("CCメール", "cc", Kind.EMAIL_LIST, width=30),
    Column("許可ドメイン", "allowed_domains", Kind.DOMAIN_LIST, width=22),
    Column("郵便番号", "postal_code", Kind.POSTAL_CODE, width=10),
    Column("住所", "address", width=40),
    Column("宛先", "addressee", width=24),
    Column("報告送付", "send_report", Kind.ENUM, choices=SEND_REPORT, width=10, default="する"),
    Column("備考", "note", width=30),
)

TOKEN_COLUMNS = (
    Column("シリアル番号", "serial", Kind.SERIAL, required=True, width=16),
    Column("所有者", "owner", Kind.OWNER, required=True, width=10),
    Column("状態", "state", Kind.ENUM, required=True, choices=TOKEN_STATES, width=10),
    Column("納品日", "delivered_on", Kind.DATE, required=True, width=12),
    Column("使用期限", "expires_on", Kind.DATE, width=12),
    Column("入庫日", "received_on", Kind.DATE, width=12),
    Column("金庫コード", "bank_code", Kind.BANK_CODE, width=10),
    Column("店番", "branch_code", Kind.BRANCH_CODE, width=7),
    Column("顧客番号", "customer_no", Kind.CODE, width=14),
    Column("顧客名", "customer_name", width=24),
    Column("利用開始日", "started_on", Kind.DATE, width=12),
    Column("依頼番号", "request_id", Kind.CODE, width=16),
    Column("停止理由", "stop_reason", Kind.ENUM, choices=STOP_REASONS, width=10),
    Column("備考", "note", width=30),
    # kept on the token when it goes 利用中 from a request, so 利用者一覧 has it after the request is gone
    Column("顧客区分", "customer_kind", Kind.ENUM, choices=CUSTOMER_KINDS, width=10),
)

REQUEST_COLUMNS = (
    Column("依頼番号", "request_id", Kind.CODE, width=16),
    Column("受付日", "received_on", Kind.DATE, required=True, width=12),
    Column("金庫コード", "bank_code", Kind.BANK_CODE, required=True, width=10),
    Column("店番", "branch_code", Kind.BRANCH_CODE, required=True, width=7),
    Column("顧客番号", "customer_no", Kind.CODE, width=14),
    Column("顧客名", "customer_name", width=24),
    Column("顧客区分", "customer_kind", Kind.ENUM, choices=CUSTOMER_KINDS, width=10),
    Column("申込区分", "kind", Kind.ENUM, required=True, choices=REQUEST_KINDS, width=10),
    Column("数量", "quantity", Kind.INTEGER, width=7, default="1"),
    Column("発送方法", "method", Kind.ENUM, required=True, choices=METHODS, width=11),
    Column("IBカード", "ib_card", Kind.ENUM, choices=YES_NO, width=9, default="無"),
    Column("手交シリアル", "handover_serials", Kind.SERIAL_LIST, width=20),
    Column("旧シリアル", "old_serial", Kind.SERIAL, width=16),
    Column("送付先郵便番号", "ship_postal_code", Kind.POSTAL_CODE, width=12),
    Column("送付先住所", "ship_address", width=40),
    Column("送付先氏名", "ship_name", width=24),
    Column("送付先電話", "ship_phone", Kind.PHONE, width=15),
    Column("IB登録日", "ib_registered_on", Kind.DATE, width=12),
    Column("共同センター伝送日", "center_sent_on", Kind.DATE, width=14),
    Column("IBカード受領日", "ib_card_received_on", Kind.DATE, width=13),
    Column("状態", "state", Kind.ENUM, choices=REQUEST_STATES, width=9, default="受付"),
    Column("処理メモ", "memo", width=36),
)

DISPATCH_COLUMNS = (
    Column("発送番号", "dispatch_id", Kind.CODE, required=True, width=16),
    Column("バッチ", "batch", Kind.CODE, required=True, width=10),
    Column("依頼番号", "request_id", Kind.CODE, required=True, width=16),
    Column("シリアル番号", "serial", Kind.SERIAL, required=True, width=16),
    Column("金庫コード", "bank_code", Kind.BANK_CODE, required=True, width=10),
    Column("発送予定日", "planned_on", Kind.DATE, width=12),
    Column("発送日", "shipped_on", Kind.DATE, width=12),
    Column("送付先郵便番号", "postal_code", Kind.POSTAL_CODE, width=12),
    Column("送付先住所", "address", width=40),
    Column("送付先氏名", "name", width=24),
    Column("IBカード", "ib_card", Kind.ENUM, choices=YES_NO, width=9, default="無"),
    Column("追跡番号", "tracking_no", Kind.CODE, width=16),
    Column("状態", "state", Kind.ENUM, required=True, choices=DISPATCH_STATES, width=9),
)

JOURNAL_COLUMNS = (
    Column("日時", "recorded_at", Kind.DATETIME, required=True, width=18),
    Column("発効日", "effective_on", Kind.DATE, required=True, width=12),
    Column("操作", "operation", Kind.ENUM, required=True, choices=OPERATIONS, width=9),
    Column("シリアル番号", "serial", Kind.SERIAL, required=True, width=16),
    Column("変更前", "before", width=10),
    Column("変更後", "after", width=10),
    Column("所有者", "owner", Kind.OWNER, width=10),
    Column("金庫コード", "bank_code", Kind.BANK_CODE, width=10),
    Column("依頼番号", "request_id", Kind.CODE, width=16),
    Column("バッチ", "batch", Kind.CODE, width=10),
    Column("担当者", "operator", width=12),
    Column("備考", "note", width=30),
)

SETTING_COLUMNS = (
    Column("項目", "key", required=True, width=22),
    Column("値", "value", width=36),
    Column("説明", "description", width=70),
)

HOLIDAY_COLUMNS = (
    Column("日付", "day", Kind.DATE, required=True, width=12),
    Column("名称", "name", width=24),
)

# SSC's own dates for a batch (year-end, Golden Week): a clerk types the batch and the dates SSC
# published; a blank date is computed as usual from the date before it (design §5).
SCHEDULE_COLUMNS = (
    Column("バッチ", "batch", Kind.CODE, required=True, width=10),
    Column("カード作成日", "card_on", Kind.DATE, width=13),
    Column("カード受領日", "receipt_on", Kind.DATE, width=13),
    Column("発送日", "ship_on", Kind.DATE, width=12),
    Column("備考", "note", width=40),
)

CHECK_COLUMNS = (
    Column("重要度", "severity", width=8),
    Column("シート", "sheet", width=10),
    Column("セル", "cell", width=8),
    Column("列名", "header", width=16),
    Column("値", "value", width=24),
    Column("内容", "message", width=60),
    Column("コード", "code", width=26),
)

# Sheets read as tables, in the order new-workbook writes them (メニュー is written first).
TABLES: dict[str, tuple[Column, ...]] = {
    BANKS: BANK_COLUMNS,
    TOKENS: TOKEN_COLUMNS,
    REQUESTS: REQUEST_COLUMNS,
    DISPATCH: DISPATCH_COLUMNS,
    JOURNAL: JOURNAL_COLUMNS,
    SETTINGS: SETTING_COLUMNS,
    HOLIDAYS: HOLIDAY_COLUMNS,
}

# Sheets read as tables when the workbook has them (a ledger made before they existed still works).
OPTIONAL_TABLES: dict[str, tuple[Column, ...]] = {
    BATCH_SCHEDULE: SCHEDULE_COLUMNS,
}



def columns_of(sheet: str) -> tuple[Column, ...]:
    """The columns of a table sheet, required or optional."""
    return TABLES.get(sheet) or OPTIONAL_TABLES[sheet]


# Every sheet a tokenbook workbook has, in tab order.
SHEETS = (MENU, BANKS, TOKENS, REQUESTS, DISPATCH, JOURNAL, SETTINGS, HOLIDAYS, BATCH_SCHEDULE, CHECKS)


WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
SMTP_SECURITY = ("STARTTLS", "SSL", "なし")
