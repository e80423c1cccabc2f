"""Meaning checks of file fields and file parameters (attachments, runtime/attachments), codes SA160–SA164.

SA160: `accept`, `max_mb` or `max_files` on a field that is not `type: file` (`multi` elsewhere:
generator/multi_checks.py); SA161: an `accept` extension specadmin cannot recognise by content;
SA162: `max_files` without `multi: true`, or `max_mb` beyond the app's upload limit;
SA163: a key a file field cannot have (`required`, `unique`, `index`, `sensitive` other than true);
SA164: a custom action's file parameter that no `set` attaches to a file field, or on a batch action.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from specadmin.specs.attachments import TYPES

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

FILE_ONLY = ("accept", "max_mb", "max_files")
NOT_ON_FILES = ("required", "unique", "index")  # a default: SA072


def check_file_field(ck: "Checker", loc: "Located", name: str, f: dict, max_upload_mb: float) -> None:
    at = ("fields", name)
    if f["type"] != "file":
        for key in FILE_ONLY:
            if key in f:
                ck.err(loc, at + (key,), "SA160", f"field '{name}': {key} is for file fields only (type: file)")
        return
    for i, ext in enumerate(f.get("accept") or ()):
        if str(ext).lower().lstrip(".") not in TYPES:
            ck.err(loc, at + ("accept", i), "SA161",
                   f"field '{name}': accept '{ext}' is not a file type specadmin recognises by content "
                   f"(expected some of {', '.join(TYPES)})")
    if "max_files" in f and not f.get("multi"):
        ck.err(loc, at + ("max_files",), "SA162", f"field '{name}': max_files needs multi: true (one file otherwise)")
    if "max_mb" in f and f["max_mb"] > max_upload_mb:
        ck.err(loc, at + ("max_mb",), "SA162",
               f"field '{name}': max_mb {f['max_mb']} is beyond the app's upload limit security.max_upload_mb {max_upload_mb}")
    for key in NOT_ON_FILES:
        if f.get(key) not in (None, False):
            ck.err(loc, at + (key,), "SA163", f"field '{name}': a file field cannot be {key} (files are uploaded after the row exists)")


def check_file_params(ck: "Checker", loc: "Located", action: str, raw: dict, fields: dict) -> None:
    """SA160/SA161 on a custom action's parameters as on fields; SA164: a file parameter that no `set`
    attaches to a file field of the row, a file parameter of a batch action, or a file field that
    `set` fills with anything but a file parameter."""
    params = raw.get("params") or {}
    sets = raw.get("set") or {}
    for name, p in params.items():
        at = ("custom_actions", action, "params", name)
        what = f"action '{action}' param '{name}'"
        if p.get("type") != "file":
            for key in FILE_ONLY:
                if key in p:
                    ck.err(loc, at + (key,), "SA160", f"{what}: {key} is for file parameters only (type: file)")
            continue
        for i, ext in enumerate(p.get("accept") or ()):
            if str(ext).lower().lstrip(".") not in TYPES:
                ck.err(loc, at + ("accept", i), "SA161", f"{what}: accept '{ext}' is not a file type specadmin "
                                                         f"recognises by content")
        if raw.get("batch"):
            ck.err(loc, at, "SA164", f"{what}: a batch action cannot take files (they attach to one row)")
        targets = [f for f, v in sets.items() if v == f"$params.{name}"]
        if not targets:
            ck.err(loc, at, "SA164", f"{what}: a file parameter must be attached by set: {{<file field>: $params.{name}}}")
    for field_name, value in sets.items():
        f = fields.get(field_name) or {}
        if f.get("type") == "file" and not (isinstance(value, str) and value.startswith("$params.")
                                            and (params.get(value.removeprefix("$params.")) or {}).get("type") == "file"):
            ck.err(loc, ("custom_actions", action, "set", field_name), "SA164",
                   f"action '{action}' sets file field '{field_name}': only a file parameter ($params.<name>) can fill it")
