"""Shared test helpers: literal ledgers, real workbook files, LibreOffice.

Ledgers are written inline as rows of {header: value}; `book_file` writes them to a real .xlsm with
the same builder `new-workbook` uses, and `check_rows` runs the whole read -> parse -> validate
pipeline on that file, returning `(sheet, cell, code)` tuples to assert on.
"""

from __future__ import annotations

import datetime as dt
import email
import errno
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.models import setting_rows
from tokenbook.parse import parse_tables
from tokenbook.files.sheetio import table_from_rows
from tokenbook.validate import check_ledger
from tokenbook.load import check_book

TODAY = dt.date(2026, 11, 24)

BANK = {"金庫コード": "1234", "金庫名": "あおば信用金庫", "報告先メール": "report@aoba.example",
        "郵便番号": "100-0001", "住所": "東京都千代田区千代田1-1", "報告送付": "する"}
STOCK = {"シリアル番号": "TK00000001", "所有者": "CSS", "状態": "在庫", "納品日": dt.date(2025, 1, 10),
         "使用期限": dt.date(2030, 1, 10), "入庫日": dt.date(2025, 1, 15)}
IN_USE = {"シリアル番号": "TK00000002", "所有者": "CSS", "状態": "利用中", "納品日": dt.date(2024, 4, 1), "使用期限": dt.date(2029, 4, 1),
          "金庫コード": "1234", "店番": "001", "顧客番号": "0000123", "顧客名": "佐藤 翔太", "利用開始日": dt.date(2024, 5, 1)}
HELD = {"シリアル番号": "TK00000003", "所有者": "1234", "状態": "金庫保管", "納品日": dt.date(2025, 6, 1), "使用期限": dt.date(2030, 6, 1),
        "金庫コード": "1234", "店番": "001"}
POSTAL_REQUEST = {"依頼番号": "R20261120-001", "受付日": dt.date(2026, 11, 20), "金庫コード": "1234", "店番": "001",
                  "顧客番号": "0000456", "顧客名": "株式会社青葉商事", "顧客区分": "法人", "申込区分": "新規", "数量": 1,
                  "発送方法": "顧客郵送", "IBカード": "無", "送付先郵便番号": "530-0001",
                  "送付先住所": "大阪府大阪市北区梅田1-1-1", "送付先氏名": "株式会社青葉商事", "送付先電話": "06-1234-5678",
                  "状態": "受付"}


def rows_for(sheet: str, records: list[dict[str, Any]]) -> list[list[Any]]:
    """Records keyed by header -> rows in schema column order (unknown headers are a test bug)."""
    headers = [c.header for c in schema.table_columns(sheet)]
    for record in records:
        unknown = set(record) - set(headers)
        assert not unknown, f"unknown headers for {sheet}: {unknown}"
    return [[record.get(h) for h in headers] for record in records]


def default_sheets(**records: list[dict[str, Any]]) -> dict[str, list[list[Any]]]:
    """A minimal consistent ledger (one bank, three tokens) with the given sheets replaced."""
    sheets = {schema.BANKS: [BANK], schema.TOKENS: [STOCK, IN_USE, HELD], schema.REQUESTS: [POSTAL_REQUEST]}
    sheets.update({_sheet(k): v for k, v in records.items()})
    return {sheet: rows_for(sheet, recs) for sheet, recs in sheets.items()}


def _sheet(key: str) -> str:
    return {"banks": schema.BANKS, "tokens": schema.TOKENS, "requests": schema.REQUESTS,
            "dispatches": schema.DISPATCH, "journal": schema.JOURNAL, "holidays": schema.HOLIDAYS,
            "settings": schema.SETTINGS, "schedule": schema.BATCH_SCHEDULE}[key]


def grid(sheet: str, rows: list[list[Any]]) -> list[list[Any]]:
    return [[c.header for c in schema.TABLES[sheet]], *rows]


def tables_for(sheets: dict[str, list[list[Any]]]) -> dict:
    """In-memory tables exactly as the file reader would produce them (no file)."""
    settings = sheets.get(schema.SETTINGS) or [[s.key, s.default, s.description] for s in setting_rows()]
    full = {sheet: sheets.get(sheet, []) for sheet in schema.TABLES}
    full[schema.SETTINGS] = settings
    return {sheet: table_from_rows(sheet, grid(sheet, rows), [c.header for c in schema.TABLES[sheet]])
            for sheet, rows in full.items()}


def check_memory(**records: list[dict[str, Any]]) -> set[tuple[str, str | None, str]]:
    """(sheet, cell, code) of every problem, pipeline run on in-memory tables."""
    ledger, problems = parse_tables(tables_for(default_sheets(**records)))
    return {(p.sheet, p.cell, p.code) for p in check_ledger(ledger, problems, TODAY).problems}


@pytest.fixture
def book_file(tmp_path: Path):
    """Write a literal ledger to a real .xlsm file and return its path."""
    def write(name: str = "book.xlsm", **records: list[dict[str, Any]]) -> Path:
        return build_workbook(tmp_path / name, default_sheets(**records))
    return write


@pytest.fixture
def check_rows(book_file):
    """(sheet, cell, code) of every problem, pipeline run on a real workbook file."""
    def run(**records: list[dict[str, Any]]) -> set[tuple[str, str | None, str]]:
        result = check_book(book_file(**records), TODAY)
        return {(p.sheet, p.cell, p.code) for p in result.problems}
    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` run first, in their usual order, then the rest. `make test` spreads tests
    over processes (pytest-xdist, `--dist loadgroup`, one test at a time to whichever is free): a long
    test started last would leave the other processes idle while it finishes."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # a stable sort keeps the order


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture(scope="session")
def soffice() -> str:
    """The LibreOffice binary; skips without it unless TOKENBOOK_REQUIRE_LIBREOFFICE=1 (CI) makes it a failure."""
    found = _soffice()
    if found:
        return found
    if os.environ.get("TOKENBOOK_REQUIRE_LIBREOFFICE") == "1":
        pytest.fail("LibreOffice (soffice) is required here but not installed")
    pytest.skip("LibreOffice (soffice) not installed")


@pytest.fixture
def convert(soffice: str, tmp_path: Path):
    """Convert a file with headless LibreOffice; returns the output path (fails if none was written)."""
    def run(source: Path, target_format: str) -> Path:
        out = tmp_path / f"lo-{target_format.split(':')[0]}"
        out.mkdir(exist_ok=True)
        profile = tmp_path / "lo-profile"
        completed = subprocess.run(
            [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", target_format, "--outdir", str(out), str(source)],
            capture_output=True, text=True, timeout=240,
        )
        produced = out / f"{source.stem}.{target_format.split(':')[0]}"
        assert produced.exists(), f"LibreOffice wrote nothing: {completed.stdout} {completed.stderr}"
        return produced
    return run


def vba_modules(path: Path) -> dict[str, str]:
    """Module file name -> source, as olevba extracts them from a workbook."""
    from oletools.olevba import VBA_Parser

    parser = VBA_Parser(str(path))
    try:
        return {name: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()


# --- a real SMTP server on loopback (aiosmtpd), TLS with a test certificate ---------------------------

@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Mailbox:
    """An SMTP handler that keeps what it accepts (parsed, and the bytes as received in `raw`),
    refuses the addresses in `reject`, and with `drop` closes the connection in the middle of DATA
    without delivering anything. Every connection is counted in `connections`."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.raw: list[bytes] = []
        self.reject: set[str] = set()
        self.drop = False
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.drop:
            server.transport.close()
            return "421 4.3.0 connection dropped"  # never reaches the client: the connection is gone
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        self.raw.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"css", b"s3cret")
    return AuthResult(success=ok)


@pytest.fixture
def server(certificate, monkeypatch):
    """Start a server: server(tls="starttls" | "ssl" | "none", auth=False) -> (mailbox, port)."""
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    started = []

    def start(tls: str = "starttls", auth: bool = False) -> tuple[Mailbox, int]:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        mailbox, options = Mailbox(), {"hostname": "127.0.0.1"}
        if tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        elif tls == "ssl":
            options.update(ssl_context=context)
        if auth:
            options.update(authenticator=_authenticate, auth_required=True, auth_require_tls=True)
        for attempt in range(5):  # a port found free may be taken before the server binds it (parallel tests)
            port = _free_port()
            controller = Controller(mailbox, port=port, **options)
            try:
                controller.start()
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or attempt == 4:
                    raise
        started.append(controller)
        return mailbox, port

    yield start
    for controller in started:
        controller.stop()
def workbook_dump(path: Path) -> dict[str, Any]:
    """What a workbook holds, however the writer serialised it (a new xlsxwriter may order or format
    its XML otherwise): the package's part names; per sheet its cells (value and number format),
    widths, frozen pane, autofilter, dropdowns and print titles; the defined names; the buttons
    (caption and macro) and the VBA modules' sources as olevba reads them."""
    import re
    import zipfile
    from xml.etree import ElementTree

    import openpyxl

    with zipfile.ZipFile(path) as archive:
        parts = sorted(archive.namelist())
        drawings = [archive.read(n).decode("utf-8") for n in parts if n.endswith(".vml")]
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    names = sorted((e.get("name"), e.get("localSheetId") or "", e.get("hidden") or "", e.text or "")
                   for e in workbook.iter() if e.tag.endswith("}definedName"))
    wb = openpyxl.load_workbook(path, keep_vba=True)
    sheets = {}
    for ws in wb.worksheets:
        sheets[ws.title] = {
            "cells": [[(c.value, c.number_format) for c in row] for row in ws.iter_rows()],
            "widths": {k: d.width for k, d in sorted(ws.column_dimensions.items())},
            "freeze": ws.freeze_panes, "filter": ws.auto_filter.ref, "titles": ws.print_title_rows,
            "dropdowns": sorted((str(dv.sqref), dv.type, dv.formula1) for dv in ws.data_validations.dataValidation),
        }
    buttons = [re.findall(r"<font[^>]*>([^<]*)</font>.*?<x:FmlaMacro>([^<]*)</x:FmlaMacro>", vml, re.S)
               for vml in drawings]
    return {"parts": parts, "sheets": sheets, "names": names,
            "buttons": buttons, "vba": vba_modules(path) if "xl/vbaProject.bin" in parts else {}}

