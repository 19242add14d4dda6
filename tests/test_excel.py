"""The macro workbook (design §10): VBA built from macros/ and xlwings' own module, read back by
olevba and LibreOffice, buttons bound to macros, reproducible bytes, and `setup-excel`."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import olefile
import pytest

from conftest import vba_modules, workbook_dump
from tokenbook.files import ovba
from tokenbook.books.build import BUTTONS
from tokenbook.excel.buttons import BUTTONS as PYTHON_BUTTONS
from tokenbook.cli import main
from tokenbook.books.vba import macro_folder, xlwings_module

ROOT = Path(__file__).resolve().parents[1]
BUILD = "from pathlib import Path; import sys; from tokenbook.books.build import build_workbook; build_workbook(Path(sys.argv[1]))"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("xl") / "tokenbook.xlsm"
    subprocess.run([sys.executable, "-c", BUILD, str(path)], check=True)
    return path


def without_attributes(code: str) -> str:
    return "\n".join(line for line in code.replace("\r\n", "\n").split("\n")
                     if not line.startswith("Attribute VB_")).strip("\n")


def test_olevba_reads_every_module_as_written_japanese_included(built):
    modules = vba_modules(built)
    for source in macro_folder().glob("*.bas"):
        assert without_attributes(modules[f"{source.stem}.bas"]) == source.read_text(encoding="utf-8").strip("\n")
    assert "ボタン" in modules["Tokenbook.bas"]
    assert without_attributes(modules["xlwings.bas"]) == without_attributes(xlwings_module())
    assert {"ThisWorkbook.cls", *(f"Sheet{i}.cls" for i in range(1, 11))} <= set(modules)


def test_macro_sources_are_cp932_safe_one_line_calls_into_python():
    subs = {}
    for source in macro_folder().glob("*.bas"):
        text = source.read_text(encoding="utf-8")
        text.encode("cp932")  # raises if a character would not survive a Japanese Windows
        for name, body in re.findall(r"Public Sub (\w+)\(\)\n(.*?)End Sub", text, re.S):
            lines = [line.strip() for line in body.strip().splitlines()]
            assert len(lines) == 1, name
            call = re.fullmatch(r"""RunPython "import tokenbook\.excel as x; x\.button\('(\w+)'\)\"""", lines[0])
            assert call and call[1] in PYTHON_BUTTONS, lines[0]
            subs[name] = call[1]
    assert {macro for _, macro in BUTTONS} <= set(subs)
    assert len({macro for _, macro in BUTTONS}) == len(BUTTONS) >= 5  # one Sub per button (issue 10 adds four)


def test_buttons_on_the_menu_are_bound_to_the_macros(built):
    with zipfile.ZipFile(built) as archive:
        drawing = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".vml"))
    for caption, macro in BUTTONS:
        assert caption in drawing and f"[0]!{macro}" in drawing


@pytest.mark.libreoffice
def test_libreoffice_loads_the_modules_and_the_buttons_macros(built, convert):
    ods = convert(built, "ods")
    with zipfile.ZipFile(ods) as archive:
        names = archive.namelist()
        basic = {n: archive.read(n).decode() for n in names if n.startswith("Basic/") and n.endswith(".xml")}
        content = archive.read("content.xml").decode()
    tokenbook_module = next(text for name, text in basic.items() if name.endswith("/Tokenbook.xml"))
    assert "Sub CheckInput" in tokenbook_module and "ボタン" in tokenbook_module
    assert any(name.endswith("/xlwings.xml") for name in basic)
    for caption, macro in BUTTONS:
        assert caption in content
        assert re.search(rf"Tokenbook\.{macro}|{macro}\?language=Basic", content), macro


@pytest.mark.libreoffice
def test_the_workbook_renders_with_its_buttons(built, convert):
    pdf = convert(built, "pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_two_builds_are_the_same_bytes(built, tmp_path):
    again = tmp_path / "again.xlsm"
    subprocess.run([sys.executable, "-c", BUILD, str(again)], check=True)
    assert again.read_bytes() == built.read_bytes()


def test_the_committed_workbook_holds_what_a_fresh_build_holds(built):
    """By content, not bytes: another xlsxwriter may serialise the same workbook otherwise."""
    committed = workbook_dump(ROOT / "workbook" / "tokenbook.xlsm")
    fresh = workbook_dump(built)
    assert committed["vba"] and len(committed["buttons"][0]) == len(BUTTONS)
    assert committed == fresh, "run `make workbook`"


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 511, 512, 4095, 4096, 4097, 8191, 8192, 70000])
def test_compound_file_streams_of_every_edge_size(size):
    streams = {"A": bytes(range(256)) * (size // 256) + bytes(size % 256), "S/B": b"x" * 100, "S/C": b"y" * 5000}
    ole = olefile.OleFileIO(ovba.compound_file(streams))
    for path, data in streams.items():
        assert ole.openstream(path.split("/")).read() == data, path
    entry = ole.direntries[ole._find(["A"])]
    assert (entry.size >= ole.minisectorcutoff) == (size >= 4096)  # 4096 bytes: the regular FAT


@pytest.mark.parametrize("text", ["", "a", "abcabcabcabc" * 400, "日本語のコメント\r\n" * 700])
def test_compression_round_trip(text):
    data = text.encode("cp932")
    assert ovba.decompress(ovba.compress(data)) == data


def test_setup_excel_records_the_interpreter(built, tmp_path, capsys):
    book = tmp_path / "tokenbook.xlsm"
    book.write_bytes(built.read_bytes())
    assert main(["setup-excel", "--book", str(book)]) == 0
    out = capsys.readouterr().out
    assert "一致しています" in out and "記録しました" in out
    import python_calamine

    conf = python_calamine.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("xlwings.conf").to_python()
    assert conf[0][0] == "Interpreter_Win" and Path(conf[0][1]).parent == Path(sys.executable).parent
    assert vba_modules(book) == vba_modules(built)  # the macros came through


def test_setup_excel_refuses_a_version_mismatch_an_open_book_and_a_plain_workbook(built, tmp_path, monkeypatch, capsys):
    book = tmp_path / "tokenbook.xlsm"
    book.write_bytes(built.read_bytes())
    import tokenbook.books.vba as vba

    monkeypatch.setattr(vba, "installed_xlwings", lambda: "0.99.0")
    assert main(["setup-excel", "--book", str(book)]) == 1
    assert "0.37.8" in capsys.readouterr().out
    monkeypatch.undo()
    (tmp_path / "~$tokenbook.xlsm").write_text("owner")
    assert main(["setup-excel", "--book", str(book)]) == 3
    plain = tmp_path / "plain.xlsx"
    assert main(["new-workbook", str(plain)]) == 0
    assert main(["setup-excel", "--book", str(plain)]) == 2
