"""EntityService: the one code path for list, read, create, update, delete, actions and export.

Every method first resolves which of the user's grants apply (screen, action), then
reads or writes only inside the union of those grants' data scopes.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, AsyncIterator

from specadmin.specs.model import Entity, Screen
from specadmin.specs.multi_keys import decode as decode_keys, encode as encode_keys, is_multi_dict
from specadmin.specs.physical import ROW_VERSION, versioned

from specadmin.runtime.data import audit, tree_view, unique
from specadmin.runtime.data.computed import with_computed
from specadmin.runtime.data.db import write_transaction
from specadmin.runtime.errors import BadRequest, Conflict, Denied, NotFound, Stale
from specadmin.runtime.plugin import Call, WriteEvent
from specadmin.runtime.security.principal import EffectiveGrant, Principal
from specadmin.runtime.data.export import csv_chunks, export_columns, sorted_batches
from specadmin.runtime.sheets.writer import stream_response
from specadmin.runtime.data.page_query import PageStatements
from specadmin.runtime.data.queries import (filter_conditions, keyword_condition, ordering, screen_where, split_total,
                                            tab_condition, with_total)
from specadmin.runtime.security.ref_scope import check_ref_values, check_refs
from specadmin.runtime.data.rows import RowShape, ShapeKey, shape_key
from specadmin.runtime.security.levels import level_condition
from specadmin.runtime.security.scope import scopes_condition
from specadmin.runtime.security import unmask
from specadmin.runtime.data.values import Invalid, check_rules, fits_column, validate, validate_params
from specadmin.runtime.data.where import combine_and, combine_or, matches

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

MAX_OFFSET = 2**62  # far beyond any table, well inside the 64-bit OFFSET of SQLite and PostgreSQL
UPDATE_ATTEMPTS = 5  # compare-and-set rounds an update makes before answering that the row keeps changing
MAX_SHAPES = 256  # row shapes kept per entity (one per set of visible fields, from the spec's screens)


class _Moved(Exception):
    """The row's version changed between the read and the compare-and-set: roll back, read again."""


class EntityService:
    def __init__(self, ctx: "AppContext", entity_name: str):
        self.ctx = ctx
        self.entity: Entity = ctx.app.entity(entity_name)
        self.table = ctx.table(entity_name)
        self.screens: dict[str, Screen] = {s.name: s for s in ctx.app.screens_of(entity_name)}
        self._shapes: dict[ShapeKey, RowShape] = {}
        self.statements = PageStatements(self.table)

    # -- grants -----------------------------------------------------------
    def grants(self, principal: Principal, action: str, screen: str | None) -> list[tuple[Screen, EffectiveGrant]]:
        if self.entity.append_only and action in ("create", "update", "delete"):
            raise Denied(f"“{self.entity.label}”只能由系统追加，任何人不能新增、修改或删除")
        if screen is not None and screen not in self.screens:
            raise NotFound(f"没有名为 {screen} 的页面")
        names = [screen] if screen else list(self.screens)
        found = []
        for name in names:
            g = principal.grant(name)
            spec = self.screens[name].import_spec
            if action in ("import", "delete") and spec is not None and not spec.enabled:
                continue  # the spec switch (e.g. a live provincial feed) closes import and delete
            if g and action in g.actions:
                found.append((self.screens[name], g))
        if not found:
            raise Denied()
        return found

    def scope_of(self, principal: Principal, grants: list[tuple[Screen, EffectiveGrant]], pinned: bool = True) -> Any:
        """The rows these grants reach: their data scopes, each with its screen's fixed `where` (`pinned`,
        every read); the scopes alone check where a write leaves a row (None: unrestricted)."""
        if not pinned or not any(s.where for s, _ in grants):
            scopes = tuple(s for _, g in grants for s in g.scopes)
            return scopes_condition(self.ctx, self.entity.name, scopes, principal)
        parts = []
        for screen, g in grants:
            cond = combine_and([scopes_condition(self.ctx, self.entity.name, g.scopes, principal),
                                screen_where(self.table, screen)])
            if cond is None:
                return None
            parts.append(cond)
        return combine_or(parts)

    def visible_fields(self, principal: Principal, grants) -> set[str] | None:
        if principal.superuser:
            return None
        names: set[str] = set()
        for screen, _ in grants:
            for path in screen.list + screen.detail + screen.form:
                names.add(path.split(".")[0])
        return names

    def shape(self, visible: set[str] | None, with_version: bool = False) -> RowShape:
        """The row shape of these visible fields, built once: it depends on the spec alone."""
        key = shape_key(visible, with_version)
        found = self._shapes.get(key)
        if found is None:
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            found = self._shapes[key] = RowShape(self.ctx, self.entity, visible, with_version=with_version)
        return found

    @staticmethod
    def clear_view(grants) -> bool:
        """Sensitive values in clear only when every grant the read goes through holds `unmask`."""
        return unmask.granted(g for _, g in grants)

    async def _record_clear(self, principal, grants, shape: RowShape, how: str, items: list[dict]) -> None:
        await unmask.record_view(self.ctx, principal, self.entity, [s.name for s, _ in grants], how,
                                 fields=shape.sensitive_names(), ids=[i["id"] for i in items])

    # -- reads ------------------------------------------------------------
    def lookup_keys(self, grants, filters) -> dict[str, Any]:
        """The declared look-up keys (`lookup:`) this request gives an exact value for."""
        given = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
        return {key: given[key] for screen, _ in grants if screen.lookup for key in screen.lookup.keys if key in given}

    def _scope_for(self, principal, grants, filters) -> Any:
        """The list scope, widened by the declared look-up scopes when an exact key is given."""
        scope = self.scope_of(principal, grants)
        if scope is None or not self.lookup_keys(grants, filters):
            return scope
        reach = tuple(s.lookup.scope for s, _ in grants if s.lookup and set(s.lookup.keys) & set(filters or {}))
        wider = scopes_condition(self.ctx, self.entity.name, reach, principal)
        return None if wider is None else combine_or([scope, wider])

    def _conditions(self, principal, grants, tab, q, filters, level=None) -> Any:
        screens = [s for s, _ in grants]
        parts = [self._scope_for(principal, grants, filters), tab_condition(self.ctx, screens, tab, self.table),
                 level_condition(self.ctx, self.entity.name, screens, level, principal),
                 keyword_condition(self.entity, screens, self.table, q)]
        parts += filter_conditions(self.ctx, self.entity, self.table, filters or {})
        return combine_and(parts)

    def list_condition(self, principal, grants, *, tab=None, q=None, filters=None, level=None) -> Any:
        """The condition of a list with these parameters (grant scope, tab, level, keyword, filters), for
        a plugin that reads the same rows another way (the map page's points and clusters)."""
        return self._conditions(principal, grants, tab, q, filters, level)

    async def _log_lookup(self, principal, grants, filters, how: str) -> None:
        """Every look-up that may reach beyond the list scope is on record (the key masked)."""
        keys = self.lookup_keys(grants, filters)
        if keys:
            shown = {k: self.ctx.sensitive.masked(str(v), self.entity.field(k).sensitive) for k, v in keys.items()}
            await audit.record(self.ctx, principal, "action", self.entity.name, None, self.entity.label, None,
                               {"lookup": shown, "by": how, "screens": sorted(s.name for s, _ in grants if s.lookup)})

    def narrowing(self, request) -> Any:
        """The plugins' condition read from the request's own parameters (Plugin.list_narrowing), or None."""
        return combine_and(self.ctx.plugins.list_narrowing(self.ctx, request, self.entity.name))

    async def list_page(self, request, *, screen=None, tab=None, q=None, sort=None, page=1, page_size=20,
                        filters=None, level=None, tree=None) -> dict[str, Any]:
        principal: Principal = request.user
        grants = self.grants(principal, "list", screen)
        if (page - 1) * page_size > MAX_OFFSET:  # the databases' OFFSET is a 64-bit integer
            raise BadRequest("页码超出范围")
        where = self._conditions(principal, grants, tab, q, filters, level)  # per request: the data scope is in it
        where = combine_and([where, self.narrowing(request)])
        as_tree = tree_view.wanted(tree)  # one level of a tree entity, each row with its visible children
        if as_tree:
            scope = self._scope_for(principal, grants, filters)
            where = combine_and([where, tree_view.level_condition(self.entity, self.table, scope, filters)])
        shape = self.shape(self.visible_fields(principal, grants), with_version=True)
        column, ascending = ordering(self.entity, [s for s, _ in grants], self.table, sort)

        def page_query(condition):
            query = self.table.select(*shape.columns).order_by(column, ascending=ascending)
            if column is not self.table._meta.primary_key:
                query = query.order_by(self.table._meta.primary_key, ascending=ascending)
            count = self.table.count()
            if condition is not None:
                query, count = query.where(condition), count.where(condition)
            return with_total(query, count)

        offset = (page - 1) * page_size
        query = self.statements.page((shape.key, column._meta.name, ascending), page_query, where, page_size, offset)
        count = self.table.count()
        rows, total = await split_total(await query, count.where(where) if where is not None else count, offset)
        await self._log_lookup(principal, grants, filters, "list")
        clear = self.clear_view(grants)
        items = await shape.convert(rows, clear)
        if as_tree:
            await tree_view.with_children(self.ctx, self.entity, self.table, scope, items)
        if clear:
            await self._record_clear(principal, grants, shape, "list", items)
        return {"items": items, "total": total, "page": page, "page_size": page_size}

    async def count(self, request, *, screen=None, tab=None, q=None, filters=None, level=None) -> int:
        """How many rows a list with these parameters holds (a tab's count beside its label): the
        same grant, scope, tab, keyword and filters as list_page, one COUNT."""
        principal: Principal = request.user
        grants = self.grants(principal, "list", screen)
        where = self._conditions(principal, grants, tab, q, filters, level)
        where = combine_and([where, self.narrowing(request)])
        query = self.table.count()
        return await (query.where(where) if where is not None else query)

    async def _fetch_raw(self, principal, grants, row_id: int) -> dict[str, Any]:
        if not fits_column(self.table._meta.primary_key, row_id):  # no such row; the driver would fail on it
            raise NotFound()
        pk = self.table._meta.primary_key
        query = self.table.select(*with_computed(self.ctx, self.entity, self.table)).where(pk == row_id)
        scope = self.scope_of(principal, grants)
        if scope is not None:
            query = query.where(scope)
        rows = await query
        if not rows:
            raise NotFound()
        return rows[0]

    async def reach(self, principal: Principal, action: str, row_id: int, field: str, *, screen=None) -> dict[str, Any]:
        """The stored row, when the user may `action` it under their grants and data scope and sees
        `field` on a screen granting it (403 without a grant, 404 outside the scope or hidden):
        how a feature reached through a row (its files) checks the row first."""
        grants = self.grants(principal, action, screen)
        visible = self.visible_fields(principal, grants)
        if visible is not None and field not in visible:
            raise NotFound()
        return await self._fetch_raw(principal, grants, row_id)

    async def get(self, request, row_id: int, *, screen=None) -> dict[str, Any]:
        principal: Principal = request.user
        grants = self.grants(principal, "read", screen)
        return await self._read(principal, grants, row_id, viewed="read")

    async def _read(self, principal, grants, row_id, viewed: str | None = None, pinned: bool = True) -> dict[str, Any]:
        """The row as the API shows it; `viewed` (how it is read) logs a clear view of it. The answer
        to one's own write is not logged again: the write is on record already, and may have moved the
        row out of the screen's `where` (`pinned=False`: the data scope alone)."""
        if not fits_column(self.table._meta.primary_key, row_id):
            raise NotFound()
        shape = self.shape(self.visible_fields(principal, grants), with_version=True)
        query = self.table.select(*shape.columns).where(self.table._meta.primary_key == row_id)
        scope = self.scope_of(principal, grants, pinned)
        if scope is not None:
            query = query.where(scope)
        rows = await query
        if not rows:
            raise NotFound()
        clear = self.clear_view(grants)
        items = await shape.convert(rows, clear)
        if clear and viewed:
            await self._record_clear(principal, grants, shape, viewed, items)
        await self.ctx.plugins.view_row(self.ctx, self.entity, items[0], clear)
        return items[0]

    # -- writes -----------------------------------------------------------
    def _editable(self, grant_pairs, creating: bool) -> set[str]:
        names: set[str] = set()
        for screen, g in grant_pairs:
            form = set(screen.form)
            names |= form if g.fields is None else form & g.fields
        return {n for n in names if self.entity.field(n).editable or self.entity.field(n).type == "multi_ref"}

    def _dict_keys(self, dict_name: str) -> dict[str, str]:
        return self.ctx.dict_labels.get(dict_name, {})

    def _system_values(self, principal: Principal, creating: bool, written: Any = ()) -> dict[str, Any]:
        now = dt.datetime.now().replace(microsecond=0)
        values: dict[str, Any] = {}
        for f in self.entity.fields:
            # An API caller's principal has no user row (its id is 0): its writes leave "who" empty.
            if f.stamp_on:  # who/when of a user's change to those fields only (e.g. 街道修改后实检人数)
                if set(f.stamp_on) & set(written):
                    values[f.name] = (principal.user_id or None) if f.system == "current_user" else now
            elif f.system == "current_user" and creating:
                values[f.name] = principal.user_id or None
            elif f.system in ("now", "created_at") and creating or f.system == "updated_at":
                values[f.name] = now
        if creating and not self.entity.has_field("created_by"):
            values.update(created_by=principal.user_id, created_at=now)
        if creating and versioned(self.entity):  # the bulk import path writes every column itself
            values[ROW_VERSION] = 1
        if not self.entity.has_field("created_by"):
            values["updated_at"] = now
        return values

    def _split(self, clean: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[int]]]:
        columns, multi = {}, {}
        for name, value in clean.items():
            f = self.entity.field(name)
            if f.type == "multi_ref":
                multi[name] = value or []
            elif is_multi_dict(f):  # several keys in one text column (specs/multi_keys.py)
                columns[name] = encode_keys(value)
            elif f.type == "geo":
                columns[f"{name}_lng"] = value["lng"] if value else None
                columns[f"{name}_lat"] = value["lat"] if value else None
            else:
                columns[name] = value
        return self.ctx.sensitive.encode(self.entity, columns), multi

    async def _write_multi(self, row_id: int, multi: dict[str, list[int]]) -> None:
        for name, ids in multi.items():
            join = self.ctx.join_table(self.entity.name, name)
            await join.delete().where(join.owner == row_id)
            if ids:
                await join.insert(*[join(owner=row_id, target=t) for t in ids])

    def _audit_view(self, values: dict[str, Any]) -> dict[str, Any]:
        """What the operation log keeps: sensitive values masked, secrets dropped."""
        view = {}
        for name, value in values.items():
            if not self.entity.has_field(name):
                continue
            f = self.entity.field(name)
            if f.sensitive:
                value = self.ctx.sensitive.masked(None if value is None else str(value), f.sensitive)
            view[name] = value
        return view

    async def create(self, request, data: dict[str, Any], *, screen=None) -> dict[str, Any]:
        principal: Principal = request.user
        grants = self.grants(principal, "create", screen)
        defaults = {f.name: f.default for f in self.entity.fields if f.default is not None and f.stored}
        password = data.get("password") if self.entity.auth_user else None
        if self.entity.auth_user:
            data = {k: v for k, v in data.items() if k != "password"}
        clean = validate(self.entity, data, self._editable(grants, True), None, self._dict_keys)
        await check_refs(self.ctx, principal, self.entity, clean)
        columns, multi = self._split({**defaults, **clean})
        columns.update(self._system_values(principal, True, clean))
        if self.entity.auth_user:
            columns.setdefault("email", f"{columns.get('username')}@users.invalid")
            columns["password"] = self.table.hash_password(password or _random_password())
        event = WriteEvent("create", self, principal, data=dict(data) | ({} if password is None else {"password": password}),
                           clean=clean, columns=columns)
        with unique.reported(self.entity, clean):  # the database's unique refusal, named by field
            async with self.table._meta.db.transaction():
                await self.ctx.plugins.run_hooks("before_create", event)
                result = await self.table.insert(self.table(**columns)).returning(self.table._meta.primary_key)
                row_id = event.row_id = result[0]["id"]
                await self._write_multi(row_id, multi)
                await self._inside_scope(row_id, self.scope_of(principal, grants, pinned=False), "不能在数据权限范围之外新增记录")
                await self._tree_path(row_id, None, columns)
                await self.ctx.plugins.run_hooks("after_create", event)
                await audit.record(self.ctx, principal, "create", self.entity.name, row_id,
                                   clean.get(self.entity.display), None, self._audit_view(clean))
        return await self._read(principal, grants, row_id, pinned=False)

    async def update(self, request, row_id: int, data: dict[str, Any], *, screen=None,
                     expected_version: int | None = None) -> dict[str, Any]:
        """Change a row: compare-and-set on its row version, so no concurrent update is lost.

        The row is read, validated (cross-field checks included) and written inside one transaction,
        the write only if the version is still the one read. If another writer got there first, the
        whole attempt runs again over the row as it now is (which may then refuse the change, e.g.
        a minimum above the new maximum). With `expected_version` (the version the client's form or
        `If-Match` was made from) a row changed since answers Stale with the current values."""
        principal: Principal = request.user
        grants = self.grants(principal, "update", screen)
        for _ in range(UPDATE_ATTEMPTS):
            try:
                with unique.reported(self.entity, data):
                    async with write_transaction(self.table._meta.db):
                        covering = await self._update_once(principal, grants, row_id, data, expected_version)
            except _Moved:
                continue
            return await self._read(principal, covering, row_id, pinned=False)
        raise Stale(await self._read(principal, grants, row_id, viewed="read"))

    async def _update_once(self, principal: Principal, grants, row_id: int, data: dict[str, Any],
                           expected_version: int | None) -> list:
        # Only grants whose scope covers this row count for its fields.
        covering = []
        for pair in grants:
            try:
                await self._fetch_raw(principal, [pair], row_id)
                covering.append(pair)
            except NotFound:
                continue
        if not covering:
            raise NotFound()
        before = await self._fetch_raw(principal, covering, row_id)
        version = before.get(ROW_VERSION)
        if expected_version is not None and version is not None and version != expected_version:
            raise Stale(await self._read(principal, covering, row_id, viewed="read"))
        plain_before = self._plain(before)
        clean = validate(self.entity, data, self._editable(covering, False), plain_before, self._dict_keys)
        await check_refs(self.ctx, principal, self.entity, clean)
        columns, multi = self._split(clean)
        columns.update(self._system_values(principal, False, clean))
        event = WriteEvent("update", self, principal, row_id, data=dict(data), clean=clean, columns=columns,
                           before=plain_before)
        await self.ctx.plugins.run_hooks("before_update", event)
        pk = self.table._meta.primary_key
        if version is not None:  # compare-and-set: written only if nobody wrote since the read above
            counter = getattr(self.table, ROW_VERSION)
            written = await self.table.update({**columns, counter: counter + 1}, force=True).where(
                pk == row_id, counter == version).returning(pk)
            if not written:
                raise _Moved()
        elif columns:
            await self.table.update(columns, force=True).where(pk == row_id)
        await self._write_multi(row_id, multi)
        await self._inside_scope(row_id, self.scope_of(principal, covering, pinned=False), "修改后的记录将超出数据权限范围")
        await self._tree_path(row_id, before, columns)
        await self.ctx.plugins.run_hooks("after_update", event)
        await audit.record(self.ctx, principal, "update", self.entity.name, row_id,
                           plain_before.get(self.entity.display),
                           self._audit_view({k: plain_before.get(k) for k in clean}), self._audit_view(clean))
        return covering

    def _plain(self, raw: dict[str, Any]) -> dict[str, Any]:
        plain = dict(raw)
        for f in self.entity.fields:
            if f.sensitive and f.name in raw:
                plain[f.name] = self.ctx.sensitive.decode(raw[f.name])
            elif is_multi_dict(f) and f.name in raw:
                plain[f.name] = decode_keys(raw[f.name]) or None
        return plain

    async def delete(self, request, row_id: int, *, screen=None) -> None:
        principal: Principal = request.user
        grants = self.grants(principal, "delete", screen)
        await self._delete_one(principal, grants, row_id)

    async def delete_many(self, request, ids: list[int], *, screen=None) -> dict[str, Any]:
        """Batch delete through the same grants and scope as one delete; each row on its own,
        so one row still referenced elsewhere does not keep the others."""
        principal: Principal = request.user
        grants = self.grants(principal, "delete", screen)
        done, skipped, failed = [], [], {}
        for row_id in dict.fromkeys(ids):
            try:
                await self._delete_one(principal, grants, row_id)
                done.append(row_id)
            except NotFound:
                skipped.append(row_id)
            except Conflict as exc:
                failed[row_id] = exc.message
        return {"action": "delete", "done": done, "skipped": skipped, "failed": failed}

    async def _delete_one(self, principal: Principal, grants, row_id: int) -> None:
        before = await self._fetch_raw(principal, grants, row_id)
        event = WriteEvent("delete", self, principal, row_id, before=self._plain(before))
        try:
            async with self.table._meta.db.transaction():
                await self.ctx.plugins.run_hooks("before_delete", event)
                await self.table.delete().where(self.table._meta.primary_key == row_id)
                await audit.record(self.ctx, principal, "delete", self.entity.name, row_id,
                                   before.get(self.entity.display), self._audit_view(event.before), None)
                await self.ctx.plugins.run_hooks("after_delete", event)
        except Exception as exc:  # referenced rows: sqlite3/asyncpg integrity errors
            if "FOREIGN KEY" in str(exc).upper() or "foreign key" in str(exc).lower():
                raise Conflict("该记录被其他数据引用，无法删除") from exc
            raise

    async def run_action(self, request, action: str, ids: list[int], *, screen=None,
                         params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a custom action (or batch delete) on each row of `ids` the actor may act on.

        Declared parameters (`params:` of the action) are validated once, at the first row the action
        applies to, like fields (types, choices, bounds, required, refs inside the actor's view): an
        Invalid keyed by parameter. An action without declarations passes `params` through as sent.
        Rows skipped (not visible, or not matching `when`) are answered with their reasons."""
        if action == "delete":
            return await self.delete_many(request, ids, screen=screen)
        principal: Principal = request.user
        grants = self.grants(principal, action, screen)
        spec = next((a for s, _ in grants for a in s.custom_actions if a.name == action), None)
        if spec is None:
            raise NotFound(f"没有名为 {action} 的操作")
        if len(ids) > 1 and not spec.batch:
            raise BadRequest(f"“{spec.label}”不支持批量操作")
        values: dict[str, Any] = {}
        handler = self.ctx.plugins.handler(spec.handler) if spec.handler else None
        scope = self.scope_of(principal, grants, pinned=False)  # where the action may leave the row
        results: dict[int, Any] = {}
        done, skipped, reasons = [], [], {}
        cleaned: dict[str, Any] | None = None
        logged: dict[str, Any] = {"action": action}
        pk = self.table._meta.primary_key
        # Every action raises the row version, so an edit form opened before it is refused as stale.
        bump = {getattr(self.table, ROW_VERSION): getattr(self.table, ROW_VERSION) + 1} if versioned(self.entity) else {}
        with unique.reported(self.entity):  # an action's `set` may break a unique set too
            async with write_transaction(self.table._meta.db):
                for row_id in ids:
                    try:
                        before = await self._fetch_raw(principal, grants, row_id)
                    except NotFound:
                        skipped.append(row_id)
                        reasons[row_id] = f"记录 {row_id} 不存在或不在数据权限范围内"
                        continue
                    if not matches(before, spec.when):
                        skipped.append(row_id)
                        reasons[row_id] = f"{self._row_name(before, row_id)}：不符合“{spec.label}”的条件"
                        continue
                    if cleaned is None:
                        cleaned = await self._action_params(principal, spec, params)
                        values = self._set_values(spec, principal, cleaned)
                        if spec.params:
                            logged["params"] = self._params_view(spec, cleaned)
                    # Custom actions count as updates: the same guards run first (and may refuse).
                    await self.ctx.plugins.run_hooks("before_update", WriteEvent(
                        "update", self, principal, row_id, data=dict(cleaned), clean=dict(values),
                        columns={}, before=self._plain(before), action=action))
                    changed = dict(values)
                    if handler is not None:
                        outcome = await handler(ActionCall(self, principal, grants, self._plain(before), dict(cleaned),
                                                      action=action))
                        changed = (outcome or {}).get("changed", {})
                        if (outcome or {}).get("result") is not None:
                            results[row_id] = outcome["result"]
                        if bump:  # the handler wrote the row its own way
                            await self.table.update(bump).where(pk == row_id)
                    else:  # file fields are attached by their plugin's after_update hook, not written here
                        written = {k: v for k, v in values.items() if self.entity.field(k).type != "file"}
                        await self.table.update({**self.ctx.sensitive.encode(self.entity, written), **bump},
                                                force=True).where(pk == row_id)
                    await self._inside_scope(row_id, scope, "操作后的记录将超出数据权限范围")  # e.g. 调整组织 elsewhere
                    await audit.record(self.ctx, principal, "action", self.entity.name, row_id,
                                       before.get(self.entity.display), logged,
                                       self._audit_view({k: self._plain(before).get(k) for k in changed})
                                       | {"after": {**changed, **self._audit_view(changed)}})
                    await self.ctx.plugins.run_hooks("after_update", WriteEvent(
                        "update", self, principal, row_id, data=dict(cleaned), clean=dict(changed),
                        columns=dict(changed), before=self._plain(before), action=action))
                    done.append(row_id)
        out: dict[str, Any] = {"action": action, "done": done, "skipped": skipped}
        if reasons:
            out["reasons"] = reasons
        if results:
            out["results"] = results
        return out

    async def _action_params(self, principal: Principal, spec, params: Any) -> dict[str, Any]:
        """The action's parameters, validated and typed when it declares them (values.validate_params,
        refs inside the actor's view); as sent otherwise."""
        if not spec.params:
            return dict(params or {}) if isinstance(params, dict) else {}
        clean = validate_params(spec.params, {} if params is None else params, self._dict_keys)
        await check_ref_values(self.ctx, principal, {p.name: p for p in spec.params}, clean, labelled=True)
        return clean

    def _set_values(self, spec, principal: Principal, params: dict[str, Any]) -> dict[str, Any]:
        """The values an action's `set` writes: literals, $user, $user.org, $now, $today and
        $params.<name> (a declared parameter, held to the field's own rules, e.g. its length)."""
        now = dt.datetime.now().replace(microsecond=0)
        specials = {"$user": principal.user_id, "$now": now, "$today": now.date(), "$user.org": principal.org_id}
        values, errors = {}, {}
        for name, value in (spec.set or {}).items():
            if isinstance(value, str) and value.startswith("$params."):
                key = value.removeprefix("$params.")
                value = params.get(key)
                checked = value is not None and self.entity.field(name).type != "file"  # files: runtime/attachments
                problem = check_rules(self.entity.field(name), value) if checked else None
                if problem:
                    errors[key] = f"{spec.param(key).label}：{problem}"
            elif isinstance(value, str):
                value = specials.get(value, value)
            values[name] = value
        if errors:
            raise Invalid(errors)
        return values

    def _params_view(self, spec, clean: dict[str, Any]) -> dict[str, Any]:
        """What the operation log keeps of an action's parameters: passwords left out, sensitive ones masked."""
        view = {}
        for p in spec.params:
            value = clean.get(p.name)
            if p.type == "password":
                continue
            if p.sensitive and value is not None:
                value = self.ctx.sensitive.masked(str(value), p.sensitive)
            view[p.name] = value
        return view

    async def row_names(self, ids: list[int]) -> dict[int, str]:
        """How rows are named in a message (their display values, masked if sensitive), by id."""
        display = self.entity.display
        if not ids or not self.entity.has_field(display) or not self.entity.field(display).stored:
            return {}
        pk = self.table._meta.primary_key
        wanted = sorted({i for i in ids if fits_column(pk, i)})
        if not wanted:
            return {}
        rows = await self.table.select(pk.as_alias("row_id"), getattr(self.table, display).as_alias("shown")).where(
            pk.is_in(wanted))
        return {r["row_id"]: self._row_name({display: r["shown"]}, r["row_id"]) for r in rows}

    def _row_name(self, raw: dict[str, Any], row_id: int) -> str:
        """How a row is named in a message: its display value (masked if sensitive), else its number."""
        name = self._audit_view({self.entity.display: self._plain(raw).get(self.entity.display)}).get(self.entity.display)
        return str(name) if name not in (None, "") else f"记录 {row_id}"

    # -- export -----------------------------------------------------------
    def export_screen(self, grants) -> Screen:
        """The screen whose columns an export writes: the asked one, else the first granted row screen.
        A statistic exports its table at /api/stats/<screen>/export.xlsx|csv, never its raw rows."""
        rows = [s for s, _ in grants if s.stat is None]
        if not rows:
            chosen = grants[0][0]
            if len(grants) == 1:
                raise BadRequest(f"“{chosen.label}”是统计页面，请从 /api/stats/{chosen.name}/export.xlsx 或 export.csv 导出")
            raise Denied()
        return rows[0]

    async def export_rows(self, principal: Principal, *, screen=None, tab=None, q=None, sort=None,
                          filters=None, how: str = "export", level=None,
                          narrow=None) -> tuple[list[dict], AsyncIterator[list[dict]]]:
        """(columns, batches of items) of an export: the export grant, scope, tab, keyword, filters
        and sort apply; masked unless the grants hold `unmask` (runtime/security/unmask.py), and then
        the clear view is logged with the row count (`how`: export, or bulk_query_export). `narrow`:
        the plugins' condition from the request (`list_narrowing`, e.g. a stat's drill-down)."""
        grants = self.grants(principal, "export", screen)
        chosen = self.export_screen(grants)
        grants = [(s, g) for s, g in grants if s.stat is None]  # a statistic's grant opens no raw rows
        where = combine_and([self._conditions(principal, grants, tab, q, filters, level), narrow])
        visible = self.visible_fields(principal, grants)
        shape = self.shape(visible)
        column, ascending = ordering(self.entity, [chosen], self.table, sort)  # as the chosen screen's list
        clear = self.clear_view(grants)

        async def convert(rows: list[dict]) -> list[dict]:
            return await shape.convert(rows, clear)

        columns = export_columns(self.ctx, chosen, visible)
        await self._log_lookup(principal, grants, filters, "export")
        if clear:
            shown = set(shape.sensitive_names())
            count = self.table.count()
            await unmask.record_view(self.ctx, principal, self.entity, [s.name for s, _ in grants], how,
                                     fields=[c["name"] for c in columns if c["name"] in shown],
                                     rows=await (count.where(where) if where is not None else count),
                                     extra={"filters": self.filters_for_log(filters)} if filters else None)
        return columns, sorted_batches(self.table, shape.columns, where, column, ascending, convert)

    def export_name(self, screen: str | None, fmt: str) -> str:
        label = self.screens[screen].label if screen in self.screens else self.entity.label
        return f"{label}-{dt.date.today().isoformat()}.{fmt}"

    async def export_csv(self, request, *, screen=None, tab=None, q=None, sort=None, filters=None, level=None):
        """The generated GET /api/<entity>/export: the export as a streamed csv."""
        principal: Principal = request.user
        columns, batches = await self.export_rows(principal, screen=screen, tab=tab, q=q, sort=sort, filters=filters,
                                                  level=level, narrow=self.narrowing(request))
        await self.log_export(principal, screen, "csv", filters)
        return stream_response(csv_chunks(columns, batches), self.export_name(screen, "csv"))

    def filters_for_log(self, filters) -> dict[str, str]:
        """Filter values as the operation log keeps them: sensitive ones (an ID number) masked."""
        out = {}
        for name, value in (filters or {}).items():
            if value in (None, ""):
                continue
            f = self.entity.field(name) if self.entity.has_field(name) else None
            out[name] = self.ctx.sensitive.masked(str(value), f.sensitive) if f and f.sensitive else str(value)
        return out

    async def log_export(self, principal: Principal, screen: str | None, fmt: str, filters) -> None:
        await audit.record(self.ctx, principal, "action", self.entity.name, None, self.entity.label, None,
                           {"export": screen or "", "format": fmt, "filters": self.filters_for_log(filters)})

    async def _inside_scope(self, row_id: int, scope: Any, refusal: str) -> None:
        """A written row must lie inside the writer's scope (no creating, moving or orphaning a row
        outside it): checked on the stored row inside the transaction, so a refusal rolls back."""
        if scope is not None and not await self.table.exists().where(self.table._meta.primary_key == row_id, scope):
            raise Denied(refusal)

    # -- tree paths -------------------------------------------------------
    async def _tree_path(self, row_id: int, before: dict | None, columns: dict[str, Any]) -> None:
        """Keep `path` ("/1/5/9/") of a tree entity (`tree: parent`) and of its descendants."""
        tree = self.entity.tree
        if not tree or not self.entity.has_field("path"):
            return
        if before is not None and tree not in columns:
            return
        parent_id = columns.get(tree) if tree in columns else None
        parent_path = ""
        if parent_id is not None:
            rows = await self.table.select(self.table.path).where(self.table._meta.primary_key == parent_id)
            parent_path = rows[0]["path"] if rows else ""
            if f"/{row_id}/" in (parent_path or ""):
                raise Invalid({tree: "不能选择自身或下级作为上级"})
        new_path = f"{parent_path or '/'}{row_id}/"
        old_path = before.get("path") if before else None
        await self.table.update({self.table.path: new_path}).where(self.table._meta.primary_key == row_id)
        if old_path and old_path != new_path:
            for r in await self.table.select(self.table.id, self.table.path).where(self.table.path.like(f"{old_path}%")):
                if r["id"] != row_id:
                    await self.table.update({self.table.path: new_path + r["path"][len(old_path):]}).where(
                        self.table._meta.primary_key == r["id"])


def _random_password() -> str:
    import secrets

    return secrets.token_urlsafe(24)


class ActionCall(Call):
    """What a custom-action handler (`handler: plugin.name`) gets for one row: the service (its
    scoped code path), who acts, their grants for the action, the row as stored (sensitive values
    decoded) and the params: validated and typed when the action declares them (`params:`), as sent
    otherwise; `action`: the name of the custom action (one handler may serve several, e.g. a
    workflow's). The handler returns {"changed": {...}, "result": ...} or None."""

    def __init__(self, service: "EntityService", principal: Principal, grants, row: dict[str, Any],
                 params: dict[str, Any], action: str = ""):
        self.service, self.principal, self.grants, self.row, self.params = service, principal, grants, row, params
        self.action = action
        self.ctx = service.ctx

