"""Render one page of every kind of workbook tokenbook makes, as PNG, into workbook/examples/.

    python tests/tools/render_examples.py        # needs LibreOffice (soffice) and pdftoppm (poppler-utils)

Builds the demo in a scratch folder, converts the ledger, one bank's monthly report (each sheet)
and the CSS report to PDF with LibreOffice, and keeps the first page of each sheet kind.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "workbook" / "examples"


def one_sheet(source: Path, sheet: str, folder: Path) -> Path:
    """A copy of `source` with only `sheet` visible, so the PDF's first page is that sheet."""
    book = openpyxl.load_workbook(source)
    for ws in book.worksheets:
        if ws.title != sheet:
            ws.sheet_state = "hidden"
    book.active = book.sheetnames.index(sheet)
    copy = folder / f"{source.stem}-{sheet}.xlsx"
    book.save(copy)
    return copy


def printable_buttons(source: Path, folder: Path) -> Path:
    """A copy whose buttons print (they do not in the real book), for a picture of the menu."""
    copy = folder / "menu-picture.xlsm"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".vml"):
                data = data.replace(b"<x:PrintObject>False</x:PrintObject>", b"")
            dst.writestr(info, data)
    return copy


def render(source: Path, name: str, folder: Path) -> None:
    subprocess.run(["soffice", f"-env:UserInstallation=file://{folder / 'profile'}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(folder), str(source)], check=True, capture_output=True)
    pdf = folder / f"{source.stem}.pdf"
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(TARGET / name)], check=True)


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        subprocess.run([sys.executable, "-m", "tokenbook", "demo", "--dir", str(folder / "demo"), "--banks", "6",
                        "--tokens", "1500"], check=True, capture_output=True)
        month = next((folder / "demo" / "reports").iterdir())
        bank = max(month.glob("*_トークン月次報告.xlsx"), key=lambda p: p.stat().st_size)
        for sheet, name in (("概要", "bank-summary"), ("利用者一覧", "bank-users"), ("交換対象", "bank-replacement"),
                            ("当月発送", "bank-shipped"), ("金庫保管", "bank-held")):
            render(one_sheet(bank, sheet, folder), name, folder)
        if "預り在庫" in openpyxl.load_workbook(bank).sheetnames:
            render(one_sheet(bank, "預り在庫", folder), "bank-custody", folder)
        css = next(month.glob("*_CSS_在庫月報.xlsx"))
        for sheet, name in (("概要", "css-summary"), ("所有者別在庫", "css-stock"), ("金庫別KPI", "css-kpi"),
                            ("月間フロー", "css-flow"), ("バッチ日程", "css-batches")):
            render(one_sheet(css, sheet, folder), name, folder)
        ledger = folder / "demo" / "tokenbook.xlsm"
        render(printable_buttons(ledger, folder), "ledger-menu", folder)  # メニュー is the book's first page
        for sheet, name in (("申込", "ledger-requests"), ("チェック結果", "ledger-checks")):
            render(one_sheet(ledger, sheet, folder), name, folder)
    shutil.rmtree(TARGET / "profile", ignore_errors=True)
    print("\n".join(sorted(p.name for p in TARGET.glob("*.png"))))


if __name__ == "__main__":
    main()
