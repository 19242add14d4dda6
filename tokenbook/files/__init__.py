"""File formats, below the domain: reading a workbook's sheets, patching cells into an .xlsm package,
writing a VBA project. They know sheet names and headers (`schema`), nothing of tokens or banks."""
