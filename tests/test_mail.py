"""E-mail delivery (design §9) against a real SMTP server on loopback (aiosmtpd), TLS with a test
certificate made in conftest, which the client trusts through SSL_CERT_FILE as it would a company CA."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from conftest import BANK, default_sheets
from tokenbook.books.build import build_workbook
from tokenbook.models import setting_rows
from tokenbook.cli import main

MONTH = "2026-10"
BANKS = [
    {**BANK, "金庫コード": "1111", "金庫名": "いちの信用金庫", "報告先メール": "report@ichi.example"},
    {**BANK, "金庫コード": "2222", "金庫名": "にの信用金庫", "報告先メール": "report@ni.example",
     "CCメール": "cc@ni.example"},
    {**BANK, "金庫コード": "3333", "金庫名": "さんの信用金庫", "報告先メール": "report@san.example"},
]
TOKENS = [{"シリアル番号": f"TK0000{code}", "所有者": "CSS", "状態": "利用中", "納品日": dt.date(2025, 1, 1),
           "金庫コード": code, "店番": "001", "顧客番号": "0000001", "顧客名": f"顧客{code}", "利用開始日": dt.date(2025, 2, 1)}
          for code in ("1111", "2222", "3333")]


def book_with(tmp_path: Path, port: int, security: str = "STARTTLS", host: str = "localhost", user: str = "",
              banks=BANKS) -> Path:
    settings = {"SMTPサーバー": host, "SMTPポート": str(port), "SMTP暗号化": security, "差出人": "token@css.example",
                "SMTPユーザー": user}
    rows = [{"項目": s.key, "値": settings.get(s.key, s.default)} for s in setting_rows()]
    return build_workbook(tmp_path / "book.xlsm", default_sheets(banks=banks, tokens=TOKENS, requests=[],
                                                                  settings=rows))


def month_end(book: Path, out: Path, *extra: str) -> int:
    return main(["month-end", "--book", str(book), "--month", MONTH, "--out", str(out), *extra])


def log_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MONTH / "send-log.jsonl").read_text(encoding="utf-8").splitlines()]


def test_starttls_delivers_every_report_with_its_workbook(server, tmp_path, capsys):
    mailbox, port = server("starttls")
    book = book_with(tmp_path, port)
    assert month_end(book, tmp_path / "out", "--send") == 0
    assert "送信済 3 通" in capsys.readouterr().out
    assert sorted(rcpts for _, rcpts, _ in mailbox.messages) == [
        ["report@ichi.example"], ["report@ni.example", "cc@ni.example"], ["report@san.example"]]
    for _, rcpts, message in mailbox.messages:
        code = {"report@ichi.example": "1111", "report@ni.example": "2222", "report@san.example": "3333"}[rcpts[0]]
        assert message["Subject"].startswith("【トークン月次報告】2026年10月")
        (attachment,) = list(message.iter_attachments())
        report = next((tmp_path / "out" / MONTH).glob(f"{MONTH}_{code}_*.xlsx"))
        assert attachment.get_filename() == report.name
        assert attachment.get_content() == report.read_bytes()
        assert "ご担当者様" in message.get_body(("plain",)).get_content()
    records = log_lines(tmp_path / "out")
    assert [r["result"] for r in records] == ["sent"] * 3 and all(r["message_id"] for r in records)
    assert len(list((tmp_path / "out" / MONTH / "outbox").glob("*.eml"))) == 3


def test_a_rerun_sends_nothing_twice(server, tmp_path, capsys):
    mailbox, port = server("starttls")
    book = book_with(tmp_path, port)
    assert month_end(book, tmp_path / "out", "--send") == 0
    assert main(["send", "--book", str(book), "--month", MONTH, "--out", str(tmp_path / "out")]) == 0
    assert "送信不要 3 通" in capsys.readouterr().out
    assert len(mailbox.messages) == 3


def test_a_rejected_recipient_fails_alone_and_a_rerun_sends_only_the_rest(server, tmp_path, capsys):
    mailbox, port = server("starttls")
    mailbox.reject = {"report@ni.example", "cc@ni.example"}
    book = book_with(tmp_path, port)
    assert month_end(book, tmp_path / "out", "--send") == 1
    out = capsys.readouterr().out
    assert "失敗 1 通" in out and "失敗 2222" in out and "No such user" in out
    assert sorted(r[0] for _, r, _ in mailbox.messages) == ["report@ichi.example", "report@san.example"]
    mailbox.reject = set()
    assert main(["send", "--book", str(book), "--month", MONTH, "--out", str(tmp_path / "out")]) == 0
    assert [r for _, r, _ in mailbox.messages[2:]] == [["report@ni.example", "cc@ni.example"]]


def test_a_partly_refused_message_is_resent_only_to_who_refused_it(server, tmp_path, capsys):
    mailbox, port = server("starttls")
    mailbox.reject = {"cc@ni.example"}
    book = book_with(tmp_path, port)
    assert month_end(book, tmp_path / "out", "--send") == 1
    assert "一部失敗" in capsys.readouterr().out
    mailbox.reject = set()
    assert main(["send", "--book", str(book), "--month", MONTH, "--out", str(tmp_path / "out")]) == 0
    assert [r for _, r, _ in mailbox.messages[3:]] == [["cc@ni.example"]]
    resent = mailbox.messages[3][2]
    assert resent["Cc"] == "cc@ni.example" and resent["To"] is None


def test_a_changed_report_is_sent_again(server, tmp_path):
    from tokenbook.runs import Run, run_month_end

    mailbox, port = server("starttls")
    out = tmp_path / "out"
    first = dt.datetime(2026, 11, 2, 9, 0)  # the clock of each run, given: no waiting for the real one
    assert run_month_end(Run(book_with(tmp_path, port), first, "test"), MONTH, out, send=True).exit_code == 0
    unchanged = next((out / MONTH).glob(f"{MONTH}_1111_*.xlsx"))
    made_first = unchanged.read_bytes()
    changed = [*BANKS[:2], {**BANKS[2], "金庫名": "さんの信用金庫（新）"}]
    again = Run(book_with(tmp_path, port, banks=changed), first + dt.timedelta(hours=1), "test")
    # a month already sent does not change silently: listed, and sent only as a correction (issue 9)
    assert run_month_end(again, MONTH, out, send=True).exit_code == 1
    assert mailbox.messages[3:] == []
    assert unchanged.read_bytes() != made_first  # made again with another 作成日時: that alone is no change
    assert run_month_end(again, MONTH, out, send=True, correction=True).exit_code == 0
    assert [r for _, r, _ in mailbox.messages[3:]] == [["report@san.example"]]
    assert run_month_end(again, MONTH, out, send=True).exit_code == 0  # the correction made again is the same
    assert len(mailbox.messages) == 4


def test_implicit_tls(server, tmp_path):
    mailbox, port = server("ssl")
    assert month_end(book_with(tmp_path, port, security="SSL"), tmp_path / "out", "--send") == 0
    assert len(mailbox.messages) == 3


def test_login_with_the_password_from_the_environment(server, tmp_path, monkeypatch, capsys):
    mailbox, port = server("starttls", auth=True)
    book = book_with(tmp_path, port, user="css")
    assert month_end(book, tmp_path / "out", "--send") == 1  # no password anywhere
    assert "パスワードがありません" in capsys.readouterr().out and not mailbox.messages
    monkeypatch.setenv("TOKENBOOK_SMTP_PASSWORD", "s3cret")
    assert main(["send", "--book", str(book), "--month", MONTH, "--out", str(tmp_path / "out")]) == 0
    assert len(mailbox.messages) == 3
    assert "s3cret" not in (tmp_path / "out" / MONTH / "send-log.jsonl").read_text(encoding="utf-8")


def test_plain_text_to_a_loopback_server(server, tmp_path):
    mailbox, port = server("none")
    assert month_end(book_with(tmp_path, port, security="なし"), tmp_path / "out", "--send") == 0
    assert len(mailbox.messages) == 3


def test_plain_text_to_another_host_is_refused_before_connecting(tmp_path, capsys):
    book = book_with(tmp_path, 25, security="なし", host="smtp.example.jp")
    assert month_end(book, tmp_path / "out", "--send") == 1
    out = capsys.readouterr().out
    assert "[bad-setting]" in out and "ループバック" in out
    assert not (tmp_path / "out").exists()
    # and the sender itself refuses, whatever called it
    from tokenbook.mail import MailError, check_transport
    from tokenbook.models import Settings

    with pytest.raises(MailError, match="暗号化なしの送信はループバック"):
        check_transport(Settings(smtp_host="smtp.example.jp", smtp_security="なし"))


def test_an_untrusted_certificate_is_not_accepted(server, tmp_path, monkeypatch, capsys):
    mailbox, port = server("starttls")
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
    assert month_end(book_with(tmp_path, port), tmp_path / "out", "--send") == 1
    assert "TLS" in capsys.readouterr().out and not mailbox.messages


def test_a_server_that_offers_no_starttls(server, tmp_path, capsys):
    mailbox, port = server("none")
    assert month_end(book_with(tmp_path, port, security="STARTTLS"), tmp_path / "out", "--send") == 1
    assert "失敗 3 通" in capsys.readouterr().out and not mailbox.messages


def test_nothing_is_sent_without_send(server, tmp_path, capsys):
    mailbox, port = server("starttls")
    assert month_end(book_with(tmp_path, port), tmp_path / "out") == 0
    assert "--send を付けると送信します" in capsys.readouterr().out and not mailbox.messages


def test_recipients_outside_the_allowed_domains_stop_the_month_end(tmp_path, capsys):
    banks = [{**BANKS[0], "許可ドメイン": "ichi.example", "CCメール": "someone@free-mail.example"}, *BANKS[1:]]
    book = book_with(tmp_path, 25, banks=banks)
    assert month_end(book, tmp_path / "out", "--send") == 1
    assert "recipient-outside-domain" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_placeholders_unknown_to_tokenbook_are_refused(tmp_path, capsys):
    settings = {"差出人": "token@css.example", "メール件名": "{金庫名} 様 {支店名}"}
    rows = [{"項目": s.key, "値": settings.get(s.key, s.default)} for s in setting_rows()]
    book = build_workbook(tmp_path / "b.xlsm", default_sheets(banks=BANKS, tokens=TOKENS, requests=[], settings=rows))
    assert month_end(book, tmp_path / "out") == 1
    assert "{支店名}" in capsys.readouterr().out and not (tmp_path / "out").exists()
