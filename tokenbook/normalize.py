"""Small focused normalisers, one per kind of value a clerk types (design §3, §7).

Each takes a raw cell value (str, int, float, bool, date, datetime or None) and returns the
normalised value, or raises `Invalid` with a stable problem code. They never see a location: the
parser turns `Invalid` into a located `Problem`.

>>> bank_code("０１２３")
'0123'
>>> bank_code(123)
'0123'
>>> date("R8.11.24")
datetime.date(2026, 11, 24)
>>> date("令和元年5月1日")
datetime.date(2019, 5, 1)
>>> postal_code("〒100ー0001")
'100-0001'
>>> email_list("a@example.jp; b@Example.JP")
('a@example.jp', 'b@example.jp')
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from typing import Any


class Invalid(ValueError):
    """A value that does not fit its kind; `code` is a key of problems.CODES."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


# Hyphen-like characters clerks and IMEs produce (after NFKC some remain distinct).
_HYPHENS = re.compile("[\u2010-\u2015\u2212\u30fc\uff0d\ufe63\u2043\u02d7\uff70]")
_SPACES = re.compile(r"\s+")


def plain_text(value: Any) -> str:
    """Free text as typed, trimmed; numbers typed into text cells lose Excel's `.0`.

    >>> plain_text(" ｶｰﾄﾞ ")
    'ｶｰﾄﾞ'
    >>> plain_text(12345.0)
    '12345'
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value).strip()


def clean_text(value: Any) -> str:
    """NFKC and trimmed (full-width letters and digits become ASCII, ｶﾅ becomes カナ).

    >>> clean_text(" ＡＢＣ１ ｶｰﾄﾞ")
    'ABC1 カード'
    """
    text = plain_text(value)
    return text if text.isascii() else unicodedata.normalize("NFKC", text).strip()


def code_text(value: Any) -> str:
    """`clean_text` with every hyphen-like character (－ ー ‐ −) made an ASCII hyphen: for codes only.

    >>> code_text("〒１００ー０００１")
    '〒100-0001'
    """
    if value.__class__ is str and value.isascii():
        return value.strip()
    text = clean_text(value)
    return text if text.isascii() else _HYPHENS.sub("-", text)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _digits_code(value: Any, width: int, code: str) -> str:
    if isinstance(value, bool):
        raise Invalid(code)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not value.is_integer():
            raise Invalid(code)
        number = int(value)
        if not 0 <= number < 10**width:
            raise Invalid(code)
        return str(number).zfill(width)
    text = code_text(value)
    if len(text) != width or not text.isdigit() or not text.isascii():
        raise Invalid(code)
    return text


def bank_code(value: Any) -> str:
    """Four digits; a number that Excel stripped of leading zeros is padded back.

    >>> bank_code("12a4")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-bank-code
    """
    return _digits_code(value, 4, "bad-bank-code")


def branch_code(value: Any) -> str:
    """Three digits.

    >>> branch_code(7)
    '007'
    """
    return _digits_code(value, 3, "bad-branch-code")


def owner(value: Any) -> str:
    """`CSS` or a bank code.

    >>> owner("css")
    'CSS'
    """
    text = code_text(value).upper()
    if text == "CSS":
        return text
    try:
        return bank_code(value)
    except Invalid:
        raise Invalid("bad-owner") from None


def serial(value: Any, pattern: re.Pattern[str]) -> str:
    """Upper-cased, NFKC, matching 設定 シリアル形式.

    >>> serial("ｔｋ００１２３４", re.compile(r"^[0-9A-Z]{6,20}$"))
    'TK001234'
    """
    text = value.strip().upper() if value.__class__ is str and value.isascii() else code_text(value).upper()
    if not pattern.fullmatch(text):
        raise Invalid("bad-serial", pattern=pattern.pattern)
    return text


_LIST_SPLIT = re.compile(r"[;,、\s]+")


def serial_list(value: Any, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Serials separated by `;` `,` spaces or newlines.

    >>> serial_list("AB123456, AB123457", re.compile(r"^[0-9A-Z]{6,20}$"))
    ('AB123456', 'AB123457')
    """
    parts = [p for p in _LIST_SPLIT.split(code_text(value)) if p]
    return tuple(serial(p, pattern) for p in parts)


def postal_code(value: Any) -> str:
    """Seven digits, shown as `NNN-NNNN`.

    >>> postal_code(600000)
    '060-0000'
    >>> postal_code("12-345")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-postal-code
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        digits = _digits_code(value, 7, "bad-postal-code")
    else:
        digits = code_text(value).removeprefix("〒").replace("-", "").replace(" ", "")
        if len(digits) != 7 or not digits.isdigit() or not digits.isascii():
            raise Invalid("bad-postal-code")
    return f"{digits[:3]}-{digits[3:]}"


def phone(value: Any) -> str:
    """A Japanese phone number of 10 or 11 digits starting with 0 (or +81); hyphens kept.

    >>> phone("０３－１２３４－５６７８")
    '03-1234-5678'
    >>> phone("+81 90-1234-5678")
    '090-1234-5678'
    """
    text = code_text(value)
    if text.startswith("+81"):
        text = "0" + text[3:].lstrip(" -")
    text = _SPACES.sub("-", text.replace("(", "-").replace(")", "-")).strip("-")
    text = re.sub("-{2,}", "-", text)
    digits = text.replace("-", "")
    if not (digits.isdigit() and digits.isascii() and digits.startswith("0") and len(digits) in (10, 11)):
        raise Invalid("bad-phone")
    return text


_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)")
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
_ADDRESS_SPLIT = re.compile(r"[;,\s]+")


def email_list(value: Any) -> tuple[str, ...]:
    """Addresses separated by `;` `,` or newlines; the domain part lower-cased.

    >>> email_list("a@b")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-email
    """
    result = []
    for item in (p for p in _ADDRESS_SPLIT.split(clean_text(value)) if p):
        match = _EMAIL.fullmatch(item)
        if not match or ".." in item:
            raise Invalid("bad-email", item=item)
        local, _, domain = item.rpartition("@")
        result.append(f"{local}@{domain.lower()}")
    return tuple(result)


def domain_list(value: Any) -> tuple[str, ...]:
    """Domains separated like addresses; a leading `@` is dropped.

    >>> domain_list("@Example.JP; bank.example")
    ('example.jp', 'bank.example')
    """
    result = []
    for item in (p for p in _ADDRESS_SPLIT.split(clean_text(value)) if p):
        domain = item.removeprefix("@").lower()
        if not _DOMAIN.fullmatch(domain):
            raise Invalid("bad-domain", item=item)
        result.append(domain)
    return tuple(result)


def in_domains(address: str, domains: tuple[str, ...]) -> bool:
    """True when the address's domain is one of `domains` or a subdomain of one."""
    host = address.rpartition("@")[2]
    return any(host == d or host.endswith("." + d) for d in domains)


def integer(value: Any) -> int:
    """A whole number ≥ 1.

    >>> integer("３")
    3
    >>> integer(0)
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-integer
    """
    if isinstance(value, bool):
        raise Invalid("bad-integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise Invalid("bad-integer")
        value = int(value)
    if isinstance(value, int):
        number = value
    else:
        text = code_text(value).replace(",", "")
        if not (text.isdigit() and text.isascii()) or len(text) > 9:
            raise Invalid("bad-integer")
        number = int(text)
    if not 1 <= number <= 10**9:
        raise Invalid("bad-integer")
    return number


_ALIASES = {"あり": "有", "なし": "無", "○": "有", "×": "無"}


def choice(value: Any, choices: tuple[str, ...]) -> str:
    """One of `choices` (after NFKC and trimming; あり/なし are read as 有/無).

    >>> choice(" 利用中 ", ("在庫", "利用中"))
    '利用中'
    """
    text = clean_text(value)
    text = _ALIASES.get(text, text) if "有" in choices else text
    if text not in choices:
        raise Invalid("bad-choice", choices="・".join(choices))
    return text


_EXCEL_EPOCH = dt.date(1899, 12, 30)
_ERAS = {"令和": (2018, dt.date(2019, 5, 1), None), "平成": (1988, dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
         "昭和": (1925, dt.date(1926, 12, 25), dt.date(1989, 1, 7))}
_ERA_LETTERS = {"R": "令和", "H": "平成", "S": "昭和"}
_WESTERN = re.compile(r"(\d{4})\s*[/.\-年]\s*(\d{1,2})\s*[/.\-月]\s*(\d{1,2})\s*日?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_ERA = re.compile(r"(令和|平成|昭和|[RHS])\s*(元|\d{1,2})\s*[/.\-年]\s*(\d{1,2})\s*[/.\-月]\s*(\d{1,2})\s*日?", re.IGNORECASE)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?")


def _ymd(year: int, month: int, day: int) -> dt.date:
    if not 1900 <= year <= 2199:
        raise Invalid("bad-date")
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise Invalid("bad-date", reason=f"{year}年{month}月{day}日はありません") from None


def _date_text(text: str) -> dt.date:
    if m := _WESTERN.fullmatch(text):
        return _ymd(int(m[1]), int(m[2]), int(m[3]))
    if m := _COMPACT.fullmatch(text):
        return _ymd(int(m[1]), int(m[2]), int(m[3]))
    if m := _ERA.fullmatch(text):
        era = _ERA_LETTERS.get(m[1].upper(), m[1])
        offset, first, last = _ERAS[era]
        year = 1 if m[2] == "元" else int(m[2])
        day = _ymd(offset + year, int(m[3]), int(m[4]))
        if year < 1 or day < first or (last is not None and day > last):
            raise Invalid("bad-date")
        return day
    raise Invalid("bad-date")


def date(value: Any) -> dt.date:
    """An Excel date, an Excel serial number, or text in western or Japanese-era form.

    >>> date("2026/11/24") == date("2026-11-24") == date("令和8年11月24日") == date(46350)
    True
    >>> date("R8.2.30")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-date
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool) or value is None:
        raise Invalid("bad-date")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 1 <= value < 109574:  # up to 2199-12-31
            raise Invalid("bad-date")
        return _EXCEL_EPOCH + dt.timedelta(days=int(value))
    text = code_text(value)
    head, sep, tail = text.replace("T", " ").partition(" ")
    if sep and _TIME.fullmatch(tail.strip()):
        text = head
    return _date_text(text)


FIRST_YEAR, LAST_YEAR = 2000, 2099  # the months a report or batch can plausibly be about
_MONTH_FORMS = "2026-10、2026/10、202610、2026年10月、令和8年10月、R8.10"
_WESTERN_MONTH = re.compile(r"(\d{4})\s*(?:[/.\-年]\s*(\d{1,2})\s*月?|(\d{2}))")
_ERA_MONTH = re.compile(r"(令和|平成|[RH])\s*(元|\d{1,2})\s*[/.\-年]\s*(\d{1,2})\s*月?", re.IGNORECASE)
_ERA_MONTHS = {"令和": ((2019, 5), None), "平成": ((1989, 1), (2019, 4))}  # first and last month of each era


def month(value: Any) -> str:
    """A month as `YYYY-MM`, from any form a clerk types (western or Japanese era), or a date's month.

    A well-formed month that does not exist says why, in `Invalid.params["reason"]`.

    >>> month("2026/10") == month("202610") == month("令和8年10月") == month("R8.10") == month("２０２６－１０")
    True
    >>> month("H31.4"), month("令和元年5月"), month(dt.date(2026, 11, 24))
    ('2019-04', '2019-05', '2026-11')
    >>> month("2026-13")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-month
    >>> def reason(text):
    ...     try:
    ...         month(text)
    ...     except Invalid as exc:
    ...         return exc.params["reason"]
    >>> reason("2026-13"), reason("9999-12"), reason("平成31年5月")
    ('2026年13月はありません', '2000年から2099年までの月を指定してください（9999年）', '平成31年5月はありません（平成は31年4月まで）')
    """
    if isinstance(value, (dt.date, dt.datetime)):
        return _month(value.year, value.month, f"{value.year}年")
    text = code_text(value) if isinstance(value, str) else ""
    if m := _WESTERN_MONTH.fullmatch(text):
        return _month(int(m[1]), int(m[2] or m[3]), f"{int(m[1])}年")
    if m := _ERA_MONTH.fullmatch(text):
        era = _ERA_LETTERS.get(m[1].upper(), m[1])
        year, number = (1 if m[2] == "元" else int(m[2])), int(m[3])
        shown = f"{era}{'元' if year == 1 else year}年"
        (first_year, first_month), last = _ERA_MONTHS[era]
        western = first_year - 1 + year
        if year < 1 or not 1 <= number <= 12:
            raise Invalid("bad-month", reason=f"{shown}{number}月はありません")
        if (western, number) < (first_year, first_month):
            raise Invalid("bad-month", reason=f"{shown}{number}月はありません（{era}は元年{first_month}月から）")
        if last is not None and (western, number) > last:
            raise Invalid("bad-month", reason=f"{shown}{number}月はありません（{era}は{last[0] - first_year + 1}年{last[1]}月まで）")
        return _month(western, number, shown)
    raise Invalid("bad-month", reason=f"{_MONTH_FORMS} のように指定してください")


def _month(year: int, number: int, shown_year: str) -> str:
    if not 1 <= number <= 12:
        raise Invalid("bad-month", reason=f"{shown_year}{number}月はありません")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid("bad-month", reason=f"{FIRST_YEAR}年から{LAST_YEAR}年までの月を指定してください（{year}年）")
    return f"{year:04d}-{number:02d}"


def datetime(value: Any) -> dt.datetime:
    """A date with an optional time, as `date` reads it.

    >>> datetime("2026-11-24 09:30")
    datetime.datetime(2026, 11, 24, 9, 30)
    """
    if isinstance(value, dt.datetime):  # to the second: Excel keeps time as a fraction of a day
        return (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        day = date(value)
        seconds = round((value - int(value)) * 86400)
        return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
    text = code_text(value).replace("T", " ")
    head, _, tail = text.partition(" ")
    try:
        day = _date_text(head)
    except Invalid:
        raise Invalid("bad-datetime") from None
    if not tail.strip():
        return dt.datetime.combine(day, dt.time())
    m = _TIME.fullmatch(tail.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59 or int(m[3] or 0) > 59:
        raise Invalid("bad-datetime")
    return dt.datetime.combine(day, dt.time(int(m[1]), int(m[2]), int(m[3] or 0)))


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clipped to the month's end.

    >>> add_months(dt.date(2024, 2, 29), 60)
    datetime.date(2029, 2, 28)
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


# --- counts tokenbook writes (issue 17: 棚卸, 作業一覧) -------------------------------------------------

def count(value: Any) -> int:
    """A whole number ≥ 0 (a count, a line number).

    >>> count("０"), count(12.0)
    (0, 12)
    >>> count(-1)
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-count
    """
    if not isinstance(value, bool) and (value == 0 or (isinstance(value, str) and code_text(value) == "0")):
        return 0
    try:
        return integer(value)
    except Invalid:
        raise Invalid("bad-count") from None
