"""`specadmin rotate-key`: re-encrypt every sensitive column from the old SM4 key to a new one.

Protocol (each step leaves every row readable, so a crash anywhere is safe to re-run):

1. Key files first: the old key (and any still-listed older ones) goes to
   var/keys/sm4.key.previous, then the new key replaces var/keys/sm4.key, both written
   atomically. From here on every process that starts reads with the keyring new + old and
   writes with the new key. (With SPECADMIN_SM4_KEY in the environment the command cannot
   rewrite the key: set SPECADMIN_SM4_KEY=<new> and SPECADMIN_SM4_PREVIOUS_KEYS=<old> for the
   app and the command, then run `rotate-key DIR` without a new key.)
2. Rows, per entity in primary-key order, in batches; each batch is one transaction. Tokens
   already under the new key id are skipped (FieldCipher.needs_rotation), so a re-run
   resumes where a crash stopped. Each UPDATE also requires the token to be unchanged since
   it was read, so a concurrent edit is never overwritten with stale data (it is retried).
3. Blind indexes: recomputed in the same UPDATE as their token when the index key changes,
   i.e. when it is derived from the master key (the default). With an explicit index key
   (SPECADMIN_SM4_INDEX_KEY or var/keys/sm4.index.key) indexes stay as they are. `reindex`
   recomputes every index (after setting or changing an explicit index key).
4. Plugins re-encrypt what they keep under the keyring elsewhere (`Plugin.key_holders`: attachment
   files); when no row or item is left under an old key, sm4.key.previous is deleted.

Until step 4, exact-match search on a sensitive field finds only rows already rotated when
the index key changes; run it in a maintenance window and restart app processes after step 1
(a process started before it knows only the old key).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from specadmin.runtime.crypto import CryptoError, FieldCipher
from specadmin.runtime.keyring.keys import (
    KEY_FILE,
    PREVIOUS_FILE,
    FieldKeys,
    keys_dir,
    load_field_keys,
    write_secret_file,
)
from specadmin.specs.physical import blind_index_column

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

BATCH_SIZE = 500
MAX_PASSES = 3  # extra passes only pick up rows edited concurrently during the previous one


class RotationError(Exception):
    pass


@dataclass
class RotationReport:
    key_id: str
    switched: bool = False
    index_recomputed: bool = False
    rotated: dict[str, int] = field(default_factory=dict)  # entity -> rows rewritten
    unreadable: list[tuple[str, int, str]] = field(default_factory=list)  # (entity, id, field)
    remaining: int = 0  # tokens still under an old key after the last pass
    complete: bool = False

    def summary(self) -> str:
        lines = [f"当前密钥编号 {self.key_id}" + ("（本次已切换为新密钥）" if self.switched else "")]
        for entity, n in self.rotated.items():
            lines.append(f"  {entity}: 重新加密 {n} 行")
        lines.append("  检索索引：" + ("已随新密钥重算" if self.index_recomputed else "索引密钥未变，保持不变"))
        for entity, row_id, name in self.unreadable[:20]:
            lines.append(f"  无法解密：{entity} id={row_id} 字段 {name}")
        if self.complete:
            lines.append("完成：所有敏感字段均已使用当前密钥，旧密钥已移除")
        else:
            lines.append(f"未完成：仍有 {self.remaining} 个旧密钥密文、{len(self.unreadable)} 个无法解密的值；"
                         "旧密钥保留在 sm4.key.previous，可再次运行 rotate-key 继续")
        return "\n".join(lines)


def sensitive_columns(ctx: "AppContext") -> list[tuple[str, list[str]]]:
    """(entity, its stored sensitive fields) for every entity that has any."""
    out = []
    for entity in ctx.app.entities:
        names = [f.name for f in entity.fields if f.sensitive and f.stored]
        if names:
            out.append((entity.name, names))
    return out


async def _call(hook: Callable | None, *args: Any) -> None:
    if hook is not None:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result


async def _rotate_entity(ctx: "AppContext", entity: str, names: list[str], cipher: FieldCipher, *,
                         recompute_index: bool, reindex: bool, batch_size: int, report: RotationReport,
                         after_batch: Callable | None) -> int:
    """One pass over one entity; returns how many rows could not be updated (edited meanwhile)."""
    table = ctx.table(entity)
    pk = table._meta.primary_key
    columns = [getattr(table, n) for n in names]
    last, conflicts, batch_no = None, 0, 0
    while True:
        query = table.select(pk, *columns).order_by(pk).limit(batch_size)
        if last is not None:
            query = query.where(pk > last)
        rows = await query
        if not rows:
            return conflicts
        last = rows[-1][pk._meta.name]
        changes = []
        for row in rows:
            values: dict[str, Any] = {}
            touched = []
            for name in names:
                token = row[name]
                if token is None:
                    continue
                try:
                    stale = cipher.needs_rotation(token)
                    if not stale and not reindex:
                        continue
                    plain = cipher.decrypt(token)
                except CryptoError:
                    report.unreadable.append((entity, row[pk._meta.name], name))
                    continue
                touched.append(name)
                if stale:
                    values[name] = cipher.encrypt(plain)
                if recompute_index or reindex:
                    values[blind_index_column(name)] = cipher.blind_index(plain)
            if values:
                changes.append((row, touched, values))
        if changes:
            async with ctx.engine.transaction():
                for row, touched, values in changes:
                    guard = [pk == row[pk._meta.name]] + [getattr(table, n) == row[n] for n in touched]
                    done = await (table.update({getattr(table, k): v for k, v in values.items()})
                                  .where(*guard).returning(pk))
                    if done:
                        report.rotated[entity] = report.rotated.get(entity, 0) + 1
                    else:
                        conflicts += 1
        batch_no += 1
        await _call(after_batch, entity, batch_no)


async def count_stale(ctx: "AppContext", cipher: FieldCipher, batch_size: int = 5000) -> int:
    """Tokens not under the current key (unreadable ones included)."""
    stale = 0
    for entity, names in sensitive_columns(ctx):
        table = ctx.table(entity)
        pk = table._meta.primary_key
        last = None
        while True:
            query = table.select(pk, *[getattr(table, n) for n in names]).order_by(pk).limit(batch_size)
            rows = await (query.where(pk > last) if last is not None else query)
            if not rows:
                break
            last = rows[-1][pk._meta.name]
            for row in rows:
                for name in names:
                    if row[name] is not None:
                        try:
                            stale += cipher.needs_rotation(row[name])
                        except CryptoError:
                            stale += 1
    return stale


async def rotate_rows(ctx: "AppContext", keys: FieldKeys, *, batch_size: int = BATCH_SIZE, reindex: bool = False,
                      after_batch: Callable | None = None, report: RotationReport | None = None) -> RotationReport:
    """Re-encrypt every sensitive value to `keys.current` (the database half of the protocol)."""
    cipher = keys.cipher()
    report = report or RotationReport(key_id=cipher.key_id)
    # The index key is derived from the master key unless configured explicitly: then it changes.
    report.index_recomputed = keys.index is None or reindex
    for attempt in range(MAX_PASSES):
        report.unreadable.clear()
        conflicts = 0
        for entity, names in sensitive_columns(ctx):
            conflicts += await _rotate_entity(
                ctx, entity, names, cipher, recompute_index=keys.index is None, reindex=reindex and attempt == 0,
                batch_size=batch_size, report=report, after_batch=after_batch)
        if not conflicts:
            break
    report.remaining = await count_stale(ctx, cipher)
    for plugin in ctx.plugins:  # what plugins keep under the keyring outside sensitive columns (files)
        for holder in plugin.key_holders:
            report.remaining += await holder(ctx, cipher)
    report.complete = report.remaining == 0 and not report.unreadable
    return report


async def rotate_key(ctx: "AppContext", new_key: bytes | None, *, batch_size: int = BATCH_SIZE,
                     reindex: bool = False, after_batch: Callable | None = None) -> RotationReport:
    """The whole protocol on a started context; `new_key=None` completes an interrupted rotation."""
    var = ctx.app_dir / "var"
    folder = keys_dir(var)
    keys = load_field_keys(var, create=False)
    switched = False
    if new_key is not None and new_key != keys.current:
        if keys.from_env:
            raise RotationError(
                "当前密钥来自环境变量 SPECADMIN_SM4_KEY，无法由本命令改写：请先将 SPECADMIN_SM4_KEY "
                "设为新密钥、SPECADMIN_SM4_PREVIOUS_KEYS 设为旧密钥（应用与本命令都要设置），"
                "再不带新密钥运行 rotate-key")
        FieldCipher(new_key)  # refuses a malformed key before anything is written
        previous = tuple(dict.fromkeys(k for k in (keys.current, *keys.previous) if k != new_key))
        # Old keys first, then the new current key: a crash between the two leaves the old key current.
        write_secret_file(folder / PREVIOUS_FILE, "".join(f"{k.hex()}\n" for k in previous))
        write_secret_file(folder / KEY_FILE, new_key.hex() + "\n")
        keys = FieldKeys(current=new_key, previous=previous, index=keys.index, from_env=False)
        switched = True
    ctx.sensitive.cipher = keys.cipher()  # this process reads and writes with the new keyring now
    report = RotationReport(key_id=ctx.sensitive.cipher.key_id, switched=switched)
    await rotate_rows(ctx, keys, batch_size=batch_size, reindex=reindex, after_batch=after_batch, report=report)
    if report.complete:
        (folder / PREVIOUS_FILE).unlink(missing_ok=True)
        ctx.sensitive.cipher = FieldKeys(current=keys.current, index=keys.index).cipher()
    return report
