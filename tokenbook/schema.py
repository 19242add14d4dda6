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
    PATH_LIST = "path_list"
    COUNT = "count"  # a whole number ≥ 0 (counts tokenbook writes)


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    field: str
    kind: Kind = Kind.TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    width: float = 12
    default: str | None = None
    added: bool = False  # a column added after ledgers were in use: a sheet without its header still reads


BANKS = "金庫"
TOKENS = "在庫"
REQUESTS = "申込"
DISPATCH = "発送"
JOURNAL = "履歴"
SETTINGS = "設定"
HOLIDAYS = "休業日"
CHECKS = "チェック結果"
MENU = "メニュー"
CLOSINGS = "年次締め"  # year-end roll-over (close-year): one row per archived year
OPENING = "繰越"  # close-year: every token's state as of 1 January (the year's opening entries)
HISTORY_LOOKUP = "履歴照会"  # the 履歴照会 button: a serial or 顧客番号 in B1, the movements below
BATCH_SCHEDULE = "バッチ日程"

# Enumerations (design §3, §4). Logic compares with these members, never with display text; a
# member is its Japanese text (StrEnum), so cells and messages show it as it is.

class SendReport(StrEnum):
    YES = "する"
    NO = "しない"


class Encryption(StrEnum):
    """金庫 メール暗号化: 任意 (blank) encrypts when the bank has a certificate."""

    REQUIRED = "必須"
    OPTIONAL = "任意"
    OFF = "しない"


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
    RETURN = "返品"  # issue 10: a faulty token sent back to SSC (the token ends 廃棄)
    CARRY = "繰越"  # close-year: a token's state as of 1 January, the first entry of a new year's 履歴


SEND_REPORT = tuple(SendReport)
ENCRYPTION = tuple(Encryption)
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
    Column("暗号化証明書", "encryption_certificates", Kind.PATH_LIST, width=30, added=True),
    Column("メール暗号化", "encryption", Kind.ENUM, choices=ENCRYPTION, width=11, default=Encryption.OPTIONAL, added=True),
    # issue 10: the bank's phone, for a carrier label of a parcel to the bank
    Column("電話番号", "phone", Kind.PHONE, width=15, added=True),
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
    # issue 10: SSC's lot, from the delivery slip (the picking list shows it)
    Column("ロット番号", "lot", Kind.CODE, width=14, added=True),
    # kept on the token when it goes 利用中 from a request, so 利用者一覧 has it after the request is gone
    Column("顧客区分", "customer_kind", Kind.ENUM, choices=CUSTOMER_KINDS, width=10, added=True),
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
    # issue 10: where a request taken in from a bank's form came from (申込書番号:行), so a form
    # taken in twice is recognised
    Column("申込書", "form_ref", Kind.CODE, width=20, added=True),
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
    Column("日時", "recorded_at", Kind.DATETIME, required=True, width=20),
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
    # the tamper-evident chain (journal.seal): last, so every existing header keeps its place
    Column("ダイジェスト", "digest", width=27, added=True),  # text as it is: any change breaks the chain
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

# 年次締め (close-year): which archive holds which year's 履歴, the digest of its content, and the
# digest of the 繰越 rows the close left in the ledger.
CLOSING_COLUMNS = (
    Column("年", "year", Kind.INTEGER, required=True, width=8),
    Column("アーカイブ", "archive", required=True, width=22),
    Column("行数", "rows", Kind.INTEGER, required=True, width=10),
    Column("ダイジェスト", "digest", Kind.CODE, required=True, width=68),
    Column("日時", "closed_at", Kind.DATETIME, required=True, width=20),
    Column("担当者", "operator", width=12, added=True),  # who closed the year: the 繰越 rows' 担当者
    # The digest of the 繰越 rows this close made (every cell's text, digests too; `yearend.content_digest`):
    # while 繰越 reads back to it, its chain is as sealed and validate need not hash it row by row.
    Column("繰越ダイジェスト", "opening_digest", Kind.CODE, width=68, added=True),
)

# 繰越 (close-year): one row per token as it stood at the end of the last closed year — the opening
# entries of the open year, read before 履歴 (a replay starts from them), chained like 履歴 (the first
# row follows the last archive's last row, 履歴's first row follows the last row here). Kept out of
# 履歴 so that 履歴 has the whole sheet for the year's movements at a million tokens, and narrow (six
# cells a row: a million rows are read and hashed on every run). Only close-year writes it, so the
# chain is what checks its cells: any change to a row breaks it there; text is read as it is.
OPENING_COLUMNS = (
    Column("シリアル番号", "serial", required=True, width=16),
    Column("状態", "state", Kind.ENUM, required=True, choices=TOKEN_STATES, width=10),
    Column("所有者", "owner", Kind.OWNER, width=10),
    Column("金庫コード", "bank_code", Kind.BANK_CODE, width=10),
    Column("備考", "note", width=60),  # 顧客番号, 店番, 利用開始日, 納品日, 使用期限 as 在庫 showed them
    Column("ダイジェスト", "digest", width=27),
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

# --- issue 11: replacement plans ----------------------------------------------------------------
# 交換計画回答 records every answer a bank gave to a replacement proposal, so that a later plan knows
# what not to propose again. It is optional: a ledger made before it existed still works (only
# `intake-replacements` needs it). A token is not proposed again while its latest answer's 再提案日 is
# in the future, or blank for 対象外 (承認 lines are kept out by their 交換 request instead).
REPLACEMENT_ANSWERS = "交換計画回答"


class Answer(StrEnum):
    APPROVE = "承認"
    HOLD = "保留"
    DECLINE = "対象外"


ANSWERS = tuple(Answer)

ANSWER_COLUMNS = (
    Column("計画日", "planned_on", Kind.DATE, required=True, width=12),
    Column("金庫コード", "bank_code", Kind.BANK_CODE, required=True, width=10),
    Column("シリアル番号", "serial", Kind.SERIAL, required=True, width=16),
    Column("顧客番号", "customer_no", Kind.CODE, width=14),
    Column("予定バッチ", "batch", Kind.CODE, width=10),
    Column("発送予定日", "ship_on", Kind.DATE, width=12),
    Column("回答", "answer", Kind.ENUM, required=True, choices=ANSWERS, width=9),
    Column("理由", "reason", width=30),
    Column("依頼番号", "request_id", Kind.CODE, width=16),
    Column("再提案日", "ask_again_on", Kind.DATE, width=12),
    Column("取込日時", "taken_in_at", Kind.DATETIME, width=20),
    Column("ファイル", "file", width=40),
)

# 履歴照会 (and `tokenbook history --json`): one row per movement, no customer names.
HISTORY_HEADERS = ("日時", "発効日", "操作", "シリアル番号", "変更前", "変更後", "所有者", "金庫コード", "依頼番号",
                   "バッチ", "担当者", "備考")

# Sheets added after ledgers were in use: read when present, an empty table when absent.
OPTIONAL_TABLES: dict[str, tuple[Column, ...]] = {
    BATCH_SCHEDULE: SCHEDULE_COLUMNS,
    CLOSINGS: CLOSING_COLUMNS,
    OPENING: OPENING_COLUMNS,
    REPLACEMENT_ANSWERS: ANSWER_COLUMNS,
}

# Every sheet a tokenbook workbook has, in tab order.
SHEETS = (MENU, BANKS, TOKENS, REQUESTS, DISPATCH, JOURNAL, SETTINGS, HOLIDAYS, CLOSINGS, OPENING, REPLACEMENT_ANSWERS,
          HISTORY_LOOKUP, CHECKS)


WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
SMTP_SECURITY = ("STARTTLS", "SSL", "なし")


# --- the IB work list and the vault count (issue 17) -------------------------------------------------
# 作業一覧 is a view tokenbook rewrites on every run that writes the ledger (like チェック結果); 棚卸 is
# the record of every stocktake, appended to and read back (the CSS monthly report shows the last one).
# Both are optional: a ledger without them still works.

WORKLIST = "作業一覧"
STOCKTAKE = "棚卸"


class WorkTask(StrEnum):
    REGISTER = "IB登録"
    TRANSMIT = "共同センター伝送"
    CARD = "IBカード受領"


class StocktakeKind(StrEnum):
    OWNER = "集計"  # one row per owner: expected and found
    TOTAL = "合計"
    MISSING = "不足"  # expected, not scanned
    EXCESS = "過剰"  # scanned, not in the ledger
    WRONG_STATE = "状態違い"  # scanned, but the ledger says it is not in CSS's hands
    DUPLICATE = "重複"  # scanned twice


WORKLIST_COLUMNS = (
    Column("作業", "task", width=16),
    Column("期限", "due_on", Kind.DATE, width=12),
    Column("期限の日", "due_mark", width=13),
    Column("超過", "overdue", width=7),
    Column("待ち日数", "days_waiting", Kind.COUNT, width=9),
    Column("依頼番号", "request_id", width=16),
    Column("金庫コード", "bank_code", width=10),
    Column("店番", "branch_code", width=7),
    Column("顧客番号", "customer_no", width=12),
    Column("顧客名", "customer_name", width=24),
    Column("顧客区分", "customer_kind", width=9),
    Column("受付日", "received_on", Kind.DATE, width=12),
    Column("バッチ", "batch", width=10),
    Column("基準日", "as_of", Kind.DATE, width=12),
)

STOCKTAKE_COLUMNS = (
    Column("棚卸日", "counted_on", Kind.DATE, required=True, width=12),
    Column("区分", "kind", Kind.ENUM, required=True, choices=tuple(StocktakeKind), width=9),
    Column("所有者", "owner", Kind.OWNER, width=9),
    Column("シリアル番号", "serial", Kind.CODE, width=16),
    Column("台帳の状態", "state", width=11),
    Column("予定数", "expected", Kind.COUNT, width=9),
    Column("実数", "found", Kind.COUNT, width=9),
    Column("ファイル", "file", width=22),
    Column("行", "line", Kind.COUNT, width=7),
    Column("備考", "note", width=50),
    Column("日時", "recorded_at", Kind.DATETIME, width=20),
    Column("担当者", "operator", width=12),
)

# Sheets read as tables when the workbook has them (a ledger made before them still reads).
OPTIONAL_TABLES = {**OPTIONAL_TABLES, STOCKTAKE: STOCKTAKE_COLUMNS}
# Every sheet, in tab order: the tables, the optional tables, 履歴照会, 作業一覧, チェック結果 last.
SHEETS = (MENU, *TABLES, *OPTIONAL_TABLES, HISTORY_LOOKUP, WORKLIST, CHECKS)


ALL_TABLES: dict[str, tuple[Column, ...]] = {**TABLES, **OPTIONAL_TABLES}


def table_columns(sheet: str) -> tuple[Column, ...]:
    """The columns of a table sheet, required or optional."""
    return TABLES.get(sheet) or OPTIONAL_TABLES[sheet]
