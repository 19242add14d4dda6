"""Problems are values with a location (design §7).

One frozen `Problem` type, one registry of stable kebab-case codes with their severity and Japanese
message template, and one renderer for the console. Checks return lists of problems; they never
raise per row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable

ERROR = "エラー"
WARNING = "警告"

# code -> (severity, message template). Templates use str.format with the problem's params.
CODES: dict[str, tuple[str, str]] = {
    "required": (ERROR, "「{header}」は必須です"),
    "bad-date": (ERROR, "「{header}」を日付として読めません"),
    "bad-month": (ERROR, "「{header}」を年月として読めません: {reason}"),
    "bad-datetime": (ERROR, "「{header}」を日時として読めません"),
    "bad-bank-code": (ERROR, "金庫コードは4桁の数字です"),
    "bad-branch-code": (ERROR, "店番は3桁の数字です"),
    "bad-owner": (ERROR, "所有者は CSS か4桁の金庫コードです"),
    "bad-serial": (ERROR, "シリアル番号が形式 {pattern} に合いません"),
    "bad-postal-code": (ERROR, "郵便番号が7桁ではありません"),
    "bad-phone": (ERROR, "電話番号は10桁または11桁の数字です（ハイフン可）"),
    "bad-email": (ERROR, "メールアドレスの形式が正しくありません: {item}"),
    "bad-domain": (ERROR, "ドメインの形式が正しくありません: {item}"),
    "bad-integer": (ERROR, "「{header}」は1以上の整数です"),
    "bad-choice": (ERROR, "「{header}」は {choices} のいずれかです"),
    "bad-text": (ERROR, "「{header}」に読めない値があります"),
    "duplicate-key": (ERROR, "「{header}」が重複しています（{first}行目と同じ）"),
    "unknown-bank": (ERROR, "金庫コード {bank} は「金庫」シートにありません"),
    "future-date": (ERROR, "受付日が未来の日付です"),
    "expiry-not-after-delivery": (ERROR, "使用期限が納品日より後ではありません"),
    "required-for-state": (ERROR, "状態「{state}」には「{header}」が必要です"),
    "stop-reason-required": (ERROR, "状態「停止」には停止理由が必要です"),
    "customer-required": (ERROR, "申込区分「{kind}」には「{header}」が必要です"),
    "ib-card-not-allowed": (ERROR, "IBカード「有」は申込区分「新規」で郵送の場合だけです"),
    "handover-count": (ERROR, "手交シリアルは数量と同じ {quantity} 件が必要です（{count} 件）"),
    "handover-not-at-bank": (ERROR, "手交シリアル {serial} は金庫 {bank} で金庫保管の状態ではありません"),
    "handover-unexpected": (ERROR, "手交シリアルは発送方法「窓口手交」のときだけ書きます"),
    "old-serial-required": (ERROR, "申込区分「{kind}」には旧シリアルが必要です"),
    "old-serial-not-in-use": (ERROR, "旧シリアル {serial} はこの金庫・顧客で利用中ではありません"),
    "ship-address-required": (ERROR, "郵送には「{header}」が必要です"),
    "report-mail-required": (ERROR, "報告送付が「する」のときは報告先メールが必要です"),
    "recipient-outside-domain": (ERROR, "{item} は許可ドメイン（{domains}）の外です"),
    "unknown-serial": (ERROR, "シリアル番号 {serial} は「在庫」シートにありません"),
    "unknown-request": (ERROR, "依頼番号 {request_id} は「申込」シートにありません"),
    "bad-setting": (ERROR, "設定「{key}」の値が正しくありません: {reason}"),
    "missing-setting": (WARNING, "設定「{key}」がないため既定値 {default} を使います"),
    "unknown-setting": (WARNING, "設定「{key}」は tokenbook が使わない項目です"),
    "password-in-settings": (ERROR, "設定にパスワードを書かないでください（環境変数かOSの資格情報を使います）"),
    "unknown-postal-code": (WARNING, "郵便番号 {postal} は日本郵便のデータにありません"),
    "postal-prefecture-mismatch": (WARNING, "郵便番号 {postal} は{prefecture}の番号ですが、住所は{found}です"),
    "expired-stock": (WARNING, "使用期限を過ぎた在庫です"),
    "started-before-delivery": (WARNING, "利用開始日が納品日より前です"),
    "held-by-another-owner": (WARNING, "金庫保管のトークンの所有者（{owner}）が保管している金庫（{bank}）と違います"),
    "suspicious-duplicate": (WARNING, "同じ顧客の同じ申込区分が未完了で重複しています（{first}行目）"),
    "state-differs-from-journal": (WARNING, "状態が履歴（最後は「{journalled}」）と違います。手作業の変更として履歴に記録します"),
    "batch-input-error": (WARNING, "入力エラーがあるため、この申込は今回のバッチで処理しません"),
    "dispatch-mismatch": (ERROR, "発送行のトークンが引当済ではないか、別の依頼に引き当てられています"),
    # issue 9: the weekly cycle and the month-end
    "shipped-in-future": (ERROR, "発送日が未来の日付です（今日は {today}）"),
    "shipped-before-card": (ERROR, "IBカード同封の発送日が依頼 {request_id} のIBカード受領日 {received} より前です"),
    "shipped-without-card": (ERROR, "IBカード同封で発送済ですが、依頼 {request_id} にIBカード受領日がありません"),
    "expiry-derived": (WARNING, "使用期限が空欄の {count} 本（{cells}）は納品日＋電池寿命（月）{months}か月を使用期限とします"),
    "bad-batch-id": (ERROR, "バッチは 2026-W53 の形で、締切曜日のある週を書きます"),
    "schedule-order": (ERROR, "「{header}」が「{before}」（{earlier}）より前です"),
    "schedule-closed-day": (WARNING, "「{header}」が休業日です"),
    "internal-error": (ERROR, "チェック中に内部エラーが起きました（{detail}）"),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in the ledger, with where it is."""

    sheet: str
    row: int | None
    header: str | None
    cell: str | None
    value: str
    code: str
    severity: str
    message: str

    def render(self) -> str:
        """`申込!F12 [bad-postal-code] 郵便番号が7桁ではありません: '12-345'`; in a list without cells
        (a CSV), the line: `slip.csv:12 [duplicate-serial] …`."""
        if self.cell:
            where = f"{self.sheet}!{self.cell}"
        elif self.row and "." in self.sheet:  # a file, not a ledger sheet
            where = f"{self.sheet}:{self.row}"
        else:
            where = self.sheet
        shown = f": {self.value!r}" if self.value != "" else ""
        return f"{where} [{self.code}] {self.message}{shown}"

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def problem(
    code: str,
    sheet: str,
    row: int | None = None,
    header: str | None = None,
    column: str | None = None,
    value: Any = "",
    **params: Any,
) -> Problem:
    """Make a problem from the registry; `column` is the column letter of `header` in the sheet."""
    severity, template = CODES[code]
    message = template.format(header=header, **params)
    cell = f"{column}{row}" if column and row else None
    return Problem(sheet, row, header, cell, shown_value(value), code, severity, message)


def shown_value(value: Any) -> str:
    """The value as a clerk would recognise it, bounded so a huge cell cannot flood the output."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_json(problems: Iterable[Problem]) -> str:
    return json.dumps([asdict(p) for p in problems], ensure_ascii=False, indent=1)


def count(problems: Iterable[Problem]) -> tuple[int, int]:
    """(errors, warnings)."""
    errors = warnings = 0
    for p in problems:
        if p.is_error:
            errors += 1
        else:
            warnings += 1
    return errors, warnings
