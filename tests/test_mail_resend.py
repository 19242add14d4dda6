"""Resends after faults (issue 18): every recipient receives each report content exactly once over
any sequence of runs and faults, against a real loopback SMTP server (conftest's) whose behaviour
changes between runs; and a missing SMTP password stops the send once, before any connection."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from conftest import BANK, default_sheets
from tokenbook.books.build import build_workbook
from tokenbook.cli import main
from tokenbook.models import setting_rows

MONTH = "2026-10"
BANKS = [
    {**BANK, "金庫コード": "1111", "金庫名": "いちの信用金庫", "報告先メール": "report@ichi.example"},
    {**BANK, "金庫コード": "2222", "金庫名": "にの信用金庫", "報告先メール": "report@ni.example", "CCメール": "cc@ni.example"},
    {**BANK, "金庫コード": "3333", "金庫名": "さんの信用金庫", "報告先メール": "report@san.example",
     "CCメール": "cc1@san.example; cc2@san.example"},
]
TOKENS = [{"シリアル番号": f"TK0000{code}", "所有者": "CSS", "状態": "利用中", "納品日": dt.date(2025, 1, 1),
           "金庫コード": code, "店番": "001", "顧客番号": "0000001", "顧客名": f"顧客{code}", "利用開始日": dt.date(2025, 2, 1)}
          for code in ("1111", "2222", "3333")]
RECIPIENTS = {"report@ichi.example": "1111", "report@ni.example": "2222", "cc@ni.example": "2222",
              "report@san.example": "3333", "cc1@san.example": "3333", "cc2@san.example": "3333"}


def book(folder: Path, port: int, banks=BANKS, **settings: str) -> Path:
    values = {"SMTPサーバー": "localhost", "SMTPポート": str(port), "SMTP暗号化": "STARTTLS", "差出人": "token@css.example",
              **settings}
    rows = [{"項目": s.key, "値": values.get(s.key, s.default)} for s in setting_rows()]
    folder.mkdir(parents=True, exist_ok=True)
    return build_workbook(folder / "book.xlsm", default_sheets(banks=banks, tokens=TOKENS, requests=[], settings=rows))


def run(command: str, path: Path, out: Path) -> int:
    extra = ["--send"] if command == "month-end" else []
    return main([command, "--book", str(path), "--month", MONTH, "--out", str(out), *extra])


def copies(mailbox, recipients=RECIPIENTS) -> Counter:
    """How many copies of its bank's report each recipient holds (one content per bank here: the
    ledger does not change between runs, and a report made again has the same content)."""
    held: Counter = Counter()
    for _, rcpts, message in mailbox.messages:
        (attachment,) = list(message.iter_attachments())
        bank = attachment.get_filename().split("_")[1]
        for address in rcpts:
            assert recipients[address] == bank  # and never another bank's report
            held[address] += 1
    return held


def test_a_refused_cc_then_a_dropped_resend_then_a_healthy_one_gives_everyone_one_copy(server, tmp_path):
    """The sequence that mailed the To recipients twice: partial, then failed, then healthy."""
    mailbox, port = server("starttls")
    path, out = book(tmp_path, port), tmp_path / "out"
    mailbox.reject = {"cc@ni.example"}
    assert run("month-end", path, out) == 1  # 2222 partly refused
    mailbox.reject, mailbox.drop = set(), True
    assert run("send", path, out) == 1  # the resend to cc@ni fails: the server drops the connection in DATA
    assert copies(mailbox)["cc@ni.example"] == 0
    mailbox.drop = False
    assert run("send", path, out) == 0
    assert copies(mailbox) == Counter({address: 1 for address in RECIPIENTS})
    assert run("send", path, out) == 0 and copies(mailbox) == Counter({address: 1 for address in RECIPIENTS})


def test_a_new_cc_gets_the_report_and_nobody_else_gets_it_again(server, tmp_path):
    mailbox, port = server("starttls")
    path, out = book(tmp_path, port), tmp_path / "out"
    assert run("month-end", path, out) == 0
    banks = [{**BANKS[0], "CCメール": "new@ichi.example"}, *BANKS[1:]]
    recipients = {**RECIPIENTS, "new@ichi.example": "1111"}
    assert run("send", book(tmp_path, port, banks=banks), out) == 0
    assert copies(mailbox, recipients) == Counter({address: 1 for address in recipients})
    assert [rcpts for _, rcpts, _ in mailbox.messages[3:]] == [["new@ichi.example"]]


def test_an_smtp_user_without_a_password_stops_once_before_connecting(server, tmp_path, monkeypatch, capsys):
    mailbox, port = server("starttls", auth=True)
    monkeypatch.delenv("TOKENBOOK_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")  # no OS keyring either
    path = book(tmp_path, port, SMTPユーザー="css")
    assert run("month-end", path, tmp_path / "out") == 1
    out = capsys.readouterr().out
    assert out.count("パスワードがありません") == 1 and "TOKENBOOK_SMTP_PASSWORD" in out and "失敗 " not in out
    assert mailbox.connections == 0 and not mailbox.messages


# --- the property: any sequence of runs against a server that changes between them ---------------------

BEHAVIOUR = st.one_of(
    st.just(("accept", frozenset())),
    st.just(("drop", frozenset())),
    st.just(("down", frozenset())),
    st.tuples(st.just("refuse"), st.frozensets(st.sampled_from(sorted(RECIPIENTS)), min_size=1)),
)
STEP = st.tuples(st.sampled_from(["send", "send", "month-end"]), BEHAVIOUR)


@pytest.mark.slow
@hypothesis_settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=4))
def test_every_recipient_has_each_report_exactly_once_whatever_happens_in_between(server, tmp_path_factory, steps):
    mailbox, port = server("starttls")
    base = tmp_path_factory.getbasetemp() / "resend"
    down = base / "down" / "book.xlsm"  # the same ledger, its SMTPポート where nothing listens
    if not down.exists():
        book(down.parent, _closed_port())
        assert run("report", down, base / "reports") == 0  # this month's reports, made once
    up = book(base / f"port-{port}", port)
    with tempfile.TemporaryDirectory(dir=base) as scratch:
        out = Path(scratch)
        shutil.copytree(base / "reports" / MONTH, out / MONTH)  # no send log yet
        for command, (behaviour, refused) in [*steps, ("send", ("accept", frozenset()))]:
            mailbox.reject = set(refused) if behaviour == "refuse" else set()
            mailbox.drop = behaviour == "drop"
            run(command, down if behaviour == "down" else up, out)
            assert max(copies(mailbox).values(), default=0) <= 1  # never twice, at any point
        assert copies(mailbox) == Counter({address: 1 for address in RECIPIENTS})


def _closed_port() -> int:
    """A loopback port with nothing listening (bound for a moment to find one, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

