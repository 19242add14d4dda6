"""S/MIME report mails (issue 16): a throw-away CA, CSS and bank certificates made here with
cryptography's X.509 builder; the mail received by a real loopback SMTP server is decrypted and its
signature verified by OpenSSL's own command line (`openssl cms`), an implementation independent of
tokenbook's; certificates as input are checked at validate as located problems."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from email import policy
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import BANK, TODAY, default_sheets
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.models import setting_rows
from tokenbook.load import check_book

MONTH = "2026-10"
KEY_PASSWORD = "鍵のパスワード-2026"
# Certificates for the mail tests are valid long before and after any clock the suite runs under
# (CI adds faketime), so no test depends on today's date; validity rules are tested at TODAY.
ALWAYS = (dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2045, 1, 1, tzinfo=dt.timezone.utc))
OPENSSL = shutil.which("openssl") or "openssl"


@pytest.fixture
def needs_openssl() -> None:
    """The independent reader. Never skipped: without it these tests would prove nothing, so a
    machine without it fails them (`.ci/run` installs Debian's `openssl`)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl (Debian package openssl) is required to read the S/MIME mails back")

ENCIPHER = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)
SIGN_ONLY = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
ENCRYPT_ONLY = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=True,
                             data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                             encipher_only=False, decipher_only=False)


@dataclass
class Issued:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def write(self, folder: Path, name: str, der: bool = False, chain: tuple[x509.Certificate, ...] = (),
              password: str | None = None) -> tuple[Path, Path]:
        """`name`.pem (or .cer in DER) and `name`.key (PKCS#8 PEM, encrypted when `password` is given)."""
        folder.mkdir(parents=True, exist_ok=True)
        cert = folder / f"{name}.{'cer' if der else 'pem'}"
        if der:
            cert.write_bytes(self.certificate.public_bytes(serialization.Encoding.DER))
        else:
            cert.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.certificate, *chain)))
        key = folder / f"{name}.key"
        protection = (serialization.BestAvailableEncryption(password.encode()) if password
                      else serialization.NoEncryption())
        key.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection))
        return cert, key


class CA:
    """A throw-away certificate authority issuing S/MIME certificates."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tokenbook test CA")])
        self.certificate = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(ALWAYS[0]).not_valid_after(ALWAYS[1])
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
            .sign(self.key, hashes.SHA256()))
        self._keys: dict[str, rsa.RSAPrivateKey] = {}

    def key_for(self, holder: str) -> rsa.RSAPrivateKey:
        """One RSA key per holder, so certificate variants of one holder do not each cost a key."""
        if holder not in self._keys:
            self._keys[holder] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._keys[holder]

    def issue(self, holder: str, *addresses: str, usage: x509.KeyUsage | None = ENCIPHER,
              extended: tuple = (ExtendedKeyUsageOID.EMAIL_PROTECTION,),
              valid: tuple[dt.datetime, dt.datetime] = ALWAYS, key=None) -> Issued:
        key = key or self.key_for(holder)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, holder)]))
                   .issuer_name(self.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(valid[0]).not_valid_after(valid[1])
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True))
        if addresses:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(a) for a in addresses]), False)
        if usage is not None:
            builder = builder.add_extension(usage, True)
        if extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended)), False)
        return Issued(builder.sign(self.key, hashes.SHA256()), key)


@pytest.fixture(scope="session")
def ca() -> CA:
    return CA()


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


BANKS = [
    {**BANK, "金庫コード": "1111", "金庫名": "いちの信用金庫", "報告先メール": "report@ichi.example",
     "暗号化証明書": "certs/ichi.pem", "メール暗号化": "必須"},
    {**BANK, "金庫コード": "2222", "金庫名": "にの信用金庫", "報告先メール": "report@ni.example",
     "CCメール": "cc@ni.example", "暗号化証明書": "certs/ni.pem"},  # 任意 (blank)
    {**BANK, "金庫コード": "3333", "金庫名": "さんの信用金庫", "報告先メール": "report@san.example"},
]
TOKENS = [{"シリアル番号": f"TK0000{code}", "所有者": "CSS", "状態": "利用中", "納品日": dt.date(2025, 1, 1), "使用期限": dt.date(2030, 1, 1),
           "金庫コード": code, "店番": "001", "顧客番号": "0000001", "顧客名": f"顧客{code}", "利用開始日": dt.date(2025, 2, 1)}
          for code in ("1111", "2222", "3333")]
SIGNING = {"S/MIME証明書": "certs/css.pem", "S/MIME秘密鍵": "certs/css.key"}


def book(folder: Path, port: int = 25, banks=BANKS, **settings: str) -> Path:
    values = {"SMTPサーバー": "localhost", "SMTPポート": str(port), "SMTP暗号化": "STARTTLS", "差出人": "token@css.example",
              **settings}
    rows = [{"項目": s.key, "値": values.get(s.key, s.default)} for s in setting_rows()]
    return build_workbook(folder / "book.xlsm", default_sheets(banks=banks, tokens=TOKENS, requests=[], settings=rows))


@pytest.fixture
def pki(ca, tmp_path, monkeypatch):
    """CSS's certificate (with the CA as its chain) and key (password-protected), and the banks'
    certificates, in tmp_path/certs beside the book; the key's password in the environment."""
    certs = tmp_path / "certs"
    css = ca.issue("CSS", "token@css.example", usage=ENCIPHER)
    css.write(certs, "css", chain=(ca.certificate,), password=KEY_PASSWORD)
    ichi = ca.issue("ichi", "report@ichi.example")
    ichi.write(certs, "ichi")
    ni = ca.issue("ni", "report@ni.example", "cc@ni.example")
    ni.write(certs, "ni")
    (tmp_path / "ca.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("TOKENBOOK_SMIME_KEY_PASSWORD", KEY_PASSWORD)
    return {"css": css, "ichi": ichi, "ni": ni}


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([OPENSSL, *args], input=data, capture_output=True, timeout=60)


def decrypt(message: bytes, folder: Path, holder: str) -> bytes:
    """What `openssl cms -decrypt` gets out of the message with the holder's certificate and key."""
    done = openssl("cms", "-decrypt", "-recip", str(folder / f"{holder}.pem"), "-inkey", str(folder / f"{holder}.key"),
                   "-passin", f"pass:{KEY_PASSWORD}", data=message)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def algorithms(printed: str, field: str = "") -> list[str]:
    """The algorithm names in `openssl cms -cmsout -print` output, those under `field` when given.

    Only the `algorithm:` lines are read: the printed ciphertext's hex dump holds random letters
    (a "Des" in it once failed a search over the whole text)."""
    prefix = rf"^\s*{field}:\s*\n" if field else "^"
    return re.findall(prefix + r"\s*algorithm: (\S+) \(", printed, re.MULTILINE)


def verified(signed: bytes, ca_file: Path) -> bytes:
    """The signed content, after `openssl cms -verify -CAfile` accepted the signature and the chain."""
    done = openssl("cms", "-verify", "-CAfile", str(ca_file), "-purpose", "smimesign", data=signed)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Verification successful" in done.stderr
    return done.stdout


def received(mailbox, address: str) -> list[bytes]:
    return [raw for (_, rcpts, _), raw in zip(mailbox.messages, mailbox.raw) if address in rcpts]


def month_end(path: Path, *extra: str) -> int:
    return main(["month-end", "--book", str(path), "--month", MONTH, "--out", str(path.parent / "out"), *extra])


def send(path: Path) -> int:
    return main(["send", "--book", str(path), "--month", MONTH, "--out", str(path.parent / "out")])


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path.parent / "out" / MONTH / "send-log.jsonl").read_text("utf-8").splitlines()]


def fingerprint_by_openssl(path: Path) -> str:
    done = openssl("x509", "-in", str(path), "-noout", "-fingerprint", "-sha256")
    return done.stdout.decode().split("=", 1)[1].strip().replace(":", "").lower()


# --- the mail as the bank receives it ------------------------------------------------------------------

def test_a_report_is_signed_encrypted_and_read_back_by_openssl(needs_openssl, server, pki, tmp_path, capsys):
    mailbox, port = server("starttls")
    path = book(tmp_path, port, **SIGNING)
    assert month_end(path, "--send") == 0, capsys.readouterr().out
    (message,) = received(mailbox, "report@ichi.example")
    outer = email.message_from_bytes(message, policy=policy.default)
    assert outer.get_content_type() == "application/pkcs7-mime"
    assert outer.get_param("smime-type") == "enveloped-data"
    assert "顧客" not in message.decode("ascii") and b"PK\x03\x04" not in message  # nothing readable outside

    signed = decrypt(message, tmp_path / "certs", "ichi")
    assert email.message_from_bytes(signed, policy=policy.default).get_content_type() == "multipart/signed"
    content = email.message_from_bytes(verified(signed, tmp_path / "ca.pem"), policy=policy.default)
    (attachment,) = list(content.iter_attachments())
    report = tmp_path / "out" / MONTH / f"{MONTH}_1111_いちの信用金庫_トークン月次報告.xlsx"
    assert attachment.get_filename() == report.name
    assert attachment.get_content() == report.read_bytes()
    assert "ご担当者様" in content.get_body(("plain",)).get_content()

    structure = openssl("cms", "-cmsout", "-print", data=message).stdout.decode()
    assert algorithms(structure, "contentEncryptionAlgorithm") == ["aes-256-cbc"]
    names = algorithms(structure)
    assert "rsaEncryption" in names and not any(re.search(r"des|rc2", name, re.IGNORECASE) for name in names)
    signature = openssl("cms", "-cmsout", "-print", "-in", "-", "-inform", "SMIME", data=signed).stdout.decode()
    assert algorithms(signature, "digestAlgorithm") == ["sha256"]
    assert decrypt(message, tmp_path / "certs", "css") == signed  # CSS can read its own sent copy


def test_what_is_kept_is_what_was_sent(needs_openssl, server, pki, tmp_path):
    mailbox, port = server("starttls")
    path = book(tmp_path, port, **SIGNING)
    assert month_end(path, "--send") == 0
    records = {r["bank"]: r for r in log_lines(path)}
    certs = tmp_path / "certs"
    css = fingerprint_by_openssl(certs / "css.pem")
    assert records["1111"]["signed"] and records["1111"]["encrypted"]
    assert records["1111"]["signer_sha256"] == css
    assert records["1111"]["encrypted_to_sha256"] == [fingerprint_by_openssl(certs / "ichi.pem"), css]
    assert records["2222"]["encrypted_to_sha256"] == [fingerprint_by_openssl(certs / "ni.pem"), css]
    assert records["3333"]["signed"] and not records["3333"]["encrypted"]  # no certificate, 任意: signed only
    for address, code in (("report@ichi.example", "1111"), ("report@san.example", "3333")):
        (raw,) = received(mailbox, address)
        kept = tmp_path / "out" / MONTH / records[code]["eml"]
        assert kept.parent.name == "sent" and kept.read_bytes() == raw  # the .eml is the message as sent
        assert records[code]["eml_sha256"] == hashlib.sha256(raw).hexdigest()
    # a signed-only message verifies as it arrived, and the review copy in the outbox is protected too
    (plain_signed,) = received(mailbox, "report@san.example")
    verified(plain_signed, tmp_path / "ca.pem")
    review = tmp_path / "out" / MONTH / "outbox" / f"{MONTH}_1111_いちの信用金庫_トークン月次報告.eml"
    assert email.message_from_bytes(review.read_bytes(), policy=policy.default).get_content_type() == \
        "application/pkcs7-mime"


def test_a_message_for_one_bank_is_never_encrypted_to_another_banks_certificate(needs_openssl, server, pki, tmp_path):
    mailbox, port = server("starttls")
    path = book(tmp_path, port, **SIGNING)  # ichi.pem and ni.pem sit in the same folder
    assert month_end(path, "--send") == 0
    certs = tmp_path / "certs"
    (for_ichi,) = received(mailbox, "report@ichi.example")
    refused = openssl("cms", "-decrypt", "-recip", str(certs / "ni.pem"), "-inkey", str(certs / "ni.key"), data=for_ichi)
    assert refused.returncode != 0
    structure = openssl("cms", "-cmsout", "-print", data=for_ichi).stdout.decode()
    serials = {int(s, 16) for s in re.findall(r"serialNumber: 0x([0-9A-F]+)", structure)}
    assert serials == {pki["ichi"].certificate.serial_number, pki["css"].certificate.serial_number}
    for raw in received(mailbox, "report@ni.example"):
        structure = openssl("cms", "-cmsout", "-print", data=raw).stdout.decode()
        assert pki["ichi"].certificate.serial_number not in {
            int(s, 16) for s in re.findall(r"serialNumber: 0x([0-9A-F]+)", structure)}


def test_required_encryption_without_a_certificate_sends_that_bank_nothing(server, pki, tmp_path, capsys):
    mailbox, port = server("starttls")
    banks = [{**BANKS[0], "暗号化証明書": None}, *BANKS[1:]]
    path = book(tmp_path, port, banks=banks)
    found = {(p.sheet, p.cell, p.code, p.severity) for p in check_book(path, TODAY).problems}
    assert ("金庫", "K2", "encryption-certificate-missing", "警告") in found
    assert month_end(path, "--send") == 1
    out = capsys.readouterr().out
    assert "失敗 1111" in out and "暗号化証明書がありません" in out
    assert not received(mailbox, "report@ichi.example")
    assert received(mailbox, "report@ni.example") and received(mailbox, "report@san.example")
    assert not (tmp_path / "out" / MONTH / "outbox" / f"{MONTH}_1111_いちの信用金庫_トークン月次報告.eml").exists()


def test_the_same_report_is_not_sent_again_when_only_its_encryption_would_differ(server, pki, tmp_path, capsys):
    mailbox, port = server("starttls")
    plain = [{**b, "メール暗号化": "しない"} for b in BANKS]
    assert month_end(book(tmp_path, port, banks=plain), "--send") == 0
    assert len(mailbox.messages) == 3
    assert send(book(tmp_path, port, **SIGNING)) == 0  # now signed, and encrypted to 1111 and 2222
    assert "送信不要 3 通" in capsys.readouterr().out and len(mailbox.messages) == 3


def test_a_locked_key_without_its_password_stops_the_mail_before_anything_is_sent(server, pki, tmp_path, monkeypatch,
                                                                                  capsys):
    mailbox, port = server("starttls")
    monkeypatch.delenv("TOKENBOOK_SMIME_KEY_PASSWORD")
    path = book(tmp_path, port, **SIGNING)
    found = {(p.sheet, p.code, p.severity) for p in check_book(path, TODAY).problems}
    assert ("設定", "smime-key-password-missing", "警告") in found
    assert month_end(path, "--send") == 1
    out = capsys.readouterr().out
    assert out.count("パスワードがありません") == 1 and "TOKENBOOK_SMIME_KEY_PASSWORD" in out
    assert mailbox.connections == 0


# --- certificates are input: located problems at validate -------------------------------------------

def _setting_cell(key: str) -> str:
    return f"B{2 + [s.key for s in setting_rows()].index(key)}"


CERT, KEY = _setting_cell("S/MIME証明書"), _setting_cell("S/MIME秘密鍵")


def located(path: Path) -> set[tuple[str, str | None, str]]:
    return {(p.sheet, p.cell, p.code) for p in check_book(path, TODAY).problems}


def test_good_certificates_give_no_problem(pki, tmp_path):
    assert located(book(tmp_path, **SIGNING)) == set()


def test_an_expired_a_wrong_usage_and_a_mismatched_address_certificate_each_have_their_cell(ca, pki, tmp_path):
    certs = tmp_path / "certs"
    ca.issue("ichi", "report@ichi.example", valid=(day("2024-01-01"), day("2026-10-31"))).write(certs, "ichi")
    ca.issue("ni", "report@ni.example", usage=SIGN_ONLY).write(certs, "ni")
    ca.issue("san", "someone@elsewhere.example").write(certs, "san")
    banks = [*BANKS[:2], {**BANKS[2], "暗号化証明書": "certs/san.pem"}]
    assert located(book(tmp_path, banks=banks)) == {
        ("金庫", "K2", "certificate-expired"), ("金庫", "K3", "certificate-usage"),
        ("金庫", "K4", "certificate-address-mismatch")}
    problems = {p.cell: p for p in check_book(book(tmp_path, banks=banks), TODAY).problems}
    assert problems["K2"].severity == "エラー" and "2026-10-31" in problems["K2"].message
    assert problems["K3"].severity == "エラー" and "暗号化" in problems["K3"].message
    assert problems["K4"].severity == "警告" and "someone@elsewhere.example" in problems["K4"].message


def test_validity_is_judged_on_the_send_date(ca, pki, tmp_path):
    certs = tmp_path / "certs"
    ca.issue("ichi", "report@ichi.example", valid=(day("2026-12-01"), day("2027-12-01"))).write(certs, "ichi")
    ca.issue("ni", "report@ni.example", valid=(day("2025-01-01"), day("2026-12-20"))).write(certs, "ni")
    found = {(p.cell, p.code, p.severity) for p in check_book(book(tmp_path), TODAY).problems}
    assert found == {("K2", "certificate-not-yet-valid", "エラー"), ("K3", "certificate-expiring", "警告")}


def test_files_that_are_not_certificates(pki, tmp_path):
    (tmp_path / "certs" / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    (tmp_path / "certs" / "folder.pem").mkdir()
    banks = [{**BANKS[0], "暗号化証明書": "certs/garbage.pem"}, {**BANKS[1], "暗号化証明書": "certs/ni.pem; certs/none.pem"},
             {**BANKS[2], "暗号化証明書": "certs/folder.pem"}]
    path = book(tmp_path, banks=banks)
    assert located(path) == {("金庫", "K2", "certificate-unreadable"), ("金庫", "K3", "certificate-unreadable"),
                             ("金庫", "K4", "certificate-unreadable")}
    messages = {p.cell: p.message for p in check_book(path, TODAY).problems}
    assert "証明書（PEMかDER）ではありません" in messages["K2"] and "certs/none.pem" in messages["K3"]


def test_der_certificates_and_absolute_paths_are_read(ca, pki, tmp_path):
    ca.issue("ichi", "report@ichi.example").write(tmp_path / "elsewhere", "ichi", der=True)
    banks = [{**BANKS[0], "暗号化証明書": str(tmp_path / "elsewhere" / "ichi.cer")}, *BANKS[1:]]
    assert located(book(tmp_path, banks=banks)) == set()


def test_an_ec_certificate_cannot_be_encrypted_to(ca, pki, tmp_path):
    ca.issue("ichi-ec", "report@ichi.example", key=ec.generate_private_key(ec.SECP256R1())).write(
        tmp_path / "certs", "ichi")
    assert located(book(tmp_path)) == {("金庫", "K2", "certificate-key-type")}


def test_css_certificate_and_key_problems_point_at_their_settings(ca, pki, tmp_path, monkeypatch):
    certs = tmp_path / "certs"
    ca.issue("CSS", "token@css.example", usage=ENCRYPT_ONLY).write(certs, "css-encrypt-only")
    ca.issue("other", "token@css.example").write(certs, "other")
    assert located(book(tmp_path, **{**SIGNING, "S/MIME証明書": "certs/css-encrypt-only.pem"})) == {
        ("設定", CERT, "certificate-usage")}
    assert located(book(tmp_path, **{**SIGNING, "S/MIME秘密鍵": "certs/other.key"})) == {
        ("設定", KEY, "smime-key-mismatch")}
    assert located(book(tmp_path, **{"S/MIME証明書": "certs/css.pem"})) == {("設定", CERT, "smime-incomplete")}
    assert located(book(tmp_path, **{**SIGNING, "差出人": "other@css.example"})) == {
        ("設定", CERT, "smime-sender-mismatch")}
    monkeypatch.setenv("TOKENBOOK_SMIME_KEY_PASSWORD", "wrong")
    assert located(book(tmp_path, **SIGNING)) == {("設定", KEY, "smime-key-unreadable")}


def test_a_bank_that_does_not_encrypt_is_not_checked(ca, pki, tmp_path):
    banks = [{**BANKS[0], "暗号化証明書": "certs/none.pem", "メール暗号化": "しない"}, *BANKS[1:]]
    assert located(book(tmp_path, banks=banks)) == set()
