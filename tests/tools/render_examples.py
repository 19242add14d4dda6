"""Render the pages a clerk or a bank prints, as PNG, into workbook/examples/ (`make examples`).

    python tests/tools/render_examples.py        # needs LibreOffice (soffice) and pdftoppm (poppler-utils)

Builds the demo exactly as `make demo` does (30 banks, 6,000 tokens, seed 1) but at a fixed day,
AS_OF, so the same code gives the same pictures. Each sheet is printed on its own (the other sheets
hidden in a copy of the book, nothing else changed) by LibreOffice to PDF, with the print setup the
book carries (A4, print titles, column groups), and the pages shown are turned into PNG.

Fonts: Meiryo UI, the books' font, is not on a Linux machine: fontconfig would draw its Latin letters
and digits in DejaVu Sans and the Japanese in IPAex Gothic, so a bold title would show two fonts where
Excel on Windows shows one. The rendering maps Meiryo UI to IPAex Gothic (fonts-ipaexfont), one font
for both scripts. Column widths are counted in the book's default font, Calibri: LibreOffice uses
Carlito (fonts-crosextra-carlito), which has Calibri's widths, so columns are as wide as in Excel.

    python tests/tools/render_examples.py ledger-requests css-summary   # only these pictures
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "workbook" / "examples"
AS_OF = "2026-12-01"  # a Tuesday: November's month-end is done, a 共同センター list is due, last week's batch shipped
RESOLUTION = 70  # dots per inch: an A4 page is 818 × 578 pixels, enough to read and small in git

FONTS = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <match target="pattern">
    <test name="family"><string>Meiryo UI</string></test>
    <edit name="family" mode="assign" binding="strong"><string>IPAexGothic</string></edit>
  </match>
</fontconfig>
"""


def one_sheet(source: Path, sheet: str, folder: Path, name: str) -> Path:
    """A copy of `source` in which only `sheet` is visible (and active), so its PDF holds that sheet's pages.

    Only workbook.xml's sheet states, the tab selection and the other sheets' print areas change
    (LibreOffice prints a hidden sheet that has one); charts, print setup, validation and styles stay
    as the book has them (a load and save with openpyxl would lose the charts)."""
    copy = folder / f"{name}{source.suffix}"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as dst:
        names = re.findall(rb'<sheet [^>]*name="([^"]*)"', src.read("xl/workbook.xml"))
        index = [n.decode() for n in names].index(sheet)
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = re.sub(rb'<sheet ([^>]*?)\s*/>', lambda m: _sheet_state(m, sheet), data)
                data = re.sub(rb'(<workbookView\b[^>]*?)\s(activeTab|firstSheet)="\d+"', rb"\1", data)
                data = data.replace(b"<workbookView", f'<workbookView activeTab="{index}" firstSheet="{index}"'.encode(), 1)
                data = re.sub(rb'<definedName name="_xlnm\.Print_Area" localSheetId="(\d+)"[^>]*>[^<]*</definedName>',
                              lambda m: m[0] if int(m[1]) == index else b"", data)  # LibreOffice prints a hidden sheet's area
            elif info.filename.startswith("xl/worksheets/sheet"):
                data = data.replace(b' tabSelected="1"', b"")
            dst.writestr(info, data)
    return copy


def _sheet_state(match: re.Match[bytes], sheet: str) -> bytes:
    attrs = re.sub(rb'\sstate="[^"]*"', b"", match[1])
    shown = re.search(rb'name="([^"]*)"', attrs)[1].decode() == sheet
    return b"<sheet " + attrs + (b"" if shown else b' state="hidden"') + b"/>"


def printable_buttons(source: Path, folder: Path) -> Path:
    """A copy whose buttons print (they do not in the real book), for a picture of the menu."""
    copy = folder / "ledger-menu.xlsm"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".vml"):
                data = data.replace(b"<x:PrintObject>False</x:PrintObject>", b"")
            dst.writestr(info, data)
    return copy


def convert(sources: list[Path], folder: Path, env: dict[str, str]) -> None:
    """Every source to PDF in one LibreOffice run (starting it once per file would take minutes)."""
    subprocess.run(["soffice", f"-env:UserInstallation=file://{folder / 'profile'}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(folder / "pdf"), *map(str, sources)],
                   check=True, capture_output=True, env=env)


def picture(pdf: Path, name: str, page: int = 1) -> None:
    subprocess.run(["pdftoppm", "-png", "-r", str(RESOLUTION), "-f", str(page), "-l", str(page), "-singlefile",
                    str(pdf), str(TARGET / name)], check=True)


def missing_fonts() -> list[str]:
    listed = subprocess.run(["fc-list", ":", "family"], check=True, capture_output=True, text=True).stdout
    return [f"{family}（{package}）" for family, package in (("IPAexGothic", "fonts-ipaexfont"),
                                                             ("Carlito", "fonts-crosextra-carlito"))
            if family not in listed]


def main(only: list[str]) -> None:
    missing = missing_fonts()
    if missing:
        sys.exit(f"フォントがありません: {'、'.join(missing)}。インストールしてから実行してください")
    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "fonts.conf").write_text(FONTS, encoding="utf-8")
        env = {**os.environ, "FONTCONFIG_FILE": str(folder / "fonts.conf")}
        demo = folder / "demo"
        print(f"デモを作っています（{AS_OF}、make demo と同じ金庫・トークン数）…", flush=True)
        subprocess.run([sys.executable, "-m", "tokenbook", "demo", "--dir", str(demo), "--as-of", AS_OF],
                       check=True, capture_output=True)
        reports = demo / "reports"
        month = next(m for m in sorted(reports.iterdir()) if any(m.glob("*_CSS_在庫月報.xlsx")))
        bank = max(month.glob("*_トークン月次報告.xlsx"), key=lambda p: p.stat().st_size)
        css = next(month.glob("*_CSS_在庫月報.xlsx"))
        proposal = max(reports.glob("*/*_交換計画.xlsx"), key=lambda p: p.stat().st_size)
        plan_summary = next(reports.glob("*/*_CSS_交換計画集計.xlsx"))
        ledger = demo / "tokenbook.xlsm"
        documents = next((demo / "parcels").rglob("*_発送書類.xlsx"))
        form = next((demo / "forms").glob("*_申込書.xlsx"))
        center = next(reports.glob("*_共同センター伝送.xlsx"))

        # (book, sheet, picture name, pages): each page p > 1 is saved as name-p
        jobs: list[tuple[Path, str, str, tuple[int, ...]]] = [
            (bank, "概要", "bank-summary", (1,)), (bank, "利用者一覧", "bank-users", (1,)),
            (bank, "交換対象", "bank-replacement", (1,)), (bank, "当月発送", "bank-shipped", (1,)),
            (bank, "金庫保管", "bank-held", (1,)), (bank, "預り在庫", "bank-custody", (1,)),
            (bank, "利用明細", "bank-statement", (1,)),
            (css, "概要", "css-summary", (1,)), (css, "所有者別在庫", "css-stock", (1,)), (css, "金庫別KPI", "css-kpi", (1,)),
            (css, "監査", "css-audit", (1,)), (css, "在庫予測", "css-forecast", (1,)), (css, "月間フロー", "css-flow", (1,)),
            (css, "バッチ日程", "css-batches", (1,)), (css, "棚卸差異", "css-stocktake", (1,)),
            (proposal, "交換計画", "replacement-proposal", (1, 2)), (proposal, "説明", "replacement-instructions", (1,)),
            (plan_summary, "概要", "replacement-summary", (1,)),
            (ledger, "申込", "ledger-requests", (1, 2, 3)), (ledger, "在庫", "ledger-stock", (1, 2)),
            (ledger, "発送", "ledger-dispatch", (1, 2)), (ledger, "履歴", "ledger-journal", (1,)),
            (ledger, "チェック結果", "ledger-checks", (1,)), (ledger, "作業一覧", "ledger-worklist", (1,)),
            (ledger, "棚卸", "ledger-stocktake", (1,)),
            (documents, "ピッキングリスト", "parcels-picking", (1,)), (documents, "送付状", "parcels-letter", (1, 2)),
            (form, "申込", "form-requests", (1, 2)), (form, "記入方法", "form-instructions", (1,)),
            (center, "共同センター伝送", "center-list", (1,)),
        ]
        jobs.append((ledger, "メニュー", "ledger-menu", (1,)))
        jobs = [job for job in jobs if not only or job[2] in only]
        copies = [printable_buttons(ledger, folder) if name == "ledger-menu" else one_sheet(book, sheet, folder, name)
                  for book, sheet, name, _pages in jobs]  # メニュー is the ledger's first sheet: the book with buttons
        print(f"LibreOffice で {len(copies)} 枚のシートを PDF にしています…", flush=True)
        convert(copies, folder, env)
        for _book, _sheet, name, pages in jobs:
            pdf = folder / "pdf" / f"{name}.pdf"
            for page in pages:
                picture(pdf, name if page == 1 and name != "parcels-letter" else f"{name}-{page}", page)
    print("\n".join(sorted(p.name for p in TARGET.glob("*.png") if not only or p.stem.rstrip("-0123456789") in only)))


if __name__ == "__main__":
    main(sys.argv[1:])
