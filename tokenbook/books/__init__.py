"""The workbooks tokenbook writes, above the domain stages: the ledger workbook and its macro project,
the write-back of a changed ledger, the メニュー panel, the report workbooks."""
