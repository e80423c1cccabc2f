"""The Kaiping app with a known identity set-up, for the identity and access tests.

On top of the Kaiping fixture (orgs KP > OPS, U1 开平市教育局, U2; users ops, unit1, unit2,
nobody) it adds two streets with a community, a superuser, a street org admin, and people
in each street. Module-scoped per backend: tests use their own users where they change them.
"""
from __future__ import annotations

import contextlib
import datetime as dt

import httpx
from conftest import start_app, copy_app
from kaiping_fixture import PASSWORD, build

STREET_ADMIN_GRANTS = {"user_admin": "list,read,create,update,delete,enable,disable,unlock,reset_password,change_org,"
                                     "assign_roles",
                       "role_admin": "list,read,create,update,copy,assign_users",
                       "org_admin": "list,read,update"}


@contextlib.asynccontextmanager
async def identity_env(backend: str, tmp_path_factory):

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"identity-{backend}"))
    app, url = await start_app(app_dir, backend)
    try:
        ctx = app.state.ctx
        ids = await build(ctx)
        env = {"app": app, "ctx": ctx, "ids": ids, "dir": app_dir, "url": url}
        await add_identity(env)
        yield env
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def add_org(env, code: str, name: str, level: str, parent_code: str | None) -> int:
    ctx = env["ctx"]
    org = ctx.table("org")
    parent = env["ids"][parent_code] if parent_code else None
    result = await org.insert(org(code=code, name=name, level=level, parent=parent, active=True)).returning(org.id)
    new_id = result[0]["id"]
    parent_path = (await org.select(org.path).where(org.id == parent))[0]["path"] if parent else "/"
    await org.update({org.path: f"{parent_path}{new_id}/"}).where(org.id == new_id)
    env["ids"][code] = new_id
    await ctx.refresh_caches()
    return new_id


async def add_role(env, code: str, grants: dict[str, str], *, org_code: str | None = None, admin: bool = False,
                   valid_from: dt.date | None = None, valid_to: dt.date | None = None,
                   grant_until: dict[str, dt.date] | None = None) -> int:
    ctx = env["ctx"]
    role, grant = ctx.table("role"), ctx.table("grant")
    result = await role.insert(role(code=code, label=code, org=env["ids"][org_code] if org_code else None,
                                    admin_org_scope=admin, valid_from=valid_from, valid_to=valid_to,
                                    active=True)).returning(role.id)
    role_id = result[0]["id"]
    for screen, actions in grants.items():
        await grant.insert(grant(role=role_id, screen=screen, actions=actions,
                                 valid_until=(grant_until or {}).get(screen)))
    env["ids"][f"role_{code}"] = role_id
    await ctx.refresh_caches()
    return role_id


async def add_user(env, username: str, org_code: str | None, roles: tuple[str, ...] = (), *, name: str | None = None,
                   superuser: bool = False) -> int:
    from specadmin.runtime.identity.users import ensure_user

    user_id = await ensure_user(env["ctx"], username, PASSWORD, name=name or username, org_code=org_code, roles=roles,
                                superuser=superuser)
    env["ids"][f"user_{username}"] = user_id
    return user_id


async def add_identity(env) -> None:
    await add_org(env, "S1", "长沙街道", "street", "KP")
    await add_org(env, "S2", "三埠街道", "street", "KP")
    await add_org(env, "S1C", "长沙街道幕沙社区", "community", "S1")
    await add_user(env, "root", "KP", superuser=True, name="超级管理员")
    await add_role(env, "s1_admin", STREET_ADMIN_GRANTS, org_code="S1", admin=True)
    await add_user(env, "s1admin", "S1", ("s1_admin",), name="长沙管理员")
    await add_user(env, "s1clerk", "S1C", name="社区人员")
    await add_user(env, "s2clerk", "S2", name="三埠人员")


def address_of(username: str) -> str:
    """A client address of its own per account: the login throttles count per address, and each
    test's failed logins should not count against the next test's."""
    digest = sum(username.encode()) * 7919 + len(username)
    return f"10.{digest % 250}.{digest // 250 % 250}.{len(username) % 250 + 1}"


def client(env, address: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"], client=(address, 40000)),
                             base_url="http://testserver")


async def login(env, username: str, password: str = PASSWORD) -> httpx.AsyncClient:
    c = client(env)
    r = await c.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    assert (await c.get("/api/auth/me")).status_code == 200  # a GET hands out the CSRF cookie
    c.headers["x-csrftoken"] = c.cookies["csrftoken"]
    return c


async def try_login(env, username: str, password: str, address: str | None = None) -> httpx.Response:
    async with client(env, address or address_of(username)) as c:
        return await c.post("/api/auth/login", json={"username": username, "password": password})
