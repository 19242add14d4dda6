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
    "date-out-of-range": (ERROR, "「{header}」が {first}〜{last} の範囲外の日付です"),
    "expiry-not-computable": (ERROR, "納品日に電池寿命（{months}か月）を足した使用期限が {last} を超えるため計算できません"),
    "too-long": (ERROR, "「{header}」が長すぎます（Excelのセルは {limit} 文字まで）"),
    "control-character": (ERROR, "「{header}」に制御文字（改行・タブ・NULなど）が入っています"),
    "formula-like-code": (ERROR, "「{header}」は = + - @ で始められません（数式と読まれるおそれがあります）"),
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
    "bad-path": (ERROR, "「{header}」のファイルの場所に使えない文字（制御文字）があります"),
    "duplicate-key": (ERROR, "「{header}」が重複しています（{first}行目と同じ）"),
    "unknown-bank": (ERROR, "金庫コード {bank} は「金庫」シートにありません"),
    "future-date": (ERROR, "「{header}」が未来の日付です（実行日 {today} より後）"),
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
    "bank-name-too-long": (ERROR, "金庫名は{limit}文字までです（報告書のファイル名と見出しに使います）"),
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
    # S/MIME certificates and keys (設定 S/MIME証明書・S/MIME秘密鍵, 金庫 暗号化証明書); `path` is as written
    "certificate-unreadable": (ERROR, "証明書 {path} を使えません: {reason}"),
    "certificate-expired": (ERROR, "証明書 {path} は有効期限（{date}）が切れています"),
    "certificate-not-yet-valid": (ERROR, "証明書 {path} は {date} からしか使えません"),
    "certificate-expiring": (WARNING, "証明書 {path} の有効期限は {date} です（{days}日以内）。新しい証明書を用意してください"),
    "certificate-key-type": (ERROR, "証明書 {path} の鍵がRSAではありません（S/MIMEの暗号化にはRSA鍵の証明書が必要です）"),
    "certificate-usage": (ERROR, "証明書 {path} は鍵の用途（鍵使用法・拡張鍵使用法）で{purpose}が許されていません"),
    "certificate-address-mismatch": (WARNING, "証明書 {path} のメールアドレス（{addresses}）が報告先メール・CCメールにありません"),
    "encryption-certificate-missing": (WARNING, "メール暗号化が「必須」ですが暗号化証明書がありません。この金庫には報告メールを送りません"),
    "smime-incomplete": (ERROR, "署名には S/MIME証明書 と S/MIME秘密鍵 の両方が必要です"),
    "smime-sender-mismatch": (WARNING, "S/MIME証明書のメールアドレス（{addresses}）に差出人 {sender} がありません（受け取った側で警告が出ます）"),
    "smime-key-unreadable": (ERROR, "秘密鍵 {path} を使えません: {reason}"),
    "smime-key-password-missing": (WARNING, "秘密鍵 {path} のパスワードがありません（環境変数 TOKENBOOK_SMIME_KEY_PASSWORD か"
                                            "OSの資格情報に保存してください）。このままでは報告メールを作れません"),
    "smime-key-mismatch": (ERROR, "秘密鍵 {path} は S/MIME証明書 の鍵ではありません"),
    # issue 9: the weekly cycle and the month-end
    "shipped-in-future": (ERROR, "発送日が未来の日付です（今日は {today}）"),
    "shipped-before-card": (ERROR, "IBカード同封の発送日が依頼 {request_id} のIBカード受領日 {received} より前です"),
    "shipped-without-card": (ERROR, "IBカード同封で発送済ですが、依頼 {request_id} にIBカード受領日がありません"),
    "expiry-derived": (WARNING, "使用期限が空欄の {count} 本（{cells}）は納品日＋電池寿命（月）{months}か月を使用期限とします"),
    "bad-batch-id": (ERROR, "バッチは 2026-W53 の形で、締切曜日のある週を書きます"),
    "schedule-order": (ERROR, "「{header}」が「{before}」（{earlier}）より前です"),
    "schedule-closed-day": (WARNING, "「{header}」が休業日です"),
    "internal-error": (ERROR, "チェック中に内部エラーが起きました（{detail}）"),
    # --- issue 10: stock intake, bank request forms, parcels, tracking, disposal and returns ---------
    "bad-serial-range": (ERROR, "シリアル番号の範囲を読めません（TK2600000001-TK2600000500 のように、"
                                "両端の英字部分と桁数をそろえ、小さい番号から書きます）"),
    "serial-range-too-long": (ERROR, "シリアル番号の範囲が {count:,} 本あり、1行の上限 {limit:,} 本を超えています"),
    "duplicate-in-list": (ERROR, "シリアル番号 {serial} がこのファイルの {first} 行目と重複しています"),
    "serial-in-ledger": (ERROR, "シリアル番号 {serial} は既に「在庫」シートの {at} 行目にあります"),
    "slip-count-mismatch": (ERROR, "伝票の合計 {stated:,} 本と、リストのシリアル番号 {listed:,} 本が一致しません"),
    "delivery-after-receipt": (ERROR, "納品日が入庫日 {received_on} より後です"),
    "received-in-future": (ERROR, "入庫日 {received_on} が今日より後です"),
    "empty-list": (ERROR, "取り込む行がありません"),
    "unknown-owner": (ERROR, "所有者 {owner} は「金庫」シートにない金庫コードです"),
    "form-of-unknown-bank": (ERROR, "申込書の金庫コード {bank} は「金庫」シートにありません"),
    "form-of-another-bank": (ERROR, "この申込書は金庫 {bank} のものですが、ファイル名は金庫 {named} です（別の金庫の申込書です）"),
    "form-number-mismatch": (ERROR, "申込書番号 {number} は金庫 {bank} の番号ではありません（書き換えられた申込書です）"),
    "form-row-imported": (WARNING, "この行は取込済みです（依頼番号 {request_id}）。二重には取り込みません"),
    "form-branch-unknown": (WARNING, "店番 {branch} はこの金庫でまだ使われていない店番です"),
    "tracking-bad-number": (ERROR, "お問い合わせ番号（追跡番号）は12桁の数字です（Excel で開くと 8.11029E+11 のように崩れます。"
                                   "CSV はメモ帳などで開いて確かめてください）"),
    "tracking-unknown-parcel": (ERROR, "発送番号 {parcel} は「発送」シートにありません"),
    "tracking-duplicate-parcel": (ERROR, "発送番号 {parcel} がこのファイルの {first} 行目にもあります"),
    "tracking-duplicate-number": (ERROR, "追跡番号 {number} がこのファイルの {first} 行目にもあります"),
    "tracking-number-in-use": (ERROR, "追跡番号 {number} は既に発送番号 {parcel} のものです"),
    "tracking-differs": (ERROR, "発送番号 {parcel} には既に別の追跡番号 {recorded} があります（上書きしません）"),
    "tracking-cancelled-parcel": (ERROR, "発送番号 {parcel} は取消された発送です"),
    "parcel-no-batch": (ERROR, "バッチ {batch} の発送がありません"),
    "parcel-address-missing": (ERROR, "送り状に「{header}」が必要です（発送番号 {parcel}）"),
    "parcel-sender-missing": (ERROR, "設定「{key}」が空欄です（{preset}の送り状に必要です）"),
    "parcel-not-cp932": (ERROR, "「{header}」に送り状で使えない文字 {chars} があります（発送番号 {parcel}。JIS第1・第2水準の文字に直してください）"),
    "parcel-too-long": (ERROR, "「{header}」が送り状の上限（{limit}）を超えています（発送番号 {parcel}）"),
    "dispose-unknown-serial": (ERROR, "シリアル番号 {serial} は「在庫」シートにありません"),
    "dispose-wrong-state": (ERROR, "シリアル番号 {serial} は状態「{state}」のため{operation}できません（{allowed}のときだけです）"),
    "dispose-not-expired": (ERROR, "シリアル番号 {serial} は使用期限 {expires_on} 前の在庫です（期限前の在庫は故障返品にします）"),
    # --- years of operation (close-year, the tamper-evident journal, archives) ---
    "journal-row-edited": (ERROR, "履歴のこの行は記録された後に変更されています（連鎖ダイジェストが内容と合いません）。"
                                  "バックアップ（backups）から元に戻してください"),
    "journal-row-deleted": (ERROR, "履歴のこの行の直前にあった行が削除されています（連鎖ダイジェストがつながりません）。"
                                   "バックアップ（backups）から元に戻してください"),
    "journal-row-inserted": (ERROR, "履歴のこの行は tokenbook が記録した行ではありません（手で挿入された行です）。"
                                    "バックアップ（backups）から元に戻してください"),
    "journal-before-chain": (WARNING, "履歴の{first}〜{last}行目（{count}行）は連鎖ダイジェストの導入前の行で、改ざん検知の"
                                      "対象外です（年次締め close-year で保管用ブックに移ると対象になります）"),
    "archive-changed": (ERROR, "{reason}"),
    "opening-row-edited": (ERROR, "繰越のこの行は年次締めの後に変更されています（連鎖ダイジェストが内容と合いません）。"
                                  "バックアップ（backups）から元に戻してください"),
    "opening-row-deleted": (ERROR, "繰越のこの行の直前にあった行が削除されています（連鎖ダイジェストがつながりません）。"
                                   "バックアップ（backups）から元に戻してください"),
    "opening-row-inserted": (ERROR, "繰越のこの行は年次締めが記録した行ではありません（手で挿入された行です）。"
                                    "バックアップ（backups）から元に戻してください"),
    # --- IB cards, the work list, 共同センター, stocktaking (issue 17) ---
    "bad-count": (ERROR, "「{header}」は0以上の整数です"),
    "card-key-missing": (ERROR, "依頼番号か、金庫コードと顧客番号が必要です"),
    "card-no-request": (ERROR, "{who} のIBカードを待っている申込がありません"),
    "card-ambiguous": (ERROR, "{who} のIBカードを待っている申込が {count} 件あります（{ids}）。依頼番号を書いてください"),
    "card-not-waiting": (ERROR, "依頼番号 {request_id} はIBカード待ちではありません（{reason}）"),
    "card-repeated": (ERROR, "依頼番号 {request_id} のIBカードは {first} 行目にもあります"),
    "card-before-card-day": (WARNING, "IBカード受領日 {on} がバッチ {batch} のカード作成日（●{card}）より前です"),
    "list-line-mismatch": (ERROR, "依頼番号 {request_id} の申込と「{header}」が違います（申込は {expected}）"),
    "list-branch-differs": (WARNING, "店番が申込（{expected}）と違います"),
    "center-not-waiting": (ERROR, "依頼番号 {request_id} は共同センター伝送の対象ではありません（{reason}）"),
    "center-already-sent": (WARNING, "依頼番号 {request_id} の共同センター伝送日は既に {sent_on} です（変えません）"),
    "center-repeated": (WARNING, "依頼番号 {request_id} は {first} 行目にもあります（一度だけ記録します）"),
    # --- issue 11: replacement plans and the banks' answers ---
    "answers-sheet-missing": (ERROR, "台帳ブックに「交換計画回答」シートがありません。tokenbook new-workbook で作った新しいブックに"
                                     "移すか、見出し（計画日・金庫コード・シリアル番号・回答 …）だけのシートを加えてください"),
    "proposal-other-bank": (ERROR, "別の金庫の交換計画が混じっています（金庫 {banks}）。金庫ごとのファイルのまま取り込んでください"),
    "proposal-other-bank-token": (ERROR, "このトークンは金庫 {bank} で利用中のものではありません（別の金庫の交換計画です）"),
    "proposal-duplicate-line": (ERROR, "同じシリアル番号の行が2つあります"),
    "proposal-bad-batch": (ERROR, "予定バッチは 2026-W48 の形です（交換計画の値を変えないでください）"),
    "proposal-kind-unknown": (ERROR, "顧客区分が分かりません。法人 / 個人 を記入してください"),
    "proposal-answered-before": (WARNING, "この行は回答「{before}」として取込済です。今回の回答は取り込みません（変えるときは"
                                          "「交換計画回答」シートを直してください）"),
    "proposal-token-not-in-use": (WARNING, "このトークンは今は利用中ではありません（{state}）。この行は取り込みません"),
    "proposal-already-arranged": (WARNING, "このトークンの交換は既に手配されています（依頼番号 {request_id}）。この行は取り込みません"),
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
