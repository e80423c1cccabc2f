"""Error workbooks and background exports are deleted after app.yaml `files.retention_days` (default 7).

They hold ID numbers and phones (masked in error workbooks, as the grant allows in exports) and
are meant to be downloaded soon after they are written, so they are not kept: the files directly
in `var/imports/` and `var/exports/` whose last change is older than the retention are removed
when the app starts and once a day while it runs (every worker process does it; removing a
file twice is harmless). Uploads in `var/imports/uploads/` belong to their import job.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("specadmin")

RETENTION_DAYS = 7
FOLDERS = ("imports", "exports")
DAY = 86400


def retention_days(app: Any) -> int:
    return int((getattr(app, "files", None) or {}).get("retention_days", RETENTION_DAYS))


def purge(app_dir: Path, days: int, now: float | None = None) -> list[Path]:
    """Remove the report and export files older than `days`; returns what was removed."""
    cutoff = (time.time() if now is None else now) - days * DAY
    removed = []
    for name in FOLDERS:
        folder = Path(app_dir) / "var" / name
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    Path(entry.path).unlink(missing_ok=True)
                    removed.append(Path(entry.path))
    if removed:
        log.info("removed %d error workbook(s) and export(s) older than %d days", len(removed), days)
    return removed


@asynccontextmanager
async def lifespan(ctx, options):
    """Plugin lifespan: purge at start-up, then every day until the app stops."""
    days = retention_days(ctx.app)
    await asyncio.to_thread(purge, ctx.app_dir, days)

    async def daily() -> None:
        while True:
            await asyncio.sleep(DAY)
            try:
                await asyncio.to_thread(purge, ctx.app_dir, days)
            except OSError as exc:  # a file system hiccup must not end the loop
                log.warning("purging old error workbooks and exports failed: %s", exc)

    task = asyncio.get_running_loop().create_task(daily())
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
