"""The ledger as values that do not change: one NamedTuple per sheet row, settings, the ledger.

Rows are NamedTuples (as beancount's directives are): immutable, cheap to build by the hundred
thousand, changed with `_replace`. Field values are already normalised (see `normalize`); a cell
that could not be read is None and has a problem of its own. Each row keeps `row`, its row number
in the sheet, so every later check can point at the cell. Settings are a frozen pydantic model.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError, PydanticUseDefault

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
    send_report: str = schema.SendReport.YES
    note: str = ""
    encryption_certificates: tuple[str, ...] = ()  # paths, absolute or relative to the book's folder
    encryption: str = schema.Encryption.OPTIONAL
    phone: str | None = None  # issue 10


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
    lot: str = ""  # issue 10
    customer_kind: str | None = None


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
    ib_card: str | None = schema.YesNo.NO
    handover_serials: tuple[str, ...] = ()
    old_serial: str | None = None
    ship_postal_code: str | None = None
    ship_address: str = ""
    ship_name: str = ""
    ship_phone: str | None = None
    ib_registered_on: dt.date | None = None
    center_sent_on: dt.date | None = None
    ib_card_received_on: dt.date | None = None
    state: str | None = schema.RequestState.RECEIVED
    memo: str = ""
    form_ref: str = ""  # issue 10


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
    ib_card: str | None = schema.YesNo.NO
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
    digest: str = ""  # the chain (journal.seal); blank on rows from before the chain began


class Closing(NamedTuple):
    """One row of 年次締め: a year whose 履歴 went into an archive workbook beside the book."""

    row: int
    year: int | None
    archive: str
    rows: int | None
    digest: str
    closed_at: dt.datetime | None
    operator: str = ""  # added later: blank in a 年次締め without the header
    opening_digest: str = ""  # of the 繰越 rows this close made; blank for a close made before it was recorded


class AsRead(tuple):
    """A sheet's rows as parsed from a file, with `fingerprint`: the digest of its cells' text as
    read (`files.sheetio.text_fingerprint`; None where a cell was not text). A new tuple made from
    them (any change) is a plain tuple again, so the fingerprint only ever speaks of these rows."""

    fingerprint: str | None = None


class Opening(NamedTuple):
    """One row of 繰越: a token as it stood at the end of the last closed year (close-year)."""

    row: int
    serial: str | None
    state: str | None
    owner: str | None = None
    bank_code: str | None = None
    note: str = ""  # 顧客番号 …, 店番 …, 利用開始日 …, 納品日 …, 使用期限 … as 在庫 showed them
    digest: str = ""


class Holiday(NamedTuple):
    row: int
    day: dt.date | None
    name: str = ""


class StocktakeLine(NamedTuple):
    """One row of 棚卸 (issue 17): an owner's count, the total, or one difference found."""

    row: int
    counted_on: dt.date | None
    kind: str | None
    owner: str | None = None
    serial: str = ""
    state: str = ""
    expected: int | None = None
    found: int | None = None
    file: str = ""
    line: int | None = None
    note: str = ""
    recorded_at: dt.datetime | None = None
    operator: str = ""


class ReplacementAnswer(NamedTuple):  # 交換計画回答 (issue 11)
    row: int
    planned_on: dt.date | None
    bank_code: str | None
    serial: str | None
    customer_no: str = ""
    batch: str = ""
    ship_on: dt.date | None = None
    answer: str | None = None
    reason: str = ""
    request_id: str = ""
    ask_again_on: dt.date | None = None
    taken_in_at: dt.datetime | None = None
    file: str = ""


class ScheduleRow(NamedTuple):  # バッチ日程
    row: int
    batch: str
    card_on: dt.date | None = None
    receipt_on: dt.date | None = None
    ship_on: dt.date | None = None
    note: str = ""


# --- 設定 (design §3.6): one specification ----------------------------------------------------------
# Each field of `Settings` is one 設定 row: its Japanese key (`title`), default, description and the
# constraints its value must meet. The parser (`parse.read_settings`), the 設定 sheet a new workbook
# gets (`setting_rows`) and the checks all come from here. Never a password.

def _text(value: Any) -> str:
    """A text setting as typed; blank keeps the field's default."""
    if nz.is_blank(value):
        raise PydanticUseDefault()
    return nz.plain_text(value)


def _clean(value: Any) -> str:
    if nz.is_blank(value):
        raise PydanticUseDefault()
    return nz.clean_text(value)


def _whole_number(value: Any) -> int:
    if nz.is_blank(value):
        raise PydanticCustomError("bad_setting", "空欄です")
    if isinstance(value, bool):
        raise PydanticCustomError("bad_setting", "整数です")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = nz.clean_text(value)
    if not (text.isdigit() and text.isascii()):
        raise PydanticCustomError("bad_setting", "整数です")
    return int(text)


def _weekday(value: Any) -> int:
    """A weekday as a clerk writes it (月, 月曜, 月曜日); a number is not a weekday."""
    if not isinstance(value, str):
        raise PydanticCustomError("bad_setting", "曜日は 月 火 水 木 金 土 日 のいずれかです")
    text = nz.clean_text(value).removesuffix("曜日").removesuffix("曜")
    if text not in schema.WEEKDAYS:
        raise PydanticCustomError("bad_setting", "曜日は 月 火 水 木 金 土 日 のいずれかです")
    return schema.WEEKDAYS.index(text)


def _pattern(value: Any) -> str:
    if nz.is_blank(value):
        raise PydanticCustomError("bad_setting", "空欄です")
    text = nz.clean_text(value)
    try:
        nz.serial_matcher(text)  # RE2 must be able to run it: then matching is linear in the serial
    except nz.Invalid as exc:
        raise PydanticCustomError("bad_setting", exc.params["reason"]) from None
    return text


def _security(value: Any) -> str:
    if nz.is_blank(value):
        raise PydanticUseDefault()
    text = nz.clean_text(value).upper()
    text = "なし" if text in ("なし", "NONE") else text
    if text not in schema.SMTP_SECURITY:
        raise PydanticCustomError("bad_setting", "STARTTLS / SSL / なし のいずれかです")
    return text


def _sender(value: Any) -> str:
    if nz.is_blank(value):
        return ""
    try:
        addresses = nz.email_list(value)
    except nz.Invalid:
        addresses = ()
    if len(addresses) != 1:
        raise PydanticCustomError("bad_setting", "メールアドレス1件です")
    return addresses[0]


def _path(value: Any) -> str:
    """One file's place, as typed (see `normalize.path_list`); blank keeps the default (none)."""
    if nz.is_blank(value):
        raise PydanticUseDefault()
    try:
        paths = nz.path_list(value)
    except nz.Invalid:
        raise PydanticCustomError("bad_setting", "ファイルの場所に使えない文字（制御文字）があります") from None
    if len(paths) != 1:
        raise PydanticCustomError("bad_setting", "ファイル1つの場所です")
    return paths[0]


def _template(value: Any) -> str:
    """A mail template: only the placeholders of `TEMPLATE_FIELDS`, every brace closed."""
    if nz.is_blank(value):
        raise PydanticUseDefault()
    text = str(value).replace("\r\n", "\n")
    try:
        fields = [name for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError:
        raise PydanticCustomError("bad_setting", "波かっこ { } の対応が取れていません（文字として使うときは {{ }} と重ねます）") from None
    unknown = [name for name in fields if name not in TEMPLATE_FIELDS]
    if unknown:
        raise PydanticCustomError("bad_setting", "差し込めない項目です: {names}（使えるのは {known}）",
                                  {"names": "・".join("{" + n + "}" for n in unknown),
                                   "known": " ".join("{" + n + "}" for n in TEMPLATE_FIELDS)})
    return text


CARRIERS = ("B2クラウド", "ゆうパックプリントR")  # issue 10: the carrier file presets (books/carrier.py)


def _carrier(value: Any) -> str:
    if nz.is_blank(value):
        raise PydanticUseDefault()
    text = nz.clean_text(value).replace(" ", "")
    aliases = {"B2": "B2クラウド", "ヤマト": "B2クラウド", "ゆうプリR": "ゆうパックプリントR", "ゆうパック": "ゆうパックプリントR"}
    text = aliases.get(text, text)
    if text not in CARRIERS:
        raise PydanticCustomError("bad_setting", "B2クラウド / ゆうパックプリントR のいずれかです")
    return text


def _postal(value: Any) -> str:
    if nz.is_blank(value):
        return ""
    try:
        return nz.postal_code(value)
    except nz.Invalid:
        raise PydanticCustomError("bad_setting", "郵便番号は7桁です") from None


def _phone(value: Any) -> str:
    if nz.is_blank(value):
        return ""
    try:
        return nz.phone(value)
    except nz.Invalid:
        raise PydanticCustomError("bad_setting", "電話番号は10桁または11桁です") from None


def _b2_code(value: Any) -> str:
    if nz.is_blank(value):
        return ""
    text = nz.code_text(value).replace("-", "")
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    if not (len(text) == 12 and text.isdigit() and text.isascii()):
        raise PydanticCustomError("bad_setting", "12桁の数字です")
    return text


TEMPLATE_FIELDS = ("金庫名", "金庫コード", "対象月")
Count = Annotated[int, BeforeValidator(_whole_number)]
Weekday = Annotated[int, BeforeValidator(_weekday), PlainSerializer(schema.WEEKDAYS.__getitem__, return_type=str)]
Text = Annotated[str, BeforeValidator(_text)]
CleanText = Annotated[str, BeforeValidator(_clean)]


def setting(key: str, default: Any, description: str, **constraints: Any) -> Any:
    """A 設定 row: the pydantic field, with its key as the title."""
    return Field(default, title=key, description=description, **constraints)


class Settings(BaseModel):
    """設定 as typed values. Each field is one row of the 設定 sheet (see `setting_rows`)."""

    model_config = ConfigDict(frozen=True)

    battery_months: Count = setting("電池寿命（月）", 60, "納品日から使用期限までの月数（使用期限が空欄のときに使います）", ge=1, le=240)
    min_remaining_months: Count = setting("最低残存期間（月）", 24, "発送予定日の時点で残っていなければならない使用期限までの月数",
                                          ge=0, le=120)
    warn_months: Count = setting("期限警告（月）", 6, "この月数以内に期限を迎えるトークンを交換対象として報告します", ge=0, le=120)
    cutoff_weekday: Weekday = setting("受付締切曜日", 1, "週次バッチの受付締切の曜日")
    card_weekday: Weekday = setting("カード作成曜日", 2, "SSCがIBカードを作成する曜日（●）")
    receipt_weekday: Weekday = setting("カード受領曜日", 4, "CSSがIBカードを受領する曜日（◆）")
    ship_weekday: Weekday = setting("発送曜日", 0, "CSSがIBカードとトークンを発送する曜日（★）")
    reorder_point: Count = setting("発注点", 100, "CSS在庫がこの数を下回ったら発注を勧めます", ge=0, le=10**7)
    serial_pattern: Annotated[str, BeforeValidator(_pattern)] = setting(
        "シリアル形式", r"^[0-9A-Z]{6,20}$", "シリアル番号の形式（正規表現）")
    report_dir: Text = setting("報告書出力先", "", "月次報告書を書き出すフォルダ（空欄はブックと同じ場所のreports）")
    smtp_host: CleanText = setting("SMTPサーバー", "", "月次報告を送信するSMTPサーバー")
    smtp_port: Count = setting("SMTPポート", 587, "SMTPのポート番号（STARTTLSは587、SSLは465）", ge=1, le=65535)
    smtp_security: Annotated[str, BeforeValidator(_security)] = setting(
        "SMTP暗号化", "STARTTLS", "STARTTLS / SSL / なし（なしはループバックのみ）")
    smtp_user: CleanText = setting(
        "SMTPユーザー", "", "SMTP認証のユーザー名（パスワードは環境変数かOSの資格情報に保存し、ここには書きません）")
    sender: Annotated[str, BeforeValidator(_sender)] = setting("差出人", "", "差出人のメールアドレス")
    sender_name: Text = setting("差出人名", "CSS トークン管理係", "差出人の表示名")
    mail_subject: Annotated[str, BeforeValidator(_template)] = setting(
        "メール件名", "【トークン月次報告】{対象月} {金庫名}", "件名（{金庫名} {金庫コード} {対象月} が使えます）")
    mail_body: Annotated[str, BeforeValidator(_template)] = setting(
        "メール本文",
        "{金庫名} ご担当者様\n\n{対象月}分のハードウェアトークン月次報告をお送りします。\n添付のファイルをご確認ください。\n\nCSS トークン管理係",
        "本文（{金庫名} {金庫コード} {対象月} が使えます）")
    smime_certificate: Annotated[str, BeforeValidator(_path)] = setting(
        "S/MIME証明書", "", "報告メールに署名するCSSの証明書ファイル（PEMかDER、RSA鍵。PEMには中間証明書を続けて入れられます）。"
        "ブックのフォルダからの相対パスか絶対パス。S/MIME秘密鍵と両方あるとき、すべての報告メールに署名します")
    smime_key: Annotated[str, BeforeValidator(_path)] = setting(
        "S/MIME秘密鍵", "", "S/MIME証明書の秘密鍵ファイル（PEM、PKCS#8）。鍵のパスワードは環境変数 "
        "TOKENBOOK_SMIME_KEY_PASSWORD かOSの資格情報（tokenbook / smime-key）に保存し、ここには書きません")

    # --- issue 10: parcels (the sender on labels and letters, the carrier file) ---------------------
    carrier: Annotated[str, BeforeValidator(_carrier)] = setting(
        "送り状形式", "ゆうパックプリントR", "発送書類の送り状データの形式（B2クラウド / ゆうパックプリントR）")
    sender_org: Text = setting("発送元名称", "CSS トークン管理係", "送付状と送り状に載せる発送元（CSS）の名称")
    sender_postal_code: Annotated[str, BeforeValidator(_postal)] = setting(
        "発送元郵便番号", "", "発送元の郵便番号（送り状に必要）")
    sender_address: Text = setting("発送元住所", "", "発送元の住所（送り状に必要）")
    sender_phone: Annotated[str, BeforeValidator(_phone)] = setting("発送元電話", "", "発送元の電話番号（送り状に必要）")
    sender_contact: Text = setting("発送元担当者", "", "送付状に載せる担当者名（お問い合わせ先）")
    item_name: Text = setting("品名", "電子機器（リチウム電池内蔵）",
                              "送り状の品名（リチウム電池を内蔵するため、そのことが分かる品名にします）")
    b2_customer_code: Annotated[str, BeforeValidator(_b2_code)] = setting(
        "B2請求先顧客コード", "", "B2クラウドのご請求先顧客コード（契約の12桁。B2クラウドを使うときに必要）")
    b2_freight_no: CleanText = setting("B2運賃管理番号", "01", "B2クラウドの運賃管理番号（通常 01）")
    yupri_registered: CleanText = setting(
        "ゆうプリR書留種別", "", "ゆうパックプリントRの書留／セキュリティ／特定記録種別の値（簡易書留の値は日本郵便に確認してください）")

    # issue 11: replacement waves and the stock forecast
    weekly_capacity: Count = setting("週間発送能力", 200, "交換計画で1回の週次バッチに入れる交換品の本数の上限（手配済の交換を含む）",
                                     ge=1, le=10**6)
    replacement_margin_weeks: Count = setting("交換余裕（週）", 4, "交換品を使用期限のこの週数前までに発送するよう計画します",
                                              ge=0, le=52)
    answer_weeks: Count = setting("交換回答期間（週）", 2, "交換計画の作成日から最初に計画するバッチの締切までの週数（金庫の回答期間）",
                                  ge=0, le=26)
    order_lot: Count = setting("発注ロット", 100, "SSCへの発注の単位（本）。発注提案はこの倍数です", ge=1, le=10**6)
    lead_weeks: Count = setting("納品リードタイム（週）", 4, "SSCに発注してから納品されるまでの週数", ge=0, le=52)

    # issue 9: the contact line every bank report carries
    contact_name: Text = setting("問い合わせ先", "CSS トークン管理係", "報告書に載せるCSSの問い合わせ先（部署・担当）")
    contact_phone: Text = setting("問い合わせ電話", "", "報告書に載せる問い合わせ先の電話番号（空欄なら載せません）")

    @cached_property
    def contact_line(self) -> str:
        """`CSS トークン管理係　TEL 03-…　token@css.example`: whatever of it is set."""
        parts = [self.contact_name, f"TEL {self.contact_phone}" if self.contact_phone else "", self.sender]
        return "　".join(p for p in parts if p)

    @cached_property
    def serial_regex(self) -> nz.Matcher:
        """シリアル形式 compiled with a bounded engine (see normalize.serial_matcher)."""
        return nz.serial_matcher(self.serial_pattern)


class SettingRow(NamedTuple):
    """One row of the 設定 sheet as a new workbook gets it."""

    key: str
    field: str
    default: str
    description: str


def setting_rows() -> tuple[SettingRow, ...]:
    """The 設定 sheet's rows (項目 / 値 / 説明), derived from `Settings`, in its field order."""
    defaults = Settings().model_dump()
    shown = Settings().model_dump(mode="json")
    rows = []
    for name, info in Settings.model_fields.items():
        value = shown[name] if isinstance(shown[name], str) else defaults[name]
        rows.append(SettingRow(info.title or name, name, str(value), info.description or ""))
    return tuple(rows)


@dataclass(frozen=True)
class Ledger:
    """Everything tokenbook knows from one workbook. `columns` says where each header stood in each
    sheet as read (sheet -> header -> column letter) and `setting_row` where each setting stood in
    設定, so problems found later point at real cells."""

    banks: tuple[Bank, ...] = ()
    tokens: tuple[Token, ...] = ()
    requests: tuple[Request, ...] = ()
    dispatches: tuple[Dispatch, ...] = ()
    journal: tuple[JournalEntry, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    stocktakes: tuple[StocktakeLine, ...] = ()  # 棚卸, when the workbook has it
    replacement_answers: tuple[ReplacementAnswer, ...] = ()  # 交換計画回答, when the book has that sheet
    schedule: tuple[ScheduleRow, ...] = ()  # バッチ日程, when the workbook has it
    settings: Settings = field(default_factory=Settings)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    setting_row: dict[str, int] = field(default_factory=dict)  # Settings field -> its row in 設定
    folder: Path | None = None  # the book's folder: relative file names in the book start there
    closings: tuple[Closing, ...] = ()  # 年次締め; empty when the ledger has no such sheet
    openings: tuple[Opening, ...] = ()  # 繰越: the open year's opening entries (after a close-year)


ROW_TYPES = {
    schema.BANKS: Bank,
    schema.TOKENS: Token,
    schema.REQUESTS: Request,
    schema.DISPATCH: Dispatch,
    schema.JOURNAL: JournalEntry,
    schema.HOLIDAYS: Holiday,
}
OPTIONAL_ROW_TYPES = {schema.BATCH_SCHEDULE: ScheduleRow, schema.CLOSINGS: Closing, schema.OPENING: Opening,
                      schema.REPLACEMENT_ANSWERS: ReplacementAnswer}
# The Ledger field each sheet's rows are kept in (棚卸 only when the book has it; no columns: no edit)
SHEET_FIELDS = {schema.BANKS: "banks", schema.TOKENS: "tokens", schema.REQUESTS: "requests",
                schema.DISPATCH: "dispatches", schema.JOURNAL: "journal", schema.HOLIDAYS: "holidays",
                schema.BATCH_SCHEDULE: "schedule", schema.CLOSINGS: "closings",
                schema.OPENING: "openings",  # 繰越: only close-year changes it
                schema.STOCKTAKE: "stocktakes", schema.REPLACEMENT_ANSWERS: "replacement_answers"}
