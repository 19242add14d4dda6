"""One build step pyproject.toml cannot express: ship the button macros inside the package.

The VBA sources live at the top of the repository (`macros/`, the given layout), outside the
`tokenbook` package. A wheel must still carry them, because `new-workbook` builds the macro project
from them: `build_py` copies `macros/*.bas` and `*.cls` to `tokenbook/macros/` in the build tree,
so an installed tokenbook finds them beside its modules (`tokenbook.books.vba.macro_folder`).
An editable install needs no copy: it imports from the repository, where `macros/` is.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCES = Path(__file__).resolve().parent / "macros"


class build_py_with_macros(build_py):  # noqa: N801  (setuptools' command naming)
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib, "tokenbook", "macros")
        target.mkdir(parents=True, exist_ok=True)
        found = sorted([*SOURCES.glob("*.bas"), *SOURCES.glob("*.cls")])
        if not found:
            raise SystemExit(f"no VBA sources in {SOURCES}: a wheel without them builds workbooks without macros")
        for source in found:
            self.copy_file(str(source), str(target / source.name))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        copied = [str(Path(self.build_lib, "tokenbook", "macros", p.name))
                  for p in sorted([*SOURCES.glob("*.bas"), *SOURCES.glob("*.cls")])]
        return [*super().get_outputs(include_bytecode), *copied]


setup(cmdclass={"build_py": build_py_with_macros})
