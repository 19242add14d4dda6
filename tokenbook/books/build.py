"""Building a tokenbook workbook from code (design §3): sheets, headers, styles, dropdowns.

`build_workbook` writes every sheet of the contract with xlsxwriter, optionally filled with rows
(the sample-data generator uses that). Strings are always written as text, never as formulas,
numbers or links (§12). The macro project and buttons arrive with the Excel issue; the メニュー sheet
keeps column A–C free for them.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import xlsxwriter

from .. import schema
from ..models import setting_rows
from ..files.sheetio import column_letter
from ..schema import Column, Kind

FONT = "Meiryo UI"
DATE_FORMAT = "yyyy/mm/dd"
DATETIME_FORMAT = "yyyy/mm/dd hh:mm:ss"
# Dropdowns reach this far; beyond it a clerk's typing is still checked by `validate`.
VALIDATION_ROWS = 1_048_575
BANK_LIST_ROWS = 1000

Rows = Sequence[Sequence[Any]]



BUTTONS = (("入力チェック", "CheckInput"), ("週次割当", "WeeklyAllocate"), ("発送確定", "ConfirmShipment"),
           ("月次報告作成", "MakeMonthlyReports"), ("月次報告送信", "SendMonthlyReports"),
           # issue 10: the service's edges
           ("入庫取込", "ReceiveStock"), ("申込書取込", "TakeRequestForms"), ("発送書類作成", "MakeParcelDocuments"),
           ("追跡番号取込", "TakeTrackingNumbers"),
           ("履歴照会", "LookUpHistory"),
           # the IB work and the vault count (issue 17)
           ("IBカード受領", "ReceiveIbCards"), ("作業一覧", "RefreshWorkList"), ("共同センター伝送済", "MarkCenterSent"),
           ("棚卸", "TakeStock"))
XLWINGS_CONF = "xlwings.conf"
SHEETS_WITH_CONF = (*schema.SHEETS, XLWINGS_CONF)  # every sheet of the .xlsm, one VBA document module each
BUILT = dt.datetime(2026, 1, 1)  # the document's creation stamp: fixed, so two builds are the same bytes


def build_workbook(path: Path, data: Mapping[str, Iterable[Sequence[Any]]] | None = None,
                   vba_project: Path | None = None, buttons: Sequence[tuple[str, str]] | None = None) -> Path:
    """Write a complete workbook to `path` (.xlsm or .xlsx); `data` maps sheet -> rows in schema order.

    An .xlsm gets tokenbook's macro project (macros/*.bas and xlwings' standalone module, see `vba`)
    and the buttons of design §10 on メニュー, unless `vba_project` names another vbaProject.bin
    (then `buttons` are (caption, macro) pairs for it). The file is written beside the target and
    moved into place, so a reader never sees half a file.
    """
    path = Path(path)
    data = data or {}
    if path.suffix.lower() == ".xlsm" and vba_project is None:
        from .vba import require_macros

        require_macros(macro for _, macro in BUTTONS)  # buttons bound to macros that do not exist: refused
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    workbook = xlsxwriter.Workbook(
        str(tmp),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "default_date_format": DATE_FORMAT,
        },
    )
    try:
        formats = _formats(workbook)
        workbook.set_properties({"title": "tokenbook", "created": BUILT})
        macro_enabled = path.suffix.lower() == ".xlsm"
        if macro_enabled and vba_project is None:
            from .vba import project_bytes

            workbook.add_vba_project(io.BytesIO(project_bytes(len(SHEETS_WITH_CONF))), is_stream=True)
            buttons = BUTTONS if buttons is None else buttons
        elif vba_project is not None:
            workbook.add_vba_project(str(vba_project))
        _menu(workbook, formats, buttons or ())
        for sheet, columns in schema.TABLES.items():
            rows = data.get(sheet)
            if sheet == schema.SETTINGS and not rows:
                rows = [(s.key, s.default, s.description) for s in setting_rows()]
            _table(workbook, formats, sheet, columns, rows or ())
        for sheet, columns in schema.OPTIONAL_TABLES.items():
            _table(workbook, formats, sheet, columns, data.get(sheet) or ())
        _history_lookup(workbook, formats)
        _table(workbook, formats, schema.WORKLIST, schema.WORKLIST_COLUMNS, ())  # issue 17: the IB work list
        _table(workbook, formats, schema.CHECKS, schema.CHECK_COLUMNS, ())
        if macro_enabled:
            conf = workbook.add_worksheet(XLWINGS_CONF)  # `tokenbook setup-excel` writes the interpreter here
            conf.set_column(0, 1, 40)
            conf.hide()
        workbook.get_worksheet_by_name(schema.MENU).activate()
        workbook.close()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


HISTORY_KEY_CELL = (1, 2)  # B1: the serial or 顧客番号 the 履歴照会 button looks up (row, column from 1)
HISTORY_HEADER_ROW = 3  # the movements' headers; the rows follow


def _history_lookup(workbook: xlsxwriter.Workbook, formats: dict[str, Any]) -> None:
    from ..schema import HISTORY_HEADERS

    ws = workbook.add_worksheet(schema.HISTORY_LOOKUP)
    ws.write_string(0, 0, "シリアル番号・顧客番号", formats["label"])
    ws.write_blank(0, 1, None, workbook.add_format({"font_name": FONT, "font_size": 10, "num_format": "@",
                                                    "bg_color": "#FFF2CC", "border": 1}))
    ws.write_string(0, 2, "← 入力して「メニュー」の「履歴照会」ボタンを押すと、保管用ブックの分も含めて下に表示します",
                    formats["cell"])
    for index, header in enumerate(HISTORY_HEADERS):
        ws.write_string(HISTORY_HEADER_ROW - 1, index, header, formats["header"])
    ws.set_column(0, 0, 20)
    ws.set_column(1, 1, 16)
    ws.set_column(2, len(HISTORY_HEADERS) - 1, 12)
    ws.set_column(len(HISTORY_HEADERS) - 1, len(HISTORY_HEADERS) - 1, 50)
    ws.freeze_panes(HISTORY_HEADER_ROW, 0)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(HISTORY_HEADER_ROW - 1)


def build_archive(path: Path) -> Path:
    """An empty archive workbook for one closed year (close-year fills its 繰越 and 履歴 sheets): their
    headers, widths, formats, frozen header and filter, nothing else."""
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False,
                                               "strings_to_urls": False, "default_date_format": DATE_FORMAT})
    workbook.set_properties({"title": f"tokenbook {schema.JOURNAL}（保管用）", "created": BUILT})
    formats = _formats(workbook)
    _table(workbook, formats, schema.OPENING, schema.OPENING_COLUMNS, ())
    _table(workbook, formats, schema.JOURNAL, schema.JOURNAL_COLUMNS, ())
    workbook.close()
    return path


def _formats(workbook: xlsxwriter.Workbook) -> dict[str, Any]:
    base = {"font_name": FONT, "font_size": 10}
    return {
        # a long header (共同センター伝送日) wraps onto a second line instead of being cut
        "header": workbook.add_format({**base, "bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E78",
                                       "border": 1, "align": "center", "valign": "vcenter", "text_wrap": True}),
        "text": workbook.add_format({**base, "num_format": "@"}),
        "cell": workbook.add_format(base),
        # dates centred, so that a date is not run into the code or word in the column to its right
        "date": workbook.add_format({**base, "num_format": DATE_FORMAT, "align": "center"}),
        "datetime": workbook.add_format({**base, "num_format": DATETIME_FORMAT, "align": "center"}),
        "int": workbook.add_format({**base, "num_format": "0", "align": "right", "indent": 1}),  # off the next column
        "wrap": workbook.add_format({**base, "text_wrap": True, "valign": "top"}),
        "title": workbook.add_format({**base, "bold": True, "font_size": 16, "font_color": "#1F4E78"}),
        "label": workbook.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1}),
        "panel": workbook.add_format({**base, "border": 1}),
    }


def _column_format(column: Column, formats: dict[str, Any]) -> Any:
    if column.kind is Kind.DATE:
        return formats["date"]
    if column.kind is Kind.DATETIME:
        return formats["datetime"]
    if column.kind in (Kind.INTEGER, Kind.COUNT):
        return formats["int"]
    if column.kind in (Kind.BANK_CODE, Kind.BRANCH_CODE, Kind.OWNER, Kind.POSTAL_CODE, Kind.PHONE, Kind.SERIAL):
        return formats["text"]  # keeps leading zeros a clerk types
    if column.header in ("値", "説明", "メール本文"):
        return formats["wrap"]
    return formats["cell"]


def _table(workbook: xlsxwriter.Workbook, formats: dict[str, Any], sheet: str,
           columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> None:
    ws = workbook.add_worksheet(sheet)
    ws.set_row(0, 30)  # room for a header on two lines
    column_formats = [_column_format(c, formats) for c in columns]
    for index, (column, fmt) in enumerate(zip(columns, column_formats)):
        ws.set_column(index, index, column.width, fmt)
        ws.write_string(0, index, column.header, formats["header"])
    ws.freeze_panes(1, 0)
    last = 0
    for last, row in enumerate(rows, start=1):
        for index, value in enumerate(row):
            _write(ws, last, index, value, column_formats[index], formats)
    ws.autofilter(0, 0, max(last, 1), len(columns) - 1)
    _print_layout(ws, sheet, columns)
    _dropdowns(ws, columns)
    _marks(workbook, ws, sheet, columns)
    if sheet == schema.SETTINGS:
        ws.set_column(1, 1, 36, formats["wrap"])


# How the wide sheets print (issue 19): the header that begins each later page of columns, and how
# many key columns repeat at the left of every page. The order of columns is the contract's.
PRINT_GROUPS: dict[str, tuple[tuple[str, ...], int]] = {
    schema.REQUESTS: (("手交シリアル", "IB登録日"), 1),  # the request and customer | where it goes | the IB steps
    schema.TOKENS: (("利用開始日",), 1),  # the token and its holder | its request, reason, lot
    schema.DISPATCH: (("送付先郵便番号",), 1),  # the parcel | its address and tracking
    schema.BANKS: (("郵便番号", "暗号化証明書"), 2),  # mail | post | encryption
    schema.REPLACEMENT_ANSWERS: (("依頼番号",), 3),  # the token and the answer | what came of it, from which file
}
# Where the printed columns end: the journal's seal is for the machine (a clerk reads the movements),
# and so is 年次締め's 繰越ダイジェスト (the archive's ダイジェスト, which an auditor compares, is printed);
# チェック結果's run summary beside its headers (also on メニュー) would shrink the problems to 60 %.
NOT_PRINTED = {schema.JOURNAL: "ダイジェスト", schema.CLOSINGS: "繰越ダイジェスト", schema.CHECKS: None}
CODE_HELP = ("問題の種類を表す記号です（英字）。CSS や開発担当に問い合わせるときは、"
             "この記号と「セル」をお伝えください。内容は「内容」欄に日本語で書いてあります。")
CODE_NOTE = "「コード」は問題の種類の記号です。問い合わせのときにお伝えください"


def _print_layout(ws: Any, sheet: str, columns: Sequence[Column]) -> None:
    """A4 landscape with the header row on every page; a sheet too wide for one readable page prints
    as the column groups of PRINT_GROUPS (or as many columns as fit) with its key columns repeated."""
    from .pages import PERSONAL, CAUTION, header_footer, lay_out, starts_at

    headers = [c.header for c in columns]
    printed = len(columns)
    if sheet in NOT_PRINTED:
        printed = headers.index(NOT_PRINTED[sheet]) if NOT_PRINTED[sheet] else len(headers)
        ws.print_area(0, 0, VALIDATION_ROWS - 1, printed - 1)  # rows given: openpyxl cannot read $A:$L
    firsts, repeat = PRINT_GROUPS.get(sheet, ((), 1))  # a sheet not planned here: its first column repeated
    lay_out(ws, [c.width for c in columns[:printed]], starts_at(headers, firsts), repeat)
    ws.repeat_rows(0)
    personal = any(h in PERSONAL for h in headers[:printed])
    header_footer(ws, f"tokenbook　{sheet}", CODE_NOTE if sheet == schema.CHECKS else "",
                  CAUTION if personal else "")
    if sheet == schema.CHECKS:  # the header stays コード (the contract); selecting it or a code explains it
        code = headers.index("コード")
        ws.data_validation(0, code, VALIDATION_ROWS, code, {
            "validate": "any", "input_title": "コード（問題の種類）", "input_message": CODE_HELP})


def _write(ws: Any, row: int, col: int, value: Any, fmt: Any, formats: dict[str, Any]) -> None:
    if value is None or value == "":
        return
    if isinstance(value, dt.datetime):
        ws.write_datetime(row, col, value, formats["datetime"])
    elif isinstance(value, dt.date):
        ws.write_datetime(row, col, value, formats["date"])
    elif isinstance(value, bool):
        ws.write_string(row, col, "TRUE" if value else "FALSE", fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, (tuple, list)):
        ws.write_string(row, col, "; ".join(str(v) for v in value), fmt)
    else:
        ws.write_string(row, col, str(value), fmt)


def _marks(workbook: xlsxwriter.Workbook, ws: Any, sheet: str, columns: Sequence[Column]) -> None:
    """Rows a clerk must not miss (issue 17): a work item past its date, a stocktake difference."""
    headers = [c.header for c in columns]
    late = workbook.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})
    counts = workbook.add_format({"bold": True, "bg_color": "#DDEBF7"})
    last = len(columns) - 1
    if sheet == schema.WORKLIST:
        mark = column_letter(headers.index("超過"))
        ws.conditional_format(1, 0, VALIDATION_ROWS, last, {"type": "formula", "criteria": f'=${mark}2="超過"',
                                                              "format": late})
    elif sheet == schema.STOCKTAKE:
        kind = column_letter(headers.index("区分"))
        ws.conditional_format(1, 0, VALIDATION_ROWS, last, {
            "type": "formula", "format": counts,
            "criteria": f'=OR(${kind}2="{schema.StocktakeKind.OWNER}",${kind}2="{schema.StocktakeKind.TOTAL}")'})
        ws.conditional_format(1, 0, VALIDATION_ROWS, last, {
            "type": "formula", "format": late, "criteria": f'=AND(${kind}2<>"",${kind}2<>"{schema.StocktakeKind.OWNER}",'
                                                           f'${kind}2<>"{schema.StocktakeKind.TOTAL}")'})


def _dropdowns(ws: Any, columns: Sequence[Column]) -> None:
    for index, column in enumerate(columns):
        if column.kind is Kind.ENUM:
            ws.data_validation(1, index, VALIDATION_ROWS, index, {
                "validate": "list", "source": list(column.choices),
                "error_title": column.header, "error_message": f"{'・'.join(column.choices)} から選んでください",
            })
        elif column.kind is Kind.BANK_CODE and column.header == "金庫コード" and ws.name != schema.BANKS:
            ws.data_validation(1, index, VALIDATION_ROWS, index, {
                "validate": "list", "source": f"='{schema.BANKS}'!$A$2:$A${BANK_LIST_ROWS}",
                "error_type": "warning", "error_title": column.header,
                "error_message": "「金庫」シートにない金庫コードです",
            })


MENU_PANEL = ("在庫（所有者別）", "未処理の申込", "次回バッチ", "前回の実行結果",
              "発送確定待ち", "IBカード待ち", "記号")  # issue 9: the last three
LEGEND = "●SSCのカード作成日　◆CSSのカード受領日　★CSSの発送日（バッチ日程シートで変更可）"
MENU_PANEL_ROW = 4  # the first label's row (1-based) in column E; its value is in column F


def _menu(workbook: xlsxwriter.Workbook, formats: dict[str, Any], buttons: Sequence[tuple[str, str]] = ()) -> None:
    ws = workbook.add_worksheet(schema.MENU)
    ws.hide_gridlines(2)
    ws.set_column(0, 0, 2)
    ws.set_column(1, 2, 22)  # room for the buttons of the Excel integration
    ws.set_column(3, 3, 3)
    ws.set_column(4, 4, 20)
    ws.set_column(5, 5, 90)  # the panel's longest lines (在庫 by owner, IBカード待ち) stay inside it
    ws.write_string(0, 1, "ハードウェアトークン管理 tokenbook", formats["title"])
    ws.write_string(2, 4, "状況", formats["label"])
    ws.write_string(2, 5, "（tokenbook が書き込みます）", formats["label"])
    for offset, label in enumerate(MENU_PANEL, start=MENU_PANEL_ROW - 1):
        ws.write_string(offset, 4, label, formats["label"])
        if label == MENU_PANEL[-1]:
            ws.write_string(offset, 5, LEGEND, formats["panel"])
        else:
            ws.write_blank(offset, 5, None, formats["panel"])
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 1)
    for index, (caption, macro) in enumerate(buttons):
        ws.insert_button(2 + index * 3, 1, {"macro": macro, "caption": caption, "width": 240, "height": 44})
