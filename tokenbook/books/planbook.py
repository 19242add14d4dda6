"""Writing replacement proposals (issue 11) with xlsxwriter, in the report workbooks' style.

A bank's proposal holds only that bank's customers. Its first sheet, 交換計画, is the list the bank
answers and sends back: headers in row 1 (so `files/lists.read_list` reads it back as it is), the
回答 column a dropdown (承認 / 保留 / 対象外), 回答 and 理由 shaded as the cells to fill in. The second
sheet, 説明, says what to do. CSS gets one summary: per bank, per batch, the stock walk and the
purchases it suggests, with the forecast chart.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from pathlib import Path
from typing import Any

from .. import schema
from ..models import Bank
from ..replacements import (
    FROM_ORDER,
    PROPOSAL_HEADERS,
    PROPOSAL_SHEET,
    SHORT,
    Plan,
    PlanLine,
    destination,
    proposal_file_name,
    summary_file_name,
)
from ..report import DATE, FLAG, INT, TEXT, Table, forecast_points, forecast_tables
from .reportbook import _EPOCH, _new_book, _print_setup, _summary_sheet, _write_report

WIDTHS = {"計画日": 11, "金庫コード": 9, "店番": 6, "顧客番号": 11, "顧客名": 24, "顧客区分": 8, "シリアル番号": 14,
          "使用期限": 11, "発送方法": 10, "送付先": 40, "予定バッチ": 10, "発送予定日": 11, "備考": 22, "回答": 9, "理由": 30}
DATES = {"計画日", "使用期限", "発送予定日"}


def _atomic(path: Path) -> Path:
    """Where a workbook is written before it is moved into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_proposal(plan: Plan, bank: Bank, lines: list[PlanLine], requests: dict, folder: Path) -> Path:
    """`{YYYY-MM-DD}_{金庫コード}_{金庫名}_交換計画.xlsx` for one bank."""
    path = folder / proposal_file_name(plan.as_of, bank.bank_code, bank.name)
    tmp = _atomic(path)
    book, fmt = _new_book(tmp)
    title = f"{bank.name} ハードウェアトークン交換計画（{plan.as_of:%Y/%m/%d}）"
    answer = book.add_format({"font_name": "Meiryo UI", "font_size": 10, "border": 1, "border_color": "#BFBFBF",
                              "bg_color": "#FFF2CC", "locked": False})
    try:
        ws = book.add_worksheet(PROPOSAL_SHEET)
        ws.set_row(0, 30)
        for col, header in enumerate(PROPOSAL_HEADERS):
            ws.set_column(col, col, WIDTHS[header])
            ws.write_string(0, col, header, fmt["header"])
        for r, line in enumerate(lines, start=1):
            values = _proposal_values(plan, line, requests)
            for col, header in enumerate(PROPOSAL_HEADERS):
                value = values[header]
                if header in ("回答", "理由") or (header == "顧客区分" and not value):
                    ws.write_blank(r, col, None, answer)  # the cells the bank fills in
                elif header in DATES and isinstance(value, dt.date):
                    ws.write_number(r, col, (value - _EPOCH).days, fmt["date"])
                elif value in (None, ""):
                    ws.write_blank(r, col, None, fmt["text"])
                else:
                    ws.write_string(r, col, str(value), fmt["text"])
        last = max(len(lines), 1)
        answer_col = PROPOSAL_HEADERS.index("回答")
        ws.data_validation(1, answer_col, last, answer_col, {
            "validate": "list", "source": list(schema.ANSWERS), "error_title": "回答",
            "error_message": "承認・保留・対象外 から選んでください"})
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, last, len(PROPOSAL_HEADERS) - 1)
        # two pages side by side: the customer, token and destination | the batch, note and the answer,
        # 計画日 to 顧客名 repeated on the second (issue 19)
        _print_setup(ws, title, 0, True, [WIDTHS[h] for h in PROPOSAL_HEADERS],
                     [PROPOSAL_HEADERS.index("予定バッチ")], PROPOSAL_HEADERS.index("顧客名") + 1)
        _instructions(book, fmt, plan, bank, lines, title)
        book.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _proposal_values(plan: Plan, line: PlanLine, requests: dict) -> dict[str, Any]:
    t = line.token
    where = destination(t, requests)
    note = "；".join(part for part in (
        "期限後の発送になります" if line.late and t.expires_on and line.batch.ship > t.expires_on else
        "交換余裕を確保できません" if line.late else "", line.previous) if part)
    return {"計画日": plan.as_of, "金庫コード": t.bank_code, "店番": t.branch_code, "顧客番号": t.customer_no,
            "顧客名": t.customer_name, "顧客区分": line.customer_kind, "シリアル番号": t.serial, "使用期限": t.expires_on,
            "発送方法": where.method, "送付先": where.address or ("金庫" if where.method == schema.Method.TO_BANK else ""),
            "予定バッチ": line.batch.batch_id, "発送予定日": line.batch.ship, "備考": note, "回答": "", "理由": ""}


def _instructions(book: Any, fmt: dict[str, Any], plan: Plan, bank: Bank, lines: list[PlanLine], title: str) -> None:
    first = plan.batches[plan.first]
    batches = Counter((l.batch.batch_id, l.batch.ship) for l in lines)
    summary: list[tuple[str, Any]] = [
        ("金庫", f"{bank.bank_code} {bank.name}"), ("計画日", plan.as_of), ("対象", f"使用期限が{plan.until:%Y/%m/%d}までの利用中トークン"),
        ("交換の本数", len(lines)), ("回答期限", first.cutoff),
        ("期限に間に合わない交換", sum(1 for l in lines if l.late)),
    ]
    ws = _summary_sheet(book, fmt, title, summary, name="説明")
    row = len(summary) + 3
    notes = [
        "ご確認のお願い",
        f"・「{PROPOSAL_SHEET}」シートの各行の「回答」欄で 承認 / 保留 / 対象外 を選んでください。",
        "　承認: 予定バッチでCSSが交換品を発送します（旧トークンは交換品の発送後に停止します）。",
        "　保留: 今回は手配しません。翌月以降の計画で改めてご提案します。",
        "　対象外: 交換しません（解約予定など）。以後の計画にも載せません。",
        "・保留・対象外のときは「理由」欄に理由をご記入ください。",
        "・「顧客区分」が空欄の行は、承認のときに 法人 / 個人 をご記入ください。",
        "・回答・理由以外の欄（シリアル番号・予定バッチなど）は変えないでください。送付先の変更はCSSへご連絡ください。",
        f"・回答を記入したこのファイルを、{first.cutoff:%Y年%m月%d日}までにメールでCSSへお送りください。",
        "・回答のない行は手配しません（次回の計画で改めてご提案します）。",
    ]
    plain = book.add_format({"font_name": "Meiryo UI", "font_size": 10})
    for offset, text in enumerate(notes):
        ws.write_string(row + offset, 0, text, fmt["label"] if offset == 0 else plain)
    row += len(notes) + 1
    ws.write_string(row, 0, "予定バッチ", fmt["header"])
    ws.write_string(row, 1, "発送予定日・本数", fmt["header"])
    for offset, ((batch, ship), n) in enumerate(sorted(batches.items()), start=1):
        ws.write_string(row + offset, 0, batch, fmt["text"])
        ws.write_string(row + offset, 1, f"{ship:%Y/%m/%d}　{n}本", fmt["text"])
    ws.fit_to_pages(1, 0)


def write_plan_summary(plan: Plan, banks: dict[str, Bank], folder: Path, created: dt.datetime) -> Path:
    """`{YYYY-MM-DD}_CSS_交換計画集計.xlsx`: the plan per bank and per batch, the stock walk, purchases."""
    by_bank = plan.by_bank()
    bank_rows = []
    for code, lines in sorted(by_bank.items()):
        sources = Counter(l.source for l in lines)
        bank_rows.append((code, banks[code].name if code in banks else "", len(lines), sum(l.late for l in lines),
                          plan.arranged_per_bank.get(code, 0),
                          sources["預り在庫"], sources["CSS在庫"], sources[FROM_ORDER], sources[SHORT]))
    proposed = Counter(l.batch.batch_id for l in plan.lines)
    batch_rows = [(b.batch_id, b.cutoff, b.ship, plan.load[k] - proposed[b.batch_id], proposed[b.batch_id],
                   plan.load[k], plan.capacity) for k, b in enumerate(plan.batches) if k >= plan.first]
    line_rows = [(l.bank_code, l.token.serial, l.token.expires_on, l.deadline, l.batch.batch_id, l.batch.ship,
                  "遅れ" if l.late else "", l.source) for l in plan.lines]
    tables = [
        Table("金庫別", (("金庫コード", TEXT, 10), ("金庫名", TEXT, 22), ("交換提案", INT, 9), ("期限に間に合わない", INT, 12),
                      ("手配済", INT, 8), ("預り在庫から", INT, 10), ("CSS在庫から", INT, 10), ("発注分から", INT, 10),
                      ("在庫不足", INT, 9)), bank_rows),
        Table("バッチ別", (("バッチ", TEXT, 10), ("締切", DATE, 12), ("発送日", DATE, 12), ("手配済", INT, 9),
                       ("今回の提案", INT, 10), ("合計", INT, 9), ("週間発送能力", INT, 12)), batch_rows),
        Table("交換明細", (("金庫コード", TEXT, 10), ("シリアル番号", TEXT, 15), ("使用期限", DATE, 12), ("発送期限", DATE, 12),
                       ("予定バッチ", TEXT, 10), ("発送予定日", DATE, 12), ("遅れ", FLAG, 7), ("在庫", TEXT, 10)), line_rows),
        *forecast_tables(plan),
    ]
    first_order = plan.orders[0] if plan.orders else None
    summary = [("計画日", plan.as_of), ("作成日時", created), ("対象", f"使用期限が{plan.until:%Y/%m/%d}まで"
                                                                + (f"（金庫 {plan.bank}）" if plan.bank else "")),
               ("交換提案", len(plan.lines)), ("期限に間に合わない", sum(l.late for l in plan.lines)),
               ("手配済の交換", len(plan.arranged)), ("提案する金庫", len(by_bank)), ("週間発送能力", plan.capacity),
               ("最初の計画バッチ", f"{plan.batches[plan.first].batch_id}（締切 {plan.batches[plan.first].cutoff:%Y/%m/%d}）"),
               ("発注提案", f"{first_order.order_by:%Y/%m/%d}までに{first_order.quantity:,}本" + ("（至急）" if first_order.urgent else "")
                + (f" ほか{len(plan.orders) - 1}回" if len(plan.orders) > 1 else "") if first_order else "なし")]
    title = f"CSS 交換計画 集計（{plan.as_of:%Y/%m/%d}）"
    return _write_report(folder, summary_file_name(plan.as_of), title, summary, [], tables,
                         forecast_points(plan, plan.reorder_point))
