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

import calendar
import datetime as dt
import math
import re
import unicodedata
from re import _constants as sre  # the parsed form of a pattern, to judge how it backtracks
from re import _parser as sre_parse
from typing import Any, Protocol

import re2


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


# Excel holds at most 32,767 characters in a cell; a longer value came from another tool and
# cannot be written back.
CELL_LIMIT = 32_767
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_FORMULA_START = ("=", "+", "-", "@")


def key_code(value: Any) -> str:
    """A key or code a clerk types (顧客番号, 依頼番号, 追跡番号 …): `code_text`, refusing what no
    key holds — control characters, more than a cell holds, and a leading `=` `+` `-` `@`
    (spreadsheet programs read such text as a formula when it is pasted or exported).

    >>> key_code(" ０００１２３ ")
    '000123'
    >>> key_code(123.0)
    '123'
    >>> key_code("=DDE(1)")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: formula-like-code
    >>> key_code("AB" + chr(0) + "C")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: control-character
    >>> key_code("9" * 40_000)
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: too-long
    """
    if isinstance(value, str) and len(value) > CELL_LIMIT:
        raise Invalid("too-long", limit=f"{CELL_LIMIT:,}")
    text = code_text(value)
    if len(text) > CELL_LIMIT:
        raise Invalid("too-long", limit=f"{CELL_LIMIT:,}")
    if _CONTROL.search(text):
        raise Invalid("control-character")
    if text.startswith(_FORMULA_START):
        raise Invalid("formula-like-code")
    return text


# Text that is already its own normal form, so a column of a million such cells needs no call per
# cell (parse maps whole columns through these; tests/test_fast_paths.py checks each against its
# normaliser). Each matches a subset of what the normaliser returns unchanged.
KEY_CODE_AS_IS = re.compile(r"[!-*,.-<>-?A-~](?:[ -~]{0,32765}[!-~])?")  # printable ASCII, no edge space, no =+-@ first
POSTAL_CODE_AS_IS = re.compile(r"[0-9]{3}-[0-9]{4}")
PHONE_AS_IS = re.compile(r"0(?:-?[0-9]){9,10}")
SERIAL_AS_IS = re.compile(r"[!-`{-~](?:[ -`{-~]*[!-`{-~])?")  # printable ASCII, no lower case, no edge space: then
# `serial` returns the text itself when the 設定 pattern matches it


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


class Matcher(Protocol):
    """What `serial` needs of a compiled pattern: both `re.Pattern` and RE2's compiled pattern fit."""

    pattern: str

    def fullmatch(self, text: str) -> Any: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would print its parse errors to stderr; the clerk gets ours


def serial_matcher(pattern: str) -> Matcher:
    """The 設定 シリアル形式 compiled so that matching any text takes time linear in its length.

    A clerk types this pattern, so it may be one that Python's backtracking engine takes
    exponential time over (`^(([0-9A-Z])+)+$` against 35 characters takes minutes). Such a pattern
    is evaluated by RE2, which never backtracks; a simple one (every repetition over a single
    character, at most one of them long) by `re`, which is faster per call and cannot blow up on
    it. Patterns RE2 cannot run (back-references, look-around) are refused.

    >>> serial_matcher(r"^[0-9A-Z]{6,20}$").fullmatch("TK001234") is not None
    True
    >>> evil = serial_matcher(r"^(([0-9A-Z])+)+$")  # RE2: a millisecond, where `re` would take ages
    >>> evil.fullmatch("A" * 5000 + "!") is None, evil.fullmatch("TK0012") is not None
    (True, True)
    >>> serial_matcher(r"^(?=TK)[0-9A-Z]+$")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-setting
    """
    try:
        bounded = _Linear(pattern)
    except re2.error:
        raise Invalid("bad-setting", reason="正規表現として読めないか、使えない書き方（後方参照・先読みなど）です") from None
    if _backtracks_little(pattern):
        try:
            return re.compile(pattern)
        except re.error:
            pass
    return bounded


class _Linear:
    """RE2 matching UTF-8 bytes: its Python wrapper is two to three times faster on bytes than on str."""

    __slots__ = ("pattern", "_regexp")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._regexp = re2.compile(pattern.encode("utf-8", "surrogatepass"), _RE2_OPTIONS)

    def fullmatch(self, text: str) -> Any:
        return self._regexp.fullmatch(text.encode("utf-8", "surrogatepass"))


_SINGLE = frozenset({sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.AT, sre.CATEGORY})
_REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT})
_LONG = 64  # a repetition allowing more counts than this is "long"
_PATHS = 4096  # at most this many ways to split a text among the short repetitions and branches


def _backtracks_little(pattern: str) -> bool:
    """True when a backtracking matcher tries few paths: every repetition is over a fixed sequence
    of single characters, at most one allows more than _LONG counts, and the counts of the others
    times the alternatives of every branch stay under _PATHS. Then a failed match costs at most
    _PATHS passes over the text."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return False
    long_repeats = 0

    def paths(items: Any) -> int | None:
        """Ways through `items`, or None when a repetition nests something that can vary."""
        nonlocal long_repeats
        total = 1
        for op, arg in items:
            if op in _SINGLE:
                continue
            if op is sre.SUBPATTERN:
                inner = paths(arg[-1])
            elif op is sre.BRANCH:
                counts = [paths(alt) for alt in arg[1]]
                inner = None if None in counts else sum(counts)
            elif op in _REPEATS:
                low, high, body = arg
                if not _fixed(body):
                    return None
                if high - low > _LONG:
                    long_repeats += 1
                    inner = 1
                else:
                    inner = high - low + 1
            else:  # back-references, look-around, conditionals: leave them to RE2's judgement
                return None
            if inner is None:
                return None
            total *= inner
            if total > _PATHS:
                return None
        return total

    return paths(parsed) is not None and long_repeats <= 1


def _fixed(items: Any) -> bool:
    """A sequence of single-character matchers (through groups): it matches in one way or not at all."""
    return all(op in _SINGLE or (op is sre.SUBPATTERN and _fixed(arg[-1])) for op, arg in items)


def serial(value: Any, pattern: Matcher) -> str:
    """Upper-cased, NFKC, matching 設定 シリアル形式.

    >>> serial("ｔｋ００１２３４", re.compile(r"^[0-9A-Z]{6,20}$"))
    'TK001234'
    """
    text = value.strip().upper() if value.__class__ is str and value.isascii() else code_text(value).upper()
    if not pattern.fullmatch(text):
        raise Invalid("bad-serial", pattern=pattern.pattern)
    return text


_LIST_SPLIT = re.compile(r"[;,、\s]+")


def serial_list(value: Any, pattern: Matcher) -> tuple[str, ...]:
    """Serials separated by `;` `,` spaces or newlines.

    >>> serial_list("AB123456, AB123457", re.compile(r"^[0-9A-Z]{6,20}$"))
    ('AB123456', 'AB123457')
    """
    parts = [p for p in _LIST_SPLIT.split(code_text(value)) if p]
    return tuple(serial(p, pattern) for p in parts)


_PATH_SPLIT = re.compile(r"[;\r\n]+")


def path_list(value: Any) -> tuple[str, ...]:
    """File paths separated by `;` or newlines, as typed (no NFKC: a folder name is what it is);
    the quotes Windows' "Copy as path" puts around a path are dropped.

    >>> path_list('certs/a.pem; "D:/証明書/b.cer"')
    ('certs/a.pem', 'D:/証明書/b.cer')
    """
    parts = [p.strip().strip('"').strip() for p in _PATH_SPLIT.split(plain_text(value))]
    parts = [p for p in parts if p]
    if any(ord(c) < 32 or c == "\x7f" for p in parts for c in p):
        raise Invalid("bad-path")
    return tuple(parts)


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


# Every date of the ledger lies here: no token or request predates 2000, and dates up to 2199 leave
# room for any expiry (納品日 + up to 20 years of battery) without date arithmetic overflowing.
FIRST_DATE = dt.date(2000, 1, 1)
LAST_DATE = dt.date(2199, 12, 31)


def in_range(day: dt.date) -> dt.date:
    """`day` when it lies between FIRST_DATE and LAST_DATE.

    >>> in_range(dt.date(1900, 1, 1))
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: date-out-of-range
    """
    if not FIRST_DATE <= day <= LAST_DATE:
        raise Invalid("date-out-of-range", first=FIRST_DATE.isoformat(), last=LAST_DATE.isoformat())
    return day


def _ymd(year: int, month: int, day: int) -> dt.date:
    try:
        found = dt.date(year, month, day)
    except ValueError:
        raise Invalid("bad-date", reason=f"{year}年{month}月{day}日はありません") from None
    return in_range(found)


def _date_text(text: str) -> dt.date:
    if m := _WESTERN.fullmatch(text):
        return _ymd(int(m[1]), int(m[2]), int(m[3]))
    if m := _COMPACT.fullmatch(text):
        return _ymd(int(m[1]), int(m[2]), int(m[3]))
    if m := _ERA.fullmatch(text):
        era = _ERA_LETTERS.get(m[1].upper(), m[1])
        offset, first, last = _ERAS[era]
        year = 1 if m[2] == "元" else int(m[2])
        try:
            day = dt.date(offset + year, int(m[3]), int(m[4]))
        except ValueError:
            raise Invalid("bad-date") from None
        if year < 1 or day < first or (last is not None and day > last):
            raise Invalid("bad-date")
        return in_range(day)
    raise Invalid("bad-date")


def date(value: Any) -> dt.date:
    """An Excel date, an Excel serial number, or text in western or Japanese-era form.

    >>> date("2026/11/24") == date("2026-11-24") == date("令和8年11月24日") == date(46350)
    True
    >>> date("R8.2.30")
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: bad-date

    Dates outside 2000–2199 are refused as typed text and as date cells alike:

    >>> date(dt.date(9999, 12, 31))
    Traceback (most recent call last):
    tokenbook.normalize.Invalid: date-out-of-range
    """
    if isinstance(value, dt.datetime):
        return in_range(value.date())
    if isinstance(value, dt.date):
        return in_range(value)
    if isinstance(value, bool) or value is None:
        raise Invalid("bad-date")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 1 <= value < 2_958_466:  # Excel's own range, to 9999-12-31
            raise Invalid("bad-date")
        return in_range(_EXCEL_EPOCH + dt.timedelta(days=int(value)))
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
        in_range(value.date())
        return (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime.combine(in_range(value), dt.time())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        day = date(value)
        seconds = round((value - int(value)) * 86400)
        return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
    text = code_text(value).replace("T", " ")
    head, _, tail = text.partition(" ")
    try:
        day = _date_text(head)
    except Invalid as exc:
        raise exc if exc.code == "date-out-of-range" else Invalid("bad-datetime") from None
    if not tail.strip():
        return dt.datetime.combine(day, dt.time())
    m = _TIME.fullmatch(tail.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59 or int(m[3] or 0) > 59:
        raise Invalid("bad-datetime")
    return dt.datetime.combine(day, dt.time(int(m[1]), int(m[2]), int(m[3] or 0)))


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clipped to the month's end; OverflowError past year 9999
    (as `date + timedelta` does).

    >>> add_months(dt.date(2024, 2, 29), 60)
    datetime.date(2029, 2, 28)
    >>> add_months(dt.date(9999, 12, 31), 1)
    Traceback (most recent call last):
    OverflowError: date value out of range
    """
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise OverflowError("date value out of range")
    last_day = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last_day))


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
