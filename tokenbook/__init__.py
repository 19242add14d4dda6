"""tokenbook: hardware-token management for shinkin banks, behind an Excel workbook.

The pipeline: sheetio (read) -> parse (models) -> validate -> [allocate / confirm / report] -> build (write).
"""

__version__ = "0.1.0"
