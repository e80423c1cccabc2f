"""Spreadsheet import (issue 4): template, streaming read, coercion, validation, bulk write.

prepare() checks grants, the screen's import switch, the file hash and the importer's scope
on the app's loop; execute() streams the file through a private connection in one
transaction; jobs.start() runs large files in the background and keeps their progress.
"""
