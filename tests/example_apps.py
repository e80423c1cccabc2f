"""Every example app (examples/*/app.yaml) started for the security tests, on SQLite and PostgreSQL.

An app gets its data from `tests/<app>_fixture.py` (`build(ctx)` and `PASSWORD`) when there is
one, else from its own `demo.py` (`load(ctx)` and `PASSWORD`). On top of that data the tests add
a superuser (`sec_root`) and a user with no roles at all (`sec_nogrant`); every other active,
non-superuser user with a role is one of the app's "role users" (for Kaiping: ops, unit1, unit2).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import start_app, EXAMPLES, ROOT, copy_app

APPS = sorted(p.parent.name for p in EXAMPLES.glob("*/app.yaml"))
ROOT_USER, NOGRANT_USER = "sec_root", "sec_nogrant"


def model_of(app_name: str):
    """The app's model as generated (read at collection time to parametrise the tests)."""
    from specadmin.runtime.system.generated import MODEL as SYSTEM_MODEL
    from specadmin.specs.model import load_model

    return load_model(EXAMPLES / app_name / "generated" / "app_model.json", base=SYSTEM_MODEL)


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data_provider(app_name: str):
    """(load coroutine function, password) for the app: the test fixture first, the demo second."""
    fixture = ROOT / "tests" / f"{app_name}_fixture.py"
    if fixture.exists():
        module = _module(fixture, f"security_fixture_{app_name}")
        return module.build, module.PASSWORD
    demo = EXAMPLES / app_name / "demo.py"
    if demo.exists():
        module = _module(demo, f"security_demo_{app_name}")
        return module.load, module.PASSWORD
    raise AssertionError(f"{app_name}: add tests/{app_name}_fixture.py (build, PASSWORD) for the security tests")


@dataclass
class AppEnv:
    name: str
    backend: str
    app: Any
    ctx: Any
    app_dir: Path
    url: str | None
    password: str
    role_users: list[str] = field(default_factory=list)
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    @property
    def model(self):
        return self.ctx.app

    async def client(self, username: str) -> httpx.AsyncClient:
        """A logged-in client (one per user, kept for the module) with the CSRF header set."""
        if username not in self.clients:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")
            r = await client.post("/api/auth/login", json={"username": username, "password": self.password})
            assert r.status_code == 200, (username, r.text)
            assert (await client.get("/api/auth/me")).status_code == 200
            client.headers["x-csrftoken"] = client.cookies["csrftoken"]
            self.clients[username] = client
        return self.clients[username]

    async def principal(self, username: str):
        from specadmin.runtime.identity.sessions import load_principal

        user = self.ctx.table("user")
        rows = await user.select(user.id).where(user.username == username)
        self.ctx.principals.clear()
        return await load_principal(self.ctx, rows[0]["id"])


async def open_env(app_name: str, backend: str, tmp_path_factory) -> AppEnv:
    from specadmin.runtime.identity.users import ensure_user

    app_dir = copy_app(app_name, tmp_path_factory.mktemp(f"sec-{app_name}-{backend}"))
    app, url = await start_app(app_dir, backend)
    ctx = app.state.ctx
    try:
        load, password = data_provider(app_name)
        await load(ctx)
        await ctx.refresh_caches()
        org = ctx.table("org")
        some_org = await org.select(org.code).order_by(org.id).limit(1)
        org_code = some_org[0]["code"] if some_org else None
        await ensure_user(ctx, ROOT_USER, password, name="安全测试超管", org_code=org_code, superuser=True)
        await ensure_user(ctx, NOGRANT_USER, password, name="安全测试无权限", org_code=org_code)
        env = AppEnv(app_name, backend, app, ctx, app_dir, url, password)
        env.role_users = await role_users(ctx)
    except BaseException:
        for hook in app.on_shutdown:  # an open SQLite thread or pool would keep pytest from exiting
            await hook(app)
        raise
    return env


async def close_env(env: AppEnv) -> None:
    for client in env.clients.values():
        await client.aclose()
    for hook in env.app.on_shutdown:
        await hook(env.app)


async def role_users(ctx) -> list[str]:
    user = ctx.table("user")
    join = ctx.join_table("user", "roles")
    with_roles = join.select(join.owner)
    rows = await user.select(user.username).where(
        user.active == True, user.superuser == False, user.id.is_in(with_roles)).order_by(user.username)  # noqa: E712
    return [r["username"] for r in rows]


class EnvPool:
    """The module's started apps, one per (app, backend), opened on first use and closed at module end.

    Several apps share the one PostgreSQL test database, so only one PostgreSQL app is open at a time.
    """

    def __init__(self, tmp_path_factory, prepare=None):
        self.tmp_path_factory = tmp_path_factory
        self.prepare = prepare  # async fn(env) run once after opening (log in users, read the schema)
        self.envs: dict[tuple[str, str], AppEnv] = {}

    async def get(self, app_name: str, backend: str) -> AppEnv:
        key = (app_name, backend)
        if key not in self.envs:
            if backend == "postgres":
                for other in [k for k in self.envs if k[1] == "postgres"]:
                    await close_env(self.envs.pop(other))
            env = await open_env(app_name, backend, self.tmp_path_factory)
            try:
                if self.prepare:
                    await self.prepare(env)
            except BaseException:
                await close_env(env)
                raise
            self.envs[key] = env
        return self.envs[key]

    async def close(self) -> None:
        for env in self.envs.values():
            await close_env(env)
        self.envs.clear()


def env_pool(prepare=None):
    """A module's `pool` fixture: `pool = env_pool(_prepare)` in the test module."""

    @pytest.fixture(scope="module")
    async def pool(tmp_path_factory):
        envs = EnvPool(tmp_path_factory, prepare)
        try:
            yield envs
        finally:
            await envs.close()

    return pool


# -- database snapshots (direct Piccolo reads, never through the services) ------------------
def all_tables(ctx) -> dict[str, Any]:
    tables = {e.name: ctx.table(e.name) for e in ctx.app.entities}
    for (entity, name), table in ctx.package.tables.JOIN_TABLES.items():
        tables[f"{entity}.{name}"] = table
    return tables


async def row_counts(ctx, exclude: tuple[str, ...] = ()) -> dict[str, int]:
    return {name: await t.count() for name, t in all_tables(ctx).items() if name not in exclude}


async def snapshot(ctx, exclude: tuple[str, ...] = ()) -> dict[str, list]:
    """Every row of every table (sorted by id): equal snapshots mean nothing was written."""
    out = {}
    for name, table in all_tables(ctx).items():
        if name in exclude:
            continue
        pk = table._meta.primary_key
        out[name] = [tuple(sorted((k, repr(v)) for k, v in r.items())) for r in await table.select().order_by(pk)]
    return out


def _records_a_refusal(table: str, row: tuple) -> bool:
    """An operation-log entry of a refused call (the caller API logs every call, refused ones too)."""
    import ast
    import json

    if table != "oplog":
        return False
    try:
        after = json.loads(ast.literal_eval(dict(row).get("after", "None")) or "{}")
    except ValueError:
        return False
    return isinstance(after, dict) and int(after.get("status") or 0) >= 400


def diff_snapshots(before: dict[str, list], after: dict[str, list]) -> dict[str, str]:
    """What changed between two snapshots, beyond log entries that record a refusal."""
    changed = {}
    for name, rows in before.items():
        now = after.get(name, [])
        added = [r for r in now if r not in rows and not _records_a_refusal(name, r)]
        removed = [r for r in rows if r not in now]
        if added or removed:
            changed[name] = f"added {added[:3]} removed {removed[:3]}"
    return changed


# -- OpenAPI ----------------------------------------------------------------------------------
async def openapi(env: AppEnv) -> dict:
    """The app's OpenAPI schema, read as the superuser (the schema is not for anonymous visitors)."""
    r = await (await env.client(ROOT_USER)).get("/schema/openapi.json")
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return r.json()


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                out.append((method.upper(), path, op))
    return out


def entity_of_path(model, path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api" and parts[1] in {e.name for e in model.entities}:
        return parts[1]
    return None


def fill_path(path: str, values: dict[str, Any]) -> str:
    import re

    def one(match) -> str:
        name = match.group(1).split(":")[0]
        assert name in values, f"the walker cannot fill path parameter {{{name}}} of {path}: teach it"
        return str(values[name])

    return re.sub(r"\{([^}]+)\}", one, path)


async def first_id(ctx, entity: str) -> int:
    """An existing row id of the entity (or 1 when the table is empty: refusals come before lookups)."""
    table = ctx.table(entity)
    rows = await table.select(table._meta.primary_key).order_by(table._meta.primary_key).limit(1)
    return rows[0]["id"] if rows else 1


def flow_entities(model) -> list[str]:
    """The entities a `workflow:` section drives (the workflow plugin's routes take one as {entity})."""
    return [flow["entity"] for section in model.section("workflow").values() for flow in section.values()]
