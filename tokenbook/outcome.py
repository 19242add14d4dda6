"""Command outcomes (design §11): what a run found and did, from which its exit code follows.

Like black's `Report`, an `Outcome` holds what happened — the lines to show, the located problems it
found, the things it could not do, or why it could not start — and the exit code is derived from
that: 3 workbook busy · 2 unusable input · 1 errors found or something failed · 0 done (warnings
alone do not change it). The command line and the buttons only render it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import problems as pr
from . import schema
from .problems import Problem


class Exit(IntEnum):
    DONE = 0
    ERRORS = 1
    UNUSABLE = 2
    BUSY = 3


DONE, ERRORS, UNUSABLE, BUSY = Exit.DONE, Exit.ERRORS, Exit.UNUSABLE, Exit.BUSY


@dataclass
class Outcome:
    """A finished command. `headline` is its one-line summary (the メニュー panel's last run);
    `problems` the located problems it found; `failures` what it could not do; `refused` set when
    it could not start at all (UNUSABLE or BUSY)."""

    lines: list[str] = field(default_factory=list)
    headline: str = ""
    problems: tuple[Problem, ...] = ()
    failures: tuple[str, ...] = ()
    refused: Exit | None = None
    table: tuple[tuple[str, ...], list[tuple[str, ...]]] | None = None  # (headers, rows), shown last

    @property
    def exit_code(self) -> int:
        if self.refused is not None:
            return int(self.refused)
        if self.failures or any(p.is_error for p in self.problems):
            return int(ERRORS)
        return int(DONE)

    def render(self, console: Console) -> None:
        for line in self.lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        if self.table is not None:
            headers, rows = self.table
            grid = Table(*headers, show_lines=False)
            for row in rows:
                grid.add_row(*(Text(cell) for cell in row))
            console.print(grid)


def unusable(message: str) -> Outcome:
    """The input could not be used at all (exit 2)."""
    return Outcome([f"エラー: {message}"], refused=UNUSABLE)


def busy(message: str) -> Outcome:
    """Someone else has the workbook (exit 3)."""
    return Outcome([f"エラー: {message}"], refused=BUSY)


def failed(*lines: str) -> Outcome:
    """The run could not do what was asked; nothing was changed (exit 1)."""
    return Outcome(list(lines), failures=(lines[0],) if lines else ("",))


def internal_error(exc: BaseException, where: str) -> Outcome:
    """A bug: one Japanese sentence for the clerk or operator (the details went to the log)."""
    return failed(f"エラー: 予期しない内部エラーが起きました（{type(exc).__name__}）。{where}")


@dataclass
class Checked(Outcome):
    """Validation: every located problem, then a count."""

    as_json: bool = False
    limit: int | None = None
    book: Path | None = None  # the checked workbook, named in the closing line

    def render(self, console: Console) -> None:
        if self.as_json:
            console.print(pr.to_json(self.problems), markup=False, highlight=False, soft_wrap=True)
            return
        shown = self.problems if self.limit is None else self.problems[: self.limit]
        for p in shown:
            style = "red" if p.is_error else "yellow"
            console.print(p.render(), style=style, markup=False, highlight=False, soft_wrap=True)
        if len(shown) < len(self.problems):
            console.print(f"…ほか {len(self.problems) - len(shown)} 件", markup=False)
        super().render(console)
        console.print(summary(self.problems), markup=False, highlight=False)
        if self.problems and self.book is not None:
            console.print(f"問題の場所は上の各行（シート!セル）です。{where_problems_are(self.book, written=False)}",
                          markup=False, highlight=False, soft_wrap=True)


def where_problems_are(book: Path, written: bool = True) -> str:
    """Where a clerk and a machine find the problems of a run on `book`: the sheet, the file, --json."""
    sheet = f"ブック {book} の「{schema.CHECKS}」シート"
    listed = f"一覧は tokenbook validate --book {book}、機械で読むには --json を付けます。"
    if written:
        return f"問題は{sheet}にあります（各行から該当のセルへ移れます）。{listed}"
    return f"Excel では「入力チェック」ボタンで{sheet}に出ます。機械で読むには --json を付けます。"


def summary(problems: tuple[Problem, ...]) -> str:
    errors, warnings = pr.count(problems)
    if not errors and not warnings:
        return "入力チェック: 問題はありません"
    return f"入力チェック: エラー {errors} 件、警告 {warnings} 件"
