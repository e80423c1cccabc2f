"""`specadmin divisions DIR FILE`: load administrative divisions (code,name CSV), upserting by code."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from specadmin.runtime.plugin import Command


def add_arguments(p) -> None:
    p.add_argument("dir")
    p.add_argument("file", help="e.g. specs/system/data/divisions_sample.csv")


def run(args) -> int:
    """Load an administrative-division file (code,name CSV) idempotently: upsert by code."""
    from specadmin.runtime.identity.divisions import DivisionFileError, import_divisions

    try:
        report = asyncio.run(args.with_app(Path(args.dir), lambda ctx: import_divisions(ctx, Path(args.file))))
    except (DivisionFileError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"divisions: {report['rows']} rows, {report['added']} added, {report['updated']} updated")
    return 0


DIVISIONS = Command("divisions", "import administrative divisions (CSV with code,name; upsert by code)", add_arguments, run)
