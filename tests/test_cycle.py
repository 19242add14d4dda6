"""What a real week broke (issue 9), as scenarios on real workbook files: the 発送確定 button with a
batch waiting for IB cards, card parcels never backdated, a cancelled request's memo, the journal's
金庫コード on allocations, 顧客区分 kept on the token, a blank 使用期限 said in the check result.

The calendar of November 2026: batch W47 has cutoff Tue 11-17 and ★ Tue 11-24 (Mon 11-23 is 勤労感謝の日),
W48 cutoff Tue 11-24 and ★ Mon 11-30.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import BANK, POSTAL_REQUEST, default_sheets
from test_buttons import MemoryBook

from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.excel.buttons import press
from tokenbook.load import check_book
from tokenbook.report import Month
from tokenbook.runs import Run, run_allocate, run_confirm

D = dt.date


def at(day: dt.date, hour: int = 18) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def token(serial: str, **more):
    return {"シリアル番号": serial, "所有者": "CSS", "状態": "在庫", "納品日": D(2025, 6, 1), "使用期限": D(2030, 6, 1),
            **more}


def request(request_id: str, received: dt.date, **more):
    return {**POSTAL_REQUEST, "依頼番号": request_id, "受付日": received, "顧客番号": request_id[1:9] + request_id[-3:],
            "顧客区分": "個人", **more}


def card_request(request_id: str, received: dt.date, **more):
    return request(request_id, received, IBカード="有", IB登録日=received, **more)


def ledger_book(tmp_path: Path, tokens, requests, name="tokenbook.xlsm", **more) -> Path:
    return build_workbook(tmp_path / name, default_sheets(banks=[BANK], tokens=tokens, requests=requests, **more))


def set_cell(book: Path, sheet: str, request_id: str, header: str, value) -> Path:
    """A clerk's edit of one cell of a request's row, done with openpyxl on a copy of the file."""
    import openpyxl

    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[sheet]
    headers = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[headers.index("依頼番号")].value == request_id:
            row[headers.index(header)].value = value
    wb.save(book)
    return book


def dispatch_rows(book: Path, today: dt.date):
    return {(d.request_id, d.batch): (d.state, d.shipped_on) for d in check_book(book, today).ledger.dispatches}


# --- 1. the button confirms what can ship, whatever batch waits for cards ------------------------

def test_the_confirm_button_ships_a_later_batch_while_an_earlier_one_waits_for_its_ib_card(tmp_path):
    book = ledger_book(tmp_path, [token("TK00000011"), token("TK00000012")],
                       [card_request("R20261116-001", D(2026, 11, 16)), request("R20261118-001", D(2026, 11, 18))])
    assert run_allocate(Run(book, at(D(2026, 11, 18)), "clerk"), D(2026, 11, 18)).exit_code == 0  # W47: the card parcel
    assert run_allocate(Run(book, at(D(2026, 11, 24)), "clerk"), D(2026, 11, 24)).exit_code == 0  # W48
    memory = MemoryBook(book)
    outcome = press("confirm", memory, at(D(2026, 11, 30), 10), "clerk")
    assert outcome.exit_code == 0, outcome.lines
    ledger = memory.ledger()
    rows = {(d.request_id, d.batch): (d.state, d.shipped_on) for d in ledger.dispatches}
    assert rows == {("R20261116-001", "2026-W47"): ("予定", None),
                    ("R20261118-001", "2026-W48"): ("発送済", D(2026, 11, 30))}
    assert "バッチ 2026-W48 1本（発送日 2026/11/30）" in memory.questions[-1]
    message = memory.messages[-1][0]
    assert "発送済 1本（バッチ 2026-W48）" in message
    assert "IBカード待ち 2026-W47 R20261116-001（IBカード受領日が未入力）" in message

    # Pressed again with nothing that can ship: nothing is written, and it still says what waits.
    writes = memory.writes
    again = press("confirm", memory, at(D(2026, 11, 30), 11), "clerk")
    assert again.exit_code == 0 and memory.writes == writes
    assert "発送確定できる発送予定がありません" in memory.messages[-1][0]
    assert "R20261116-001（IBカード受領日が未入力）" in memory.messages[-1][0]


def test_the_menu_shows_batches_awaiting_confirmation_and_parcels_waiting_for_cards(tmp_path):
    book = ledger_book(tmp_path, [token("TK00000011"), token("TK00000012")],
                       [card_request("R20261116-001", D(2026, 11, 16)), request("R20261116-002", D(2026, 11, 16))])
    assert run_allocate(Run(book, at(D(2026, 11, 17)), "clerk"), D(2026, 11, 17)).exit_code == 0
    memory = MemoryBook(book)
    panel = {row[4]: row[5] for row in memory.grids["メニュー"] if len(row) > 5 and row[4]}
    assert panel["発送確定待ち"] == "2026-W47 ★11/24 2本（うち確定可 1本）"
    assert panel["IBカード待ち"] == "1件: R20261116-001（IBカード受領日が未入力）"
    assert any("●" in str(v) and "◆" in str(v) and "★" in str(v) and "カード作成" in str(v)
               for row in memory.grids["メニュー"] for v in row)  # the legend


# --- 2. a card parcel is never backdated, nor dated in the future --------------------------------

def test_a_card_parcel_ships_on_its_card_receipt_day_not_on_the_earlier_star(tmp_path):
    book = ledger_book(tmp_path, [token("TK00000011")], [card_request("R20261116-001", D(2026, 11, 16))])
    assert run_allocate(Run(book, at(D(2026, 11, 17)), "clerk"), D(2026, 11, 17)).exit_code == 0
    set_cell(book, "申込", "R20261116-001", "IBカード受領日", dt.datetime(2026, 11, 27))
    outcome = run_confirm(Run(book, at(D(2026, 11, 30)), "clerk"), "2026-W47")
    assert outcome.exit_code == 0, outcome.lines
    assert dispatch_rows(book, D(2026, 11, 30)) == {("R20261116-001", "2026-W47"): ("発送済", D(2026, 11, 27))}
    ledger = check_book(book, D(2026, 11, 30)).ledger
    (used,) = [t for t in ledger.tokens if t.serial == "TK00000011"]
    assert (used.state, used.started_on) == ("利用中", D(2026, 11, 27))
    assert [e.effective_on for e in ledger.journal if e.operation == "発送"] == [D(2026, 11, 27)]


def test_a_shipped_on_date_before_the_card_arrived_leaves_the_parcel_waiting(tmp_path):
    book = ledger_book(tmp_path, [token("TK00000011")], [card_request("R20261116-001", D(2026, 11, 16))])
    run_allocate(Run(book, at(D(2026, 11, 17)), "clerk"), D(2026, 11, 17))
    set_cell(book, "申込", "R20261116-001", "IBカード受領日", dt.datetime(2026, 11, 27))
    outcome = run_confirm(Run(book, at(D(2026, 11, 30)), "clerk"), "2026-W47", D(2026, 11, 24))
    assert "  IBカード待ち R20261116-001（発送日 2026/11/24 はIBカード受領日 2026/11/27 より前）" in outcome.lines
    assert dispatch_rows(book, D(2026, 11, 30)) == {("R20261116-001", "2026-W47"): ("予定", None)}


def test_shipped_on_in_the_future_is_refused_and_changes_nothing(tmp_path, capsys):
    book = ledger_book(tmp_path, [token("TK00000011")], [request("R20261116-001", D(2026, 11, 16))])
    run_allocate(Run(book, at(D(2026, 11, 17)), "clerk"), D(2026, 11, 17))
    before = book.read_bytes()
    outcome = run_confirm(Run(book, at(D(2026, 11, 24), 9), "clerk"), "2026-W47", D(2026, 11, 25))
    assert outcome.exit_code == 2 and "未来の日付です" in outcome.lines[0]
    assert book.read_bytes() == before
    # the command line says the same, with its own clock: a day far ahead is always the future
    assert main(["confirm", "--book", str(book), "--batch", "2026-W47", "--shipped-on", "2099-12-31"]) == 2
    assert "未来の日付です" in capsys.readouterr().out and book.read_bytes() == before


def test_validate_reports_backdated_and_future_ship_dates_already_in_the_ledger(book_file):
    card = card_request("R20261116-001", D(2026, 11, 16), IBカード受領日=D(2026, 11, 27), 状態="完了")
    plain = request("R20261116-002", D(2026, 11, 16), 状態="完了")
    no_card = card_request("R20261116-003", D(2026, 11, 16), 状態="完了")
    tokens = [token(f"TK0000001{i}", 状態="利用中", 金庫コード="1234", 店番="001", 顧客番号=f"00{i}", 顧客名="x",
                    利用開始日=D(2026, 11, 24)) for i in (1, 2, 3)]

    def row(request_id, serial, shipped, card="有"):
        return {"発送番号": "2026-W47-0001", "バッチ": "2026-W47", "依頼番号": request_id, "シリアル番号": serial,
                "金庫コード": "1234", "発送予定日": D(2026, 11, 24), "発送日": shipped, "IBカード": card, "状態": "発送済"}

    dispatches = [row("R20261116-001", "TK00000011", D(2026, 11, 24)),  # before its card came
                  row("R20261116-002", "TK00000012", D(2026, 12, 24), "無"),  # after today (11-24 in conftest)
                  row("R20261116-003", "TK00000013", D(2026, 11, 24))]  # a card parcel without a card
    result = check_book(book_file(tokens=tokens, requests=[card, plain, no_card], dispatches=dispatches), D(2026, 11, 24))
    found = {(p.sheet, p.cell, p.code) for p in result.problems if p.sheet == "発送"}
    assert found == {("発送", "G2", "shipped-before-card"), ("発送", "G3", "shipped-in-future"),
                     ("発送", "G4", "shipped-without-card")}
    assert all(p.is_error for p in result.problems if p.sheet == "発送")


# --- 6. smaller ---------------------------------------------------------------------------------

def test_a_cancelled_request_loses_its_shipping_memo(tmp_path):
    book = ledger_book(tmp_path, [token("TK00000011")], [request("R20261116-001", D(2026, 11, 16))])
    run_allocate(Run(book, at(D(2026, 11, 17)), "clerk"), D(2026, 11, 17))
    assert check_book(book, D(2026, 11, 17)).ledger.requests[0].memo == "11/24発送予定（1本・2026-W47）"
    set_cell(book, "申込", "R20261116-001", "状態", "取消")
    assert run_allocate(Run(book, at(D(2026, 11, 18)), "clerk"), D(2026, 11, 18)).exit_code == 0
    ledger = check_book(book, D(2026, 11, 18)).ledger
    assert ledger.requests[0].memo == "取消（2026/11/18・引当 1本を在庫に戻しました）"
    assert {t.serial: t.state for t in ledger.tokens}["TK00000011"] == "在庫"
    run_allocate(Run(book, at(D(2026, 11, 24)), "clerk"), D(2026, 11, 24))  # a later run keeps that memo
    assert check_book(book, D(2026, 11, 24)).ledger.requests[0].memo == "取消（2026/11/18・引当 1本を在庫に戻しました）"


def test_allocation_and_release_journal_rows_name_the_bank(tmp_path):
    book = ledger_book(tmp_path, [token("TK00000011")], [request("R20261116-001", D(2026, 11, 16))])
    run_allocate(Run(book, at(D(2026, 11, 17)), "clerk"), D(2026, 11, 17))
    set_cell(book, "申込", "R20261116-001", "状態", "取消")
    run_allocate(Run(book, at(D(2026, 11, 18)), "clerk"), D(2026, 11, 18))
    journal = check_book(book, D(2026, 11, 18)).ledger.journal
    assert [(e.operation, e.bank_code) for e in journal if e.operation in ("引当", "引当取消")] == [
        ("引当", "1234"), ("引当取消", "1234")]


def test_the_customer_kind_stays_on_the_token_when_the_request_is_gone(tmp_path):
    book = ledger_book(tmp_path, [token("TK00000011")], [request("R20261102-001", D(2026, 11, 2), 顧客区分="法人")])
    run_allocate(Run(book, at(D(2026, 11, 3)), "clerk"), D(2026, 11, 3))
    assert run_confirm(Run(book, at(D(2026, 11, 9)), "clerk"), "2026-W45").exit_code == 0
    ledger = check_book(book, D(2026, 11, 9)).ledger
    (used,) = [t for t in ledger.tokens if t.serial == "TK00000011"]
    assert (used.state, used.customer_kind) == ("利用中", "法人")
    from dataclasses import replace

    archived = replace(ledger, requests=())  # the request was archived away from 申込
    users = Month(archived, "2026-11").bank_report(BANK_ROW(archived), at(D(2026, 12, 1))).tables[0].rows
    assert [(r.serial, r.customer_kind) for r in users if r.serial == "TK00000011"] == [("TK00000011", "法人")]


def BANK_ROW(ledger):
    return next(b for b in ledger.banks if b.bank_code == "1234")


def test_a_blank_expiry_is_derived_and_the_check_result_says_so(book_file):
    tokens = [{"シリアル番号": "TK00000011", "所有者": "CSS", "状態": "在庫", "納品日": D(2025, 6, 1)},
              {"シリアル番号": "TK00000012", "所有者": "CSS", "状態": "在庫", "納品日": D(2025, 7, 1)},
              token("TK00000013")]
    result = check_book(book_file(tokens=tokens, requests=[]), D(2026, 11, 24))
    assert {t.serial: t.expires_on for t in result.ledger.tokens}["TK00000011"] == D(2030, 6, 1)
    (note,) = [p for p in result.problems if p.code == "expiry-derived"]
    assert (note.sheet, note.cell, note.is_error) == ("在庫", "E2", False)
    assert "2 本" in note.message and "電池寿命（月）60" in note.message and "E3" in note.message


# --- 5. year-end: SSC's own schedule for a batch ---------------------------------------------------

SSC_YEAR_END = [{"バッチ": "2026-W53", "カード受領日": D(2027, 1, 4), "発送日": D(2027, 1, 5),
                 "備考": "SSC年末年始日程（1/4受領・1/5発送）"}]


def year_end_book(tmp_path: Path, schedule=None) -> Path:
    requests = [request("R20261224-001", D(2026, 12, 24)), card_request("R20261228-001", D(2026, 12, 28),
                                                                        IBカード受領日=D(2027, 1, 4))]
    return ledger_book(tmp_path, [token("TK00000011"), token("TK00000012")], requests,
                       **({"schedule": schedule} if schedule else {}))


def test_without_sscs_schedule_the_year_end_batch_waits_until_january_12(tmp_path):
    book = year_end_book(tmp_path)
    run_allocate(Run(book, at(D(2026, 12, 29)), "clerk"), D(2026, 12, 29))
    assert {d.planned_on for d in check_book(book, D(2026, 12, 29)).ledger.dispatches} == {D(2027, 1, 12)}


def test_sscs_year_end_schedule_is_used_by_allocate_the_menu_confirm_and_the_reports(tmp_path):
    book = year_end_book(tmp_path, SSC_YEAR_END)
    outcome = run_allocate(Run(book, at(D(2026, 12, 29)), "clerk"), D(2026, 12, 29))
    assert outcome.exit_code == 0, outcome.lines
    assert outcome.lines[0] == "週次割当 2026-W53（締切 12/29・●12/30・◆01/04・★発送 01/05）"
    ledger = check_book(book, D(2026, 12, 29)).ledger
    assert {(d.request_id, d.planned_on) for d in ledger.dispatches} == {("R20261224-001", D(2027, 1, 5)),
                                                                       ("R20261228-001", D(2027, 1, 5))}
    assert {r.memo for r in ledger.requests} == {"01/05発送予定（1本・2026-W53）"}
    # the menu's next batch (W01 keeps the usual dates) and the batch awaiting confirmation
    memory = MemoryBook(book)
    panel = {row[4]: row[5] for row in memory.grids["メニュー"] if len(row) > 5 and row[4]}
    assert panel["発送確定待ち"] == "2026-W53 ★01/05 2本（うち確定可 1本）"
    # confirmed on 01-05 by the button: both parcels (the card came 01-04) ship on SSC's ★
    assert press("confirm", memory, at(D(2027, 1, 5), 16), "clerk").exit_code == 0
    assert {(d.request_id, d.shipped_on) for d in memory.ledger().dispatches} == {
        ("R20261224-001", D(2027, 1, 5)), ("R20261228-001", D(2027, 1, 5))}
    # the CSS report lists the month's batches with their dates and where they came from
    from tokenbook.report import css_report

    report = css_report(memory.ledger(), "2026-12", at(D(2027, 1, 6)))
    (table,) = [t for t in report.tables if t.name == "バッチ日程"]
    assert [r[:6] for r in table.rows if r[0] == "2026-W53"] == [
        ("2026-W53", D(2026, 12, 29), D(2026, 12, 30), D(2027, 1, 4), D(2027, 1, 5), "バッチ日程")]


def test_a_wrong_schedule_row_is_located(book_file):
    rows = [{"バッチ": "2026-W53", "カード作成日": D(2027, 1, 6), "カード受領日": D(2027, 1, 4)},
            {"バッチ": "W53"}, {"バッチ": "2027-W01", "発送日": D(2027, 1, 11)}]
    found = check_book(book_file(schedule=rows), D(2026, 12, 1)).problems
    assert {(p.sheet, p.cell, p.code) for p in found if p.sheet == "バッチ日程"} == {
        ("バッチ日程", "C2", "schedule-order"), ("バッチ日程", "A3", "bad-batch-id"),
        ("バッチ日程", "D4", "schedule-closed-day")}


# --- 4. a closed month does not change silently ------------------------------------------------

def month_book(tmp_path: Path, port: int | None = None) -> Path:
    from tokenbook.models import setting_rows

    values = {"差出人": "token@css.example", "SMTPサーバー": "localhost", "SMTPポート": str(port or 25)}
    settings = [{"項目": s.key, "値": values.get(s.key, s.default)} for s in setting_rows()]
    users = [token(f"TK0000010{i}", 状態="利用中", 金庫コード="1234", 店番="001", 顧客番号=f"C{i}", 顧客名=f"顧客{i}",
                   利用開始日=D(2026, 6, 1), 顧客区分="個人") for i in range(1, 7)]
    return ledger_book(tmp_path, users, [], settings=settings)


def month_end(book: Path, out: Path, *extra: str) -> int:
    return main(["month-end", "--book", str(book), "--out", str(out), *extra])


def test_a_month_not_over_is_refused_unless_preliminary_and_then_every_sheet_says_so(tmp_path):
    import openpyxl

    from tokenbook.runs import run_month_end

    book = month_book(tmp_path)
    now = at(D(2026, 11, 24), 10)
    out = tmp_path / "r"
    refused = run_month_end(Run(book, now, "op"), "2026-11", out, make_mail=False)
    assert refused.exit_code == 2 and "2026年11月はまだ終わっていません（末日は 2026/11/30）" in refused.lines[0]
    future = run_month_end(Run(book, now, "op"), "2027-01", out)
    assert future.exit_code == 2 and "2027年1月は未来の月です" in future.lines[0]
    assert not out.exists()
    assert run_month_end(Run(book, now, "op"), "2026-11", out, send=True, preliminary=True).exit_code == 2
    assert run_month_end(Run(book, now, "op"), "2026-10", out, make_mail=False).exit_code == 0  # October is over
    made = run_month_end(Run(book, now, "op"), "2026-11", out, preliminary=True)
    assert made.exit_code == 0 and not (out / "2026-11" / "outbox").exists()  # a preliminary is not mailed
    files = sorted((out / "2026-11").glob("*.xlsx"))
    assert len(files) == 2
    for path in files:
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            assert str(ws["A1"].value).startswith("【速報】"), (path.name, ws.title)
            assert "速報" in ws.oddHeader.left.text, (path.name, ws.title)
    assert main(["report", "--book", str(book), "--month", "2099-01", "--out", str(out)]) == 2  # the CLI too


def test_a_sent_month_made_again_lists_what_changed_and_goes_only_as_a_correction(server, tmp_path, capsys):  # noqa: F811
    import io

    import openpyxl

    mailbox, port = server("starttls")
    book = month_book(tmp_path, port)
    out = tmp_path / "out"
    with_month = ("--month", "2026-10")
    assert month_end(book, out, *with_month, "--send") == 0
    assert len(mailbox.messages) == 1
    capsys.readouterr()
    # a handover received in October, typed in after the report went out: 利用中 6 -> 7
    wb = openpyxl.load_workbook(book, keep_vba=True)
    headers = [c.value for c in wb["在庫"][1]]
    late = {"シリアル番号": "TK00000199", "所有者": "1234", "状態": "利用中", "納品日": dt.datetime(2025, 6, 1),
            "使用期限": dt.datetime(2030, 6, 1), "金庫コード": "1234", "店番": "001", "顧客番号": "C9", "顧客名": "顧客9",
            "利用開始日": dt.datetime(2026, 10, 30), "顧客区分": "個人"}
    wb["在庫"].append([late.get(h) for h in headers])
    # no journal row typed by hand: 履歴 is chained; the month-end journals what was typed into 在庫
    wb.save(book)

    assert month_end(book, out, *with_month, "--send") == 1  # changed: not sent without --correction
    said = capsys.readouterr().out
    assert "送信済みの報告と内容が変わった金庫: 1 件" in said
    assert "概要: 利用中 6 → 7" in said and "利用者一覧: 1 行追加・0 行削除（6 行 → 7 行）" in said
    assert "--send --correction" in said and len(mailbox.messages) == 1

    assert month_end(book, out, *with_month, "--send", "--correction") == 0
    assert len(mailbox.messages) == 2
    message = mailbox.messages[-1][2]
    assert message["Subject"].startswith("【訂正版】")
    (part,) = [p for p in message.iter_attachments()]
    sent = openpyxl.load_workbook(io.BytesIO(part.get_content()))
    assert sent["概要"]["A1"].value.startswith("【訂正版】") and sent["利用者一覧"]["A1"].value.startswith("【訂正版】")
    assert month_end(book, out, *with_month, "--send") == 0  # made again alike: the correction is not resent
    assert len(mailbox.messages) == 2


# --- チェック結果: which run wrote it, dates as the book shows them --------------------------------

def test_check_results_carry_a_run_summary_and_slash_dates(tmp_path):
    import openpyxl

    expired = token("TK00000011", 納品日=D(2021, 6, 1), 使用期限=D(2026, 6, 1))
    book = ledger_book(tmp_path, [expired, token("TK00000012")], [request("R20261116-001", D(2026, 11, 16))])
    assert run_allocate(Run(book, at(D(2026, 11, 17)), "clerk"), D(2026, 11, 17)).exit_code == 0
    ws = openpyxl.load_workbook(book)["チェック結果"]
    assert [c.value for c in ws[2]][:5] == ["警告", "在庫", "E2", "使用期限", "2026/06/01"]
    assert ws.cell(1, 8).value.startswith("2026/11/17 18:00 週次割当: 引当 1件（1本）")
    assert ws.cell(1, 8).value.endswith("— エラー 0 件・警告 1 件")


# --- 3. handovers take effect when the customer got the token, not at the next batch -------------

def test_a_handover_received_is_journalled_by_the_month_end_on_its_received_day(tmp_path):
    from tokenbook.report import Month
    from tokenbook.runs import run_month_end

    book = month_book(tmp_path)
    held = token("TK00000201", 所有者="1234", 状態="金庫保管", 金庫コード="1234", 店番="001", 入庫日=D(2026, 9, 1))
    handover = request("R20261028-001", D(2026, 10, 28), 発送方法="窓口手交", 手交シリアル="TK00000201",
                       送付先郵便番号=None, 送付先住所=None, 送付先氏名=None, 送付先電話=None)
    import openpyxl

    wb = openpyxl.load_workbook(book, keep_vba=True)
    for sheet, record in (("在庫", held), ("申込", handover)):
        headers = [c.value for c in wb[sheet][1]]
        wb[sheet].append([record.get(h) for h in headers])
    wb.save(book)

    # no weekly batch runs between the handover and the month-end (a month-end on Monday 11-02)
    outcome = run_month_end(Run(book, at(D(2026, 11, 2), 9), "operator"), "2026-10", tmp_path / "out", make_mail=False)
    assert outcome.exit_code == 0, outcome.lines
    assert any("窓口手交を記録: 1件" in line for line in outcome.lines)
    ledger = check_book(book, D(2026, 11, 2)).ledger
    (moved,) = [e for e in ledger.journal if e.operation == "手交"]
    assert (moved.serial, moved.effective_on, moved.before, moved.after) == ("TK00000201", D(2026, 10, 28), "金庫保管", "利用中")
    assert {r.request_id: r.state for r in ledger.requests} == {"R20261028-001": "完了"}
    assert len(Month(ledger, "2026-10").in_use["1234"]) == 7  # the six users and the customer who got it on 10-28
    # made again, nothing more is recorded: the handover is done
    again = run_month_end(Run(book, at(D(2026, 11, 2), 10), "operator"), "2026-10", tmp_path / "out", make_mail=False)
    assert not any("窓口手交" in line for line in again.lines)
    assert len([e for e in check_book(book, D(2026, 11, 2)).ledger.journal if e.operation == "手交"]) == 1
