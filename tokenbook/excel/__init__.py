"""The Excel front end: what the workbook's buttons do (`buttons`, against a `Book` port) and the thin
xlwings adapter (`adapter`, the only module that imports xlwings). The VBA Subs call `button` here."""


def button(name: str) -> None:
    """What every button's `RunPython` calls (see `adapter.button`); xlwings is imported only then."""
    from .adapter import button as run

    run(name)
