"""tokenbook's macro project: the button macros in macros/*.bas plus xlwings' standalone module and
its `Dictionary` class (the pair `xlwings release` imports, and the standalone quickstart ships),
taken from the installed (exactly pinned) xlwings so they always match; built by `ovba`.

The macro sources live at the top of the repository (`macros/`); a wheel carries them as
`tokenbook/macros/` (copied there by setup.py's build step). A workbook is never built without them."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from functools import cache
from pathlib import Path
from typing import Iterable

from ..files import ovba

_PACKAGE = Path(__file__).resolve().parents[1]
_VERSION = re.compile(r'XLWINGS_VERSION\s+As\s+String\s*=\s*"([^"]+)"')
_SUB = re.compile(r"^\s*(?:Public\s+|Private\s+)?Sub\s+(\w+)\s*\(", re.IGNORECASE | re.MULTILINE)


class MacrosMissing(Exception):
    """The button macros' sources are not installed (a broken installation); the message is Japanese."""


def macro_folder() -> Path:
    """The folder holding the macro sources: inside the installed package, else (a source checkout
    or an editable install) the repository's top-level `macros/`."""
    candidates = [_PACKAGE / "macros"]
    if (_PACKAGE.parent / "pyproject.toml").exists():
        candidates.append(_PACKAGE.parent / "macros")
    for folder in candidates:
        if any(folder.glob("*.bas")):
            return folder
    raise MacrosMissing("ボタンのマクロのソース（macros/*.bas）が見つかりません。tokenbook のインストールが不完全です。"
                        f"インストールし直してください（探した場所: {', '.join(str(c) for c in candidates)}）")


def require_macros(names: Iterable[str]) -> None:
    """Every named Sub is defined in the macro sources, or MacrosMissing names those that are not."""
    folder = macro_folder()
    defined = {m[1].lower() for path in folder.glob("*.bas")
               for m in _SUB.finditer(path.read_text(encoding="utf-8"))}
    missing = [name for name in names if name.lower() not in defined]
    if missing:
        raise MacrosMissing(f"ボタンのマクロ {'・'.join(missing)} が {folder} のソースにありません。"
                            "tokenbook のインストールが不完全です。インストールし直してください")


def _xlwings_file(relative: str) -> str:
    spec = importlib.util.find_spec("xlwings")
    if spec is None or not spec.submodule_search_locations:
        raise MacrosMissing("xlwings がインストールされていません（tokenbook の依存パッケージです）。tokenbook をインストールし直してください")
    source = Path(spec.submodule_search_locations[0]) / relative
    if not source.exists():
        raise MacrosMissing(f"xlwings の VBA モジュールがありません: {source}。xlwings をインストールし直してください")
    return source.read_text(encoding="utf-8")


def xlwings_module() -> str:
    """The source of the standalone VBA module shipped inside the installed xlwings package."""
    return _xlwings_file("xlwings.bas")


def xlwings_dictionary() -> str:
    """The `Dictionary` class xlwings' module declares on a Mac (`Dim d As Dictionary`), as exported."""
    return _xlwings_file("addin/Dictionary.cls")


def installed_xlwings() -> str:
    return importlib.metadata.version("xlwings")


def embedded_version(source: str) -> str | None:
    """The xlwings version a module's source declares.

    >>> embedded_version('Public Const XLWINGS_VERSION As String = "0.37.8"')
    '0.37.8'
    """
    match = _VERSION.search(source)
    return match[1] if match else None


def modules(sheet_count: int) -> list[ovba.Module]:
    """ThisWorkbook and one document module per sheet (their code names), then the code modules."""
    result = [ovba.Module("ThisWorkbook", "", document=True, base=ovba.WORKBOOK_BASE)]
    result += [ovba.Module(f"Sheet{i}", "", document=True) for i in range(1, sheet_count + 1)]
    folder = macro_folder()
    for path in sorted(folder.glob("*.bas")):
        result.append(ovba.Module(path.stem, path.read_text(encoding="utf-8")))
    for path in sorted(folder.glob("*.cls")):
        result.append(ovba.Module(path.stem, path.read_text(encoding="utf-8"), klass=True))
    result.append(ovba.Module("xlwings", xlwings_module()))
    result.append(ovba.Module("Dictionary", xlwings_dictionary(), klass=True))
    return result


@cache
def project_bytes(sheet_count: int) -> bytes:
    return ovba.compound_file(ovba.project_streams(modules(sheet_count)))


def read_modules(path: Path) -> dict[str, str]:
    """Module name -> source of the VBA project inside a workbook (or a bare vbaProject.bin)."""
    import zipfile

    import olefile

    data = Path(path).read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(path) as archive:
            data = archive.read("xl/vbaProject.bin")
    ole = olefile.OleFileIO(data)
    try:
        result = {}
        for entry in ole.listdir():
            if len(entry) == 2 and entry[0] == "VBA" and entry[1] not in ("dir", "_VBA_PROJECT") \
                    and not entry[1].startswith("__SRP_"):
                raw = ovba.decompress(ole.openstream(entry).read())
                result[entry[1]] = raw.decode(ovba._ENCODING, errors="replace")
        return result
    finally:
        ole.close()
