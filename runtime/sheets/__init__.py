"""Spreadsheets: the one writer (csv and xlsx) of every export, report, template and error workbook."""
