"""S/MIME for the report mails: certificates and keys read from files, messages signed and enveloped.

Only `cryptography`'s PKCS#7 builders do the cryptography (no ASN.1 of our own, no `openssl`
program): a detached SHA-256 signature with CSS's certificate and chain (`multipart/signed`), then
an AES-256 envelope to every recipient certificate (`application/pkcs7-mime; enveloped-data`).
The envelope builder takes RSA recipients only, so every certificate used here must hold an RSA key.

Reading is the I/O edge; what a certificate allows (`problems_of`, `usable_for`) is pure.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

JST = dt.timezone(dt.timedelta(hours=9))
EXPIRY_WARNING_DAYS = 30
SIGN, ENCRYPT = "署名", "暗号化"


class Unreadable(Exception):
    """A certificate or key file that cannot be used; the message is Japanese, for the operator."""


class KeyLocked(Unreadable):
    """The key is encrypted and no password was given."""


def resolve(path: str, folder: Path | None) -> Path:
    """A path from the workbook: absolute as it is, relative from the book's folder."""
    given = Path(path)
    return given if given.is_absolute() or folder is None else folder / given


def read_certificates(path: Path) -> tuple[x509.Certificate, ...]:
    """The certificates in a PEM file (the first, then its chain) or the one in a DER file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Unreadable("ファイルがありません") from None
    except IsADirectoryError:
        raise Unreadable("フォルダです") from None
    except (OSError, ValueError) as exc:
        raise Unreadable(f"読み込めません: {exc.__class__.__name__}") from None
    try:
        if b"-----BEGIN" in data:
            found = tuple(x509.load_pem_x509_certificates(data))
        else:
            found = (x509.load_der_x509_certificate(data),)
    except ValueError:
        raise Unreadable("証明書（PEMかDER）ではありません") from None
    return found


def read_key(path: Path, password: str | None) -> rsa.RSAPrivateKey:
    """An RSA private key, PEM (PKCS#8, or the older RSA form) or DER. KeyLocked when the key is
    encrypted and no password was given; Unreadable for everything else that is wrong."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Unreadable("ファイルがありません") from None
    except (OSError, ValueError) as exc:
        raise Unreadable(f"読み込めません: {exc.__class__.__name__}") from None
    load = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    secret = password.encode("utf-8") if password else None
    try:
        key = load(data, secret)
    except TypeError:  # encrypted without a password given, or a password for a key that has none
        if secret is None:
            raise KeyLocked("パスワードが必要です") from None
        key = load(data, None)
    except ValueError:
        raise Unreadable("パスワードが違うか、秘密鍵のファイルではありません") from None
    except Exception:  # an unsupported key format ends here, not in a traceback
        raise Unreadable("秘密鍵として読めません") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise Unreadable("RSA鍵ではありません")
    return key


# --- what a certificate says ------------------------------------------------------------------------

def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, as mail clients show it (hex, lower case)."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def addresses(certificate: x509.Certificate) -> tuple[str, ...]:
    """The e-mail addresses a certificate is for: subjectAltName rfc822Name, else the subject's emailAddress."""
    try:
        found = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.RFC822Name)
    except x509.ExtensionNotFound:
        found = []
    if not found:
        found = [str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    return tuple(_address_key(a) for a in found)


def _address_key(address: str) -> str:
    """Addresses compare with the domain in lower case (as `normalize.email_list` keeps them)."""
    local, _, domain = address.strip().rpartition("@")
    return f"{local}@{domain.lower()}"


def usable_for(certificate: x509.Certificate, purpose: str) -> bool:
    """False when the certificate's key usage or extended key usage forbids signing mail (SIGN)
    or encrypting to it (ENCRYPT, RSA key transport: keyEncipherment)."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None:
        if purpose == SIGN and not (usage.digital_signature or usage.content_commitment):
            return False
        if purpose == ENCRYPT and not usage.key_encipherment:
            return False
    try:
        extended = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.EMAIL_PROTECTION in extended or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in extended


def validity(certificate: x509.Certificate) -> tuple[dt.date, dt.date]:
    """First and last day of validity, in Japan time."""
    return (certificate.not_valid_before_utc.astimezone(JST).date(),
            certificate.not_valid_after_utc.astimezone(JST).date())


def is_rsa(certificate: x509.Certificate) -> bool:
    return isinstance(certificate.public_key(), rsa.RSAPublicKey)


def key_matches(certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


# --- protecting a message ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Signer:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class Protection:
    """How one message leaves: signed by `signer`, enveloped to `recipients` (none: not encrypted)."""

    signer: Signer | None = None
    recipients: tuple[x509.Certificate, ...] = ()

    @property
    def signed(self) -> bool:
        return self.signer is not None

    @property
    def encrypted(self) -> bool:
        return bool(self.recipients)

    def fingerprints(self) -> dict[str, object]:
        """What the send log keeps: whether signed and encrypted, and the certificates' SHA-256."""
        return {"signed": self.signed, "encrypted": self.encrypted,
                "signer_sha256": fingerprint(self.signer.certificate) if self.signer else None,
                "encrypted_to_sha256": [fingerprint(c) for c in self.recipients]}


def protect(entity: bytes, protection: Protection) -> bytes:
    """A MIME entity (headers and body, CRLF lines) signed and/or enveloped: a new MIME entity,
    CRLF lines, starting with its own MIME-Version and Content-Type headers."""
    if protection.signer is not None:
        signer = protection.signer
        builder = pkcs7.PKCS7SignatureBuilder().set_data(entity).add_signer(signer.certificate, signer.key,
                                                                             hashes.SHA256())
        for certificate in signer.chain:
            builder = builder.add_certificate(certificate)
        # Binary: the entity is already canonical (CRLF); translating it again would break nothing
        # here but would make the signed bytes differ from the ones we were given.
        entity = builder.sign(serialization.Encoding.SMIME,
                              [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    if protection.recipients:
        builder = pkcs7.PKCS7EnvelopeBuilder().set_data(entity).set_content_encryption_algorithm(algorithms.AES256)
        for certificate in _unique(protection.recipients):
            builder = builder.add_recipient(certificate)
        entity = builder.encrypt(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.Binary])
    return _CRLF.sub(b"\r\n", entity)


_CRLF = re.compile(rb"\r?\n")


def _unique(certificates: tuple[x509.Certificate, ...]) -> list[x509.Certificate]:
    seen: dict[bytes, x509.Certificate] = {}
    for certificate in certificates:
        seen.setdefault(certificate.fingerprint(hashes.SHA256()), certificate)
    return list(seen.values())

