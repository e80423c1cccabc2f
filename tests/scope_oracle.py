"""Which rows a data scope should let a user see, computed independently of runtime/security/scope.py
(and a screen's fixed `where`, of runtime/data/where.py).

runtime/security/scope.py turns a scope into nested `IN (SELECT ...)` conditions. This oracle instead
reads the raw rows with plain Piccolo selects and follows the scope's field path in Python,
so a wrong subquery in the runtime cannot hide behind the same mistake here.
"""
from __future__ import annotations

from typing import Any

DEFAULT_FIELD = {"own_records": "created_by"}  # the spec's documented default; every other mode uses "org"


async def _rows(ctx, entity: str) -> list[dict[str, Any]]:
    table = ctx.table(entity)
    return await table.select().order_by(table._meta.primary_key)


async def _org_tree(ctx) -> dict[int, str | None]:
    org = ctx.table("org")
    return {r["id"]: r["path"] for r in await org.select(org.id, org.path)}


async def _leaf_values(ctx, entity: str, path: list[str]) -> dict[int, Any]:
    """Row id -> the value at the end of `path` (None where a hop finds no row)."""
    model = ctx.app
    current = model.entity(entity)
    values = {r["id"]: r.get(path[0]) for r in await _rows(ctx, entity)}
    for part, nxt in zip(path, path[1:]):
        hop = current.field(part)
        target = model.entity(hop.to)
        by_key = {r[hop.key or "id"]: r for r in await _rows(ctx, target.name)}
        values = {rid: (by_key[v].get(nxt) if v in by_key else None) for rid, v in values.items()}
        current = target
    return values


async def _participated(ctx, scope, principal) -> set[int]:
    """我参与: the rows a row of the through entity points at whose org (path) is the user's org (or below)."""
    through = scope.through
    org_id = principal.org_id
    if org_id is None:
        return set()
    allowed = {org_id}
    if scope.and_sub:
        tree = await _org_tree(ctx)
        own_path = tree.get(org_id)
        allowed |= {oid for oid, p in tree.items() if own_path and p and p.startswith(own_path)}
    orgs = await _leaf_values(ctx, through.entity, (through.field or "org").split("."))
    return {r[through.ref] for r in await _rows(ctx, through.entity) if orgs.get(r["id"]) in allowed}


async def ids_in_scope(ctx, entity: str, scope, principal) -> set[int]:
    all_rows = await _rows(ctx, entity)
    if scope.mode == "all":
        return {r["id"] for r in all_rows}
    if scope.mode == "participated":
        return await _participated(ctx, scope, principal) & {r["id"] for r in all_rows}
    path = (scope.field or DEFAULT_FIELD.get(scope.mode, "org")).split(".")
    leaf = await _leaf_values(ctx, entity, path)
    if scope.mode == "own_records":
        return {rid for rid, v in leaf.items() if v is not None and v == principal.user_id}
    if scope.mode == "field_equals_user":
        wanted = principal.attrs.get(scope.user_attr or "")
        return set() if wanted is None else {rid for rid, v in leaf.items() if v == wanted}
    org_id = principal.org_id
    if org_id is None:
        return set()
    if scope.mode in ("own_unit", "self_only"):
        allowed = {org_id}
    else:
        tree = await _org_tree(ctx)
        own_path = tree.get(org_id)
        if not own_path:
            allowed = {org_id} if scope.mode == "own_and_sub" else set()
        else:
            allowed = {oid for oid, p in tree.items() if p and p.startswith(own_path)}
            if scope.mode == "sub_only":
                allowed.discard(org_id)
    return {rid for rid, v in leaf.items() if v in allowed}


async def ids_in_scopes(ctx, entity: str, scopes, principal) -> set[int]:
    """The union of several scopes (a grant may merge several roles' scopes)."""
    out: set[int] = set()
    for scope in scopes:
        out |= await ids_in_scope(ctx, entity, scope, principal)
    return out


def _holds(row: dict[str, Any], clause) -> bool:
    """A screen's fixed `where` on a stored row, evaluated here in Python (literal values only)."""
    for key, cond in clause.items():
        if key in ("or", "and"):
            results = [_holds(row, part) for part in cond]
            if not (any(results) if key == "or" else all(results)):
                return False
            continue
        value = row.get(key)
        conds = dict(cond) if hasattr(cond, "items") else {"eq": cond}
        for op, want in conds.items():
            assert not (isinstance(want, str) and want.startswith("$")), "the oracle takes literal values only"
            ok = {"eq": lambda: value == want if want is not None else value is None,
                  "not": lambda: value is not None if want is None else value != want,
                  "in": lambda: value in tuple(want),
                  "gte": lambda: value is not None and value >= want, "lte": lambda: value is not None and value <= want,
                  "gt": lambda: value is not None and value > want, "lt": lambda: value is not None and value < want,
                  "contains": lambda: value is not None and str(want).lower() in str(value).lower()}[op]()
            if not ok:
                return False
    return True


async def ids_on_screen(ctx, screen, scopes, principal) -> set[int]:
    """The rows a grant's scopes reach through `screen`: those inside the scopes that meet its fixed `where`."""
    inside = await ids_in_scopes(ctx, screen.entity, scopes, principal)
    if not screen.where:
        return inside
    return {r["id"] for r in await _rows(ctx, screen.entity) if r["id"] in inside and _holds(r, screen.where)}


async def visible_on_entity(ctx, entity: str, principal, action: str = "read") -> set[int]:
    """Rows of the entity the user reaches through any screen granting `action` (the API without `screen`)."""
    out: set[int] = set()
    for screen in ctx.app.screens_of(entity):
        grant = principal.grant(screen.name)
        if grant and action in grant.actions:
            out |= await ids_on_screen(ctx, screen, grant.scopes, principal)
    return out


def scoped_screens(model) -> list[str]:
    """Screens whose rows are limited by a data scope: the screen's own, or one a role grant gives."""
    names = {s.name for s in model.screens if s.scope.mode != "all"}
    for role in model.roles:
        for g in role.grants:
            if g.scope is not None and g.scope.mode != "all":
                names.add(g.screen)
    return sorted(names)
