"""The built workbook: exactly the sheets and headers of design §3, styled for a clerk, and
opened by LibreOffice without complaint."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from tokenbook import schema
from tokenbook.cli import main

CONTRACT = {
    "金庫": ["金庫コード", "金庫名", "報告先メール", "CCメール", "許可ドメイン", "郵便番号", "住所", "宛先", "報告送付", "備考",
           "暗号化証明書", "メール暗号化",  # issue 16
           "電話番号"],  # issue 10
    "在庫": ["シリアル番号", "所有者", "状態", "納品日", "使用期限", "入庫日", "金庫コード", "店番", "顧客番号", "顧客名",
           "利用開始日", "依頼番号", "停止理由", "備考", "ロット番号",  # issue 10
           "顧客区分"],  # issue 9
    "申込": ["依頼番号", "受付日", "金庫コード", "店番", "顧客番号", "顧客名", "顧客区分", "申込区分", "数量", "発送方法",
           "IBカード", "手交シリアル", "旧シリアル", "送付先郵便番号", "送付先住所", "送付先氏名", "送付先電話", "IB登録日",
           "共同センター伝送日", "IBカード受領日", "状態", "処理メモ", "申込書"],  # issue 10
    "発送": ["発送番号", "バッチ", "依頼番号", "シリアル番号", "金庫コード", "発送予定日", "発送日", "送付先郵便番号",
           "送付先住所", "送付先氏名", "IBカード", "追跡番号", "状態"],
    "履歴": ["日時", "発効日", "操作", "シリアル番号", "変更前", "変更後", "所有者", "金庫コード", "依頼番号", "バッチ",
           "担当者", "備考", "ダイジェスト"],
    "設定": ["項目", "値", "説明"],
    "休業日": ["日付", "名称"],
    "バッチ日程": ["バッチ", "カード作成日", "カード受領日", "発送日", "備考"],  # issue 9
    "年次締め": ["年", "アーカイブ", "行数", "ダイジェスト", "日時", "担当者", "繰越ダイジェスト"],
    "繰越": ["シリアル番号", "状態", "所有者", "金庫コード", "備考", "ダイジェスト"],
    "交換計画回答": ["計画日", "金庫コード", "シリアル番号", "顧客番号", "予定バッチ", "発送予定日", "回答", "理由", "依頼番号",
               "再提案日", "取込日時", "ファイル"],
    "チェック結果": ["重要度", "シート", "セル", "列名", "値", "内容", "コード"],
    "作業一覧": ["作業", "期限", "期限の日", "超過", "待ち日数", "依頼番号", "金庫コード", "店番", "顧客番号", "顧客名",
             "顧客区分", "受付日", "バッチ", "基準日"],
    "棚卸": ["棚卸日", "区分", "所有者", "シリアル番号", "台帳の状態", "予定数", "実数", "ファイル", "行", "備考", "日時",
           "担当者"],
}
# tab order: the tables, the optional tables, 履歴照会 (a form), 作業一覧 (a view), チェック結果 last
SHEET_ORDER = ["メニュー", "金庫", "在庫", "申込", "発送", "履歴", "設定", "休業日", "バッチ日程", "年次締め", "繰越", "交換計画回答",
               "棚卸", "履歴照会", "作業一覧", "チェック結果", "xlwings.conf"]
SETTING_KEYS = ["電池寿命（月）", "最低残存期間（月）", "期限警告（月）", "受付締切曜日", "カード作成曜日", "カード受領曜日",
                "発送曜日", "発注点", "シリアル形式", "報告書出力先", "SMTPサーバー", "SMTPポート", "SMTP暗号化",
                "SMTPユーザー", "差出人", "差出人名", "メール件名", "メール本文",
                "S/MIME証明書", "S/MIME秘密鍵",  # issue 16
                "送り状形式", "発送元名称", "発送元郵便番号", "発送元住所", "発送元電話", "発送元担当者", "品名",
                "B2請求先顧客コード", "B2運賃管理番号", "ゆうプリR書留種別",  # issue 10
                "週間発送能力", "交換余裕（週）", "交換回答期間（週）", "発注ロット", "納品リードタイム（週）",  # issue 11
                "問い合わせ先", "問い合わせ電話"]  # issue 9


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wb") / "tokenbook.xlsm"
    assert main(["new-workbook", str(path)]) == 0
    return path


def test_exactly_the_contract_sheets_and_headers(built):
    book = openpyxl.load_workbook(built)
    assert book.sheetnames == SHEET_ORDER
    assert book["xlwings.conf"].sheet_state == "hidden"
    for sheet, headers in CONTRACT.items():
        ws = book[sheet]
        assert [c.value for c in ws[1]] == headers, sheet


def test_settings_defaults(built):
    ws = openpyxl.load_workbook(built)["設定"]
    rows = {r[0]: (r[1], r[2]) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert list(rows) == SETTING_KEYS
    assert rows["電池寿命（月）"][0] == "60" and rows["発送曜日"][0] == "月" and rows["発注点"][0] == "100"
    assert rows["シリアル形式"][0] == "^[0-9A-Z]{6,20}$"
    assert all(description for _, description in rows.values())
    assert not any("パスワード" == key for key in rows)


def test_every_enumeration_has_a_dropdown(built):
    book = openpyxl.load_workbook(built)
    for sheet, columns in schema.TABLES.items():
        ws = book[sheet]
        lists = {}
        for dv in ws.data_validations.dataValidation:
            for cell_range in dv.sqref.ranges:
                lists[cell_range.min_col] = (dv.type, dv.formula1, cell_range.max_row)
        for index, column in enumerate(columns, start=1):
            if column.kind is schema.Kind.ENUM:
                kind, formula, max_row = lists[index]
                assert kind == "list" and max_row == 1_048_576, (sheet, column.header)
                assert formula.strip('"').split(",") == list(column.choices)


def test_frozen_header_autofilter_widths_and_formats(built):
    book = openpyxl.load_workbook(built)
    for sheet, columns in schema.TABLES.items():
        ws = book[sheet]
        assert ws.freeze_panes == "A2", sheet
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), sheet
        for index, column in enumerate(columns, start=1):
            letter = openpyxl.utils.get_column_letter(index)
            assert ws.column_dimensions[letter].width >= 7, (sheet, column.header)
    tokens = book["在庫"]
    assert tokens["A1"].font.b and tokens["A1"].font.name == "Meiryo UI"
    assert tokens.column_dimensions["D"].number_format == "yyyy/mm/dd"  # 納品日
    assert tokens.column_dimensions["A"].number_format == "@"  # serials stay text


def test_menu_leaves_room_for_buttons_and_a_status_panel(built):
    ws = openpyxl.load_workbook(built)["メニュー"]
    labels = [ws.cell(r, 5).value for r in range(3, 8)]
    assert labels == ["状況", "在庫（所有者別）", "未処理の申込", "次回バッチ", "前回の実行結果"]


def test_xlsm_has_the_macro_enabled_content_type(built):
    with zipfile.ZipFile(built) as archive:
        types = archive.read("[Content_Types].xml").decode()
    assert "application/vnd.ms-excel.sheet.macroEnabled.main+xml" in types


def test_new_workbook_refuses_to_overwrite(built, capsys):
    before = built.read_bytes()
    assert main(["new-workbook", str(built)]) == 2
    assert "--force" in capsys.readouterr().out
    assert built.read_bytes() == before


def test_committed_workbook_matches_the_contract():
    committed = Path(__file__).parent.parent / "workbook" / "tokenbook.xlsm"
    book = python_calamine.CalamineWorkbook.from_path(str(committed))
    assert book.sheet_names == SHEET_ORDER
    for sheet, headers in CONTRACT.items():
        assert book.get_sheet_by_name(sheet).to_python()[0] == headers


@pytest.mark.libreoffice
def test_libreoffice_opens_it_and_sees_every_sheet(built, convert):
    """LibreOffice loads the file and writes it out again; its copy has the same sheets and headers."""
    copy = convert(built, "xlsx:Calc MS Excel 2007 XML")
    book = python_calamine.CalamineWorkbook.from_path(str(copy))
    assert book.sheet_names == SHEET_ORDER
    for sheet, headers in CONTRACT.items():
        assert book.get_sheet_by_name(sheet).to_python()[0] == headers
    settings = book.get_sheet_by_name("設定").to_python()
    assert [r[0] for r in settings[1:]] == SETTING_KEYS


@pytest.mark.libreoffice
def test_libreoffice_renders_it_to_pdf(built, convert):
    pdf = convert(built, "pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
