"""Run one import: read -> convert -> validate -> encrypt -> bulk write, chunk by chunk.

The batch row and the data rows commit in one transaction, so a crash (or SIGKILL) at any
point leaves neither. all_or_nothing keeps validating after the first bad row (the error
report lists every problem) but rolls everything back; skip_bad_rows commits the good rows;
upsert updates rows whose key already exists. Memory holds one chunk, the error report is
streamed to disk, and the in-file duplicate check keeps one 64-bit hash per row.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.generator import expr
from specadmin.generator.physical import blind_index_column

from .. import audit
from ..crud import EntityService
from ..errors import Conflict
from .bulk import BulkWriter, key_text
from .plan import Plan, allowed_values, make_plan
from .readers import find_header, rows_of, sha256_of
from .report import ErrorReport

if TYPE_CHECKING:
    from ..context import AppContext
    from ..principal import Principal

CHUNK = 5000


@dataclass
class Job:
    """One import, prepared on the app's loop, executable on any loop or thread."""
    ctx: AppContext
    principal: Principal
    plan: Plan
    path: Path
    file_name: str
    file_hash: str
    allowed: tuple[str, set] | None
    system_values: dict[str, Any]
    progress: Callable[[int, int], None] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    total: int = 0
    ok: int = 0
    bad: int = 0
    status: str = "running"
    batch_id: int | None = None
    error_file: str | None = None
    message: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"job": self.id, "batch": self.batch_id, "status": self.status, "total": self.total, "ok": self.ok,
                "bad": self.bad, "mode": self.plan.mode, "error_file": self.error_file, "message": self.message}


async def prepare(ctx: AppContext, principal: Principal, entity_name: str, path: Path, *,
                  screen: str | None = None, mode: str | None = None, force: bool = False,
                  file_name: str | None = None) -> Job:
    plan = make_plan(ctx, entity_name, screen, mode)
    service = EntityService(ctx, entity_name)
    grants = service.grants(principal, "import", plan.screen.name)
    file_hash = sha256_of(path)
    batch = ctx.table("import_batch")
    done = await batch.select(batch.id, batch.started_at).where(
        batch.file_hash == file_hash, batch.entity == entity_name, batch.status == "done")
    if done and not force:
        raise Conflict(f"该文件已于 {done[0]['started_at']:%Y-%m-%d %H:%M} 导入过（批次 {done[0]['id']}），"
                       "如确需重复导入请选择强制导入")
    allowed = await allowed_values(ctx, plan, principal, tuple(s for _, g in grants for s in g.scopes))
    return Job(ctx, principal, plan, path, file_name or path.name, file_hash, allowed,
               service._system_values(principal, True))


async def finish(job: Job) -> None:
    """The operation-log entry, on the app's loop after the data committed."""
    await audit.record(job.ctx, job.principal, "action", job.plan.entity.name, job.batch_id, job.file_name,
                       None, {"import": job.summary()})


class _Run:
    def __init__(self, job: Job):
        self.job, self.plan = job, job.plan
        self.writer = BulkWriter(job.ctx, self.plan.entity.name)
        reports = job.ctx.app_dir / "var" / "imports"
        reports.mkdir(parents=True, exist_ok=True)
        self.report = ErrorReport(reports / f"{job.id}-errors.xlsx")
        self.seen: set[int] = set()
        self.mapped: list[str] = []
        self.cipher = job.ctx.sensitive.cipher
        self.sensitive = [n for n in self.plan.columns if self.plan.entity.field(n).sensitive]
        self.checks = [(expr.parse(c.expr), c.message) for c in self.plan.entity.checks]
        self.required = [f.name for f in self.plan.entity.fields
                         if f.required and f.stored and not f.system and f.name not in self.plan.defaults]

    def convert(self, number: int, cells: list[Any], mapping: dict[int, str]) -> dict[str, Any] | None:
        plan, values, errors = self.plan, dict(self.plan.defaults), []
        for index, name in mapping.items():
            cell = cells[index] if index < len(cells) else None
            try:
                value = plan.converters[name](cell)
            except ValueError as exc:
                errors.append((name, cell, str(exc)))
                continue
            if value is not None:
                values[name] = value
        for name in self.required:
            if values.get(name) is None and not any(e[0] == name for e in errors):
                errors.append((name, None, "必填"))
        if not errors and self.checks:
            for parsed, message in self.checks:
                if not parsed.holds(values):
                    errors.append((next(iter(parsed.fields & set(plan.columns)), plan.columns[0]), None, message))
        if not errors and self.job.allowed is not None:
            name, permitted = self.job.allowed
            if str(values.get(name)) not in permitted:
                errors.append((name, values.get(name), "超出您的数据权限范围"))
        key = plan.key_of(values)
        if not errors and key is not None:
            digest = hash(key)  # one machine word per row; a false match needs a 64-bit collision
            if digest in self.seen:
                errors.append((plan.spec.key[0], values.get(plan.spec.key[0]), "与文件中前面的行重复"))
            else:
                self.seen.add(digest)
        if errors:
            self.reject(number, errors)
            return None
        return values

    def reject(self, number: int, errors: list[tuple[str, Any, str]]) -> None:
        self.job.bad += 1
        for name, value, reason in errors:
            self.report.add(number, self.plan.headers.get(name, name), value, reason)

    async def flush(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        if not chunk:
            return
        plan, job = self.plan, self.job
        for name in self.sensitive:  # one OpenSSL context per column per chunk
            present = [(i, str(v[name])) for i, (_, v) in enumerate(chunk) if v.get(name) is not None]
            tokens = self.cipher.encrypt_many(p for _, p in present)
            indexes = self.cipher.blind_index_many(p for _, p in present)
            for (i, _), token, index in zip(present, tokens, indexes):
                values = chunk[i][1]
                values[blind_index_column(name)] = index
                values["__plain_" + name] = values[name]
                values[name] = token
        updates = []
        if plan.spec.key:
            existing = await self.existing_keys(chunk)
            kept = [] if existing else chunk
            for number, values in (chunk if existing else ()):
                row_id = existing.get(self.stored_key(values))
                if row_id is None:
                    kept.append((number, values))
                elif plan.mode == "upsert":
                    updates.append((row_id, values))
                else:
                    name = plan.spec.key[0]
                    self.reject(number, [(name, values.get("__plain_" + name, values.get(name)), "与已有数据重复")])
            chunk = kept
        if job.bad and plan.mode == "all_or_nothing":
            return  # the batch will be rolled back: only keep validating
        names = self.writer.columns
        base = {**job.system_values}
        defaults = [(n, base.get(n)) for n in names]
        await self.writer.insert_rows([tuple([v.get(n, d) for n, d in defaults]) for _, v in chunk])
        if updates:
            # Only what the file carries (and updated_at) changes; who first imported the row stays.
            cols = [n for n in self.mapped] + [blind_index_column(n) for n in self.mapped if n in self.sensitive]
            extra = {"updated_at": base["updated_at"]} if "updated_at" in base else {}
            await self.writer.update_rows([(row_id, {n: v.get(n) for n in cols} | extra) for row_id, v in updates])
        job.ok += len(chunk) + len(updates)

    def stored_key(self, values: dict[str, Any]) -> tuple:
        return tuple(key_text(values.get(self.plan.key_column(k))) for k in self.plan.spec.key)

    async def existing_keys(self, chunk) -> dict[tuple, int]:
        table, plan = self.writer.table, self.plan
        first = plan.key_column(plan.spec.key[0])
        probe = list({v.get(first) for _, v in chunk if v.get(first) is not None})
        if not probe:
            return {}
        cols = [plan.key_column(k) for k in plan.spec.key]
        query = table.select(table._meta.primary_key, *[getattr(table, c) for c in cols]).where(
            getattr(table, first).is_in(probe))
        return {tuple(key_text(x) for x in row[1:]): row[0] for row in await self.writer.fetch(query)}


async def execute(job: Job) -> Job:
    """Only the private connection is used here, so this may run on a worker thread's loop."""
    run = _Run(job)
    batch = job.ctx.table("import_batch")
    writer = run.writer
    committed = False
    await writer.open()
    try:
        job.batch_id = await writer.insert_one(batch, dict(
            file_name=job.file_name[:255], file_hash=job.file_hash, entity=job.plan.entity.name,
            screen=job.plan.screen.name, mode=job.plan.mode, importer=job.principal.user_id,
            started_at=dt.datetime.now().replace(microsecond=0), total=0, ok_count=0, bad_count=0, status="running"))
        rows = rows_of(job.path)
        _, mapping, buffered = find_header(rows, job.plan.names)
        run.mapped = list(dict.fromkeys(mapping.values()))
        missing = [job.plan.headers[n] for n in run.required if n not in mapping.values()]
        if missing:
            raise ValueError(f"文件缺少必填列：{'、'.join(missing)}")
        chunk: list[tuple[int, dict]] = []

        def body():
            yield from buffered
            yield from rows

        for number, cells in body():
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue  # empty rows are not data
            job.total += 1
            values = run.convert(number, cells, mapping)
            if values is not None:
                chunk.append((number, values))
            if len(chunk) >= CHUNK:
                await run.flush(chunk)
                chunk = []
                if job.progress:
                    job.progress(job.total, job.bad)
        await run.flush(chunk)
        job.error_file = run.report.close()
        failed = job.bad > 0 and job.plan.mode == "all_or_nothing"
        # The status a poller sees changes only after the commit or rollback happened.
        if failed:
            job.ok = 0
            await writer.close(rollback=True)
            await _record_failed(job)
            job.status = "failed"
        else:
            await writer.update_one(batch, job.batch_id, {"total": job.total, "ok_count": job.ok, "bad_count": job.bad,
                                                          "status": "done", "error_file": job.error_file})
            await writer.commit()
            committed = True
            job.status = "done"
        if job.progress:
            job.progress(job.total, job.bad)
        return job
    except BaseException as exc:
        job.status = "error"
        job.message = str(exc) if isinstance(exc, (ValueError, Conflict)) else f"导入出错：{type(exc).__name__}"
        raise
    finally:
        if not committed:
            await writer.close(rollback=True)
        else:
            await writer.close()
        run.report.close()


async def _record_failed(job: Job) -> None:
    """A refused file still leaves a batch row (status failed) so the attempt is on record."""
    writer = BulkWriter(job.ctx, "import_batch")
    await writer.open()
    try:
        job.batch_id = await writer.insert_one(job.ctx.table("import_batch"), dict(
            file_name=job.file_name[:255], file_hash=job.file_hash, entity=job.plan.entity.name,
            screen=job.plan.screen.name, mode=job.plan.mode, importer=job.principal.user_id,
            started_at=dt.datetime.now().replace(microsecond=0), total=job.total, ok_count=0, bad_count=job.bad,
            status="failed", error_file=job.error_file))
        await writer.commit()
    finally:
        await writer.close()
