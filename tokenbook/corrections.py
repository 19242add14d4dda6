"""A month already sent, made again (design §9, issue 9): what changed since it was sent.

A report that went out is kept as it was sent (`sent/` in the month's folder) and the send log holds
its content digest per bank. When the month-end makes the month again, a bank whose report now says
something else is listed with what changed (the 概要 figures one by one, rows added or removed per
sheet); it is sent again only as a correction (訂正版), and only when asked to.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .mail import SendLog, content_digest
from .report import CORRECTION, unmarked

SENT = "sent"


@dataclass(frozen=True)
class Sent:
    """What a bank was last sent for the month."""

    bank_code: str
    content: str  # content digest ("" when the log predates it and no copy was kept)
    copy: Path | None  # the workbook as it was sent
    corrected: bool  # the last one sent was a correction (訂正版)


def sent_copy(folder: Path, file_name: str) -> Path:
    return folder / SENT / file_name


def keep_sent(folder: Path, attachment: Path) -> Path:
    """Keep the workbook just sent, as it was, beside the month's reports (replaced atomically)."""
    target = sent_copy(folder, attachment.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(attachment, tmp)
    os.replace(tmp, target)
    return target


def last_sent(folder: Path, log: SendLog, files: dict[str, str]) -> dict[str, Sent]:
    """Bank -> what it was last sent (sent or partly sent), for the banks in `files` (bank -> file name)."""
    found: dict[str, Sent] = {}
    for record in log.records:
        code = record.get("bank")
        if code not in files or record.get("result") not in ("sent", "partial"):
            continue
        copy = sent_copy(folder, files[code])
        content = record.get("content") or (content_digest(copy) if copy.exists() else "")
        found[code] = Sent(code, content, copy if copy.exists() else None,
                           copy.exists() and _title(copy).startswith(f"【{CORRECTION}】"))
    return found


def changed_since_sent(folder: Path, sent: dict[str, Sent], files: dict[str, str]) -> dict[str, list[str]]:
    """Bank -> what differs between the report now in `folder` and the one it was sent (banks whose
    report is unchanged, or cannot be compared, are left out)."""
    changed: dict[str, list[str]] = {}
    for code, before in sent.items():
        now = folder / files[code]
        if not before.content or not now.exists() or content_digest(now) == before.content:
            continue
        changed[code] = (describe_changes(_cells(before.copy), _cells(now)) if before.copy is not None
                         else ["内容が変わりました（送信時の報告書の控えがないため、変わった箇所は示せません）"])
    return changed


def describe_changes(old: dict[str, list[tuple]], new: dict[str, list[tuple]]) -> list[str]:
    """概要 figures that differ (`利用中 6 → 7`), then per sheet the rows added and removed.

    >>> describe_changes({"概要": [("利用中", 6)], "利用者一覧": [("a",), ("b",)]},
    ...                  {"概要": [("利用中", 7)], "利用者一覧": [("a",), ("c",), ("d",)]})
    ['概要: 利用中 6 → 7', '利用者一覧: 2 行追加・1 行削除（2 行 → 3 行）']
    """
    lines = []
    before = {row[0]: row[1] for row in old.get("概要", []) if len(row) > 1 and row[0] not in ("", None)}
    after = {row[0]: row[1] for row in new.get("概要", []) if len(row) > 1 and row[0] not in ("", None)}
    for label in dict.fromkeys([*before, *after]):
        if label in ("作成日時",) or before.get(label) == after.get(label):
            continue
        lines.append(f"概要: {label} {_shown(before.get(label))} → {_shown(after.get(label))}")
    for sheet in dict.fromkeys([*old, *new]):
        if sheet == "概要":
            continue
        was, now = Counter(old.get(sheet, [])), Counter(new.get(sheet, []))
        added, removed = sum((now - was).values()), sum((was - now).values())
        if added or removed:
            lines.append(f"{sheet}: {added} 行追加・{removed} 行削除（{sum(was.values())} 行 → {sum(now.values())} 行）")
    return lines or ["内容が変わりました（見出しや書式の違い）"]


def _shown(value: Any) -> str:
    if value is None:
        return "（なし）"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)


def _cells(path: Path) -> dict[str, list[tuple]]:
    """Sheet -> its rows after the title and header rows (概要: every row), marks taken out."""
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        sheets = {}
        for name in book.sheet_names:
            rows = book.get_sheet_by_name(name).to_python()
            body = rows[1:] if name == "概要" else rows[3:]
            sheets[name] = [tuple(unmarked(v) if isinstance(v, str) else v for v in row) for row in body
                            if any(v not in ("", None) for v in row)]
        return sheets
    finally:
        book.close()


def _title(path: Path) -> str:
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        rows = book.get_sheet_by_name(book.sheet_names[0]).to_python()
        return str(rows[0][0]) if rows and rows[0] else ""
    finally:
        book.close()


def correction_subject(subject: str) -> str:
    return f"【{CORRECTION}】{subject}"


def files_of(month: str, banks: Iterable) -> dict[str, str]:
    from .report import bank_file_name

    return {b.bank_code: bank_file_name(month, b) for b in banks}
