"""The log file for developers: where it lives, and a formatter that keeps customer data out of it.

An exception's message may quote a cell (`could not convert string to float: '佐藤 翔太'`), so the
log records an exception's type and where it was raised (file, line, function: code, never data),
for the exception and every one it was raised from, and never its message.
"""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path
from types import TracebackType


def log_folder() -> Path:
    """`$TOKENBOOK_LOG_DIR`, else `~/.tokenbook/logs` (made if missing)."""
    folder = Path(os.environ.get("TOKENBOOK_LOG_DIR", Path.home() / ".tokenbook" / "logs"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def where(exc: BaseException) -> str:
    """The chain of exceptions as types and frames, oldest first, without any message.

    >>> try:
    ...     float("佐藤 翔太")
    ... except ValueError as exc:
    ...     text = where(exc)
    >>> text.splitlines()[0], "佐藤" in text
    ('ValueError (message withheld: it may quote customer data)', False)
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts = []
    for item in reversed(chain):
        name = type(item).__qualname__
        module = type(item).__module__
        shown = name if module in ("builtins", "__main__") else f"{module}.{name}"
        frames = "".join(f'  File "{f.filename}", line {f.lineno}, in {f.name}\n'
                         for f in traceback.extract_tb(item.__traceback__))
        parts.append(f"{shown} (message withheld: it may quote customer data)\n{frames}".rstrip("\n"))
    return "\nduring which:\n".join(parts)


class DataFreeFormatter(logging.Formatter):
    """A formatter whose exceptions are `where(exc)`; log messages themselves must hold no data."""

    def formatException(self, ei: tuple[type[BaseException], BaseException, TracebackType | None]) -> str:  # noqa: N802
        return where(ei[1])


def file_handler(name: str) -> logging.FileHandler:
    """A handler appending to `name` in the log folder, with the data-free formatter."""
    handler = logging.FileHandler(log_folder() / name, encoding="utf-8")
    handler.setFormatter(DataFreeFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    return handler
