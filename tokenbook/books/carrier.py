"""Carrier files for label printing (issue 10): one row per parcel in the import layout of the label
tool chosen in 設定 送り状形式, cp932 and CRLF as the tools read them.

Presets (facts and unconfirmed points: ../shared/design/carriers.md; the README says what was never
tried against a carrier):
- **B2クラウド** (Yamato, 外部データから発行, 基本レイアウト): the 97 items in their fixed order, with a
  header row (register 取込み開始行 = 2); 発払い 宅急便; the parcel number in お客様管理番号.
- **ゆうパックプリントR** (Japan Post): no fixed layout exists, the operator registers an import
  filter once; tokenbook writes the 20 columns of `YUPRI_COLUMNS`, no header, and the README lists
  the filter to register.

Every value is checked before anything is written: JIS X 0208 characters only (a cp932 character
outside it — 髙, 﨑, ①, ㈱ — would print as `?` or be refused), within the field's length in bytes
(全角 = 2; an address is split over the fields the layout has for it), never a line break.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import schema
from ..models import Settings
from ..parcels import Parcel
from ..problems import Problem, problem

B2_COLUMNS = (
    "お客様管理番号", "送り状種類", "クール区分", "伝票番号", "出荷予定日", "お届け予定（指定）日", "配達時間帯",
    "お届け先コード", "お届け先電話番号", "お届け先電話番号枝番", "お届け先郵便番号", "お届け先住所",
    "お届け先住所（アパートマンション名）", "お届け先会社・部門名1", "お届け先会社・部門名2", "お届け先名",
    "お届け先名略称カナ", "敬称", "ご依頼主コード", "ご依頼主電話番号", "ご依頼主電話番号枝番", "ご依頼主郵便番号",
    "ご依頼主住所", "ご依頼主住所（アパートマンション名）", "ご依頼主名", "ご依頼主略称カナ", "品名コード1", "品名1",
    "品名コード2", "品名2", "荷扱い1", "荷扱い2", "記事", "コレクト代金引換額（税込）", "コレクト内消費税額等",
    "営業所止置き", "営業所コード", "発行枚数", "個数口枠の印字", "ご請求先顧客コード", "ご請求先分類コード",
    "運賃管理番号", "クロネコwebコレクトデータ登録", "クロネコwebコレクト加盟店番号",
    "クロネコwebコレクト申込受付番号1", "クロネコwebコレクト申込受付番号2", "クロネコwebコレクト申込受付番号3",
    "お届け予定eメール利用区分", "お届け予定eメールe-mailアドレス", "入力機種", "お届け予定eメールメッセージ",
    "お届け完了eメール利用区分", "お届け完了eメールe-mailアドレス", "お届け完了eメールメッセージ",
    "クロネコ収納代行利用区分", "予備", "収納代行請求金額（税込）", "収納代行内消費税額等", "収納代行請求先郵便番号",
    "収納代行請求先住所", "収納代行請求先住所（アパートマンション名）", "収納代行請求先会社・部門名1",
    "収納代行請求先会社・部門名2", "収納代行請求先名（漢字）", "収納代行請求先名（カナ）", "収納代行問合せ先名（漢字）",
    "収納代行問合せ先郵便番号", "収納代行問合せ先住所", "収納代行問合せ先住所（アパートマンション名）",
    "収納代行問合せ先電話番号", "収納代行管理番号", "収納代行品名", "収納代行備考", "複数口くくりキー",
    "検索キータイトル1", "検索キー1", "検索キータイトル2", "検索キー2", "検索キータイトル3", "検索キー3",
    "検索キータイトル4", "検索キー4", "検索キータイトル5", "検索キー5", "予備", "予備", "投函予定メール利用区分",
    "投函予定メールe-mailアドレス", "投函予定メールメッセージ", "投函完了メール（お届け先宛）利用区分",
    "投函完了メール（お届け先宛）e-mailアドレス", "投函完了メール（お届け先宛）メールメッセージ",
    "投函完了メール（ご依頼主宛）利用区分", "投函完了メール（ご依頼主宛）e-mailアドレス",
    "投函完了メール（ご依頼主宛）メールメッセージ", "連携管理番号", "通知メールアドレス",
)
assert len(B2_COLUMNS) == 97

YUPRI_COLUMNS = (
    "お客様側管理番号", "発送予定日", "郵便種別", "元／着払／代引", "書留／セキュリティ／特定記録種別",
    "お届け先郵便番号", "お届け先住所1", "お届け先住所2", "お届け先住所3", "お届け先名称1", "お届け先名称2",
    "お届け先敬称区分", "お届け先電話番号", "ご依頼主郵便番号", "ご依頼主住所1", "ご依頼主住所2", "ご依頼主名称",
    "ご依頼主電話番号", "品名", "記事",
)


@dataclass(frozen=True)
class Preset:
    name: str
    columns: tuple[str, ...]
    header: bool
    file_suffix: str
    fill: Callable[["_Row", Parcel, Settings], None]
    required_settings: tuple[str, ...]  # Settings fields a label cannot do without


class _Row:
    """One parcel's row being filled: checks each value and keeps the problems it finds."""

    def __init__(self, columns: tuple[str, ...], parcel: Parcel, problems: list[Problem]) -> None:
        self.index = {name: i for i, name in reversed(list(enumerate(columns)))}  # the first 予備 wins
        self.values = [""] * len(columns)
        self.parcel = parcel
        self.problems = problems

    def put(self, column: str, value: str) -> None:
        self.values[self.index[column]] = value

    def text(self, columns: tuple[str, ...], value: str, limit: int, header: str) -> None:
        """`value` over `columns` of `limit` bytes each (split at characters), checked at `header`'s cell."""
        value = " ".join(value.split())  # never a line break inside a field
        place = self.parcel.places.get(header)
        bad = sorted({ch for ch in value if not jis_x0208(ch)})
        if bad:
            self.problems.append(self._at(place, "parcel-not-cp932", header, value, chars="".join(bad)))
            return
        parts = split_bytes(value, limit, len(columns))
        if parts is None:
            shown = f"{limit // 2}文字" if len(columns) == 1 else f"{len(columns)}欄×{limit // 2}文字"
            self.problems.append(self._at(place, "parcel-too-long", header, value, limit=f"全角{shown}"))
            return
        for column, part in zip(columns, parts):
            self.put(column, part)

    def _at(self, place, code: str, header: str, value: str, **params: object) -> Problem:
        if place is None:  # a 設定 value
            return problem(code, schema.SETTINGS, None, "値", None, value, parcel=self.parcel.parcel_id, **params)
        return place.problem(code, header, value, parcel=self.parcel.parcel_id, **params)


def jis_x0208(ch: str) -> bool:
    """A character the label tools take: ASCII, half-width kana or JIS X 0208 (cp932's NEC and IBM
    extensions — ①, ㈱, 髙, 﨑 — are not).

    >>> [jis_x0208(c) for c in "高髙－①ｱ"]
    [True, False, True, False, True]
    """
    try:
        ch.encode("cp932").decode("shift_jis")
    except UnicodeError:
        return False
    return True


def split_bytes(text: str, limit: int, fields: int) -> list[str] | None:
    """`text` cut into at most `fields` parts of `limit` cp932 bytes; None when it does not fit.

    >>> split_bytes("東京都千代田区", 8, 2)
    ['東京都千', '代田区']
    """
    parts, current, size = [], "", 0
    for ch in text:
        width = len(ch.encode("cp932"))
        if size + width > limit:
            parts.append(current)
            current, size = "", 0
        current += ch
        size += width
    parts.append(current)
    return parts if len(parts) <= fields else None


def _digits(postal: str) -> str:
    return postal.replace("-", "")


def _b2(row: _Row, p: Parcel, s: Settings) -> None:
    row.put("お客様管理番号", p.parcel_id)
    row.put("送り状種類", "0")  # 発払い (宅急便): tracked and signed for
    row.put("出荷予定日", f"{p.ship_on:%Y/%m/%d}" if p.ship_on else "")
    row.put("お届け先電話番号", p.phone)
    row.put("お届け先郵便番号", p.postal_code)
    row.text(("お届け先住所", "お届け先住所（アパートマンション名）"), p.address, 64, "送付先住所")
    if len(row.values[row.index["お届け先住所（アパートマンション名）"]].encode("cp932")) > 32:
        row.problems.append(p.places["送付先住所"].problem("parcel-too-long", "送付先住所", p.address,
                                                           parcel=p.parcel_id, limit="全角48文字"))
    row.text(("お届け先会社・部門名1",), p.organisation, 50, "送付先氏名")
    row.text(("お届け先名",), p.name, 32, "送付先氏名")
    row.put("ご依頼主電話番号", s.sender_phone)
    row.put("ご依頼主郵便番号", s.sender_postal_code)
    row.text(("ご依頼主住所", "ご依頼主住所（アパートマンション名）"), s.sender_address, 64, "発送元住所")
    row.text(("ご依頼主名",), s.sender_org, 32, "発送元名称")
    row.text(("品名1",), s.item_name, 50, "品名")
    row.put("記事", "IBカード同封" if p.ib_card else "")
    row.put("発行枚数", "1")
    row.put("ご請求先顧客コード", s.b2_customer_code)
    row.put("運賃管理番号", s.b2_freight_no)


def _yupri(row: _Row, p: Parcel, s: Settings) -> None:
    registered = s.yupri_registered
    row.put("お客様側管理番号", p.parcel_id)
    row.put("発送予定日", f"{p.ship_on:%Y%m%d}" if p.ship_on else "")
    row.put("郵便種別", "3" if registered else "0")  # 定形外 with 書留 when a 書留 kind is set, else ゆうパック
    row.put("元／着払／代引", "0")
    row.put("書留／セキュリティ／特定記録種別", registered)
    row.put("お届け先郵便番号", _digits(p.postal_code))
    row.text(("お届け先住所1", "お届け先住所2", "お届け先住所3"), p.address, 50, "送付先住所")
    if p.organisation:  # 名称1 the bank, 名称2 its department
        row.text(("お届け先名称1",), p.organisation, 50, "送付先氏名")
        row.text(("お届け先名称2",), p.name, 50, "送付先氏名")
    else:
        row.text(("お届け先名称1", "お届け先名称2"), p.name, 50, "送付先氏名")
    row.put("お届け先敬称区分", {"様": "0", "御中": "2"}.get(p.honorific, ""))
    row.put("お届け先電話番号", p.phone)
    row.put("ご依頼主郵便番号", _digits(s.sender_postal_code))
    row.text(("ご依頼主住所1", "ご依頼主住所2"), s.sender_address, 50, "発送元住所")
    row.text(("ご依頼主名称",), s.sender_org, 50, "発送元名称")
    row.put("ご依頼主電話番号", s.sender_phone)
    row.text(("品名",), s.item_name, 50, "品名")
    row.put("記事", "IBカード同封" if p.ib_card else "")


PRESETS = {
    "B2クラウド": Preset("B2クラウド", B2_COLUMNS, True, "B2クラウド", _b2,
                       ("sender_postal_code", "sender_address", "sender_phone", "b2_customer_code")),
    "ゆうパックプリントR": Preset("ゆうパックプリントR", YUPRI_COLUMNS, False, "ゆうプリR", _yupri,
                             ("sender_postal_code", "sender_address", "sender_phone")),
}


def carrier_rows(parcels: tuple[Parcel, ...], settings: Settings) -> tuple[Preset, list[list[str]], list[Problem]]:
    """The preset of 設定 送り状形式, its rows (one per parcel) and the problems that stop writing them."""
    preset = PRESETS[settings.carrier]
    problems: list[Problem] = []
    for name in preset.required_settings:
        if not getattr(settings, name):
            problems.append(problem("parcel-sender-missing", schema.SETTINGS, None, "値", None, "",
                                    key=Settings.model_fields[name].title, preset=preset.name))
    rows = []
    for parcel in parcels:
        row = _Row(preset.columns, parcel, problems)
        preset.fill(row, parcel, settings)
        if not parcel.phone:
            problems.append(parcel.places["送付先電話"].problem("parcel-address-missing", "送付先電話",
                                                              parcel=parcel.parcel_id))
        rows.append(row.values)
    seen: set[tuple[str, str]] = set()
    once = []  # a 設定 value that does not fit is one problem, not one per parcel
    for p in problems:
        if p.sheet == schema.SETTINGS:
            if (p.code, p.value) in seen:
                continue
            seen.add((p.code, p.value))
        once.append(p)
    return preset, rows, once


def write_carrier_file(path: Path, preset: Preset, rows: list[list[str]]) -> Path:
    """The rows as the label tool reads them: cp932, CRLF, quoted only where needed; atomically."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if preset.header:
        writer.writerow(preset.columns)
    writer.writerows(rows)
    data = buffer.getvalue().encode("cp932")  # every value was checked: this cannot fail
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
