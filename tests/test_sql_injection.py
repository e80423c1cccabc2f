"""SQL injection: fixed payloads in every query and path parameter of the OpenAPI schema, then a
property-based schemathesis run, on every example app, on SQLite and PostgreSQL.

Nothing may answer 500, leak a database error, return more rows than the same list without the
payload (for scoped users: nothing outside the scope), or change a table.
"""
from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
from conftest import BACKENDS
from example_apps import (APPS, ROOT_USER, env_pool, entity_of_path, fill_path, model_of, openapi, operations,
                          row_counts)
from injection_support import (PATH_PAYLOADS, PAYLOADS, TYPED_PAYLOADS, assert_no_leak, last_oplog_id, param_type,
                               row_total, writes_in_oplog)
from property_run import run_property_checks
from scope_oracle import ids_in_scopes, scoped_screens
from security_walk_support import entity_values, required_query

pytestmark = pytest.mark.asyncio(loop_scope="session")

ENVS = [(app, backend) for app in APPS for backend in BACKENDS]
UNCHANGED_EXCEPT = ("oplog",)  # exports are recorded in the operation log; checked by writes_in_oplog
# The exception log shows its stack traces to those granted it (requirements §4.9): not a leak there.
SHOWS_STACKS = ("/api/exception_log",)


async def _prepare(env) -> None:
    env.spec = await openapi(env)
    for username in env.role_users:
        await env.client(username)  # log in first: logins are writes by design


class unchanged:
    """Every table keeps its rows (and still exists) across the block; no write is logged."""

    def __init__(self, env):
        self.ctx = env.ctx

    async def __aenter__(self):
        self.counts = await row_counts(self.ctx, UNCHANGED_EXCEPT)
        self.oplog = await last_oplog_id(self.ctx)

    async def __aexit__(self, exc_type, *_):
        if exc_type is None:
            assert await row_counts(self.ctx, UNCHANGED_EXCEPT) == self.counts, "a table changed under the payloads"
            assert await writes_in_oplog(self.ctx, self.oplog) == []


pool = env_pool(_prepare)


def _cases() -> list:
    return [pytest.param(app, backend, e.name, id=f"{app}-{backend}-{e.name}")
            for app, backend in ENVS for e in model_of(app).entities]


async def _probe(client, method: str, url: str, params: dict, baseline, allowed: set[int] | None,
                 what: str) -> None:
    """`baseline`: the row count without the payload, or a coroutine function giving the table's current
    count (for the operation log, which grows with every export the run makes)."""
    r = await client.request(method, url, params=params)
    if callable(baseline):
        baseline = await baseline()
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    if not (r.status_code == 200 and url.startswith(SHOWS_STACKS)):
        assert_no_leak(r, what)
    total, ids = row_total(r)
    if total is not None and baseline is not None:
        assert total <= baseline, f"{what}: {total} rows, more than the {baseline} without the payload"
    if ids is not None and allowed is not None:
        assert set(ids) <= allowed, f"{what}: rows outside the scope {set(ids) - allowed}"


async def _flood(client, path: str, op: dict, base: dict, allowed: set[int] | None, label: str,
                 growing=None) -> int:
    """Every payload in every query parameter of one GET operation; returns the number of requests."""
    r = await client.get(path, params=base)
    baseline, _ = row_total(r) if r.status_code == 200 else (None, None)
    if growing is not None and baseline is not None:
        baseline = growing.count
    sent = 0
    for p in op.get("parameters", []):
        if p["in"] != "query" or (p["name"] == "screen" and "screen" in base):
            continue  # a scoped run keeps its screen fixed
        payloads = PAYLOADS if param_type(p) == "string" else TYPED_PAYLOADS
        for payload in payloads:
            await _probe(client, "GET", path, {**base, p["name"]: payload}, baseline, allowed,
                         f"{label} GET {path} {p['name']}={payload[:40]!r}")
            sent += 1
    return sent


@pytest.mark.parametrize("app,backend,entity", _cases())
async def test_payloads_in_every_parameter_of_the_entity_api_cause_no_error_and_no_extra_rows(pool, app, backend,
                                                                                           entity):
    env = await pool.get(app, backend)
    root = await env.client(ROOT_USER)
    model = env.model
    known = entity_values(model.entity(entity))
    ops = [(m, p, op) for m, p, op in operations(env.spec) if entity_of_path(model, p) == entity]
    async with unchanged(env):
        sent = await _entity_payloads(env, root, entity, ops, known)
    assert sent, f"no parameter of {entity} was probed"


async def _entity_payloads(env, root, entity: str, ops: list, known: dict) -> int:
    model = env.model
    sent = 0
    for method, path, op in ops:
        if method != "GET":
            continue
        base = required_query(op, known)
        if "{" not in path:
            growing = env.ctx.table(entity) if entity in UNCHANGED_EXCEPT else None
            sent += await _flood(root, path, op, base, None, "superuser", growing)
        for payload in PATH_PAYLOADS:
            url = fill_path(path, {"row_id": quote(payload, safe=""), "action": "x", "field": "x", "file_id": 1, "param": "x"})
            await _probe(root, "GET", url, base, None, None, f"GET {url}")
            sent += 1
    for payload in PATH_PAYLOADS:  # action names and ids in the write paths
        await _probe(root, "POST", f"/api/{entity}/actions/{quote(payload, safe='')}", {}, None, None, "action")
        sent += 1
    # A scoped user: the payload may narrow the scoped list, never widen it past the scope.
    for screen_name in [s for s in scoped_screens(model) if model.screen(s).entity == entity]:
        for username in env.role_users:
            principal = await env.principal(username)
            grant = principal.grant(screen_name)
            if not grant or "list" not in grant.actions or model.screen(screen_name).stat:
                continue
            allowed = await ids_in_scopes(env.ctx, entity, grant.scopes, principal)
            client = await env.client(username)
            list_op = env.spec["paths"][f"/api/{entity}"]["get"]
            sent += await _flood(client, f"/api/{entity}", list_op, {"screen": screen_name}, allowed, username)
            break  # one scoped user per screen keeps the run short; the walk test covers every user
    return sent


@pytest.mark.parametrize("app,backend", ENVS, ids=[f"{a}-{b}" for a, b in ENVS])
async def test_payloads_in_statistics_and_other_endpoints_cause_no_error(pool, app, backend):
    env = await pool.get(app, backend)
    root = await env.client(ROOT_USER)
    async with unchanged(env):
        sent = await _other_payloads(env, root)
    assert sent


async def _other_payloads(env, root) -> int:
    model = env.model
    sent = 0
    for method, path, op in operations(env.spec):
        if method != "GET" or entity_of_path(model, path) or not path.startswith("/api/"):
            continue
        if path.startswith("/api/auth/"):
            continue  # login, logout, me: no data parameters
        names = [n for n in ("screen", "code", "job_id", "row_id", "message_id", "notice_id", "entity", "log_id", "file_id",
                               "group_id") if "{" + n in path]
        for payload in PATH_PAYLOADS:
            url = fill_path(path, {n: quote(payload, safe="") for n in names})
            await _probe(root, "GET", url, required_query(op), None, None, f"GET {url}")
            sent += 1
        if names == ["screen"]:  # statistics: their filters are read from the query, not listed in the schema
            for screen in [s for s in model.screens if s.stat]:
                url = fill_path(path, {"screen": screen.name})
                params = [{"name": n, "in": "query", "schema": {"type": "string"}} for n in screen.filters]
                sent += await _flood(root, url, {"parameters": op.get("parameters", []) + params}, {}, None, "stats")
        elif not names:
            sent += await _flood(root, path, op, required_query(op), None, "superuser")
    return sent


@pytest.mark.parametrize("app,backend", ENVS, ids=[f"{a}-{b}" for a, b in ENVS])
async def test_property_based_run_finds_no_server_error(pool, app, backend):
    env = await pool.get(app, backend)
    async with unchanged(env):
        report = await asyncio.to_thread(run_property_checks, env.app_dir, env.url, ROOT_USER, env.password, env.ctx)
    assert report["operations"] and report["cases"] >= report["operations"], report
    assert report["failures"] == [], "\n".join(report["failures"])
