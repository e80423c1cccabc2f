"""Attach, list, read and remove the files of a row's file field.

An upload is streamed to `var/attachments/incoming/` (runtime/data/uploads.py, within the field's
`max_mb`), its extension checked against the field's `accept` and its first bytes against that
type (specs/attachments.py), encrypted with the app's SM4 keyring when the field is `sensitive`,
stored (runtime/attachments/storage.py), then recorded in one transaction with the row's names
column (the file names joined with 、: what lists and exports show) and the operation log. If the
transaction fails the stored blob is deleted again; a blob whose record never committed is not
served and is swept at start-up.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specadmin.runtime.attachments.storage import incoming_dir, storage_for
from specadmin.runtime.attachments.table import TABLE
from specadmin.runtime.data import audit, uploads
from specadmin.runtime.data.private_files import open_private
from litestar.exceptions import NotAuthorizedException

from specadmin.runtime.errors import BadRequest, NotFound
from specadmin.specs import attachments as types
from specadmin.specs.physical import ROW_VERSION, versioned

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal
    from specadmin.specs.model import Entity, Field

DEFAULT_MAX_FILES = 20
SEPARATOR = "、"


def file_field(entity: "Entity", name: str) -> "Field":
    """The entity's file field `name` (404 when there is none)."""
    if not entity.has_field(name) or entity.field(name).type != "file":
        raise NotFound(f"“{entity.label}”没有名为 {name} 的附件字段")
    return entity.field(name)


def accepted(field: "Field") -> tuple[str, ...]:
    return tuple(e.lower().lstrip(".") for e in field.accept) or types.DEFAULT_ACCEPT


def describe(record: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of one file."""
    return {"id": record["id"], "name": record["name"], "size": record["size"], "type": record["content_type"],
            "uploaded_at": record["uploaded_at"].isoformat(sep=" ") if record["uploaded_at"] else None}


async def files_view(ctx: "AppContext", entity: "Entity", item: dict[str, Any], clear: bool) -> None:
    """`<field>_files: [{id, name, size, type, uploaded_at}]` beside each file field the row shows
    (the names of sensitive files masked unless the reader sees them in clear)."""
    shown = [f for f in entity.fields if f.type == "file" and f.name in item]
    if not shown:
        return
    t = ctx.runtime_table(TABLE)
    records = await t.select().where(t.entity == entity.name, t.row_id == item["id"],
                                     t.field.is_in([f.name for f in shown])).order_by(t.id)
    for f in shown:
        files = [describe(r) for r in records if r["field"] == f.name]
        if f.sensitive and not clear:
            files = [{**d, "name": ctx.sensitive.masked(d["name"], f.sensitive)} for d in files]
        item[f"{f.name}_files"] = files


async def files_of(ctx: "AppContext", entity: str, row_id: int, field: str) -> list[dict[str, Any]]:
    t = ctx.runtime_table(TABLE)
    return await t.select().where(t.entity == entity, t.row_id == row_id, t.field == field).order_by(t.id)


def _check_content(field: "Field", name: str, path: Path) -> str:
    """The file's extension when it is accepted and its content fits it; 400 naming the field otherwise."""
    ext = types.extension(name)
    allowed = accepted(field)
    if ext not in allowed:
        raise BadRequest(f"{field.label}：不支持“{name}”的文件类型，只能上传 {'、'.join(allowed)} 文件")
    with path.open("rb") as fh:
        head = fh.read(types.SNIFF_BYTES)
    if not types.looks_like(ext, head):
        raise BadRequest(f"{field.label}：文件“{name}”的内容不是 {ext} 文件")
    return ext


async def _names(ctx: "AppContext", entity: "Entity", row_id: int, field: "Field") -> str | None:
    names = [r["name"] for r in await files_of(ctx, entity.name, row_id, field.name)]
    return SEPARATOR.join(names) or None


async def _set_names(ctx: "AppContext", entity: "Entity", row_id: int, field: "Field", names: str | None) -> None:
    table = ctx.table(entity.name)
    values: dict[Any, Any] = ctx.sensitive.encode(entity, {field.name: names})
    update: dict[Any, Any] = {getattr(table, k): v for k, v in values.items()}
    if versioned(entity):
        column = getattr(table, ROW_VERSION)
        update[column] = column + 1
    await table.update(update).where(table._meta.primary_key == row_id)


def _logged_names(ctx: "AppContext", field: "Field", names: str | None) -> dict[str, Any]:
    if field.sensitive:  # the names of sensitive files are masked in the log as in lists
        return {field.name: ctx.sensitive.masked(names, field.sensitive)}
    return {field.name: names}


def clean_name(filename: str) -> str:
    """The file's own name as kept and shown: no folders, no control characters (it goes into headers)."""
    name = Path(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[-255:] or "未命名文件"


async def _receive(ctx: "AppContext", request: Any, rules: "Field", encrypt: bool,
                   sha256: str | None = None) -> dict[str, Any]:
    """Stream one uploaded file, check it against `rules` (a file field or parameter: accept, max_mb),
    encrypt it when asked and store it; the record's values (no row yet). Nothing is kept on a refusal.
    `sha256`: the digest the caller signed (an SM2-signed /ext upload), which the file must match."""
    limit = int(rules.max_mb * (1 << 20)) if rules.max_mb else None
    key = uuid.uuid4().hex
    incoming = incoming_dir(ctx.app_dir) / key
    upload = await uploads.receive(request, ctx, key, dest=incoming, suffixes=None, limit=limit,
                                   missing=f"请选择要上传的{rules.label}")
    try:
        if sha256 is not None and upload.sha256 != sha256:
            raise NotAuthorizedException("文件内容与签名的摘要（X-SA-Content-SHA256）不符")
        return await _keep(ctx, key, incoming, clean_name(upload.filename), upload.size, upload.sha256, rules,
                           encrypt)
    finally:
        uploads.remove(incoming)


async def _keep(ctx: "AppContext", key: str, incoming: Path, name: str, size: int, sha256: str, rules: "Field",
                encrypt: bool) -> dict[str, Any]:
    """Check the received file at `incoming`, encrypt it when asked and store it as blob `key`."""
    ext = _check_content(rules, name, incoming)
    if encrypt:  # on a worker thread: a file of many MB
        sealed = await asyncio.to_thread(ctx.sensitive.cipher.encrypt_bytes, incoming.read_bytes())
        with incoming.open("wb") as fh:
            fh.write(sealed)
    await storage_for(ctx.app_dir).put(key, incoming)
    return {"name": name, "size": size,
            "content_type": types.content_type(ext), "storage_key": key, "sha256": sha256, "encrypted": encrypt,
            "uploaded_at": dt.datetime.now().replace(microsecond=0)}


def check_bytes(field: "Field", name: str, data: bytes) -> str:
    """A file carried in a record (an inbound feed): its clean name when it fits the field's accept,
    content and max_mb; ValueError with the reason otherwise."""
    name = clean_name(name)
    limit = int(field.max_mb * (1 << 20)) if field.max_mb else None
    if not data:
        raise ValueError(f"{field.label}：文件“{name}”是空的")
    if limit is not None and len(data) > limit:
        raise ValueError(f"{field.label}：文件“{name}”过大，不能超过 {field.max_mb:g} MB")
    ext = types.extension(name)
    allowed = accepted(field)
    if ext not in allowed:
        raise ValueError(f"{field.label}：不支持“{name}”的文件类型，只能上传 {'、'.join(allowed)} 文件")
    if not types.looks_like(ext, data[:types.SNIFF_BYTES]):
        raise ValueError(f"{field.label}：文件“{name}”的内容不是 {ext} 文件")
    return name


async def attach_bytes(ctx: "AppContext", principal: "Principal", entity: "Entity", row: dict[str, Any],
                       field: "Field", files: list[tuple[str, bytes]]) -> tuple[list[str], list[str]]:
    """Files carried in a record (checked by `check_bytes`) joined to the row's field inside the
    caller's transaction (a one-file field keeps the last one; a multi field appends, within
    max_files). Returns (storage keys written, storage keys replaced): the caller deletes the first
    if its transaction rolls back, the second once it committed."""
    t = ctx.runtime_table(TABLE)
    existing = await files_of(ctx, entity.name, row["id"], field.name)
    if field.multi:
        most = field.max_files or DEFAULT_MAX_FILES
        if len(existing) + len(files) > most:
            raise ValueError(f"{field.label}：最多 {most} 个文件（已有 {len(existing)} 个）")
    else:
        files = files[-1:]
    storage, keys = storage_for(ctx.app_dir), []
    try:
        for name, data in files:
            key = uuid.uuid4().hex
            incoming = incoming_dir(ctx.app_dir) / key
            with open_private(incoming, "wb") as fh:
                fh.write(data)
            try:
                values = await _keep(ctx, key, incoming, name, len(data), hashlib.sha256(data).hexdigest(), field,
                                     bool(field.sensitive))
            finally:
                uploads.remove(incoming)
            keys.append(key)
            await t.insert(t(entity=entity.name, row_id=row["id"], field=field.name,
                             uploaded_by=principal.user_id or None, **values))
        replaced = [] if field.multi else existing
        if replaced:
            await t.delete().where(t.id.is_in([r["id"] for r in replaced]))
        await _renamed(ctx, principal, entity, row, field, existing)
    except BaseException:
        for key in keys:
            await storage.delete(key)
        raise
    return keys, [r["storage_key"] for r in replaced]


async def delete_blobs(ctx: "AppContext", keys: list[str]) -> None:
    storage = storage_for(ctx.app_dir)
    for key in keys:
        await storage.delete(key)


async def attach(ctx: "AppContext", request: Any, principal: "Principal", entity: "Entity", row: dict[str, Any],
                 field: "Field", sha256: str | None = None) -> dict[str, Any]:
    """Receive one uploaded file for the row's field and record it; the file as the API shows it
    (`sha256`: the digest a signed caller signed, which the file must match)."""
    row_id = row["id"]
    values = await _receive(ctx, request, field, bool(field.sensitive), sha256)
    t = ctx.runtime_table(TABLE)
    try:
        async with ctx.table(entity.name)._meta.db.transaction():
            table = ctx.table(entity.name)
            if not await table.exists().where(table._meta.primary_key == row_id):  # deleted meanwhile
                raise NotFound()
            existing = await files_of(ctx, entity.name, row_id, field.name)
            if field.multi and len(existing) >= (field.max_files or DEFAULT_MAX_FILES):
                raise BadRequest(f"{field.label}：最多上传 {field.max_files or DEFAULT_MAX_FILES} 个文件")
            replaced = [] if field.multi else existing  # one file: the new one replaces the old
            if replaced:
                await t.delete().where(t.id.is_in([r["id"] for r in replaced]))
            record = (await t.insert(t(entity=entity.name, row_id=row_id, field=field.name,
                                       uploaded_by=principal.user_id or None, **values))
                      .returning(*t.all_columns()))[0]
            await _renamed(ctx, principal, entity, row, field, existing)
    except BaseException:
        await storage_for(ctx.app_dir).delete(values["storage_key"])
        raise
    for old in replaced:
        await storage_for(ctx.app_dir).delete(old["storage_key"])
    return describe(record)


async def _renamed(ctx: "AppContext", principal: "Principal", entity: "Entity", row: dict[str, Any], field: "Field",
                   before_records: list[dict[str, Any]]) -> None:
    """After the records changed: the row's names column, and the change in the operation log."""
    before = SEPARATOR.join(r["name"] for r in before_records) or None
    after = await _names(ctx, entity, row["id"], field)
    await _set_names(ctx, entity, row["id"], field, after)
    await audit.record(ctx, principal, "update", entity.name, row["id"], _display(ctx, entity, row),
                       _logged_names(ctx, field, before), _logged_names(ctx, field, after))


# -- files of custom-action parameters ---------------------------------------------------
STAGED_ROW = 0  # a parameter's file before its action runs: no row yet
STAGED_HOURS = 24  # kept this long for its action, then swept


def staged_field(action: str, param: str) -> str:
    return f"{action}.{param}"


def file_targets(spec: Any) -> dict[str, str]:
    """field -> file parameter of an action's `set: {<file field>: $params.<name>}`."""
    out = {}
    for field, value in (spec.set or {}).items():
        if isinstance(value, str) and value.startswith("$params."):
            name = value.removeprefix("$params.")
            if any(p.name == name and p.type == "file" for p in spec.params):
                out[field] = name
    return out


async def stage(ctx: "AppContext", request: Any, principal: "Principal", entity: "Entity", spec: Any,
                param: str) -> dict[str, Any]:
    """Receive a file for parameter `param` of custom action `spec`, before the action runs: recorded
    for this user alone, to be attached when the action names its id (or swept after STAGED_HOURS)."""
    target = next((f for f, p in file_targets(spec).items() if p == param), None)
    if target is None:
        raise NotFound(f"操作“{spec.label}”没有名为 {param} 的文件参数")
    values = await _receive(ctx, request, spec.param(param), bool(entity.field(target).sensitive))
    t = ctx.runtime_table(TABLE)
    try:
        record = (await t.insert(t(entity=entity.name, row_id=STAGED_ROW, field=staged_field(spec.name, param),
                                   uploaded_by=principal.user_id or None, **values)).returning(*t.all_columns()))[0]
    except BaseException:
        await storage_for(ctx.app_dir).delete(values["storage_key"])
        raise
    return describe(record)


def _action_of(event: Any) -> Any:
    return next((a for s in event.service.screens.values() for a in s.custom_actions if a.name == event.action), None)


async def _staged(event: Any, spec: Any, param: str, ids: list[int]) -> list[dict[str, Any]]:
    t = event.ctx.runtime_table(TABLE)
    return await t.select().where(t.id.is_in(ids), t.entity == event.entity.name, t.row_id == STAGED_ROW,
                                  t.field == staged_field(spec.name, param),
                                  t.uploaded_by == (event.principal.user_id or None)).order_by(t.id)


async def check_action_files(event: Any) -> None:
    """before_update of a custom action: each file parameter names files this user uploaded for it,
    not used yet, and the field keeps no more than its max_files (Invalid keyed by parameter)."""
    spec = _action_of(event) if event.action else None
    if spec is None:
        return
    errors = {}
    for field_name, param in file_targets(spec).items():
        ids = event.data.get(param) or []
        if not ids:
            continue
        label = spec.param(param).label
        if len(await _staged(event, spec, param, ids)) != len(ids):
            errors[param] = f"{label}：文件不存在、已使用或不是您为此操作上传的，请重新上传"
            continue
        field = event.entity.field(field_name)
        kept = len(await files_of(event.ctx, event.entity.name, event.row_id, field_name)) if field.multi else 0
        most = field.max_files or DEFAULT_MAX_FILES
        if kept + len(ids) > most:
            errors[param] = f"{label}：{field.label}最多 {most} 个文件（已有 {kept} 个）"
    if errors:
        from specadmin.runtime.data.values import Invalid

        raise Invalid(errors)


async def attach_action_files(event: Any) -> None:
    """after_update of a custom action: its parameters' files become the row's (appended to a multi
    field, replacing a one-file field's), the names column and the operation log follow."""
    spec = _action_of(event) if event.action else None
    if spec is None:
        return
    ctx, entity, t = event.ctx, event.entity, event.ctx.runtime_table(TABLE)
    row = {"id": event.row_id, **(event.before or {})}
    for field_name, param in file_targets(spec).items():
        ids = event.data.get(param) or []
        if not ids:
            continue
        field = entity.field(field_name)
        existing = await files_of(ctx, entity.name, event.row_id, field_name)
        replaced = [] if field.multi else existing
        if replaced:
            await t.delete().where(t.id.is_in([r["id"] for r in replaced]))
        chosen = [r["id"] for r in await _staged(event, spec, param, ids)][: 1 if not field.multi else None]
        await t.update({t.row_id: event.row_id, t.field: field_name}).where(t.id.is_in(chosen))
        await _renamed(ctx, event.principal, entity, row, field, existing)
        for old in replaced:
            await storage_for(ctx.app_dir).delete(old["storage_key"])


def _display(ctx: "AppContext", entity: "Entity", row: dict[str, Any]) -> Any:
    value = row.get(entity.display)
    if entity.has_field(entity.display) and entity.field(entity.display).sensitive and value is not None:
        return ctx.sensitive.masked(ctx.sensitive.decode(value), entity.field(entity.display).sensitive)
    return value


async def record_of(ctx: "AppContext", entity: str, row_id: int, field: str, file_id: int) -> dict[str, Any]:
    if not 0 < file_id < 2**63:  # no such record; the driver would refuse the number
        raise NotFound("没有这个附件")
    t = ctx.runtime_table(TABLE)
    found = await t.select().where(t.id == file_id, t.entity == entity, t.row_id == row_id, t.field == field)
    if not found:
        raise NotFound("没有这个附件")
    return found[0]


async def content(ctx: "AppContext", record: dict[str, Any]) -> bytes:
    """The file's bytes, decrypted when it is stored encrypted; checked against its sha256."""
    try:
        data = await storage_for(ctx.app_dir).read(record["storage_key"])
    except FileNotFoundError:
        raise NotFound("附件文件已不存在") from None
    if record["encrypted"]:
        try:
            data = await asyncio.to_thread(ctx.sensitive.cipher.decrypt_bytes, data)
        except ValueError:  # CryptoError: tampered, or under a key no longer configured
            raise NotFound("附件文件无法解密") from None
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise NotFound("附件文件已损坏")
    return data


async def detach(ctx: "AppContext", principal: "Principal", entity: "Entity", row: dict[str, Any], field: "Field",
                 file_id: int) -> None:
    """Remove one file of the row's field (record, names column and log in one transaction, then the blob)."""
    t = ctx.runtime_table(TABLE)
    async with ctx.table(entity.name)._meta.db.transaction():
        record = await record_of(ctx, entity.name, row["id"], field.name, file_id)
        existing = await files_of(ctx, entity.name, row["id"], field.name)
        await t.delete().where(t.id == file_id)
        await _renamed(ctx, principal, entity, row, field, existing)
    await storage_for(ctx.app_dir).delete(record["storage_key"])


async def rotate_files(ctx: "AppContext", cipher: Any) -> int:
    """`specadmin rotate-key`: every encrypted file not under the current key is decrypted and stored
    again under it (same storage key); returns how many are still under an old key or unreadable."""
    t = ctx.runtime_table(TABLE)
    storage, left = storage_for(ctx.app_dir), 0
    for record in await t.select(t.storage_key).where(t.encrypted == True).order_by(t.id):  # noqa: E712
        key = record["storage_key"]
        try:
            blob = await storage.read(key)
            if not cipher.bytes_need_rotation(blob):
                continue
            sealed = cipher.encrypt_bytes(cipher.decrypt_bytes(blob))
        except (FileNotFoundError, ValueError):  # CryptoError is a ValueError
            left += 1
            continue
        temporary = incoming_dir(ctx.app_dir) / uuid.uuid4().hex
        with open_private(temporary, "wb") as fh:
            fh.write(sealed)
        await storage.put(key, temporary)
    return left


async def forget_row(ctx: "AppContext", entity: "Entity", row_id: int) -> None:
    """A deleted row's files: records deleted inside the row's transaction, then the blobs."""
    if not any(f.type == "file" for f in entity.fields):
        return
    t = ctx.runtime_table(TABLE)
    records = await t.select(t.id, t.storage_key).where(t.entity == entity.name, t.row_id == row_id)
    if not records:
        return
    await t.delete().where(t.entity == entity.name, t.row_id == row_id)
    storage = storage_for(ctx.app_dir)
    for r in records:
        await storage.delete(r["storage_key"])


async def sweep(ctx: "AppContext") -> int:
    """At start-up: uploads left half-received are deleted, and so is every stored blob no record
    names (a crash between storing and recording), after the files of action parameters never used
within STAGED_HOURS lose their records. Returns the number of blobs deleted."""
    for leftover in incoming_dir(ctx.app_dir).iterdir():
        leftover.unlink(missing_ok=True)
    t = ctx.runtime_table(TABLE)
    stale = dt.datetime.now() - dt.timedelta(hours=STAGED_HOURS)
    await t.delete().where(t.row_id == STAGED_ROW, t.uploaded_at < stale)  # action files never used
    storage = storage_for(ctx.app_dir)
    keys = [key async for key in storage.keys()]
    if not keys:
        return 0
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        batch = keys[start:start + 500]
        known |= {r["storage_key"] for r in await t.select(t.storage_key).where(t.storage_key.is_in(batch))}
    orphans = [k for k in keys if k not in known]
    for key in orphans:
        await storage.delete(key)
    return len(orphans)
