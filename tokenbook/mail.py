"""E-mail delivery of the monthly reports (design §9): outbox files first, then SMTP with TLS.

Every message is written as an .eml to the month's outbox for review, signed and encrypted as it
will be sent (S/MIME, see `smime`: signed when 設定 names CSS's certificate and key, encrypted to
the bank's certificates and CSS's own). Sending uses STARTTLS or SSL (plain only to a loopback
host), a password from the environment or the OS keyring (never from the workbook), one
connection per message so a failure cannot take the next message with it. Each message as sent is
kept in `outbox/sent/`, and the month's send log (JSON lines) records who received which report
content: a re-run sends each recipient only what they do not have yet, so every recipient gets each
content exactly once whatever failed in between. No zip, no password: the workbook is attached as
it is or inside the S/MIME envelope (the FSA asked banks in 2025 to stop "PPAP").
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
from enum import StrEnum
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Callable, Iterable

from . import smime
from .models import Bank, Settings
from .normalize import in_domains
from .schema import Encryption
from .report import unmarked

PASSWORD_ENV = "TOKENBOOK_SMTP_PASSWORD"
KEY_PASSWORD_ENV = "TOKENBOOK_SMIME_KEY_PASSWORD"
KEYRING_SERVICE = "tokenbook"
KEYRING_KEY_USER = "smime-key"  # the S/MIME key's password: keyring set tokenbook smime-key
PLACEHOLDERS = ("金庫名", "金庫コード", "対象月")


class MailError(Exception):
    """Mail cannot be composed or sent as configured; the message is for the operator (Japanese)."""


class MailResult(StrEnum):
    """What became of one report's mail in a run (shown as it is in the closing table)."""

    SENT = "送信済"
    NOT_NEEDED = "送信不要（送信済と同じ）"
    PARTIAL = "一部失敗"
    FAILED = "失敗"

    @property
    def failed(self) -> bool:
        return self in (MailResult.PARTIAL, MailResult.FAILED)


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
    digest: str  # what makes two sends the same: the report's content, subject and body
    protection: smime.Protection = smime.Protection()
    content: str = ""  # the report's own content digest (`content_digest`), kept in the send log

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.to + self.cc))


def _fill(template: str, values: dict[str, str], setting: str) -> str:
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None and name not in values:
            raise MailError(f"設定「{setting}」に使えない差し込み {{{name}}} があります（使えるもの: "
                            + " ".join("{" + p + "}" for p in PLACEHOLDERS) + "）")
    try:
        return template.format_map(values)
    except (ValueError, IndexError):
        raise MailError(f"設定「{setting}」の {{ }} の書き方が正しくありません") from None


def letter(bank: Bank, attachment: Path, month: str, settings: Settings,
           protection: smime.Protection = smime.Protection()) -> Letter:
    year, number = month.split("-")
    values = {"金庫名": bank.name, "金庫コード": bank.bank_code, "対象月": f"{int(year)}年{int(number)}月"}
    subject = _fill(settings.mail_subject, values, "メール件名").replace("\n", " ").strip()
    body = _fill(settings.mail_body, values, "メール本文")
    if not bank.report_to:
        raise MailError(f"金庫 {bank.bank_code} に報告先メールがありません")
    # Who receives it is kept per recipient in the send log, and how it is protected does not change
    # what it says: neither is part of the digest.
    content = content_digest(attachment)
    digest = hashlib.sha256(content.encode())
    for part in (subject, "|", body):
        digest.update(part.encode("utf-8") + b"\0")
    return Letter(bank.bank_code, bank.name, bank.report_to, bank.cc, subject, body, attachment, digest.hexdigest(),
                  protection, content)


def check_settings(settings: Settings) -> None:
    """What composing needs from 設定, checked before anything is produced."""
    if not settings.sender:
        raise MailError("設定「差出人」がありません")
    sample = {"金庫名": "", "金庫コード": "", "対象月": ""}
    _fill(settings.mail_subject, sample, "メール件名")
    _fill(settings.mail_body, sample, "メール本文")


def content_digest(workbook: Path) -> str:
    """What a report says, cell by cell, leaving out when it was made (作成日時): a report made again
    with the same content is not sent again. A month-end asks it of each report more than once (what
    changed since sending, then the letter): the file is read once while it stays as it is, or not at
    all when the writer process that wrote it read it (`remember_digest`)."""
    key = file_key(workbook)
    found = _DIGESTS.get(key)
    if found is None:
        found = remember_digest(key, _read_digest(key[0]))
    return found


_DIGESTS: dict[tuple[str, int, int, int], str] = {}  # file_key → content digest, the newest 1,024


def file_key(workbook: Path) -> tuple[str, int, int, int]:
    """A file as it is now: its resolved path, inode, size and modification time."""
    seen = os.stat(workbook)
    return str(Path(workbook).resolve()), seen.st_ino, seen.st_size, seen.st_mtime_ns


def remember_digest(key: tuple[str, int, int, int], digest: str) -> str:
    """`content_digest` of the file while it has `key` (found where it was written)."""
    _DIGESTS.pop(key, None)
    _DIGESTS[key] = digest
    while len(_DIGESTS) > 1024:
        del _DIGESTS[next(iter(_DIGESTS))]
    return digest


def _read_digest(workbook: str) -> str:
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


@dataclass(frozen=True)
class Composed:
    """A message as bytes on the wire (CRLF lines), and its Message-ID."""

    data: bytes
    message_id: str


def compose(item: Letter, settings: Settings, now: dt.datetime, only: tuple[str, ...] | None = None) -> Composed:
    """The message itself, signed and encrypted as `item.protection` says; `only` narrows the
    recipients (a resend to those who do not have it yet)."""
    if not settings.sender:
        raise MailError("設定「差出人」がありません")
    head = EmailMessage()
    head["From"] = formataddr((settings.sender_name, settings.sender)) if settings.sender_name else settings.sender
    to = [a for a in item.to if only is None or a in only]
    cc = [a for a in item.cc if only is None or a in only]
    if to:
        head["To"] = ", ".join(to)
    if cc:
        head["Cc"] = ", ".join(cc)
    head["Subject"] = item.subject
    head["Date"] = formatdate(now.timestamp(), localtime=True)
    head["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2])
    if not (item.protection.signed or item.protection.encrypted):
        _put_content(head, item)
        return Composed(head.as_bytes(policy=policy.SMTP), head["Message-ID"])
    content = MIMEPart()  # the entity that is signed and enveloped; the addressing headers stay outside
    _put_content(content, item)
    sealed = smime.protect(content.as_bytes(policy=policy.SMTP), item.protection)
    headers = head.as_bytes(policy=policy.SMTP).rstrip(b"\r\n") + b"\r\n"
    return Composed(headers + sealed, head["Message-ID"])


def _put_content(part: MIMEPart, item: Letter) -> None:
    """Body and attachment. The body is 7-bit on the wire (base64 when it is Japanese, else 7bit or
    quoted-printable as the email package chooses), so that no relay re-encodes it and breaks a
    signature."""
    part.set_content(item.body, cte=None if item.body.isascii() else "base64")
    kind, _ = mimetypes.guess_type(item.attachment.name)
    maintype, subtype = (kind or "application/octet-stream").split("/")
    part.add_attachment(item.attachment.read_bytes(), maintype=maintype, subtype=subtype, filename=item.attachment.name)


def outbox_path(outbox: Path, item: Letter) -> Path:
    return outbox / f"{item.attachment.stem}.eml"


def write_outbox(letters: Iterable[Letter], outbox: Path, settings: Settings, now: dt.datetime) -> list[Path]:
    """Each message as an .eml file to review before anything is sent (protected as it will be)."""
    return [_write_whole(outbox_path(outbox, item), compose(item, settings, now).data) for item in letters]


def _write_whole(path: Path, data: bytes) -> Path:
    """A file that is either there complete or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def sent_copy(outbox: Path, item: Letter, now: dt.datetime) -> Path:
    """Where the message as sent is kept: outbox/sent/{report}.{time}.eml, one file per attempt."""
    stem = f"{item.attachment.stem}.{now:%Y%m%d-%H%M%S}"
    path, n = outbox / "sent" / f"{stem}.eml", 1
    while path.exists():
        n += 1
        path = outbox / "sent" / f"{stem}-{n}.eml"
    return path


# --- S/MIME -------------------------------------------------------------------------------------

def smime_key_password() -> str | None:
    """From TOKENBOOK_SMIME_KEY_PASSWORD, else the OS keyring (service `tokenbook`, user `smime-key`)."""
    return stored_secret(KEY_PASSWORD_ENV, KEYRING_KEY_USER)


def load_signer(settings: Settings, folder: Path | None) -> smime.Signer | None:
    """CSS's certificate, chain and key when 設定 names both; None when signing is not set up."""
    if not (settings.smime_certificate and settings.smime_key):
        if settings.smime_certificate or settings.smime_key:
            raise MailError("署名には設定「S/MIME証明書」と「S/MIME秘密鍵」の両方が必要です")
        return None
    try:
        chain = smime.read_certificates(smime.resolve(settings.smime_certificate, folder))
    except smime.Unreadable as exc:
        raise MailError(f"設定「S/MIME証明書」の {settings.smime_certificate} を使えません: {exc}") from None
    try:
        key = smime.read_key(smime.resolve(settings.smime_key, folder), smime_key_password())
    except smime.KeyLocked:
        raise MailError(f"秘密鍵 {settings.smime_key} のパスワードがありません（環境変数 {KEY_PASSWORD_ENV} か"
                        f"OSの資格情報 {KEYRING_SERVICE} / {KEYRING_KEY_USER} に保存してください）") from None
    except smime.Unreadable as exc:
        raise MailError(f"設定「S/MIME秘密鍵」の {settings.smime_key} を使えません: {exc}") from None
    if not smime.key_matches(chain[0], key):
        raise MailError(f"秘密鍵 {settings.smime_key} は S/MIME証明書 の鍵ではありません")
    return smime.Signer(chain[0], chain[1:], key)


def protection_for(bank: Bank, signer: smime.Signer | None, folder: Path | None) -> smime.Protection:
    """How this bank's mail leaves. Encrypted to the bank's own certificates only (never another
    bank's) and to CSS's, so that the sent copy stays readable; MailError when 必須 cannot be met."""
    if bank.encryption == Encryption.OFF or (not bank.encryption_certificates and bank.encryption != Encryption.REQUIRED):
        return smime.Protection(signer)
    if not bank.encryption_certificates:
        raise MailError("メール暗号化が「必須」ですが、金庫シートに暗号化証明書がありません")
    recipients = []
    for path in bank.encryption_certificates:
        try:
            certificate = smime.read_certificates(smime.resolve(path, folder))[0]
        except smime.Unreadable as exc:
            raise MailError(f"暗号化証明書 {path} を使えません: {exc}") from None
        if not smime.is_rsa(certificate):
            raise MailError(f"暗号化証明書 {path} の鍵がRSAではありません")
        recipients.append(certificate)
    own = [signer.certificate] if signer and smime.usable_for(signer.certificate, smime.ENCRYPT) else []
    return smime.Protection(signer, tuple(recipients + own))


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


def stored_secret(variable: str, user: str) -> str | None:
    """A secret from the environment variable, else the OS keyring (service `tokenbook`, `user`)."""
    if os.environ.get(variable):
        return os.environ[variable]
    if not user:
        return None
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, user)
    except Exception:  # no keyring package or no backend on this machine
        return None


def password(settings: Settings) -> str | None:
    """From TOKENBOOK_SMTP_PASSWORD, else the OS keyring (service `tokenbook`, the SMTP user)."""
    return stored_secret(PASSWORD_ENV, settings.smtp_user)


def check_transport(settings: Settings) -> None:
    """Refuse before connecting anything that would send in the clear to another machine."""
    if not settings.smtp_host:
        raise MailError("設定「SMTPサーバー」がありません")
    if settings.smtp_security == "なし" and not is_loopback(settings.smtp_host):
        raise MailError(f"暗号化なしの送信はループバック（localhost）のサーバーにだけできます: {settings.smtp_host}。"
                        "設定「SMTP暗号化」を STARTTLS か SSL にしてください")


def _send_one(data: bytes, recipients: list[str], settings: Settings, secret: str | None) -> dict[str, str]:
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
            smtp.login(settings.smtp_user, secret or "")
        refused = smtp.sendmail(settings.sender, recipients, data)
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
    result: "MailResult"
    detail: str = ""


@dataclass
class SendLog:
    """The month's send log, one JSON object a line. Who has which content is the union over every
    record of that bank and digest of the recipients that accepted it, never only the last record."""

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

    def delivered(self, item: Letter) -> set[str]:
        """The recipients that already accepted this content (a failed attempt delivered to no one)."""
        have: set[str] = set()
        for record in self.records:
            if (record.get("bank") == item.bank_code and record.get("sha256") == item.digest
                    and record.get("result") in ("sent", "partial")):
                have.update(set(record.get("recipients", ())) - set(record.get("refused", ())))
        return have

    def add(self, record: dict) -> None:
        self.records.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def ready_to_send(settings: Settings) -> str | None:
    """Everything sending needs from 設定 and this machine, checked once before the first connection:
    the transport, and the password when an SMTP user is set. Returns the password."""
    check_transport(settings)
    secret = password(settings)
    if settings.smtp_user and secret is None:
        raise MailError(f"設定「SMTPユーザー」は {settings.smtp_user} ですが、SMTPのパスワードがありません。"
                        f"環境変数 {PASSWORD_ENV} か、OSの資格情報（サービス {KEYRING_SERVICE}、ユーザー "
                        f"{settings.smtp_user}）に保存してから送信してください")
    return secret


def send_all(letters: list[Letter], banks: dict[str, Bank], settings: Settings, log: SendLog, now: Callable[[], dt.datetime],
             step: Callable[[str], None] = lambda _: None) -> list[Delivery]:
    """Send each recipient what the log does not show they have; one failure never stops the others.
    Each message as sent is kept in outbox/sent/ beside the log before it goes out."""
    secret = ready_to_send(settings)
    deliveries = []
    for item in letters:
        step(item.bank_code)
        have = log.delivered(item)
        recipients = [a for a in item.recipients if a not in have]
        if not recipients:
            deliveries.append(Delivery(item.bank_code, item.recipients, MailResult.NOT_NEEDED))
            continue
        only = tuple(recipients) if have else None
        record = {"bank": item.bank_code, "to": list(item.to), "cc": list(item.cc), "file": item.attachment.name,
                  "sha256": item.digest, "content": item.content,
                  "recipients": recipients,  # the digest of content, not of bytes
                  **item.protection.fingerprints()}
        outside = refused_recipients(banks[item.bank_code], recipients)
        if outside:
            detail = f"許可ドメイン外の宛先: {', '.join(outside)}"
            log.add({**record, "time": now().isoformat(timespec="seconds"), "result": "failed", "error": detail})
            deliveries.append(Delivery(item.bank_code, tuple(recipients), MailResult.FAILED, detail))
            continue
        try:
            at = now()
            message = compose(item, settings, at, only)
            copy = _write_whole(sent_copy(log.path.parent / "outbox", item, at), message.data)
            record.update(message_id=message.message_id, eml=copy.relative_to(log.path.parent).as_posix(),
                          eml_sha256=hashlib.sha256(message.data).hexdigest())
            refused = _send_one(message.data, recipients, settings, secret)
        except (smtplib.SMTPException, OSError, ssl.SSLError, MailError, socket.timeout) as exc:
            detail = _reason(exc)
            log.add({**record, "time": now().isoformat(timespec="seconds"), "result": "failed", "error": detail})
            deliveries.append(Delivery(item.bank_code, tuple(recipients), MailResult.FAILED, detail))
            continue
        outcome = "partial" if refused else "sent"
        log.add({**record, "time": now().isoformat(timespec="seconds"), "result": outcome, "refused": sorted(refused)})
        if refused:
            deliveries.append(Delivery(item.bank_code, tuple(recipients), MailResult.PARTIAL,
                                       "; ".join(f"{a}: {r}" for a, r in sorted(refused.items()))))
        else:
            deliveries.append(Delivery(item.bank_code, tuple(recipients), MailResult.SENT))
    return deliveries


def _reason(exc: BaseException) -> str:
    if isinstance(exc, MailError):
        return str(exc)
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
