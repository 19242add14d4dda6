"""The package as a user installs it (issue 8 §5): the wheel carries the macro sources, and the
installed `tokenbook new-workbook` builds a workbook whose buttons' macros are all in its VBA project
(read back by olevba); an installation without them refuses to build one.

The wheel is built from a clean copy of the sources (no stale `build/` tree can slip into it) and
installed with its dependencies into a fresh virtual environment, from pip's cache where it can.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_vba_conformance import assert_workbook_conforms

from conftest import vba_modules
from tokenbook.books.build import BUTTONS

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "tokenbook", "macros")
# Both tests run in one process of `make test` (pytest-xdist), so the wheel and its environment are made once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("package")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `bin` folder of a fresh virtual environment with the wheel of this tree installed."""
    root = tmp_path_factory.mktemp("package")
    tree = root / "src"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy2(source, tree / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(tree)], check=True)
    (wheel,) = (root / "dist").glob("tokenbook-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "tokenbook/macros/Tokenbook.bas" in archive.namelist()
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "-q", str(wheel)], check=True)
    return venv / "bin"


def _new_workbook(bin_dir: Path, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "tokenbook"), "new-workbook", str(target)], capture_output=True, text=True,
                          cwd=target.parent)


def _installed_macros(bin_dir: Path) -> Path:
    where = subprocess.run([str(bin_dir / "python"), "-c", "import tokenbook.books.vba as v; print(v.macro_folder())"],
                           capture_output=True, text=True, check=True, cwd=bin_dir).stdout.strip()
    return Path(where)


def test_the_installed_command_builds_a_workbook_with_every_buttons_macro(installed, tmp_path):
    folder = _installed_macros(installed)
    assert folder.is_relative_to(installed.parent) and folder.parts[-2:] == ("tokenbook", "macros")
    book = tmp_path / "tokenbook.xlsm"
    done = _new_workbook(installed, book)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "台帳ブックを作成しました" in done.stdout and "Warning" not in done.stderr
    modules = vba_modules(book)
    subs = set(re.findall(r"^Public Sub (\w+)\(\)", modules["Tokenbook.bas"], re.M))
    design = {"CheckInput", "WeeklyAllocate", "ConfirmShipment", "MakeMonthlyReports", "SendMonthlyReports"}  # §10
    assert subs == {macro for _, macro in BUTTONS} and design <= subs
    assert "xlwings.bas" in modules
    assert_workbook_conforms(book)  # the wheel-built project is the one the conformance test knows (issue 20)


def test_an_installation_without_its_macros_builds_no_workbook(installed, tmp_path):
    source = _installed_macros(installed) / "Tokenbook.bas"
    text = source.read_text(encoding="utf-8")
    book = tmp_path / "tokenbook.xlsm"
    try:
        source.write_text(re.sub(r"Public Sub SendMonthlyReports\(\).*?End Sub\n", "", text, flags=re.S),
                          encoding="utf-8")
        done = _new_workbook(installed, book)
        assert done.returncode == 1
        assert "ボタンのマクロ SendMonthlyReports が" in done.stdout and "インストールし直してください" in done.stdout
        assert not book.exists() and not list(tmp_path.glob(".*.tmp"))
        source.unlink()
        done = _new_workbook(installed, book)
        assert done.returncode == 1
        assert "ボタンのマクロのソース（macros/*.bas）が見つかりません" in done.stdout
        assert "Traceback" not in done.stdout + done.stderr and not book.exists()
    finally:
        source.write_text(text, encoding="utf-8")
