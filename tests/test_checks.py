"""Every check of design §7 on small literal ledgers, asserted as (sheet, cell, code).

The base ledger of conftest (one bank; a stock, an in-use and a held token; one postal request)
is clean; each test changes one thing and expects exactly the problems that change causes.
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import BANK, HELD, IN_USE, POSTAL_REQUEST, STOCK, check_memory

D = dt.date


def req(**changes):
    return [{**POSTAL_REQUEST, **changes}]


def test_base_ledger_is_clean():
    assert check_memory() == set()


def test_base_ledger_is_clean_through_a_real_file(check_rows):
    assert check_rows() == set()


# --- 金庫 ---------------------------------------------------------------------------------------

def test_bank_required_and_formats():
    found = check_memory(banks=[{**BANK, "金庫コード": "12", "金庫名": None, "郵便番号": "12-345"}])
    assert {("金庫", "A2", "bad-bank-code"), ("金庫", "B2", "required"), ("金庫", "F2", "bad-postal-code")} <= found


def test_bank_code_unique():
    found = check_memory(banks=[BANK, {**BANK, "金庫名": "別名信用金庫"}])
    assert ("金庫", "A3", "duplicate-key") in found


def test_report_mail_required_only_when_reports_are_sent():
    assert ("金庫", "C2", "report-mail-required") in check_memory(banks=[{**BANK, "報告先メール": None}])
    assert check_memory(banks=[{**BANK, "報告先メール": None, "報告送付": "しない"}]) == set()


def test_bad_address_in_a_list_is_named():
    found = check_memory(banks=[{**BANK, "CCメール": "ok@aoba.example; broken@"}])
    assert ("金庫", "D2", "bad-email") in found


def test_recipients_outside_allowed_domains_are_refused():
    found = check_memory(banks=[{**BANK, "許可ドメイン": "aoba.example", "CCメール": "someone@gmail.example"}])
    assert found == {("金庫", "D2", "recipient-outside-domain")}


def test_send_report_enumeration():
    assert ("金庫", "I2", "bad-choice") in check_memory(banks=[{**BANK, "報告送付": "はい"}])


# --- 在庫 ---------------------------------------------------------------------------------------

def test_serial_unique_and_format():
    found = check_memory(tokens=[STOCK, {**STOCK}, {**IN_USE, "シリアル番号": "tk-2"}, HELD])
    assert ("在庫", "A3", "duplicate-key") in found
    assert ("在庫", "A4", "bad-serial") in found


def test_serial_duplicate_after_normalisation():
    found = check_memory(tokens=[STOCK, {**STOCK, "シリアル番号": "ｔｋ０００００００１"}, IN_USE, HELD])
    assert ("在庫", "A3", "duplicate-key") in found


def test_owner_must_be_css_or_a_known_bank():
    found = check_memory(tokens=[{**STOCK, "所有者": "9999"}, {**IN_USE, "所有者": "SSC"}, HELD])
    assert ("在庫", "B2", "unknown-bank") in found
    assert ("在庫", "B3", "bad-owner") in found


def test_state_enumeration_and_required_dates():
    found = check_memory(tokens=[{**STOCK, "状態": "使用中", "納品日": None}, IN_USE, HELD])
    assert {("在庫", "C2", "bad-choice"), ("在庫", "D2", "required")} <= found


def test_expiry_must_be_after_delivery():
    found = check_memory(tokens=[{**STOCK, "使用期限": D(2024, 12, 31)}, IN_USE, HELD])
    assert found == {("在庫", "E2", "expiry-not-after-delivery"), ("在庫", "E2", "expired-stock")}
    found = check_memory(tokens=[STOCK, {**IN_USE, "使用期限": D(2024, 4, 1)}, HELD])
    assert found == {("在庫", "E3", "expiry-not-after-delivery")}


def test_in_use_needs_customer_branch_and_start():
    bare = {k: v for k, v in IN_USE.items() if k not in ("店番", "顧客番号", "顧客名", "利用開始日")}
    found = check_memory(tokens=[STOCK, bare, HELD])
    assert found == {("在庫", c, "required-for-state") for c in ("H3", "I3", "J3", "K3")}


def test_held_needs_bank_and_branch():
    found = check_memory(tokens=[STOCK, IN_USE, {**HELD, "金庫コード": None, "店番": None}])
    assert found == {("在庫", "G4", "required-for-state"), ("在庫", "H4", "required-for-state")}


def test_stopped_needs_a_reason():
    found = check_memory(tokens=[STOCK, {**IN_USE, "状態": "停止"}, HELD])
    assert found == {("在庫", "M3", "stop-reason-required")}
    assert check_memory(tokens=[STOCK, {**IN_USE, "状態": "停止", "停止理由": "紛失"}, HELD]) == set()


def test_unreadable_cell_is_not_reported_twice():
    found = check_memory(tokens=[STOCK, {**IN_USE, "利用開始日": "いつか"}, HELD])
    assert found == {("在庫", "K3", "bad-date")}


def test_use_cannot_start_before_delivery():
    found = check_memory(tokens=[STOCK, {**IN_USE, "利用開始日": D(2024, 3, 1)}, HELD])
    assert found == {("在庫", "K3", "started-before-delivery")}


def test_a_token_held_at_a_bank_belongs_to_that_bank():
    found = check_memory(tokens=[STOCK, IN_USE, {**HELD, "所有者": "CSS"}])
    assert found == {("在庫", "B4", "held-by-another-owner")}


def test_expired_stock_is_a_warning():
    found = check_memory(tokens=[{**STOCK, "納品日": D(2021, 6, 1), "使用期限": D(2026, 6, 1)}, IN_USE, HELD])
    assert found == {("在庫", "E2", "expired-stock")}


def test_blank_expiry_defaults_to_battery_life():
    from conftest import default_sheets, tables_for
    from tokenbook.parse import parse_tables

    ledger, _ = parse_tables(tables_for(default_sheets()))
    assert ledger.tokens[0].expires_on == D(2030, 1, 10)


def test_token_bank_must_exist():
    assert ("在庫", "G3", "unknown-bank") in check_memory(tokens=[STOCK, {**IN_USE, "金庫コード": "4321"}, HELD])


# --- 申込 ---------------------------------------------------------------------------------------

def test_request_required_fields_and_enumerations():
    found = check_memory(requests=req(受付日=None, 店番="1", 申込区分="追加", 発送方法="宅配便"))
    assert {("申込", "B2", "required"), ("申込", "D2", "bad-branch-code"), ("申込", "H2", "bad-choice"),
            ("申込", "J2", "bad-choice")} <= found


def test_request_id_unique():
    found = check_memory(requests=[POSTAL_REQUEST, {**POSTAL_REQUEST, "顧客番号": "0000999"}])
    assert ("申込", "A3", "duplicate-key") in found


def test_blank_request_ids_are_not_duplicates():
    rows = [{**POSTAL_REQUEST, "依頼番号": None}, {**POSTAL_REQUEST, "依頼番号": None, "顧客番号": "0000999"}]
    assert check_memory(requests=rows) == set()


def test_received_date_not_in_future():
    assert check_memory(requests=req(受付日=D(2026, 11, 25))) == {("申込", "B2", "future-date")}


def test_received_date_in_japanese_era_text():
    assert check_memory(requests=req(受付日="令和8年11月20日")) == set()


def test_request_bank_must_exist():
    assert ("申込", "C2", "unknown-bank") in check_memory(requests=req(金庫コード="4321"))


def test_customer_required_except_for_bank_refill():
    found = check_memory(requests=req(顧客番号=None, 顧客名=None, 顧客区分=None))
    assert found == {("申込", c, "customer-required") for c in ("E2", "F2", "G2")}
    refill = req(申込区分="金庫補充", 発送方法="金庫郵送", 顧客番号=None, 顧客名=None, 顧客区分=None)
    assert check_memory(requests=refill) == set()


def test_quantity_is_a_positive_integer():
    assert check_memory(requests=req(数量=0)) == {("申込", "I2", "bad-integer")}
    assert check_memory(requests=req(数量="二")) == {("申込", "I2", "bad-integer")}


@pytest.mark.parametrize("changes", [
    {"申込区分": "途中", "IBカード": "有"},
    {"IBカード": "有", "発送方法": "窓口手交", "手交シリアル": "TK00000003"},
])
def test_ib_card_only_with_new_and_postal(changes):
    assert ("申込", "K2", "ib-card-not-allowed") in check_memory(requests=req(**changes))


def test_ib_card_with_new_postal_is_fine():
    assert check_memory(requests=req(IBカード="有")) == set()


def handover(**changes):
    return req(**{"申込区分": "途中", "発送方法": "窓口手交", "手交シリアル": "TK00000003", "送付先郵便番号": None,
                  "送付先住所": None, "送付先氏名": None, "送付先電話": None, **changes})


def test_handover_of_a_held_serial_is_fine():
    assert check_memory(requests=handover()) == set()


def test_handover_serial_count_must_match_quantity():
    assert check_memory(requests=handover(数量=2)) == {("申込", "L2", "handover-count")}


def test_handover_serial_must_be_held_by_that_bank():
    assert check_memory(requests=handover(手交シリアル="TK00000001")) == {("申込", "L2", "handover-not-at-bank")}
    other_bank = {**BANK, "金庫コード": "5678", "報告先メール": "r@b.example"}
    found = check_memory(banks=[BANK, other_bank], requests=handover(金庫コード="5678"))
    assert found == {("申込", "L2", "handover-not-at-bank")}


def test_handover_serial_unknown():
    assert check_memory(requests=handover(手交シリアル="TK99999999")) == {("申込", "L2", "handover-not-at-bank")}


def test_completed_handover_is_not_rechecked_against_stock():
    token_now_in_use = {**HELD, "状態": "利用中", "顧客番号": "0000456", "顧客名": "株式会社青葉商事",
                        "利用開始日": D(2026, 11, 20)}
    assert check_memory(tokens=[STOCK, IN_USE, token_now_in_use], requests=handover(状態="完了")) == set()


def test_handover_serials_only_for_handover():
    assert check_memory(requests=req(手交シリアル="TK00000003")) == {("申込", "L2", "handover-unexpected")}


def replacement(**changes):
    return req(**{"申込区分": "交換", "顧客番号": "0000123", "顧客名": "佐藤 翔太", "顧客区分": "個人", **changes})


def test_replacement_of_the_customers_token_is_fine():
    assert check_memory(requests=replacement(旧シリアル="TK00000002")) == set()


def test_replacement_needs_old_serial():
    assert check_memory(requests=replacement()) == {("申込", "M2", "old-serial-required")}


@pytest.mark.parametrize("changes", [
    {"旧シリアル": "TK00000001"},  # in stock, not in use
    {"旧シリアル": "TK00000002", "顧客番号": "0000999"},  # someone else's
    {"旧シリアル": "TK77777777"},  # unknown
])
def test_replacement_old_serial_must_be_in_use_by_that_customer(changes):
    assert check_memory(requests=replacement(**changes)) == {("申込", "M2", "old-serial-not-in-use")}


@pytest.mark.parametrize(("header", "cell"), [
    ("送付先郵便番号", "N2"), ("送付先住所", "O2"), ("送付先氏名", "P2"), ("送付先電話", "Q2"),
])
def test_postal_request_needs_an_address(header, cell):
    assert check_memory(requests=req(**{header: None})) == {("申込", cell, "ship-address-required")}


def test_bank_mail_defaults_to_the_bank_address():
    found = check_memory(requests=req(発送方法="金庫郵送", 送付先郵便番号=None, 送付先住所=None, 送付先氏名=None,
                                      送付先電話=None))
    assert found == set()
    no_address = {k: v for k, v in BANK.items() if k not in ("郵便番号", "住所")}
    found = check_memory(banks=[no_address], requests=req(発送方法="金庫郵送", 送付先郵便番号=None,
                                                           送付先住所=None, 送付先氏名=None))
    assert found == {("申込", c, "ship-address-required") for c in ("N2", "O2", "P2")}


def test_cancelled_requests_are_not_held_to_shipping_rules():
    assert check_memory(requests=req(送付先住所=None, 状態="取消")) == set()


def test_phone_format():
    assert check_memory(requests=req(送付先電話="06-1234")) == {("申込", "Q2", "bad-phone")}


def test_postal_code_unknown_to_japan_post_is_a_warning():
    assert check_memory(requests=req(送付先郵便番号="999-9999")) == {("申込", "N2", "unknown-postal-code")}


def test_postal_code_prefecture_must_agree_with_address():
    found = check_memory(requests=req(送付先郵便番号="100-0001"))  # 東京都, address says 大阪府
    assert found == {("申込", "N2", "postal-prefecture-mismatch")}


def test_address_without_prefecture_is_not_guessed():
    assert check_memory(requests=req(送付先住所="大阪市北区梅田1-1-1")) == set()


def test_suspicious_duplicate_open_requests():
    second = {**POSTAL_REQUEST, "依頼番号": "R20261120-002"}
    assert check_memory(requests=[POSTAL_REQUEST, second]) == {("申込", "E3", "suspicious-duplicate")}
    done = {**POSTAL_REQUEST, "状態": "完了"}
    assert check_memory(requests=[done, second]) == set()


def test_request_state_enumeration():
    assert check_memory(requests=req(状態="処理中")) == {("申込", "U2", "bad-choice")}


# --- 発送 / 履歴 / 休業日 ----------------------------------------------------------------------

DISPATCH = {"発送番号": "D0000001", "バッチ": "2026-W48", "依頼番号": "R20261120-001", "シリアル番号": "TK00000001",
            "金庫コード": "1234", "発送予定日": D(2026, 11, 30), "IBカード": "無", "状態": "予定"}


def test_dispatch_references():
    assert check_memory(dispatches=[DISPATCH]) == set()
    found = check_memory(dispatches=[{**DISPATCH, "依頼番号": "R1", "シリアル番号": "TK55555555", "金庫コード": "4321"}])
    assert found == {("発送", "C2", "unknown-request"), ("発送", "D2", "unknown-serial"), ("発送", "E2", "unknown-bank")}


def test_dispatch_state_required():
    assert check_memory(dispatches=[{**DISPATCH, "状態": None}]) == {("発送", "M2", "required")}


def test_journal_cells():
    entry = {"日時": "2026-11-24 10:00", "発効日": "R8.11.24", "操作": "入庫", "シリアル番号": "TK00000001",
             "変更後": "在庫"}
    unsealed = ("履歴", "M2", "journal-before-chain")  # a row written by hand, from before the chain began
    assert check_memory(journal=[entry]) == {unsealed}
    found = check_memory(journal=[{**entry, "日時": "昨日", "操作": "移動"}])
    assert found == {("履歴", "A2", "bad-datetime"), ("履歴", "C2", "bad-choice"), unsealed}


def test_state_edited_by_hand_differs_from_journal():
    entry = {"日時": "2026-11-24 10:00", "発効日": "2026-11-24", "操作": "入庫", "シリアル番号": "TK00000001",
             "変更後": "在庫"}
    moved = {**entry, "日時": "2026-11-24 11:00", "操作": "引当", "変更前": "在庫", "変更後": "引当済"}
    assert check_memory(journal=[entry, moved]) == {("在庫", "C2", "state-differs-from-journal"),
                                                    ("履歴", "M2", "journal-before-chain")}


def test_holiday_dates():
    assert check_memory(holidays=[{"日付": "2026/12/30", "名称": "年末休業"}]) == set()
    assert check_memory(holidays=[{"日付": "12月30日"}]) == {("休業日", "A2", "bad-date")}


# --- 設定 -----------------------------------------------------------------------------------------

def settings(**changes):
    from tokenbook.models import setting_rows
    return [{"項目": s.key, "値": changes.get(s.key, s.default)} for s in setting_rows()]


@pytest.mark.parametrize(("key", "value", "row"), [
    ("電池寿命（月）", "五年", 2), ("受付締切曜日", "火曜じゃない", 5), ("シリアル形式", "[A-Z", 10),
    ("SMTP暗号化", "TLS1.3", 14), ("差出人", "css@", 16), ("SMTPポート", "0", 13),
    ("SMTPポート", "70000", 13), ("電池寿命（月）", "0", 2), ("最低残存期間（月）", 24.5, 3),
    ("メール件名", "{", 18), ("メール件名", "{対象月", 18), ("メール本文", "{顧客名} 様", 19), ("メール本文", "{0}", 19),
])
def test_bad_settings(key, value, row):
    assert check_memory(settings=settings(**{key: value})) == {("設定", f"B{row}", "bad-setting")}


def test_bad_setting_messages_say_what_is_wrong_in_japanese():
    from tokenbook.parse import read_settings
    from tokenbook.files.sheetio import table_from_rows

    rows = [["項目", "値", "説明"]] + [[r["項目"], r["値"], ""] for r in settings(**{
        "SMTPポート": "70000", "メール本文": "{顧客名} 様", "メール件名": "{"})]
    problems = []
    read = read_settings(table_from_rows("設定", rows, ["項目", "値", "説明"]), problems)
    messages = {p.cell: p.message for p in problems}
    assert "1〜65535の整数です" in messages["B13"]
    assert "{顧客名}" in messages["B19"] and "{金庫名}" in messages["B19"]
    assert "波かっこ" in messages["B18"]
    assert (read.smtp_port, read.mail_subject) == (587, "【トークン月次報告】{対象月} {金庫名}")  # defaults kept


def test_the_settings_sheet_is_derived_from_the_settings_model():
    """Every field of Settings is one 設定 row, and a new workbook's 設定 reads back as the defaults."""
    from tokenbook.models import Settings, setting_rows

    assert [r.field for r in setting_rows()] == list(Settings.model_fields)
    assert check_memory(settings=settings()) == set()
    from tokenbook.parse import read_settings
    from tokenbook.files.sheetio import table_from_rows

    rows = [["項目", "値", "説明"]] + [[r.key, r.default, r.description] for r in setting_rows()]
    problems = []
    assert read_settings(table_from_rows("設定", rows, ["項目", "値", "説明"]), problems) == Settings()
    assert problems == []


def test_plain_smtp_only_to_a_loopback_host():
    from tokenbook.models import Settings

    row = 2 + list(Settings.model_fields).index("smtp_security")  # the problem names the SMTP暗号化 cell
    assert check_memory(settings=settings(**{"SMTPサーバー": "smtp.example.jp", "SMTP暗号化": "なし"})) == {
        ("設定", f"B{row}", "bad-setting")}
    assert check_memory(settings=settings(**{"SMTPサーバー": "127.0.0.1", "SMTP暗号化": "なし"})) == set()


def test_weekday_setting_accepts_suffix():
    assert check_memory(settings=settings(受付締切曜日="水曜日")) == set()


def test_password_is_refused_in_settings():
    rows = settings() + [{"項目": "SMTPパスワード", "値": "hunter2"}]
    assert check_memory(settings=rows) == {("設定", f"A{len(rows) + 1}", "password-in-settings")}  # the last row


def test_missing_and_unknown_settings_are_warnings():
    rows = [r for r in settings() if r["項目"] != "発注点"] + [{"項目": "色", "値": "青"}]
    found = check_memory(settings=rows)
    assert found == {("設定", None, "missing-setting"), ("設定", f"A{len(rows) + 1}", "unknown-setting")}


def test_serial_pattern_setting_is_applied():
    found = check_memory(settings=settings(**{"シリアル形式": r"^TK\d{8}$"}),
                         tokens=[STOCK, IN_USE, {**HELD, "シリアル番号": "XX00000003"}])
    assert found == {("在庫", "A4", "bad-serial")}


def test_problem_renders_as_the_design_shows():
    from tokenbook.problems import problem

    p = problem("bad-postal-code", "申込", 12, "送付先郵便番号", "F", "12-345")
    assert p.render() == "申込!F12 [bad-postal-code] 郵便番号が7桁ではありません: '12-345'"


def test_a_crashing_check_becomes_an_internal_error_not_a_traceback(monkeypatch):
    from tokenbook import validate

    def broken(ledger, today):
        yield from ()
        raise KeyError("bug")

    monkeypatch.setattr(validate, "CHECKS", (broken, *validate.CHECKS))
    found = check_memory(requests=req(送付先電話="06-1234"))
    assert found == {("全体", None, "internal-error"), ("申込", "Q2", "bad-phone")}
