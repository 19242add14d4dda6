"""Command outcomes: each knows its exit code (design §11) and how to print itself.

0 done (warnings alone do not change it) · 1 errors found · 2 unusable input · 3 workbook busy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import problems as pr
from . import schema
from .problems import Problem

DONE, ERRORS, UNUSABLE, BUSY = 0, 1, 2, 3


@dataclass
class Outcome:
    """A finished command: lines to show and the exit code."""

    exit_code: int = DONE
    lines: list[str] = field(default_factory=list)
    table: tuple[tuple[str, ...], list[tuple[str, ...]]] | None = None  # (headers, rows), shown last

    def render(self, console: Console) -> None:
        for line in self.lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        if self.table is not None:
            headers, rows = self.table
            grid = Table(*headers, show_lines=False)
            for row in rows:
                grid.add_row(*(Text(cell) for cell in row))
            console.print(grid)


@dataclass
class Unusable(Outcome):
    """The input could not be used at all."""

    exit_code: int = UNUSABLE

    @classmethod
    def because(cls, message: str) -> "Unusable":
        return cls(lines=[f"エラー: {message}"])


@dataclass
class Checked(Outcome):
    """Validation: located problems and a count."""

    problems: tuple[Problem, ...] = ()
    as_json: bool = False
    limit: int | None = None
    book: Path | None = None  # the checked workbook, named in the closing line

    def __post_init__(self) -> None:
        errors, _ = pr.count(self.problems)
        self.exit_code = ERRORS if errors else DONE

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
