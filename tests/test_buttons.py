"""The buttons (design §10) through the same port the xlwings adapter implements, on an in-memory
book that behaves like xlwings ranges: whole used ranges, numbers as floats, dates as datetimes,
empty cells as None. Each button must leave the ledger the command line leaves."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
import python_calamine

from conftest import POSTAL_REQUEST, default_sheets
from tokenbook import schema
from tokenbook.books.build import build_workbook
from tokenbook.models import setting_rows
from tokenbook.excel.buttons import press
from tokenbook.parse import parse_tables
from tokenbook.runs import Run, run_allocate, run_confirm, run_month_end
from tokenbook.files.sheetio import table_from_rows
from tokenbook.load import check_book

# The moment every button is pressed here (a Tuesday, the week's cutoff day); never the real clock.
NOW = dt.datetime(2026, 11, 24, 10, 0)
TODAY = NOW.date()


class MemoryBook:
    """A workbook as xlwings shows it, held in lists; records what the buttons asked and said."""

    def __init__(self, path: Path, answer: bool = True) -> None:
        self.path = path
        self.answer = answer
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        self.grids = {name: [[self._as_xlwings(v) for v in row] for row in
                             book.get_sheet_by_name(name).to_python(skip_empty_area=False)]
                      for name in book.sheet_names}
        self.questions: list[str] = []
        self.messages: list[tuple[str, bool]] = []
        self.statuses: list[str | None] = []
        self.highlighted: dict[str, set[str]] = {}
        self.hyperlinks: dict[str, list[tuple[str, str]]] = {}
        self.writes = 0
        self.files: list[Path] = []  # what choose_files answers, as a clerk would pick them

    @staticmethod
    def _as_xlwings(value: Any) -> Any:
        if value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return float(value)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return dt.datetime.combine(value, dt.time())
        return value

    def sheet_names(self) -> list[str]:
        return list(self.grids)

    def values(self, sheet: str) -> list[list[Any]]:
        grid = self.grids[sheet]
        width = max((len(r) for r in grid), default=1)
        return [list(r) + [None] * (width - len(r)) for r in grid] or [[None]]

    def write(self, sheet: str, cells: dict[int, dict[int, Any]]) -> None:
        self.writes += 1
        grid = self.grids[sheet]
        for row, values in cells.items():
            while len(grid) < row:
                grid.append([])
            line = grid[row - 1]
            for col, value in values.items():
                while len(line) < col:
                    line.append(None)
                line[col - 1] = self._as_xlwings(value)

    def clear_rows(self, sheet: str, first_row: int) -> None:
        del self.grids[sheet][first_row - 1:]
        self.hyperlinks[sheet] = []

    def links(self, sheet: str, links: list[tuple[str, str]]) -> None:
        self.hyperlinks.setdefault(sheet, []).extend(links)

    def highlight(self, sheet: str, cells: list[str], color: str | None) -> None:
        marked = self.highlighted.setdefault(sheet, set())
        (marked.update if color else marked.difference_update)(cells)

    def ask(self, message: str) -> bool:
        self.questions.append(message)
        return self.answer

    def choose_files(self, title: str, kinds: str) -> list[Path]:
        self.questions.append(title)
        return list(self.files)

    def tell(self, message: str, error: bool = False) -> None:
        self.messages.append((message, error))

    def status(self, text: str | None) -> None:
        self.statuses.append(text)

    def ledger(self):
        tables = {sheet: table_from_rows(sheet, self.values(sheet), [c.header for c in columns])
                  for sheet, columns in (*schema.TABLES.items(), *schema.OPTIONAL_TABLES.items()) if sheet in self.grids}
        return parse_tables(tables)[0]


def same_ledger(one, two) -> None:
    for attribute in ("banks", "tokens", "requests", "dispatches", "journal", "holidays"):
        assert getattr(one, attribute) == getattr(two, attribute), attribute


def stock(n):
    delivered = TODAY - dt.timedelta(days=90)
    return [{"シリアル番号": f"TK{i:08d}", "所有者": "CSS", "状態": "在庫", "納品日": delivered,
             "使用期限": delivered + dt.timedelta(days=1826)} for i in range(1, n + 1)]


def requests(n):
    day = TODAY - dt.timedelta(days=1)
    return [{**POSTAL_REQUEST, "依頼番号": f"R{day:%Y%m%d}-{i:03d}", "受付日": day, "顧客番号": f"{i:07d}",
             "顧客名": "=HYPERLINK(\"x\")" if i == 2 else f"顧客{i}"} for i in range(1, n + 1)]


@pytest.fixture
def scenario(tmp_path) -> tuple[Path, Path]:
    """The same workbook twice: one for the command line, one for the buttons."""
    (tmp_path / "cli").mkdir()
    settings = [{"項目": s.key, "値": "token@css.example" if s.field == "sender" else s.default}
                for s in setting_rows()]
    book = build_workbook(tmp_path / "cli" / "tokenbook.xlsm",
                          default_sheets(tokens=stock(6), requests=requests(3), settings=settings))
    (tmp_path / "excel").mkdir()
    other = tmp_path / "excel" / "tokenbook.xlsm"
    shutil.copyfile(book, other)
    return book, other


def test_weekly_allocate_leaves_the_ledger_the_cli_leaves(scenario):
    cli_book, excel_book = scenario
    assert run_allocate(Run(cli_book, NOW, "clerk")).exit_code == 0
    memory = MemoryBook(excel_book)
    outcome = press("allocate", memory, NOW, "clerk")
    assert outcome.exit_code == 0, outcome.lines
    same_ledger(memory.ledger(), check_book(cli_book, TODAY).ledger)
    assert memory.questions and "週次割当" in memory.questions[0]
    message, error = memory.messages[-1]
    assert not error and "引当 3件（3本）" in message
    assert memory.statuses[-1] is None and any(s and s.startswith("週次割当: 書き込み") for s in memory.statuses)
    panel = {row[4]: row[5] for row in memory.grids[schema.MENU][3:7]}
    assert panel["未処理の申込"] == "受付 0件・保留 0件・割当済 3件"
    assert memory.ledger().requests[1].customer_name == "=HYPERLINK(\"x\")"  # handed over as text


def test_confirm_after_allocate_matches_the_cli(scenario):
    cli_book, excel_book = scenario
    memory = MemoryBook(excel_book)
    press("allocate", memory, NOW, "clerk")
    assert run_allocate(Run(cli_book, NOW, "clerk")).exit_code == 0
    batch = memory.ledger().dispatches[0].batch
    outcome = press("confirm", memory, NOW, "clerk")
    assert outcome.exit_code == 0, outcome.lines
    ship = next(d.planned_on for d in check_book(cli_book, TODAY).ledger.dispatches)
    # the button ships on ★, or today when ★ is still ahead (never a 発送日 in the future)
    assert run_confirm(Run(cli_book, NOW, "clerk"), batch, min(ship, TODAY)).exit_code == 0
    same_ledger(memory.ledger(), check_book(cli_book, TODAY).ledger)
    assert f"バッチ {batch}" in memory.questions[-1]


def test_saying_no_changes_nothing(scenario):
    _, excel_book = scenario
    memory = MemoryBook(excel_book, answer=False)
    before = {k: [list(r) for r in v] for k, v in memory.grids.items()}
    for name in ("allocate", "report", "send"):
        assert press(name, memory, NOW, "clerk").exit_code == 0
    assert memory.grids == before and memory.writes == 0


def test_check_highlights_problem_cells_and_clears_them_next_time(scenario):
    _, excel_book = scenario
    memory = MemoryBook(excel_book)
    memory.grids[schema.REQUESTS][1][13] = "12-345"  # 送付先郵便番号 of the first request
    outcome = press("check", memory, NOW, "clerk")
    assert outcome.exit_code == 1 and memory.messages[-1][1] is True
    assert memory.highlighted[schema.REQUESTS] == {"N2"}
    rows = memory.grids[schema.CHECKS][1:]
    assert [(r[0], r[1], r[2], r[6]) for r in rows] == [("エラー", "申込", "N2", "bad-postal-code")]
    assert memory.hyperlinks[schema.CHECKS] == [("C2", "'申込'!N2")]
    memory.grids[schema.REQUESTS][1][13] = "530-0001"
    assert press("check", memory, NOW, "clerk").exit_code == 0
    assert memory.highlighted[schema.REQUESTS] == set() and memory.grids[schema.CHECKS][1:] == []
    assert "問題はありません" in memory.messages[-1][0]


def test_errors_outside_requests_stop_the_allocation_in_excel_too(scenario):
    _, excel_book = scenario
    memory = MemoryBook(excel_book)
    memory.grids[schema.TOKENS][1][2] = "使用中"
    before = [list(r) for r in memory.grids[schema.TOKENS]]
    outcome = press("allocate", memory, NOW, "clerk")
    assert outcome.exit_code == 1 and "中止しました" in memory.messages[-1][0]
    assert memory.grids[schema.TOKENS] == before
    assert memory.highlighted[schema.TOKENS] == {"C2"}


def test_monthly_report_buttons_make_what_the_cli_makes(scenario, tmp_path):
    cli_book, excel_book = scenario
    from tokenbook.history import previous_month
    from tokenbook.mail import content_digest

    month = previous_month(TODAY)
    assert run_month_end(Run(cli_book, NOW, "clerk")).exit_code == 0
    memory = MemoryBook(excel_book)
    outcome = press("report", memory, NOW, "clerk")
    assert outcome.exit_code == 0, outcome.lines
    made = sorted((excel_book.parent / "reports" / month).glob("*.xlsx"))
    expected = sorted((cli_book.parent / "reports" / month).glob("*.xlsx"))
    assert [p.name for p in made] == [p.name for p in expected] and made
    assert [content_digest(p) for p in made] == [content_digest(p) for p in expected]
    assert len(list((excel_book.parent / "reports" / month / "outbox").glob("*.eml"))) == 1


def test_send_button_without_a_server_reports_failure_in_a_dialog(scenario):
    _, excel_book = scenario
    memory = MemoryBook(excel_book)
    assert press("report", memory, NOW, "clerk").exit_code == 0
    outcome = press("send", memory, NOW, "clerk")
    assert outcome.exit_code == 1 and "SMTPサーバー" in memory.messages[-1][0] and memory.messages[-1][1]


def test_an_unexpected_error_is_a_dialog_not_a_traceback(scenario, monkeypatch):
    _, excel_book = scenario
    import tokenbook.runs as runs

    monkeypatch.setattr(runs, "allocate", lambda *a, **k: 1 / 0)
    memory = MemoryBook(excel_book)
    outcome = press("allocate", memory, NOW, "clerk")
    assert outcome.exit_code == 1
    message, error = memory.messages[-1]
    assert error and "ZeroDivisionError" in message and "Traceback" not in message


def test_a_workbook_that_is_not_a_ledger(scenario):
    _, excel_book = scenario
    memory = MemoryBook(excel_book)
    del memory.grids[schema.JOURNAL]
    assert press("check", memory, NOW, "clerk").exit_code == 2
    assert "シート「履歴」がありません" in memory.messages[-1][0]


def test_only_the_adapter_imports_xlwings():
    import subprocess
    import sys

    code = ("import sys, tokenbook.cli, tokenbook.excel.buttons, tokenbook.runs, tokenbook.books.reportbook, tokenbook.mail; "
            "print('xlwings' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
