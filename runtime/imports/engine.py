"""Run one import: read -> convert -> validate -> encrypt -> bulk write, chunk by chunk.

The batch row and the data rows commit in one transaction, so a crash (or SIGKILL) at any
point leaves neither. all_or_nothing keeps validating after the first bad row (the error
report lists every problem) but rolls everything back; skip_bad_rows commits the good rows;
upsert updates rows whose key already exists. Memory holds one chunk, the error report is
streamed to disk, and the in-file duplicate check keeps one 64-bit hash per row (in the database
beyond a bound: runtime/imports/seen.py).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.specs.physical import blind_index_column

from specadmin.runtime.data import audit, transfer_jobs, unique
from specadmin.runtime.data.db import is_busy
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.errors import Conflict
from specadmin.runtime.feeds.outbox import import_deliveries
from specadmin.runtime.imports import parallel
from specadmin.runtime.imports.bulk import BulkWriter, key_text
from specadmin.runtime.imports.plan import Plan, allowed_values, make_plan
from specadmin.runtime.imports.probe import KeyProbe
from specadmin.runtime.imports.refs import RefKeys
from specadmin.runtime.imports.readers import Limits, check_file, find_header, rows_of, sha256_of
from specadmin.runtime.imports.report import ErrorReport
from specadmin.runtime.imports.rows import Chunk, RowWork
from specadmin.runtime.imports.seen import SeenKeys
from specadmin.runtime.imports.uniques import UniqueGuard, row_errors
from specadmin.runtime.security.scope import scopes_condition
from specadmin.runtime.security.unmask import may_unmask

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal
    from specadmin.specs.model import Scope

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
    scopes: tuple[Scope, ...] | None = None  # the import grants' scopes; None: unrestricted (superuser)
    progress: Callable[[int, int], None] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    total: int = 0
    ok: int = 0
    bad: int = 0
    status: str = "running"
    batch_id: int | None = None
    error_file: str | None = None
    message: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)  # the first bad rows: row, column, reason
    source: str | None = None  # a pull's name (runtime/pulls) when the rows come from an external database
    watermark: str | None = None  # the pull's newest watermark, committed with the rows

    def summary(self) -> dict[str, Any]:
        return {"job": self.id, "batch": self.batch_id, "status": self.status, "total": self.total, "ok": self.ok,
                "bad": self.bad, "mode": self.plan.mode, "error_file": self.error_file, "message": self.message}

    def outcome(self) -> dict[str, Any]:
        """The job's state as its transfer_job row holds it (runtime/data/transfer_jobs.py)."""
        return {"status": self.status, "total": self.total, "ok_count": self.ok, "bad_count": self.bad,
                "batch": self.batch_id, "message": (self.message or "")[:500] or None, "result_file": self.error_file,
                "problems": transfer_jobs.dump_problems(self.problems)}


async def prepare(ctx: AppContext, principal: Principal, entity_name: str, path: Path, *,
                  screen: str | None = None, mode: str | None = None, force: bool = False,
                  file_name: str | None = None, file_hash: str | None = None) -> Job:
    """Check the grant and the already-imported rule; file_hash: the SHA-256 computed while the file
    was received (else it is computed here, on a worker thread: the event loop never reads files)."""
    plan = make_plan(ctx, entity_name, screen, mode)
    service = EntityService(ctx, entity_name)
    grants = service.grants(principal, "import", plan.screen.name)
    # A file that is no workbook, or over the app's limits, is refused (400) before a job starts.
    await asyncio.to_thread(check_file, path, Limits.of(ctx.app))
    file_hash = file_hash or await asyncio.to_thread(sha256_of, path)
    batch = ctx.table("import_batch")
    done = await batch.select(batch.id, batch.started_at).where(
        batch.file_hash == file_hash, batch.entity == entity_name, batch.status == "done")
    if done and not force:
        raise Conflict(f"该文件已于 {done[0]['started_at']:%Y-%m-%d %H:%M} 导入过（批次 {done[0]['id']}），"
                       "如确需重复导入请选择强制导入")
    scopes = tuple(s for _, g in grants for s in g.scopes)
    allowed = await allowed_values(ctx, plan, principal, scopes)
    return Job(ctx, principal, plan, path, file_name or path.name, file_hash, allowed,
               service._system_values(principal, True), None if principal.superuser else scopes)


async def finish(job: Job) -> None:
    """The operation-log entry, on the app's loop after the data committed."""
    await audit.record(job.ctx, job.principal, "action", job.plan.entity.name, job.batch_id, job.file_name,
                       None, {"import": job.summary()})


class _Run:
    """The main process's half: in-file and in-database duplicate keys, the error report, writes."""

    def __init__(self, job: Job):
        self.job, self.plan = job, job.plan
        self.writer = BulkWriter(job.ctx, self.plan.entity.name)
        reports = job.ctx.app_dir / "var" / "imports"
        reports.mkdir(parents=True, exist_ok=True)
        # Rejected rows as uploaded, in the template's columns; sensitive cells masked unless the
        # importer sees them in clear (runtime/imports/report.py).
        self.report = ErrorReport(reports / f"{job.id}-errors.xlsx", self.plan.entity, self.plan.columns,
                                  clear=may_unmask(job.principal, self.plan.screen.name))
        self.positions: dict[str, int] = {}  # field -> its column in the uploaded file
        self.seen = SeenKeys(self.writer)  # the file's keys so far (runtime/imports/seen.py)
        self.mapped: list[str] = []
        self.sensitive = [n for n in self.plan.columns if self.plan.entity.field(n).sensitive]
        self.required = [f.name for f in self.plan.entity.fields
                         if f.required and f.stored and not f.system and f.name not in self.plan.defaults]
        self.probe_db = True  # False once we know the table held no row before this import
        self.guard = UniqueGuard(self.plan, self.writer)
        self.refs = RefKeys(job.ctx, self.plan, job.principal, self.writer)  # refs named by a business key
        self.probe: KeyProbe | None = None
        self.multi: list[str] = []  # the file's multi_ref columns (RowWork.multi): their join rows
        self.key_positions: list[int] = []
        # Key matching runs inside the importer's scope: a stored row outside it is never updated.
        self.scope = None if job.scopes is None else scopes_condition(job.ctx, self.plan.entity.name,
                                                                        job.scopes, job.principal)

    def reject(self, number: int, errors: list[tuple[str, Any, str]], cells: list[Any] | None) -> None:
        self.job.bad += 1
        cells = cells or []
        original = [cells[i] if i is not None and i < len(cells) else None
                    for i in (self.positions.get(n) for n in self.plan.columns)]
        self.report.add(number, original, [(name, reason) for name, _, reason in errors])

    async def apply(self, chunk: Chunk) -> None:
        """Check one converted chunk's keys, then write it (unless the batch is already lost)."""
        plan, job = self.plan, self.job
        job.total += chunk.rows
        bad = list(chunk.bad)
        good = chunk.good
        if self.refs and good:
            good, unknown = await self.refs.resolve(good, chunk.links, self.multi)
            bad += unknown
        if plan.spec.key:
            name = plan.spec.key[0]
            kept = []
            for item, again in zip(good, await self.seen.repeats([item[2] for item in good])):
                if again:
                    bad.append((item[0], [(name, item[3], "与文件中前面的行重复")]))
                else:
                    kept.append(item)
            good = kept
        updates = []
        if plan.spec.key and self.probe_db and good:
            existing, outside = await self.existing_keys(good)
            if existing:
                kept = []
                for item in good:
                    row_id = existing.get(item[2])
                    if row_id is None:
                        kept.append(item)
                    elif row_id in outside:  # says no more than that: not whose row, not where
                        bad.append((item[0], [(plan.spec.key[0], item[3], "无权修改")]))
                    elif plan.mode == "upsert":
                        updates.append((item[0], item[1], row_id))
                    else:
                        bad.append((item[0], [(plan.spec.key[0], item[3], "与已有数据重复")]))
                good = kept
        if self.guard and (good or updates):  # unique sets other than the key: row errors, not a refused file
            clashes = await self.guard.check([(i[0], i[1], None) for i in good] + updates, self.probe_db)
            good, rejected = row_errors(clashes, good)
            updates, rejected_updates = row_errors(clashes, updates)
            bad += rejected + rejected_updates
        bad.sort(key=lambda b: b[0])  # the report lists a chunk's problems in file order
        cells = chunk.cells_of() if bad else {}
        for number, errors in bad:
            self.reject(number, errors, cells.get(number))
        if job.bad and plan.mode == "all_or_nothing":
            return  # the batch will be rolled back: only keep validating
        numbers = await self.writer.insert_rows([item[1] for item in good], numbered=bool(self.multi))
        # Outbound data feeds (runtime/feeds): delivery rows commit with the imported rows.
        await self.writer.insert_rows(*import_deliveries(job.ctx, plan.entity.name, self.writer.columns,
                                                         [item[1] for item in good]))
        if updates:
            # Only what the file carries (and updated_at) changes; who first imported the row stays.
            names = self.writer.columns
            cols = [n for n in self.mapped if n not in self.multi] + \
                [blind_index_column(n) for n in self.mapped if n in self.sensitive]
            at = [(n, names.index(n)) for n in cols]
            extra = {"updated_at": job.system_values["updated_at"]} if "updated_at" in job.system_values else {}
            await self.writer.update_rows([(row_id, {n: row[i] for n, i in at} | extra) for _, row, row_id in updates])
        await self.write_links(chunk.links, [(item[0], n) for item, n in zip(good, numbers or ())],
                               [(number, row_id) for number, _, row_id in updates])
        job.ok += len(good) + len(updates)

    async def write_links(self, links: dict[int, tuple[tuple, ...]], new: list[tuple[int, int]],
                          updated: list[tuple[int, int]]) -> None:
        """The join rows of the file's multi_ref columns: (row number, its number from insert_rows)
        of new rows, (row number, id) of updated ones, whose join rows the file's replace."""
        for i, name in enumerate(self.multi):
            join = self.job.ctx.join_table(self.plan.entity.name, name)
            await self.writer.insert_links(join, [(n, t) for number, n in new for t in links[number][i]], fresh=True)
            await self.writer.clear_links(join, [row_id for _, row_id in updated])
            await self.writer.insert_links(join, [(row_id, t) for number, row_id in updated for t in links[number][i]],
                                           fresh=False)

    async def existing_keys(self, good: list[tuple[int, tuple, tuple, Any]]) -> tuple[dict[tuple, int], set[int]]:
        """Rows already stored under the chunk's keys, by key text, and the ids of those among
        them that lie outside the importer's scope (runtime/imports/probe.py finds them by index;
        the exact comparison of the key texts happens here)."""
        if self.probe is None:
            cols = [self.plan.key_column(k) for k in self.plan.spec.key]
            self.probe = KeyProbe(self.writer, cols)
            self.key_positions = [self.writer.columns.index(c) for c in cols]
        positions = self.key_positions
        found: dict[tuple, int] = {}
        for row in await self.probe.find([tuple(item[1][p] for p in positions) for item in good]):
            found[tuple(key_text(x) for x in row[1:])] = row[0]
        return found, await self.outside_scope(list(found.values()))

    async def outside_scope(self, ids: list[int]) -> set[int]:
        """Which of these stored rows the importer's scope does not reach."""
        if self.scope is None or not ids:
            return set()
        table, pk = self.writer.table, self.writer.table._meta.primary_key
        inside: set[int] = set()
        for start in range(0, len(ids), PROBE_PARAMS):
            part = ids[start:start + PROBE_PARAMS]
            inside |= {row[0] for row in await self.writer.fetch(table.select(pk).where(pk.is_in(part), self.scope))}
        return set(ids) - inside


PROBE_PARAMS = 6000  # bound parameters per scope check (SQLite allows 32766, asyncpg 32767)


def _chunks(rows: Iterable[tuple[int, list[Any]]], size: int) -> Iterator[list[tuple[int, list[Any]]]]:
    chunk: list[tuple[int, list[Any]]] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def execute(job: Job) -> Job:
    """Only the private connection is used here, so this may run on a worker thread's loop."""
    run = _Run(job)
    writer = run.writer
    committed = False
    pool = None
    await writer.open(head=(job.ctx.table("import_batch"), _batch_values(job, "running")))
    try:
        rows = rows_of(job.path, Limits.of(job.ctx.app))
        _, mapping, buffered = find_header(rows, job.plan.names)
        run.mapped = list(dict.fromkeys(mapping.values()))
        run.positions = {name: index for index, name in mapping.items()}
        missing = [job.plan.headers[n] for n in run.required if n not in mapping.values()]
        if missing:
            raise ValueError(f"文件缺少必填列：{'、'.join(missing)}")
        run.probe_db = await writer.has_rows()
        work = RowWork(job.plan, mapping, writer.columns, job.system_values, job.allowed, job.ctx.sensitive.cipher)
        run.multi = work.multi
        chunks = _chunks(itertools.chain(buffered, rows), CHUNK)
        workers = parallel.workers_for(job.path)
        if workers:
            pool = parallel.Pool(work, workers)
            results = pool.map(chunks)
        else:
            results = parallel.inline(work, chunks)
        async for chunk in results:
            await run.apply(chunk)
            await writer.flush()
            if job.progress:
                job.progress(job.total, job.bad)
        job.error_file = run.report.close()
        job.problems = run.report.first
        failed = job.bad > 0 and job.plan.mode == "all_or_nothing"
        # The status a poller sees changes only after the commit or rollback happened.
        if failed:
            job.ok = 0
            await writer.close(rollback=True)
            await _record_failed(job)
            job.status = "failed"
        else:
            job.batch_id = await writer.publish({"total": job.total, "ok_count": job.ok, "bad_count": job.bad,
                                                 "status": "done", "error_file": job.error_file})
            committed = True
            job.status = "done"
        if job.progress:
            job.progress(job.total, job.bad)
        return job
    except BaseException as exc:
        job.status = "error"
        if isinstance(exc, (ValueError, Conflict)):
            job.message = str(exc)
        elif isinstance(exc, Exception) and unique.refusal(job.plan.entity, exc):
            job.message = unique.refusal(job.plan.entity, exc)
        elif isinstance(exc, Exception) and is_busy(exc):
            job.message = "数据库繁忙，导入未完成（未写入任何数据），请稍后重试"
        else:
            job.message = f"导入出错：{type(exc).__name__}"
        raise
    finally:
        if pool is not None:
            pool.close()
        if not committed:
            await writer.close(rollback=True)
        else:
            await writer.close()
        run.report.close()


def _batch_values(job: Job, status: str) -> dict[str, Any]:
    return dict(file_name=job.file_name[:255], file_hash=job.file_hash, entity=job.plan.entity.name,
                screen=job.plan.screen.name, mode=job.plan.mode, importer=job.principal.user_id,
                started_at=dt.datetime.now().replace(microsecond=0), total=job.total, ok_count=job.ok,
                bad_count=job.bad, status=status, source=job.source, watermark=job.watermark)


async def _record_failed(job: Job) -> None:
    """A refused file still leaves a batch row (status failed) so the attempt is on record."""
    writer = BulkWriter(job.ctx, "import_batch")
    values = _batch_values(job, "failed") | {"ok_count": 0, "error_file": job.error_file}
    await writer.open(head=(job.ctx.table("import_batch"), values))
    try:
        job.batch_id = await writer.publish()
    finally:
        await writer.close()
