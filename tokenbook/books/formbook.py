"""A bank's request form (申込書, issue 10): a workbook a bank fills in and sends back to CSS.

Sheets: 申込 (the rows to fill: the columns of FORM_COLUMNS, a dropdown for every enumeration and
for 店番, text format where leading zeros matter, and a チェック column whose formula shows the
same rules as the ledger's 申込 checks while the bank types), 記入方法 (instructions), 店番一覧 (the
bank's branches as CSS knows them) and a hidden 申込書情報 (the bank and the form's number, by
which `tokenbook intake` knows the form and its bank). Only that bank's data is in it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Sequence

import xlsxwriter

from .. import schema
from ..forms import FORM_COLUMNS, FORM_HEADERS, INFO_KEYS, INFO_SHEET
from ..models import Bank
from ..schema import Kind
from .pages import CAUTION, FONT, header_footer, header_width, lay_out, starts_at

CHECK_HEADER = "チェック"
PRINT_STARTS = ("送付先郵便番号", "IB登録日")  # the headers that begin the second and third printed page
ROWS = 300  # rows prepared with dropdowns and the check formula

HELP = {
    "店番": "3桁の店番（店番一覧から選べます）",
    "顧客番号": "貴庫の顧客番号（金庫補充では空欄）",
    "顧客区分": "法人 / 個人",
    "申込区分": "新規・途中・交換・再発行・金庫補充",
    "数量": "トークンの本数（空欄は1）",
    "発送方法": "顧客郵送・金庫郵送・窓口手交",
    "IBカード": "有 は新規の郵送のときだけ",
    "手交シリアル": "窓口手交のとき、手渡すトークンのシリアル番号（数量分、; で区切る）",
    "旧シリアル": "交換・再発行のとき、今お使いのトークンのシリアル番号",
    "送付先郵便番号": "7桁（例 530-0001）",
    "送付先電話": "顧客郵送では必須",
    "IB登録日": "IBカード有のとき、IBの登録が済んだ日",
    "共同センター伝送日": "法人のIBカード有のとき、共同センターへの伝送日",
}

INSTRUCTIONS = (
    "ハードウェアトークン 申込書の記入方法",
    "",
    "1. 「申込」シートの2行目から、1件につき1行ずつ記入してください。1行目（見出し）は変えないでください。",
    "2. 選択肢のある欄は、セルを選ぶと出る一覧から選んでください。店番は「店番一覧」にある番号から選べます。",
    "3. 右端の「チェック」欄に、足りない項目などが表示されます。「OK」になってからお送りください。",
    "4. 申込区分が「金庫補充」のときは、顧客の欄は空欄のままにします（送付先を空欄にすると貴庫の住所へ送ります）。",
    "5. 発送方法が「顧客郵送」のときは、送付先の郵便番号・住所・氏名・電話番号が必要です。",
    "6. 「窓口手交」は、貴庫で保管しているトークンを窓口でお渡しするときに使います（手交シリアルを記入）。",
    "7. IBカード「有」は、申込区分「新規」で郵送のときだけ選べます。法人は共同センター伝送日も記入してください。",
    "8. 記入が終わったらファイルを保存し、ファイル名を変えずに CSS へお送りください。",
    "   同じ申込書を2回送っても、同じ行が二重に登録されることはありません。",
    "9. この申込書は貴庫専用です。ほかの金庫の申込には使えません。",
)


def form_file_name(bank: Bank) -> str:
    return f"{bank.bank_code}_申込書.xlsx"


def write_request_form(path: Path, bank: Bank, number: str, branches: Sequence[str], created: dt.datetime,
                       filled: Sequence[dict[str, Any]] = ()) -> Path:
    """The form for `bank`, written beside `path` and moved into place; `filled` rows (header ->
    value) stand for what a bank typed (the demo's banks)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    book = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_numbers": False,
                                          "strings_to_urls": False, "default_date_format": "yyyy/mm/dd"})
    try:
        book.set_properties({"title": f"{bank.name} ハードウェアトークン申込書", "author": "CSS", "created": created})
        base = {"font_name": FONT, "font_size": 10}
        fmt = {
            "header": book.add_format({**base, "bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E78",
                                       "border": 1, "align": "center", "valign": "vcenter", "text_wrap": True}),
            "text": book.add_format({**base, "num_format": "@"}), "cell": book.add_format(base),
            "date": book.add_format({**base, "num_format": "yyyy/mm/dd"}),
            "check": book.add_format({**base, "font_color": "#9C0006"}),
            "bad": book.add_format({"bg_color": "#FFC7CE"}), "ok": book.add_format({"font_color": "#006100"}),
            "title": book.add_format({**base, "bold": True, "font_size": 14, "font_color": "#1F4E78"}),
            "wrap": book.add_format({**base, "text_wrap": True, "valign": "top"}),
        }
        _form_sheet(book, fmt, filled)
        _instructions(book, fmt, bank)
        branch_sheet = book.add_worksheet("店番一覧")
        branch_sheet.write_string(0, 0, "店番", fmt["header"])
        for row, code in enumerate(branches, start=1):
            branch_sheet.write_string(row, 0, code, fmt["text"])
        branch_sheet.set_column(0, 0, 10)
        info = book.add_worksheet(INFO_SHEET)
        for row, (key, value) in enumerate(zip(INFO_KEYS, (bank.bank_code, bank.name, number, f"{created:%Y/%m/%d}"))):
            info.write_string(row, 0, key)
            info.write_string(row, 1, value or "")
        info.hide()
        book.get_worksheet_by_name(schema.REQUESTS).activate()
        book.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _letter(index: int) -> str:
    from ..files.sheetio import column_letter

    return column_letter(index)


def _form_sheet(book: xlsxwriter.Workbook, fmt: dict[str, Any], filled: Sequence[dict[str, Any]] = ()) -> None:
    ws = book.add_worksheet(schema.REQUESTS)
    for row, record in enumerate(filled, start=1):
        for index, column in enumerate(FORM_COLUMNS):
            value = record.get(column.header)
            if isinstance(value, dt.date):
                ws.write_datetime(row, index, dt.datetime.combine(value, dt.time()), fmt["date"])
            elif value not in (None, ""):
                ws.write_string(row, index, str(value), fmt["text"])
    ws.set_row(0, 30)
    col = {c.header: _letter(i) for i, c in enumerate(FORM_COLUMNS)}
    for index, column in enumerate(FORM_COLUMNS):
        style = fmt["date"] if column.kind is Kind.DATE else (
            fmt["cell"] if column.kind in (Kind.TEXT, Kind.ENUM, Kind.INTEGER) else fmt["text"])
        ws.set_column(index, index, header_width(column.header, max(column.width, 9)), style)
        ws.write_string(0, index, column.header, fmt["header"])
        rule: dict[str, Any] | None = None
        if column.kind is Kind.ENUM:
            rule = {"validate": "list", "source": list(column.choices), "error_title": column.header,
                    "error_message": f"{'・'.join(column.choices)} から選んでください"}
        elif column.header == "店番":
            rule = {"validate": "list", "source": "='店番一覧'!$A$2:$A$1000", "error_type": "warning",
                    "error_title": "店番", "error_message": "店番一覧にない店番です。3桁で記入してください"}
        elif column.kind is Kind.INTEGER:
            rule = {"validate": "integer", "criteria": ">=", "value": 1, "error_title": column.header,
                    "error_message": "1以上の整数です"}
        elif column.kind is Kind.DATE:
            rule = {"validate": "date", "criteria": ">=", "value": dt.date(2000, 1, 1), "error_type": "warning",
                    "error_title": column.header, "error_message": "日付（例 2026/11/24）で記入してください"}
        if rule is None and column.header in HELP:
            rule = {"validate": "any"}
        if rule is not None:
            if column.header in HELP:
                rule.update(input_title=column.header, input_message=HELP[column.header][:255])
            ws.data_validation(1, index, ROWS, index, rule)
    check = len(FORM_COLUMNS)
    ws.set_column(check, check, 40, fmt["check"])
    ws.write_string(0, check, CHECK_HEADER, fmt["header"])
    for row in range(1, ROWS + 1):
        ws.write_formula(row, check, _check_formula(col, row + 1), fmt["check"], "")
    last = _letter(check)
    ws.conditional_format(1, check, ROWS, check, {"type": "cell", "criteria": "==", "value": '"OK"', "format": fmt["ok"]})
    ws.conditional_format(1, 0, ROWS, check, {"type": "formula", "criteria": f'=AND(${last}2<>"",${last}2<>"OK")',
                                              "format": fmt["bad"]})
    ws.freeze_panes(1, 0)
    # three pages side by side (the customer and the request | where it goes | the IB dates and the
    # check), 店番・顧客番号・顧客名 repeated at the left of each (issue 19)
    widths = [header_width(c.header, max(c.width, 9)) for c in FORM_COLUMNS] + [40]
    lay_out(ws, widths, starts_at(FORM_HEADERS, PRINT_STARTS), 3)
    ws.repeat_rows(0)
    header_footer(ws, "ハードウェアトークン申込書", caution=CAUTION)


def _check_formula(col: dict[str, str], n: int) -> str:
    """The ledger's 申込 rules a bank can see while typing (the full checks run at intake)."""
    c = {h: f"{letter}{n}" for h, letter in col.items()}
    first, last = col[FORM_HEADERS[0]], col[FORM_HEADERS[-1]]
    rules = [
        (f'{c["店番"]}=""', "店番が必要です"),
        (f'{c["申込区分"]}=""', "申込区分が必要です"),
        (f'{c["発送方法"]}=""', "発送方法が必要です"),
        (f'AND({c["申込区分"]}<>"金庫補充",OR({c["顧客番号"]}="",{c["顧客名"]}="",{c["顧客区分"]}=""))',
         "顧客番号・顧客名・顧客区分が必要です"),
        (f'AND({c["IBカード"]}="有",OR({c["申込区分"]}<>"新規",{c["発送方法"]}="窓口手交"))', "IBカード「有」は新規の郵送だけです"),
        (f'AND({c["IBカード"]}="有",{c["IB登録日"]}="")', "IBカード「有」にはIB登録日が必要です"),
        (f'AND({c["発送方法"]}="窓口手交",{c["手交シリアル"]}="")', "窓口手交には手交シリアルが必要です"),
        (f'AND({c["発送方法"]}<>"窓口手交",{c["手交シリアル"]}<>"")', "手交シリアルは窓口手交のときだけです"),
        (f'AND(OR({c["申込区分"]}="交換",{c["申込区分"]}="再発行"),{c["旧シリアル"]}="")', "交換・再発行には旧シリアルが必要です"),
        (f'AND({c["発送方法"]}="顧客郵送",OR({c["送付先郵便番号"]}="",{c["送付先住所"]}="",{c["送付先氏名"]}="",'
         f'{c["送付先電話"]}=""))', "顧客郵送には送付先（郵便番号・住所・氏名・電話）が必要です"),
        (f'AND({c["送付先郵便番号"]}<>"",LEN(SUBSTITUTE({c["送付先郵便番号"]},"-",""))<>7)', "郵便番号は7桁です"),
    ]
    formula = '"OK"'
    for condition, message in reversed(rules):
        formula = f'IF({condition},"{message}",{formula})'
    return f'=IF(COUNTA({first}{n}:{last}{n})=0,"",{formula})'


def _instructions(book: xlsxwriter.Workbook, fmt: dict[str, Any], bank: Bank) -> None:
    ws = book.add_worksheet("記入方法")
    ws.set_column(0, 0, 100, fmt["wrap"])
    ws.write_string(0, 0, INSTRUCTIONS[0], fmt["title"])
    ws.write_string(1, 0, f"{bank.name}（金庫コード {bank.bank_code}）様 専用", fmt["wrap"])
    for row, line in enumerate(INSTRUCTIONS[1:], start=2):
        ws.write_string(row, 0, line, fmt["wrap"])
    ws.set_portrait()
    ws.set_paper(9)
    ws.fit_to_pages(1, 1)
