"""Upload a file of keys (e.g. ID numbers) as a new batch with one item per row.

Reuses the import machinery: runtime/imports readers (.xlsx/.csv, header found by label or
field name), cell converters (full-width digits, 身份证号 checksum, the field's own rules),
the error workbook (row, column, value, reason) and BulkWriter (executemany on SQLite, COPY
on PostgreSQL). The batch row and its items commit in one transaction; under all_or_nothing
a file with any bad row writes nothing (not even the batch).
"""
from __future__ import annotations

import datetime as dt
import itertools
import secrets
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.specs.physical import blind_index_column

from specadmin.runtime.data import audit
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.imports.bulk import BulkWriter
from specadmin.runtime.imports.cells import converter
from specadmin.runtime.imports.readers import Limits, find_header, rows_of
from specadmin.runtime.imports.report import ErrorReport
from specadmin.runtime.bulk_query.engine import bulk_screen

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

MODES = ("all_or_nothing", "skip_bad_rows")
CHUNK = 5000


def new_batch_no(now: dt.datetime) -> str:
    return f"PC{now:%Y%m%d%H%M%S}{secrets.token_hex(2).upper()}"


async def upload(ctx: AppContext, principal: Principal, screen_name: str, path: Path, *, file_name: str,
                 mode: str = "all_or_nothing") -> dict[str, Any]:
    """Returns {status: done|failed, batch, total, ok, bad, error_file (path or None), message}."""
    screen, spec = bulk_screen(ctx, screen_name)
    batches = EntityService(ctx, screen.entity)
    batches.grants(principal, "import", screen.name)  # Denied unless the user may upload here
    if mode not in MODES:
        raise ValueError(f"未知的导入方式 {mode}")
    entity = ctx.app.entity(spec.items)
    fields = [entity.field(n) for n in spec.upload]
    convert = {f.name: converter(f, ctx.dict_labels.get(f.dict or "") if f.type == "dict" else None) for f in fields}
    names: dict[str, str] = {}
    for f in fields:
        names[f.name.lower()] = f.name
        names[f.label.replace(" ", "").lower()] = f.name
    folder = ctx.app_dir / "var" / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    report = ErrorReport(folder / f"bulk-{uuid.uuid4().hex}-errors.xlsx", entity)  # masks sensitive values
    good: list[dict[str, Any]] = []
    total = bad = 0
    try:
        rows = rows_of(path, Limits.of(ctx.app))
        _, mapping, buffered = find_header(rows, names)
        if spec.key not in mapping.values():
            raise ValueError(f"文件缺少必填列：{entity.field(spec.key).label}")
        for number, cells in itertools.chain(buffered, rows):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue  # empty rows are not data
            total += 1
            values, problems = {}, []
            for index, name in mapping.items():
                cell = cells[index] if index < len(cells) else None
                try:
                    values[name] = convert[name](cell)
                except ValueError as exc:
                    problems.append((name, cell, str(exc)))
            if values.get(spec.key) is None and not any(p[0] == spec.key for p in problems):
                problems.append((spec.key, None, "必填"))
            if problems:
                bad += 1
                for name, cell, reason in problems:
                    report.add(number, entity.field(name).label, cell, reason)
                continue
            good.append(values)
    finally:
        error_file = report.close()
    out = {"status": "done", "batch": None, "total": total, "ok": 0, "bad": bad, "error_file": error_file,
           "mode": mode, "message": None}
    if (bad and mode == "all_or_nothing") or not good:
        out.update(status="failed", message="文件中存在错误行，整个文件未写入" if bad else "文件中没有可查询的数据")
        # A refused file is still on record (who tried what), like a failed import batch.
        await audit.record(ctx, principal, "action", screen.entity, None, file_name, None,
                           {"upload": {k: v for k, v in out.items() if k != "error_file"}})
        return out
    out["batch"] = await _write(ctx, principal, screen.entity, spec, good, file_name)
    out["ok"] = len(good)
    await audit.record(ctx, principal, "create", screen.entity, out["batch"], file_name, None,
                       {"upload": {k: v for k, v in out.items() if k != "error_file"}})
    return out


async def _write(ctx: AppContext, principal: Principal, batch_entity: str, spec, good: list[dict],
                 file_name: str) -> int:
    now = dt.datetime.now().replace(microsecond=0)
    batch_values = {"batch_no": new_batch_no(now), "street": principal.org_id, "row_count": len(good),
                    "queried_count": 0, "status": "imported"}
    if ctx.app.entity(batch_entity).has_field("file_name"):
        batch_values["file_name"] = file_name[:255]
    batch_values.update(EntityService(ctx, batch_entity)._system_values(principal, True))
    entity = ctx.app.entity(spec.items)
    base = {f.name: f.default for f in entity.fields if f.default is not None and f.stored}
    base.update(EntityService(ctx, spec.items)._system_values(principal, True))
    for name in spec.inherit:
        base[name] = batch_values.get(name)
    cipher = ctx.sensitive.cipher
    sensitive = [n for n in spec.upload if entity.field(n).sensitive]
    writer = BulkWriter(ctx, spec.items)
    await writer.open()
    committed = False
    try:
        batch_id = await writer.insert_one(ctx.table(batch_entity), batch_values)
        base[spec.batch_field] = batch_id
        for start in range(0, len(good), CHUNK):
            chunk = good[start:start + CHUNK]
            for name in sensitive:  # one OpenSSL context per column per chunk
                present = [(i, str(v[name])) for i, v in enumerate(chunk) if v.get(name) is not None]
                tokens = cipher.encrypt_many(p for _, p in present)
                indexes = cipher.blind_index_many(p for _, p in present)
                for (i, _), token, index in zip(present, tokens, indexes):
                    chunk[i] = {**chunk[i], name: token, blind_index_column(name): index}
            await writer.insert_rows([tuple(v.get(c, base.get(c)) for c in writer.columns) for v in chunk])
        await writer.commit()
        committed = True
        return batch_id
    finally:
        await writer.close(rollback=not committed)
