"""Inbound feeds: records pushed by API callers, written through EntityService.

`FeedService` is an EntityService whose grants come from the feed: either the caller's grant
on the feed's `screen` (with that grant's scope and field limits), or, with `caller_role`,
holding that role (scope all). Every record then takes the service's own create/update/delete
path: value rules (runtime/data/values.py), unique values, checks, data scope, SM4 encryption of
sensitive fields, the operation log and the outbound-feed outbox.

A batch is one transaction unless the feed says `batch: per_record`: each record runs in a
savepoint so that all records are checked and reported, and when any is bad the whole batch
rolls back (and with it any delivery rows its good records wrote).

A file field in the feed's `fields` is sent as `{"name": "现场.jpg", "content_base64": "..."}` (a
list of them for a `multi` field): decoded and checked like an upload (accept, content, max_mb,
max_files) before the record is written, a bad one an error of that record naming the field, and
recorded with the row in the same transaction (runtime/attachments/store.py: attach_bytes; SM4 when
the field is sensitive). Blobs of records that roll back are deleted, and so are those a committed
record replaced.
"""
from __future__ import annotations

import base64
import binascii
import logging
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from specadmin.specs.model import Scope, Screen

from specadmin.runtime.attachments import store as files_store
from specadmin.runtime.entities.service import EntityService
from specadmin.runtime.errors import BadRequest, Conflict, Denied, NotFound
from specadmin.runtime.security.principal import EffectiveGrant
from specadmin.runtime.data.values import Invalid, coerce
from specadmin.runtime.data.where import combine_and
from specadmin.runtime.security.ref_scope import UNRESTRICTED, field_condition

if TYPE_CHECKING:
    from specadmin.specs.model import Feed

    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

log = logging.getLogger("specadmin.feeds")
MAX_RECORDS = 1000
VERBS = {"create": "created", "update": "updated", "delete": "deleted"}


class RecordError(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class _Rollback(Exception):
    pass


class FeedService(EntityService):
    def __init__(self, ctx: "AppContext", feed: "Feed"):
        super().__init__(ctx, feed.entity)
        self.feed = feed
        names = tuple(dict.fromkeys(feed.fields + feed.key))
        # `action:` the custom action (declared on a screen of the entity) each created record goes through
        actions = tuple({a.name: a for sc in ctx.app.screens if sc.entity == feed.entity for a in sc.custom_actions
                         if a.name == feed.action}.values())
        self.pseudo = Screen(name=f"feed:{feed.name}", entity=feed.entity, label=feed.label, module=feed.module,
                             list=names, detail=names, form=names, custom_actions=actions)

    def grants(self, principal: "Principal", action: str, screen: str | None):
        if self.feed.screen:
            return super().grants(principal, action, self.feed.screen)
        if self.feed.caller_role not in principal.roles:
            raise Denied()
        grant = EffectiveGrant(self.pseudo.name, frozenset({action, "list", "read"}), None, (Scope("all"),))
        return [(self.pseudo, grant)]

    def visible_fields(self, principal, grants) -> set[str] | None:
        return set(self.pseudo.list)  # what the answer may echo: the feed's own fields

    def _editable(self, grant_pairs, creating: bool) -> set[str]:
        # The feed's fields, readonly ones included (an external source owns e.g. the reported
        # count); a screen grant that limits fields still limits them.
        names = set(self.feed.fields)
        for _, g in grant_pairs:
            if g.fields is not None:
                names &= set(g.fields) | set(self.feed.key)
        return names


def resolve_op(feed: "Feed", method: str) -> str:
    """POST creates (upserts when only upsert is declared); PUT upserts when declared, else updates."""
    preference = {"POST": ("create", "upsert"), "PUT": ("upsert", "update"), "DELETE": ("delete",)}[method]
    for op in preference:
        if op in feed.ops:
            return op
    raise BadRequest(f"接口“{feed.label}”不支持{ {'POST': '新增', 'PUT': '修改', 'DELETE': '删除'}[method] }")


def records_of(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("records"), list):
        body = body["records"]
    records = body if isinstance(body, list) else [body]
    if not records:
        raise BadRequest("没有要处理的记录")
    if len(records) > MAX_RECORDS:
        raise BadRequest(f"每批最多 {MAX_RECORDS} 条记录")
    return records


class Intake:
    """Process the records of one call for one feed and principal."""

    def __init__(self, ctx: "AppContext", feed: "Feed", principal: "Principal"):
        self.ctx, self.feed = ctx, feed
        self.service = FeedService(ctx, feed)
        self.request = SimpleNamespace(user=principal)
        self.ref_keys = self._ref_keys()
        self.file_fields = [f for f in self.service.entity.fields if f.type == "file" and f.name in feed.fields]
        self.new_blobs: list[str] = []  # stored for records of this call: deleted if they roll back
        self.old_blobs: list[str] = []  # replaced by records of this call: deleted once committed

    def authorize(self, op: str) -> None:
        """Refuse the whole call up front when the caller may not do the op at all (per-record
        checks, e.g. data scope, still follow)."""
        for action in (("create", "update") if op == "upsert" else (op,)):
            try:
                self.service.grants(self.request.user, action, None)
                return
            except Denied:
                continue
        raise Denied(f"无权调用接口“{self.feed.label}”")

    def _ref_keys(self) -> dict[str, str]:
        """Refs sent by a business value: the field's `by`, or the feed's `ref_keys` (which wins)."""
        entity = self.service.entity
        names = set(self.feed.fields) | set(self.feed.key)
        out = {f.name: f.by for f in entity.fields if f.type == "ref" and f.by and f.name in names}
        out.update(self.feed.ref_keys or {})
        return out

    async def prefetch(self, records: list[Any]) -> None:
        """The batch's business values of each such ref, as ids: one query per ref field, bound as
        parameters, inside the rows the caller may reference (runtime/security/ref_scope.py)."""
        self.ids: dict[str, dict[Any, list[int]]] = {}
        for name, target_field in self.ref_keys.items():
            field = self.service.entity.field(name)
            column = getattr(self.ctx.table(field.to), target_field)
            wanted = set()
            for record in records:
                try:
                    value = self._value(name, record) if isinstance(record, dict) else None
                except ValueError:
                    continue
                if value is not None:
                    wanted.add(value)
            found: dict[Any, list[int]] = {}
            if wanted:
                table = self.ctx.table(field.to)
                condition = field_condition(self.ctx, self.request.user, field)
                where = column.is_in(sorted(wanted, key=str))
                if condition is not UNRESTRICTED:
                    where = combine_and([where, condition])
                for row in await table.select(column.as_alias("key"), table._meta.primary_key).where(where):
                    found.setdefault(row["key"], []).append(row["id"])
            self.ids[name] = found

    def _value(self, name: str, record: dict[str, Any]) -> Any:
        value = record.get(name)
        if value is None or value == "":
            return None
        target = self.ctx.app.entity(self.service.entity.field(name).to)
        return coerce(target.field(self.ref_keys[name]), value, None)

    async def _translate(self, record: dict[str, Any]) -> dict[str, Any]:
        """Refs sent by a business value (e.g. a street by name) become row ids; a value naming no
        row the caller may reference is “X”不存在 (whether it exists elsewhere is not revealed)."""
        out, errors = dict(record), {}
        if not hasattr(self, "ids"):
            await self.prefetch([record])
        for name in self.ref_keys:
            try:
                value = self._value(name, record)
            except ValueError as exc:
                errors[name] = str(exc)
                continue
            if value is None:
                continue
            ids = self.ids.get(name, {}).get(value, [])
            if len(ids) != 1:
                errors[name] = f"“{value}”不存在" if not ids else f"“{value}”不唯一"
                continue
            out[name] = ids[0]
        if errors:
            raise RecordError(errors)
        return out

    async def _existing(self, record: dict[str, Any]) -> int | None:
        if not self.feed.key:
            return None
        table, errors, where = self.service.table, {}, []
        for name in self.feed.key:
            field = self.service.entity.field(name)
            try:
                value = coerce(field, record.get(name), self.ctx.dict_labels.get(field.dict or "", {}))
            except ValueError as exc:
                errors[name] = str(exc)
                continue
            if value is None:
                errors[name] = "必填（用于识别记录）"
                continue
            where.append(getattr(table, name) == value)
        if errors:
            raise RecordError(errors)
        rows = await table.select(table._meta.primary_key).where(*where).limit(1)
        return rows[0]["id"] if rows else None

    def _files(self, data: dict[str, Any]) -> dict[str, list[tuple[str, bytes]]]:
        """Take the record's file fields out of `data`: {field: [(name, bytes)]}, each file decoded
        and checked (RecordError naming the field otherwise)."""
        out, errors = {}, {}
        for field in self.file_fields:
            value = data.pop(field.name, None)
            if value is None:
                continue
            items = value if isinstance(value, list) and field.multi else [value]
            try:
                out[field.name] = [self._file(field, item) for item in items]
            except ValueError as exc:
                errors[field.name] = str(exc)
        if errors:
            raise RecordError(errors)
        return out

    def _file(self, field, item: Any) -> tuple[str, bytes]:
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("content_base64"), str)):
            shape = "[{name, content_base64}, ...]" if field.multi else "{name, content_base64}"
            raise ValueError(f"{field.label}：应为 {shape}")
        encoded = item["content_base64"]
        if field.max_mb and len(encoded) * 3 // 4 > field.max_mb * (1 << 20) + 3:
            raise ValueError(f"{field.label}：文件“{files_store.clean_name(item['name'])}”过大，不能超过 {field.max_mb:g} MB")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{field.label}：content_base64 不是有效的 Base64 编码") from None
        return files_store.check_bytes(field, item["name"], data), data

    async def one(self, op: str, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise RecordError({"__all__": "记录应为 JSON 对象"})
        data = await self._translate(record)
        files = self._files(data) if op != "delete" else {}
        row_id = await self._existing(data)
        if op == "upsert":
            op = "create" if row_id is None else "update"
        if not files:
            return await self._write(op, data, row_id)
        action = "create" if op == "create" else "update"
        allowed = self.service._editable(self.service.grants(self.request.user, action, None), op == "create")
        if set(files) - allowed:
            raise RecordError({name: "无权上传该附件" for name in set(files) - allowed})
        new: list[str] = []
        try:
            async with self.service.table._meta.db.transaction():  # joins the batch's, if any
                result = await self._write(op, data, row_id)
                old = await self._attach(result["id"], files, new)
        except BaseException:
            await files_store.delete_blobs(self.ctx, new)
            raise
        self.new_blobs += new
        if self.feed.batch == "per_record":  # committed
            await files_store.delete_blobs(self.ctx, old)
        else:
            self.old_blobs += old
        return result

    async def _attach(self, row_id: int, files: dict[str, list[tuple[str, bytes]]], new: list[str]) -> list[str]:
        entity = self.service.entity
        table = self.service.table
        display = getattr(table, entity.display, None) if entity.has_field(entity.display) else None
        row = {"id": row_id}
        if display is not None:
            row.update((await table.select(display).where(table._meta.primary_key == row_id))[0])
        old: list[str] = []
        for name, items in files.items():
            try:
                written, replaced = await files_store.attach_bytes(self.ctx, self.request.user, entity, row,
                                                                   entity.field(name), items)
            except ValueError as exc:
                raise RecordError({name: str(exc)}) from None
            new += written
            old += replaced
        return old

    async def _write(self, op: str, data: dict[str, Any], row_id: int | None) -> dict[str, Any]:
        if op == "create":
            if row_id is not None:
                raise RecordError({"__all__": "记录已存在"})
            if not self.feed.action:
                row = await self.service.create(self.request, data)
                return {"status": "created", "id": row["id"]}
            async with self.service.table._meta.db.transaction():  # the record and its action, or neither
                row = await self.service.create(self.request, data)
                done = await self.service.run_action(self.request, self.feed.action, [row["id"]])
                if row["id"] not in done.get("done", []):
                    reasons = done.get("reasons") or {}
                    raise RecordError({"__all__": str(reasons.get(row["id"]) or reasons.get(str(row["id"]))
                                                      or f"未能执行“{self.feed.action}”")})
            return {"status": "created", "id": row["id"], "action": self.feed.action}
        if row_id is None:
            raise RecordError({"__all__": "记录不存在"})
        if op == "update":
            await self.service.update(self.request, row_id, data)
        else:
            await self.service.delete(self.request, row_id)
        return {"status": VERBS[op], "id": row_id}

    async def _guarded(self, op: str, record: Any) -> dict[str, Any]:
        try:
            return await self.one(op, record)
        except RecordError as exc:
            return {"status": "error", "errors": exc.errors}
        except Invalid as exc:
            return {"status": "error", "errors": exc.errors}
        except (Denied, NotFound, Conflict, BadRequest) as exc:
            return {"status": "error", "errors": {"__all__": exc.message, **getattr(exc, "errors", {})}}

    async def run(self, op: str, records: list[Any]) -> tuple[int, dict[str, Any]]:
        """Returns (HTTP status, body with one result per record, in order)."""
        keys = [{k: r.get(k) for k in self.feed.key} if isinstance(r, dict) else None for r in records]
        await self.prefetch(records)
        if self.feed.batch == "per_record":
            results = [await self._guarded(op, r) for r in records]
        else:
            results = await self._atomic(op, records)
        for i, result in enumerate(results):
            result["index"] = i
            if self.feed.key:
                result["key"] = keys[i]
        bad = sum(r["status"] == "error" for r in results)
        written = self.feed.batch == "per_record" or not bad
        body = {"feed": self.feed.name, "op": op, "total": len(records), "errors": bad, "written": written,
                "results": results}
        if bad and not written:
            body["detail"] = f"{bad} 条记录有误，整批未写入"
            return 422, body
        return 200, body

    async def _atomic(self, op: str, records: list[Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        try:
            async with self.service.table._meta.db.transaction() as tx:
                for record in records:
                    savepoint = await tx.savepoint()
                    try:
                        result = await self._guarded(op, record)
                    except Exception:
                        # A database refusal (e.g. a value no column holds): this record fails; the
                        # savepoint keeps the transaction usable (PostgreSQL aborts it otherwise).
                        log.exception("feed %s: record refused by the database", self.feed.name)
                        result = {"status": "error", "errors": {"__all__": "数据库拒绝写入该记录"}}
                    if result["status"] == "error":
                        await savepoint.rollback_to()
                    else:
                        await savepoint.release()
                    results.append(result)
                if any(r["status"] == "error" for r in results):
                    raise _Rollback()
            await files_store.delete_blobs(self.ctx, self.old_blobs)
        except _Rollback:
            await files_store.delete_blobs(self.ctx, self.new_blobs)
            for r in results:
                if r["status"] != "error":
                    r.update(status="not_written", reason="批次中有错误记录，整批未写入")
        return results
