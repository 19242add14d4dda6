"""E-mail delivery of the monthly reports (design §9): outbox files first, then SMTP with TLS.

Every message is written as an .eml to the month's outbox for review. Sending uses STARTTLS or
SSL (plain only to a loopback host), a password from the environment or the OS keyring (never
from the workbook), one connection per message so a failure cannot take the next message with
it, and a send log (JSON lines) per month: a re-run sends only what was not sent, or what changed
since, and to a partly refused message only the recipients that refused it. No zip, no password:
the workbook is attached as it is (the FSA asked banks in 2025 to stop "PPAP").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import mimetypes
import os
import smtplib
import socket
import ssl
import string
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Callable, Iterable

from .models import Bank, Settings
from .normalize import in_domains
from .report import unmarked

PASSWORD_ENV = "TOKENBOOK_SMTP_PASSWORD"
KEYRING_SERVICE = "tokenbook"
PLACEHOLDERS = ("金庫名", "金庫コード", "対象月")


class MailError(Exception):
    """Mail cannot be composed or sent as configured; the message is for the operator (Japanese)."""


@dataclass(frozen=True)
class Letter:
    """One bank's message: who gets it, what it says and which workbook it carries."""

    bank_code: str
    bank_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str
    attachment: Path
    digest: str  # what makes two sends the same: the report's content, recipients, subject and body
    content: str = ""  # the report's own content digest (`content_digest`), kept in the send log

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc


def _fill(template: str, values: dict[str, str], setting: str) -> str:
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None and name not in values:
            raise MailError(f"設定「{setting}」に使えない差し込み {{{name}}} があります（使えるもの: "
                            + " ".join("{" + p + "}" for p in PLACEHOLDERS) + "）")
    try:
        return template.format_map(values)
    except (ValueError, IndexError):
        raise MailError(f"設定「{setting}」の {{ }} の書き方が正しくありません") from None


def letter(bank: Bank, attachment: Path, month: str, settings: Settings) -> Letter:
    year, number = month.split("-")
    values = {"金庫名": bank.name, "金庫コード": bank.bank_code, "対象月": f"{int(year)}年{int(number)}月"}
    subject = _fill(settings.mail_subject, values, "メール件名").replace("\n", " ").strip()
    body = _fill(settings.mail_body, values, "メール本文")
    if not bank.report_to:
        raise MailError(f"金庫 {bank.bank_code} に報告先メールがありません")
    content = content_digest(attachment)
    digest = hashlib.sha256(content.encode())
    for part in (*bank.report_to, "|", *bank.cc, "|", subject, "|", body):
        digest.update(part.encode("utf-8") + b"\0")
    return Letter(bank.bank_code, bank.name, bank.report_to, bank.cc, subject, body, attachment, digest.hexdigest(),
                  content)


def check_settings(settings: Settings) -> None:
    """What composing needs from 設定, checked before anything is produced."""
    if not settings.sender:
        raise MailError("設定「差出人」がありません")
    sample = {"金庫名": "", "金庫コード": "", "対象月": ""}
    _fill(settings.mail_subject, sample, "メール件名")
    _fill(settings.mail_body, sample, "メール本文")


def content_digest(workbook: Path) -> str:
    """What a report says, cell by cell, leaving out when it was made (作成日時): a report made again
    with the same content is not sent again."""
    import python_calamine

    digest = hashlib.sha256()
    book = python_calamine.CalamineWorkbook.from_path(str(workbook))
    try:
        for name in book.sheet_names:
            digest.update(name.encode() + b"\1")
            for row in book.get_sheet_by_name(name).to_python():
                if row and row[0] == "作成日時":
                    continue
                if row and isinstance(row[0], str):  # a 訂正版 / 速報 mark in a title is not content
                    row = [unmarked(row[0]), *row[1:]]
                digest.update(repr(row).encode() + b"\2")
    finally:
        book.close()
    return digest.hexdigest()


def refused_recipients(bank: Bank, addresses: Iterable[str]) -> list[str]:
    """Recipients outside the bank's 許可ドメイン (none when the bank sets no domains)."""
    if not bank.allowed_domains:
        return []
    return [a for a in addresses if not in_domains(a, bank.allowed_domains)]


def compose(item: Letter, settings: Settings, now: dt.datetime, only: tuple[str, ...] | None = None) -> EmailMessage:
    """The message itself; `only` narrows the recipients (a resend to those who refused it)."""
    if not settings.sender:
        raise MailError("設定「差出人」がありません")
    message = EmailMessage()
    message["From"] = formataddr((settings.sender_name, settings.sender)) if settings.sender_name else settings.sender
    to = [a for a in item.to if only is None or a in only]
    cc = [a for a in item.cc if only is None or a in only]
    if to:
        message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = item.subject
    message["Date"] = formatdate(now.timestamp(), localtime=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2])
    message.set_content(item.body)
    kind, _ = mimetypes.guess_type(item.attachment.name)
    maintype, subtype = (kind or "application/octet-stream").split("/")
    message.add_attachment(item.attachment.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=item.attachment.name)
    return message


def outbox_path(outbox: Path, item: Letter) -> Path:
    return outbox / f"{item.attachment.stem}.eml"


def write_outbox(letters: Iterable[Letter], outbox: Path, settings: Settings, now: dt.datetime) -> list[Path]:
    """Each message as an .eml file to review before anything is sent."""
    outbox.mkdir(parents=True, exist_ok=True)
    written = []
    for item in letters:
        path = outbox_path(outbox, item)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(bytes(compose(item, settings, now)))
        os.replace(tmp, path)
        written.append(path)
    return written


# --- sending ------------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    """
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("smtp.example.jp")
    (True, True, True, False)
    """
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def password(settings: Settings) -> str | None:
    """From TOKENBOOK_SMTP_PASSWORD, else the OS keyring (service `tokenbook`, the SMTP user)."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not settings.smtp_user:
        return None
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, settings.smtp_user)
    except Exception:  # no keyring package or no backend on this machine
        return None


def check_transport(settings: Settings) -> None:
    """Refuse before connecting anything that would send in the clear to another machine."""
    if not settings.smtp_host:
        raise MailError("設定「SMTPサーバー」がありません")
    if settings.smtp_security == "なし" and not is_loopback(settings.smtp_host):
        raise MailError(f"暗号化なしの送信はループバック（localhost）のサーバーにだけできます: {settings.smtp_host}。"
                        "設定「SMTP暗号化」を STARTTLS か SSL にしてください")


def _send_one(message: EmailMessage, recipients: list[str], settings: Settings, secret: str | None) -> dict[str, str]:
    context = ssl.create_default_context()
    if settings.smtp_security == "SSL":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, context=context, timeout=60)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=60)
    try:
        smtp.ehlo()
        if settings.smtp_security == "STARTTLS":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.smtp_user:
            if secret is None:
                raise MailError(f"SMTPのパスワードがありません（環境変数 {PASSWORD_ENV} かOSの資格情報に保存してください）")
            smtp.login(settings.smtp_user, secret)
        refused = smtp.send_message(message, to_addrs=recipients)
        return {address: f"{code} {reason.decode(errors='replace') if isinstance(reason, bytes) else reason}"
                for address, (code, reason) in refused.items()}
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


@dataclass
class Delivery:
    bank_code: str
    recipients: tuple[str, ...]
    result: str  # 送信済 / 送信不要（送信済と同じ） / 一部失敗 / 失敗
    detail: str = ""


@dataclass
class SendLog:
    """The month's send log, one JSON object a line; the last line per bank and digest counts."""

    path: Path
    records: list[dict] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path) -> "SendLog":
        records = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by a crash: the message counts as not sent
        return cls(path, records)

    def last(self, item: Letter) -> dict | None:
        for record in reversed(self.records):
            if record.get("bank") == item.bank_code and record.get("sha256") == item.digest:
                return record
        return None

    def add(self, record: dict) -> None:
        self.records.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def send_all(letters: list[Letter], banks: dict[str, Bank], settings: Settings, log: SendLog, now: Callable[[], dt.datetime],
             step: Callable[[str], None] = lambda _: None) -> list[Delivery]:
    """Send what the log does not show as sent; one failure never stops the others."""
    check_transport(settings)
    secret = password(settings)
    deliveries = []
    for item in letters:
        step(item.bank_code)
        previous = log.last(item)
        if previous and previous.get("result") == "sent":
            deliveries.append(Delivery(item.bank_code, item.recipients, "送信不要（送信済と同じ）"))
            continue
        only = tuple(previous.get("refused", [])) if previous and previous.get("result") == "partial" else None
        recipients = [a for a in item.recipients if only is None or a in only]
        record = {"bank": item.bank_code, "to": list(item.to), "cc": list(item.cc), "file": item.attachment.name,
                  "sha256": item.digest, "content": item.content,
                  "recipients": recipients}  # the digest of content, not of bytes
        outside = refused_recipients(banks[item.bank_code], recipients)
        if outside:
            detail = f"許可ドメイン外の宛先: {', '.join(outside)}"
            log.add({**record, "time": now().isoformat(timespec="seconds"), "result": "failed", "error": detail})
            deliveries.append(Delivery(item.bank_code, tuple(recipients), "失敗", detail))
            continue
        try:
            message = compose(item, settings, now(), only)
            refused = _send_one(message, recipients, settings, secret)
        except (smtplib.SMTPException, OSError, ssl.SSLError, MailError, socket.timeout) as exc:
            detail = _reason(exc)
            log.add({**record, "time": now().isoformat(timespec="seconds"), "result": "failed", "error": detail})
            deliveries.append(Delivery(item.bank_code, tuple(recipients), "失敗", detail))
            continue
        outcome = "partial" if refused else "sent"
        log.add({**record, "time": now().isoformat(timespec="seconds"), "result": outcome,
                 "message_id": message["Message-ID"], "refused": sorted(refused)})
        if refused:
            deliveries.append(Delivery(item.bank_code, tuple(recipients), "一部失敗",
                                       "; ".join(f"{a}: {r}" for a, r in sorted(refused.items()))))
        else:
            deliveries.append(Delivery(item.bank_code, tuple(recipients), "送信済"))
    return deliveries


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "宛先が拒否されました: " + "; ".join(
            f"{a}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for a, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "SMTP認証に失敗しました（ユーザー名かパスワードを確認してください）"
    if isinstance(exc, ssl.SSLError):
        return f"TLSの接続に失敗しました（証明書を確認してください）: {exc.reason or exc}"
    if isinstance(exc, (ConnectionError, socket.timeout, OSError)) and not isinstance(exc, smtplib.SMTPException):
        return f"SMTPサーバーに接続できません: {exc}"
    return f"{type(exc).__name__}: {exc}"
