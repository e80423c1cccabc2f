"""Server-side sessions that can be revoked: logout, password reset, disabling, role changes and
deletion end a session on every worker at once, a new account that reuses a deleted one's id
inherits nothing, the session id changes at login, and visitors create no stored sessions;
on SQLite and PostgreSQL, plus the Redis store when REDIS_URL is set."""
from __future__ import annotations

import os

import httpx
import pytest
from conftest import BACKENDS
from identity_fixture import add_user, client, identity_env, login

pytestmark = pytest.mark.asyncio(loop_scope="session")
COOKIE = "specadmin_session"


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with identity_env(request.param, tmp_path_factory) as e:
        yield e


@pytest.fixture(scope="module")
async def other_worker(env, tmp_path_factory):
    """A second worker over the same database and keys: a copy of the app in another folder, so it
    shares nothing in memory with the first (not even its Table classes)."""
    import shutil

    from conftest import copy_app
    from specadmin.runtime.app.factory import create_app

    folder = copy_app("kaiping", tmp_path_factory.mktemp("other-worker"))
    shutil.copytree(env["dir"] / "var" / "keys", folder / "var" / "keys")
    url = env["url"] or f"sqlite:///{env['dir'] / 'var' / 'app.sqlite3'}"
    app = create_app(folder, url)
    for hook in app.on_startup:
        await hook(app)
    yield app
    for hook in app.on_shutdown:
        await hook(app)


def with_cookie(app, cookie: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    c.cookies.set(COOKIE, cookie)
    return c


async def me(app, cookie: str) -> int:
    async with with_cookie(app, cookie) as c:
        return (await c.get("/api/auth/me")).status_code


async def test_logout_ends_the_session_on_the_server(env):
    c = await login(env, "s1clerk")
    cookie = c.cookies[COOKIE]
    assert await me(env["app"], cookie) == 200
    assert (await c.post("/api/auth/logout")).status_code == 200
    assert await me(env["app"], cookie) == 401  # a copy of the cookie is worth nothing after logout


async def test_login_gives_a_new_session_id(env):
    planted = "a" * 64
    async with client(env) as c:
        r = await c.post("/api/auth/login", json={"username": "s1clerk", "password": "Kaiping@2026"},
                         headers={"cookie": f"{COOKIE}={planted}"})
        assert r.status_code == 200
        assert r.cookies[COOKIE] not in ("", planted)
    assert await me(env["app"], planted) == 401


async def test_password_reset_ends_existing_sessions(env):
    user_id = await add_user(env, "resetsess", "S1")
    cookie = (await login(env, "resetsess")).cookies[COOKIE]
    root = await login(env, "root")
    r = await root.post("/api/user/actions/reset_password", params={"screen": "user_admin"}, json={"ids": [user_id]})
    assert r.json()["done"] == [user_id]
    assert await me(env["app"], cookie) == 401


async def test_disabling_ends_sessions_on_every_worker_and_enabling_does_not_revive_them(env, other_worker):
    user_id = await add_user(env, "offsess", "S1")
    cookie = (await login(env, "offsess")).cookies[COOKIE]
    assert await me(other_worker, cookie) == 200  # the other worker has this user's principal cached now
    root = await login(env, "root")
    await root.post("/api/user/actions/disable", params={"screen": "user_admin"}, json={"ids": [user_id]})
    assert await me(other_worker, cookie) == 401
    await root.post("/api/user/actions/enable", params={"screen": "user_admin"}, json={"ids": [user_id]})
    assert await me(other_worker, cookie) == 401
    assert await me(env["app"], cookie) == 401


async def test_a_role_change_ends_the_sessions_of_that_person(env, other_worker):
    user_id = await add_user(env, "rolesess", "S1")
    cookie = (await login(env, "rolesess")).cookies[COOKIE]
    role = env["ctx"].table("role")
    ops = (await role.select(role.id).where(role.code == "ops"))[0]["id"]
    root = await login(env, "root")
    r = await root.post("/api/user/actions/assign_roles", params={"screen": "user_admin"},
                        json={"ids": [user_id], "params": {"roles": [ops]}})
    assert r.json()["done"] == [user_id]
    assert await me(other_worker, cookie) == 401
    fresh = await login(env, "rolesess")
    assert "ops" in (await fresh.get("/api/auth/me")).json()["user"]["roles"]


async def test_a_new_account_reusing_a_deleted_ones_id_inherits_no_session(env):
    user = env["ctx"].table("user")
    await add_user(env, "zz_last", "S1")  # the highest id, so SQLite hands it out again
    old_id = (await user.select(user.id).where(user.username == "zz_last"))[0]["id"]
    cookie = (await login(env, "zz_last")).cookies[COOKIE]
    root = await login(env, "root")
    assert (await root.delete(f"/api/user/{old_id}", params={"screen": "user_admin"})).status_code == 204
    assert await me(env["app"], cookie) == 401
    new_id = await add_user(env, "zz_newcomer", "S1")
    if env["url"] is None:
        assert new_id == old_id  # the scenario: SQLite reuses the deleted row's id
    async with with_cookie(env["app"], cookie) as c:
        r = await c.get("/api/auth/me")
    assert r.status_code == 401 and "zz_newcomer" not in r.text


async def test_a_disabled_address_is_refused_by_every_worker_at_once(env, other_worker):
    from identity_fixture import login as login_to

    root = await login(env, "root")
    ops_cookie = (await login_to(env, "ops")).cookies[COOKIE]
    async with with_cookie(other_worker, ops_cookie) as ops_elsewhere:
        assert (await ops_elsewhere.get("/api/scan_record")).status_code == 200
        r = await root.post("/api/api_resource", json={"name": "扫码接口", "address": "/api/scan_record",
                                                        "res_type": "namespace", "active": False})
        resource = r.json()["id"]
        try:
            assert (await ops_elsewhere.get("/api/scan_record")).status_code == 403
        finally:
            await root.delete(f"/api/api_resource/{resource}")
        assert (await ops_elsewhere.get("/api/scan_record")).status_code == 200


async def test_visitors_leave_no_stored_session(env):
    store = env["ctx"].runtime_table("sys_session")
    before = await store.count()
    async with client(env) as c:
        for _ in range(5):
            assert (await c.get("/login")).status_code == 200
            assert (await c.get("/api/auth/me")).status_code == 401
    assert await store.count() == before


async def test_one_session_written_by_many_requests_at_once_stays_one_row(env):
    """Requests of one session write it concurrently (a sliding expiry, a flash): no duplicate-key
    error, one row, the last value kept."""
    import asyncio

    from specadmin.runtime.identity.session_store import DatabaseStore

    table = env["ctx"].runtime_table("sys_session")
    store = DatabaseStore(table)
    for attempt in range(5):
        key = f"concurrent-{attempt}"
        await asyncio.gather(*[store.set(key, f"v{i}".encode(), 600) for i in range(20)])
        assert await table.count().where(table.key == key) == 1
        assert (await store.get(key)).startswith(b"v")
        await store.delete(key)


async def test_a_password_or_flag_changed_outside_the_api_ends_sessions_at_the_next_request(env, other_worker):
    """The console, the CLI or SQL change a user's row without the API's hooks (no cache generation
    bump): the session check reads the row on every request, so the very next one is refused."""
    user = env["ctx"].table("user")
    for username, change in (("sqlpass", {user.password: user.hash_password("Changed@2026x")}),
                             ("sqloff", {user.active: False})):
        user_id = await add_user(env, username, "S1")
        cookie = (await login(env, username)).cookies[COOKIE]
        assert await me(other_worker, cookie) == 200 and await me(env["app"], cookie) == 200
        await user.update(change).where(user.id == user_id)
        assert await me(other_worker, cookie) == 401
        assert await me(env["app"], cookie) == 401


async def test_a_grant_scope_change_reaches_an_open_session_at_its_next_request_on_every_worker(env, other_worker):
    """No re-login: the same session's next list, on a worker that has its principal cached, sees
    the new scope, then the withdrawn grant."""
    from identity_fixture import add_role

    role_id = await add_role(env, "scope_probe", {}, org_code="KP")
    await add_user(env, "scopeprobe", "KP", ("scope_probe",))
    root = await login(env, "root")

    async def grant(scope: str | None) -> None:
        screen = {"actions": ["list", "read"], "scope": scope} if scope else {"actions": []}
        r = await root.post("/api/identity/grant-tree", json={"role": role_id, "screens": {"threshold_admin": screen}})
        assert r.status_code == 200, r.text

    async def listed(cookie: str) -> httpx.Response:
        async with with_cookie(other_worker, cookie) as c:
            return await c.get("/api/place", params={"screen": "threshold_admin"})

    await grant("own_unit")
    cookie = (await login(env, "scopeprobe")).cookies[COOKIE]
    assert (await listed(cookie)).json()["total"] == 0  # no place is supervised by KP itself
    await grant("own_and_sub")
    place = env["ctx"].table("place")
    supervised = await place.count().where(place.supervisor.is_in([env["ids"]["U1"], env["ids"]["U2"]]))
    assert (await listed(cookie)).json()["total"] == supervised > 0
    await grant(None)
    assert (await listed(cookie)).status_code == 403


async def test_a_session_id_names_its_owner_and_is_checked_against_the_session(env):
    """The id starts with the owner's user id, so the database store reads the session and its owner's
    row in one statement; an id without one (made before) still works, and an id whose number names
    someone else (or no user at all, however large) is answered as the session's own user."""
    from specadmin.runtime.identity.session_store import DatabaseStore

    user_id = await add_user(env, "idowner", "S1")
    other_id = await add_user(env, "idother", "S1")
    cookie = (await login(env, "idowner")).cookies[COOKIE]
    assert cookie.startswith(f"{user_id}.") and len(cookie.partition(".")[2]) == 64
    store = DatabaseStore(env["ctx"].runtime_table("sys_session"))
    data = await store.get(cookie)
    for key in ("b" * 64, f"{other_id}.{'c' * 64}", f"{user_id}{other_id}.{'d' * 64}", f"{'9' * 18}.{'e' * 64}",
                f"{2**31}.{'f' * 64}"):
        await store.set(key, data, 600)
        async with with_cookie(env["app"], key) as c:
            r = await c.get("/api/auth/me")
        assert r.status_code == 200 and r.json()["user"]["id"] == user_id, key
        await store.delete(key)


# Last: after its second app stops, the next write on SQLite waited for a lock and answered 503 (so it did
# before the issue 14 changes too; not investigated yet).
async def test_sessions_live_in_redis_when_redis_url_is_set(env, monkeypatch):
    import redis.asyncio as redis
    from specadmin.runtime.app.factory import create_app

    url = os.environ["SPECADMIN_TEST_REDIS_URL"]
    monkeypatch.setenv("REDIS_URL", url)
    app = create_app(env["dir"], env["url"])
    for hook in app.on_startup:
        await hook(app)
    server = redis.Redis.from_url(url)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            r = await c.post("/api/auth/login", json={"username": "s1clerk", "password": "Kaiping@2026"})
            assert r.status_code == 200
            cookie = c.cookies[COOKIE]
            key = f"specadmin:{env['ctx'].app.name}:sessions:{cookie}"
            assert await server.exists(key)
            await c.get("/api/auth/me")
            c.headers["x-csrftoken"] = c.cookies["csrftoken"]
            assert (await c.post("/api/auth/logout")).status_code == 200
            assert not await server.exists(key)
        assert await me(app, cookie) == 401
    finally:
        await server.aclose()
        for hook in app.on_shutdown:
            await hook(app)
