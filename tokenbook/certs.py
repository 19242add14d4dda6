"""Certificates are input, checked like cells (issue 16): the S/MIME files named in 設定 and 金庫.

`certificate_problems(ledger, today, folder)` reads the files the ledger names (relative paths
start at the book's folder) and returns located problems: 設定!B… for CSS's signing certificate and
key, 金庫!… 暗号化証明書 for a bank's recipient certificates. `today` is the send date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

from cryptography import x509

from . import schema, smime
from .models import Bank, Ledger, Settings
from .problems import Problem, problem
from .schema import Encryption, SendReport

RECIPIENT_HEADER = "暗号化証明書"


def check_certificates(ledger: Ledger, today: dt.date) -> Iterator[Problem]:
    """validate's check: the book's folder comes with the ledger (None for tables read from memory,
    where relative paths start at the working directory)."""
    return certificate_problems(ledger, today, ledger.folder or Path.cwd())


def certificate_problems(ledger: Ledger, today: dt.date, folder: Path) -> Iterator[Problem]:
    yield from _signing_problems(ledger, today, folder)
    for bank in ledger.banks:
        if bank.send_report == SendReport.YES and bank.encryption != Encryption.OFF:
            yield from _recipient_problems(ledger, bank, today, folder)


def _setting_at(ledger: Ledger, code: str, field: str, value: object = "", **params: object) -> Problem:
    letter = ledger.columns.get(schema.SETTINGS, {}).get("値")
    return problem(code, schema.SETTINGS, ledger.setting_row.get(field), "値", letter, value,
                   key=Settings.model_fields[field].title, **params)


def _signing_problems(ledger: Ledger, today: dt.date, folder: Path) -> Iterator[Problem]:
    from .mail import smime_key_password

    settings = ledger.settings
    cert_path, key_path = settings.smime_certificate, settings.smime_key
    if not cert_path and not key_path:
        return
    if not (cert_path and key_path):
        field = "smime_certificate" if cert_path else "smime_key"
        yield _setting_at(ledger, "smime-incomplete", field, cert_path or key_path)
        return
    try:
        chain = smime.read_certificates(smime.resolve(cert_path, folder))
    except smime.Unreadable as exc:
        yield _setting_at(ledger, "certificate-unreadable", "smime_certificate", cert_path, path=cert_path,
                          reason=str(exc))
        return
    certificate = chain[0]
    where = lambda code, **params: _setting_at(ledger, code, "smime_certificate", cert_path, path=cert_path,  # noqa: E731
                                               **params)
    yield from _certificate_problems(certificate, today, smime.SIGN, where)
    if settings.sender and settings.sender not in smime.addresses(certificate):
        yield where("smime-sender-mismatch", sender=settings.sender, addresses=_shown(smime.addresses(certificate)))
    try:
        key = smime.read_key(smime.resolve(key_path, folder), smime_key_password())
    except smime.KeyLocked:
        yield _setting_at(ledger, "smime-key-password-missing", "smime_key", key_path, path=key_path)
        return
    except smime.Unreadable as exc:
        yield _setting_at(ledger, "smime-key-unreadable", "smime_key", key_path, path=key_path, reason=str(exc))
        return
    if smime.is_rsa(certificate) and not smime.key_matches(certificate, key):
        yield _setting_at(ledger, "smime-key-mismatch", "smime_key", key_path, path=key_path)


def _recipient_problems(ledger: Ledger, bank: Bank, today: dt.date, folder: Path) -> Iterator[Problem]:
    letter = ledger.columns.get(schema.BANKS, {}).get(RECIPIENT_HEADER)
    if not bank.encryption_certificates:
        if bank.encryption == Encryption.REQUIRED:
            yield problem("encryption-certificate-missing", schema.BANKS, bank.row, RECIPIENT_HEADER, letter)
        return
    recipients = set(bank.report_to) | set(bank.cc)
    for path in bank.encryption_certificates:
        def where(code: str, **params: object) -> Problem:
            return problem(code, schema.BANKS, bank.row, RECIPIENT_HEADER, letter, path, path=path, **params)

        try:
            certificate = smime.read_certificates(smime.resolve(path, folder))[0]
        except smime.Unreadable as exc:
            yield where("certificate-unreadable", reason=str(exc))
            continue
        yield from _certificate_problems(certificate, today, smime.ENCRYPT, where)
        found = smime.addresses(certificate)
        if not recipients & set(found):
            yield where("certificate-address-mismatch", addresses=_shown(found))


def _certificate_problems(certificate: x509.Certificate, today: dt.date, purpose: str, where) -> Iterator[Problem]:
    """What any certificate used here must meet on the send date, for its purpose."""
    first, last = smime.validity(certificate)
    if last < today:
        yield where("certificate-expired", date=last.isoformat())
    elif first > today:
        yield where("certificate-not-yet-valid", date=first.isoformat())
    elif (last - today).days <= smime.EXPIRY_WARNING_DAYS:
        yield where("certificate-expiring", date=last.isoformat(), days=smime.EXPIRY_WARNING_DAYS)
    if not smime.is_rsa(certificate):
        yield where("certificate-key-type")
    if not smime.usable_for(certificate, purpose):
        yield where("certificate-usage", purpose=purpose)


def _shown(addresses: tuple[str, ...]) -> str:
    return "・".join(addresses) if addresses else "なし"
