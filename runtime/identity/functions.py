"""Function (menu) resources and API/URL resources: seeding from the app's screens, the
rule cache, the anonymous visitor and the block on disabled addresses.

Rules are re-read when the context's caches are refreshed (every write to a cached entity
refreshes them, and `caches_fresh` does so at least every 30 s for other workers).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from specadmin.runtime.errors import Denied
from specadmin.runtime.security.principal import FunctionRule, Principal, anonymous_grants

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

MENU_PREFIX = "menu:"  # function codes of menu groups; screens use their own name
RULES_TTL = 10.0
_cache: dict[int, tuple[float, float, dict[str, FunctionRule], list[tuple[str, str]]]] = {}


async def _load(ctx: "AppContext") -> tuple[dict[str, FunctionRule], list[tuple[str, str]]]:
    key = id(ctx)
    hit = _cache.get(key)
    if hit and hit[0] == ctx.caches_loaded_at and time.monotonic() - hit[1] < RULES_TTL:
        return hit[2], hit[3]
    fn = ctx.table("function")
    rules = {}
    for r in await fn.select(fn.code, fn.policy, fn.level, fn.active):
        try:
            level = int(r["level"] or 1)
        except ValueError:
            level = 1
        rules[r["code"]] = FunctionRule(r["policy"] or "authorized", level, bool(r["active"]))
    res = ctx.table("api_resource")
    blocked = [(r["address"], r["res_type"]) for r in
               await res.select(res.address, res.res_type).where(res.active == False)]  # noqa: E712
    _cache[key] = (ctx.caches_loaded_at, time.monotonic(), rules, blocked)
    return rules, blocked


async def function_rules(ctx: "AppContext") -> dict[str, FunctionRule]:
    return (await _load(ctx))[0]


async def check_address(ctx: "AppContext", path: str) -> None:
    """Refuse a disabled API/URL resource: a service by its exact address, a namespace with all below it."""
    _, blocked = await _load(ctx)
    for address, kind in blocked:
        if path == address or (kind == "namespace" and path.startswith(address.rstrip("/") + "/")):
            raise Denied("该地址已停用，禁止访问")


async def anonymous_principal(ctx: "AppContext", method: str, path: str) -> Principal | None:
    """A visitor may GET the pages and API of 无需登录可访问 functions, and nothing else."""
    if method not in ("GET", "HEAD"):
        return None
    rules, _ = await _load(ctx)
    grants = anonymous_grants(ctx.app, rules)
    if not grants:
        return None
    parts = [p for p in path.split("/") if p]
    entities = {ctx.app.screen(name).entity for name in grants}
    page = len(parts) in (2, 3) and parts[0] == "s" and parts[1] in grants and (len(parts) == 2 or parts[2].isdigit())
    api = len(parts) in (2, 3) and parts[0] == "api" and parts[1] in entities and (len(parts) == 2 or parts[2].isdigit())
    if not (page or api):
        return None
    await check_address(ctx, path)
    return Principal(user_id=0, username="anonymous", name="访客", org_id=None, org_name="", superuser=False,
                     roles=(), grants=grants, anonymous=True)


async def seed_functions(ctx: "AppContext") -> int:
    """One function per menu group and per screen, added when missing (admins' edits are kept)."""
    fn = ctx.table("function")
    existing = {r["code"]: r for r in await fn.select(fn.id, fn.code, fn.path)}
    added = 0

    async def ensure(code, name, parent, sort, page_url=None, service_url=None) -> int:
        nonlocal added
        if code in existing:
            return existing[code]["id"]
        result = await fn.insert(fn(code=code, name=name, parent=parent, sort=sort, page_url=page_url,
                                    service_url=service_url, policy="authorized", level="1", active=True)
                                 ).returning(fn.id)
        new_id = result[0]["id"]
        parent_path = existing[parent_code[parent]]["path"] if parent else "/"
        path = f"{parent_path or '/'}{new_id}/"
        await fn.update({fn.path: path}).where(fn.id == new_id)
        existing[code] = {"id": new_id, "code": code, "path": path}
        added += 1
        return new_id

    parent_code: dict[int, str] = {}
    for order, menu in enumerate(ctx.menus):
        group_id = await ensure(MENU_PREFIX + menu["name"], menu["label"], None, order)
        parent_code[group_id] = MENU_PREFIX + menu["name"]
        for sort, name in enumerate(menu["screens"]):
            screen = ctx.screens.get(name)
            if screen is not None:
                await ensure(name, screen["label"], group_id, sort, f"/s/{name}", f"/api/{screen['entity']}")
    return added
