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


def render(source: Path, name: str, folder: Path, page: int = 1) -> None:
    subprocess.run(["soffice", f"-env:UserInstallation=file://{folder / 'profile'}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(folder), str(source)], check=True, capture_output=True)
    pdf = folder / f"{source.stem}.pdf"
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", str(page), "-l", str(page), "-singlefile", str(pdf),
                    str(TARGET / name)], check=True)


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        subprocess.run([sys.executable, "-m", "tokenbook", "demo", "--dir", str(folder / "demo"), "--banks", "6",
                        "--tokens", "1500"], check=True, capture_output=True)
        month = next(m for m in sorted((folder / "demo" / "reports").iterdir()) if any(m.glob("*_CSS_在庫月報.xlsx")))
        bank = max(month.glob("*_トークン月次報告.xlsx"), key=lambda p: p.stat().st_size)
        for sheet, name in (("概要", "bank-summary"), ("利用者一覧", "bank-users"), ("交換対象", "bank-replacement"),
                            ("当月発送", "bank-shipped"), ("金庫保管", "bank-held")):
            render(one_sheet(bank, sheet, folder), name, folder)
        if "預り在庫" in openpyxl.load_workbook(bank).sheetnames:
            render(one_sheet(bank, "預り在庫", folder), "bank-custody", folder)
        css = next(month.glob("*_CSS_在庫月報.xlsx"))
        render(css, "css-summary", folder)  # 概要 is the first page; the combined forecast chart is kept as written
        for sheet, name in (("所有者別在庫", "css-stock"), ("金庫別KPI", "css-kpi"), ("監査", "css-audit"),
                            ("在庫予測", "css-forecast"), ("月間フロー", "css-flow"), ("バッチ日程", "css-batches")):
            render(one_sheet(css, sheet, folder), name, folder)
        render(one_sheet(bank, "利用明細", folder), "bank-statement", folder)
        # issue 11: a bank's replacement proposal (its first page is the list to answer) and the CSS summary
        proposal = max((folder / "demo" / "reports").glob("*/*_交換計画.xlsx"), key=lambda p: p.stat().st_size)
        render(proposal, "replacement-proposal", folder)
        render(one_sheet(proposal, "説明", folder), "replacement-instructions", folder)
        render(next((folder / "demo" / "reports").glob("*/*_CSS_交換計画集計.xlsx")), "replacement-summary", folder)
        ledger = folder / "demo" / "tokenbook.xlsm"
        render(printable_buttons(ledger, folder), "ledger-menu", folder)  # メニュー is the book's first page
        for sheet, name in (("申込", "ledger-requests"), ("チェック結果", "ledger-checks"),
                            ("作業一覧", "ledger-worklist"), ("棚卸", "ledger-stocktake")):
            render(one_sheet(ledger, sheet, folder), name, folder)
        # issue 10: a batch's print set (picking list, two cover letters) and a bank's request form
        documents = next((folder / "demo" / "parcels").rglob("*_発送書類.xlsx"))
        render(one_sheet(documents, "ピッキングリスト", folder), "parcels-picking", folder)
        letters = one_sheet(documents, "送付状", folder)
        for page in (1, 2):
            render(letters, f"parcels-letter-{page}", folder, page)
        form = next((folder / "demo" / "forms").glob("*_申込書.xlsx"))
        for sheet, name in (("申込", "form-requests"), ("記入方法", "form-instructions")):
            render(one_sheet(form, sheet, folder), name, folder)
        render(one_sheet(css, "棚卸差異", folder), "css-stocktake", folder)
        center = next((folder / "demo" / "reports").glob("*_共同センター伝送.xlsx"), None)
        if center is not None:
            render(center, "center-list", folder)
    shutil.rmtree(TARGET / "profile", ignore_errors=True)
    print("\n".join(sorted(p.name for p in TARGET.glob("*.png"))))


if __name__ == "__main__":
    main()
