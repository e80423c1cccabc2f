"""Upload a file of keys (e.g. ID numbers) as a new batch with one item per row.

Reuses the import machinery: runtime/imports readers (.xlsx/.csv, header found by label or
field name), cell converters (full-width digits, 身份证号 checksum, the field's own rules),
the error workbook (each rejected row's cells under the upload columns, with its reasons; masked
unless the uploader holds `unmask` on the items screen) and BulkWriter (executemany on SQLite, COPY
on PostgreSQL). The batch row and its items commit together; under all_or_nothing a file with
any bad row writes nothing (not even the batch).

The file is read, checked, encrypted and written 5,000 rows at a time on a worker thread with
its own event loop and connection (like an import): memory holds one chunk whatever the file's
size, and the app's event loop keeps answering other requests meanwhile.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.specs.physical import blind_index_column

from specadmin.runtime.data import audit
from specadmin.runtime.data.private_files import private_dir
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.imports.bulk import BulkWriter
from specadmin.runtime.imports.cells import converter
from specadmin.runtime.imports.readers import Limits, find_header, rows_of
from specadmin.runtime.imports.report import ErrorReport
from specadmin.runtime.bulk_query.engine import bulk_screen
from specadmin.runtime.security.unmask import may_unmask

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

MODES = ("all_or_nothing", "skip_bad_rows")
CHUNK = 5000
Progress = Callable[[int, int, int], None]  # total, ok, bad so far (called on the worker thread)


def new_batch_no(now: dt.datetime) -> str:
    return f"PC{now:%Y%m%d%H%M%S}{secrets.token_hex(2).upper()}"


async def upload(ctx: AppContext, principal: Principal, screen_name: str, path: Path, *, file_name: str,
                 mode: str = "all_or_nothing", progress: Progress | None = None) -> dict[str, Any]:
    """Returns {status: done|failed, batch, total, ok, bad, error_file (path or None), message}."""
    screen, spec = bulk_screen(ctx, screen_name)
    batches = EntityService(ctx, screen.entity)
    batches.grants(principal, "import", screen.name)  # Denied unless the user may upload here
    if mode not in MODES:
        raise ValueError(f"未知的导入方式 {mode}")
    work = _Upload(ctx, principal, screen.entity, spec, path, file_name, mode, progress)
    out = await asyncio.to_thread(lambda: asyncio.run(work.run()))
    if out["status"] == "failed":
        # A refused file is still on record (who tried what), like a failed import batch.
        await audit.record(ctx, principal, "action", screen.entity, None, file_name, None,
                           {"upload": {k: v for k, v in out.items() if k not in ("error_file", "problems")}})
    else:
        await audit.record(ctx, principal, "create", screen.entity, out["batch"], file_name, None,
                           {"upload": {k: v for k, v in out.items() if k not in ("error_file", "problems")}})
    return out


async def _write(ctx: AppContext, principal: Principal, batch_entity: str, spec, good: list[dict],
                 file_name: str) -> int:
    """Write checked rows as one batch on the calling loop (the Xicheng demo data loads its batches so)."""
    return await _Upload(ctx, principal, batch_entity, spec, Path(file_name), file_name, "all_or_nothing",
                         None).write(list(good))


class _Upload:
    """One upload, prepared on the app's loop (system values, converters), run on a worker thread."""

    def __init__(self, ctx: AppContext, principal: Principal, batch_entity: str, spec, path: Path, file_name: str,
                 mode: str, progress: Progress | None):
        self.ctx, self.spec, self.path, self.mode, self.progress = ctx, spec, path, mode, progress
        self.entity = entity = ctx.app.entity(spec.items)
        fields = [entity.field(n) for n in spec.upload]
        self.convert = {f.name: converter(f, ctx.dict_labels.get(f.dict or "") if f.type == "dict" else None)
                        for f in fields}
        self.names: dict[str, str] = {}
        for f in fields:
            self.names[f.name.lower()] = f.name
            self.names[f.label.replace(" ", "").lower()] = f.name
        now = dt.datetime.now().replace(microsecond=0)
        self.batch_table = ctx.table(batch_entity)
        self.batch_values = {"batch_no": new_batch_no(now), "street": principal.org_id, "row_count": 0,
                             "queried_count": 0, "status": "imported"}
        if ctx.app.entity(batch_entity).has_field("file_name"):
            self.batch_values["file_name"] = file_name[:255]
        self.batch_values.update(EntityService(ctx, batch_entity)._system_values(principal, True))
        self.base = {f.name: f.default for f in entity.fields if f.default is not None and f.stored}
        self.base.update(EntityService(ctx, spec.items)._system_values(principal, True))
        for name in spec.inherit:
            self.base[name] = self.batch_values.get(name)
        self.sensitive = [n for n in spec.upload if entity.field(n).sensitive]
        self.clear = bool(spec.items_screen) and may_unmask(principal, spec.items_screen)

    async def run(self) -> dict[str, Any]:
        spec, entity = self.spec, self.entity
        folder = private_dir(self.ctx.app_dir / "var" / "imports")
        self.report = ErrorReport(folder / f"bulk-{uuid.uuid4().hex}-errors.xlsx", entity, spec.upload,
                                  clear=self.clear)
        writer = BulkWriter(self.ctx, spec.items)
        await writer.open(head=(self.batch_table, self.batch_values))
        self.base[spec.batch_field] = writer.head_id  # None on SQLite until publish fills it in
        total = bad = ok = 0
        committed = False
        try:
            rows = rows_of(self.path, Limits.of(self.ctx.app))
            _, mapping, buffered = find_header(rows, self.names)
            if spec.key not in mapping.values():
                raise ValueError(f"文件缺少必填列：{entity.field(spec.key).label}")
            positions = {name: index for index, name in mapping.items()}
            numbered = itertools.chain(buffered, rows)
            while chunk := list(itertools.islice(numbered, CHUNK)):
                good = []
                for number, cells in chunk:
                    if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                        continue  # empty rows are not data
                    total += 1
                    values, problems = self.check(mapping, cells)
                    if problems:
                        bad += 1
                        original = [cells[positions[n]] if n in positions and positions[n] < len(cells) else None
                                    for n in spec.upload]
                        self.report.add(number, original, [(name, reason) for name, _, reason in problems])
                    else:
                        good.append(values)
                ok += len(good)
                if not (bad and self.mode == "all_or_nothing"):  # else only keep checking: nothing is kept
                    await writer.insert_rows(self.rows(writer.columns, good))
                    await writer.flush()
                if self.progress:
                    self.progress(total, ok, bad)
            error_file = self.report.close()
            out = {"status": "done", "batch": None, "total": total, "ok": 0, "bad": bad, "error_file": error_file,
                   "mode": self.mode, "message": None, "problems": self.report.first}
            if (bad and self.mode == "all_or_nothing") or not ok:
                out.update(status="failed", message="文件中存在错误行，整个文件未写入" if bad else "文件中没有可查询的数据")
                return out
            out["batch"] = await writer.publish({"row_count": ok}, fill=spec.batch_field)
            committed = True
            out["ok"] = ok
            return out
        finally:
            await writer.close(rollback=not committed)
            self.report.close()

    async def write(self, good: list[dict[str, Any]]) -> int:
        """Write rows already checked as one batch; returns the batch id."""
        writer = BulkWriter(self.ctx, self.spec.items)
        await writer.open(head=(self.batch_table, self.batch_values))
        self.base[self.spec.batch_field] = writer.head_id
        committed = False
        try:
            for start in range(0, len(good), CHUNK):
                await writer.insert_rows(self.rows(writer.columns, good[start:start + CHUNK]))
            batch_id = await writer.publish({"row_count": len(good)}, fill=self.spec.batch_field)
            committed = True
            return batch_id
        finally:
            await writer.close(rollback=not committed)

    def check(self, mapping: dict[int, str], cells: list[Any]) -> tuple[dict[str, Any], list]:
        values, problems = {}, []
        for index, name in mapping.items():
            cell = cells[index] if index < len(cells) else None
            try:
                values[name] = self.convert[name](cell)
            except ValueError as exc:
                problems.append((name, cell, str(exc)))
        key = self.spec.key
        if values.get(key) is None and not any(p[0] == key for p in problems):
            problems.append((key, None, "必填"))
        return values, problems

    def rows(self, columns: list[str], chunk: list[dict[str, Any]]) -> list[tuple]:
        """Insert-ready tuples: sensitive values encrypted and indexed (one OpenSSL context per column)."""
        cipher = self.ctx.sensitive.cipher
        for name in self.sensitive:
            present = [(i, str(v[name])) for i, v in enumerate(chunk) if v.get(name) is not None]
            tokens = cipher.encrypt_many(p for _, p in present)
            indexes = cipher.blind_index_many(p for _, p in present)
            for (i, _), token, index in zip(present, tokens, indexes):
                chunk[i] = {**chunk[i], name: token, blind_index_column(name): index}
        return [tuple(v.get(c, self.base.get(c)) for c in columns) for v in chunk]
