"""One run of a pull: read the new rows, then import them like a file, as one batch.

The rows read are written to a private CSV under `var/pulls/` (field names as headers) and go
through the import engine (runtime/imports): the same conversion, field rules, encryption of
sensitive fields, business-key references and all-in-one-transaction write as a spreadsheet.
Values are stored as the source has them ("same source": no cleaning beyond typing them). The
batch row (`import_batch`, source = the pull) carries the newest watermark read and commits with
the rows, so a crash leaves neither and the next run starts where the last committed one ended:
re-running imports nothing twice. With a `key`, rows already stored under their key are updated
(a source row that changed); without one, rows are only added. A row the entity's rules refuse is
skipped and listed in the batch's error workbook.
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.specs.model import ImportSpec

from specadmin.runtime.data.private_files import open_private, private_dir
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.imports.engine import Job, execute, finish
from specadmin.runtime.imports.plan import plan_for
from specadmin.runtime.pulls import source
from specadmin.runtime.pulls.spec import Pull, databases, pulls

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


async def last_watermark(ctx: "AppContext", pull: Pull) -> Any:
    batch = ctx.table("import_batch")
    rows = await batch.select(batch.watermark).where(
        batch.source == pull.name, batch.status == "done", batch.watermark.is_not_null()
    ).order_by(batch.id, ascending=False).limit(1)
    return source.decode(rows[0]["watermark"]) if rows else None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return str(value)


def _write_csv(path: Path, pull: Pull, rows: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    with open_private(path, "w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([field for field, _ in pull.fields])
        for row in rows:
            cells = [_cell(row.get(column)) for _, column in pull.fields]
            out.writerow(cells)
            digest.update("\x1f".join(cells).encode())
    return digest.hexdigest()


async def run_pull(ctx: "AppContext", name: str) -> dict[str, Any]:
    """Pull once; the summary a job run records."""
    pull = pulls(ctx.app)[name]
    db = databases(ctx.app)[pull.database]
    url = db.url
    if not url:
        return {"created": 0, "pull": name, "message": f"{db.label}未配置（{db.url_template}），未拉取"}
    after = await last_watermark(ctx, pull)
    rows = await source.read(pull, url, ctx.app_dir, after)
    if not rows:
        return {"created": 0, "pull": name, "read": 0, "watermark": source.encode(after) if after is not None else None}
    from specadmin.runtime.identity.sessions import cli_principal

    principal = await cli_principal(ctx, pull.user)
    if principal is None:
        raise RuntimeError(f"拉取“{pull.label}”：没有用户 {pull.user or '（超级管理员）'}")
    entity = ctx.app.entity(pull.entity)
    screen = next((s for s in ctx.app.screens if s.name in pull.owns), None) or ctx.app.screens_of(entity.name)[0]
    spec = ImportSpec(columns=tuple(f for f, _ in pull.fields), key=pull.key, mode=pull.mode, modes=(pull.mode,))
    plan = plan_for(ctx, screen, spec, pull.mode)
    folder = private_dir(ctx.app_dir / "var" / "pulls")
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S%f")
    path = folder / f"{pull.name}-{stamp}.csv"
    try:
        digest = await asyncio.to_thread(_write_csv, path, pull, rows)
        newest = source.encode(rows[-1][pull.watermark])
        job = Job(ctx, principal, plan, path, f"{pull.label} {newest[2:][:19]}", digest, None,
                  EntityService(ctx, entity.name)._system_values(principal, True), None,
                  source=pull.name, watermark=newest)
        await execute(job)
    finally:
        path.unlink(missing_ok=True)
    await finish(job)
    return {"created": job.ok, "pull": name, "read": len(rows), "bad": job.bad, "batch": job.batch_id,
            "status": job.status, "watermark": newest, "more": len(rows) >= pull.max_rows,
            **({"message": job.message} if job.message else {})}
