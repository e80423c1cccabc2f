"""Every operation of every example app's OpenAPI schema, called with out-of-range and malformed values.

Huge integers, 1e20, 9999-12-31, NUL bytes, `abc` where a date or number belongs, empty and
wrong-typed JSON values: each goes into one query parameter, path parameter or body field at a
time (the others well-formed), as the superuser, so most operations get past their grant checks.
No answer may be a 5xx, and every refusal says what was wrong in Chinese. Statistics endpoints read
their paging and filters from the query string without declaring them: those are walked too.
The walk runs on SQLite and PostgreSQL; a bounded schemathesis run of every write operation
(valid data and data that violates the schema) follows on SQLite.
"""
from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import pytest
from conftest import BACKENDS
from example_apps import (APPS, ROOT_USER, env_pool, entity_of_path, fill_path, first_id, flow_entities, openapi,
                          operations)
from security_walk_support import entity_values, required_query

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUERY_VALUES = ["99999999999999999999", "1e20", "-1", "0", "9999-12-31", "0001-01-01", "abc", "\x00", "nan",
                "2026-13-45", "9999-12-31T23:59:59", "-9223372036854775809", "x" * 3000]
PATH_VALUES = ["99999999999999999999", "9223372036854775808", "2147483648", "1e20", "-1", "0", "abc", "%00"]
BODY_VALUES = [10**20, 1e20, -1, 2**31, "9999-12-31", "0001-01-01", "abc", "\x00", "x" * 5000, [], {}, None, True]
NO_ROW = 2**31 - 1  # a valid id no table holds: DELETE and PATCH walks must not remove or alter real rows by chance
CHINESE = re.compile(r"[\u4e00-\u9fff]")
SKIP = ("/api/auth/",)  # login, logout, password: they would end the walker's own session


async def _prepare(env) -> None:
    env.spec = await openapi(env)


pool = env_pool(_prepare)


def _screens_for(model, path: str) -> list:
    if "/stats/" in path or "/bigscreen/" in path:
        return [s for s in model.screens if s.stat]
    if "/bulk_query/" in path:
        return [s for s in model.screens if s.bulk_query is not None]
    return list(model.screens)


def _stat_params(model, screen) -> list[str]:
    """The query parameters a statistics endpoint reads without declaring them."""
    names = ["page", "page_size", "sort"]
    entity = model.entity(screen.entity)
    for name in screen.filters:
        field = entity.field(name)
        names += [f"{name}_from", f"{name}_to"] if field.type in ("date", "datetime") else [name]
    return names


def _body_fields(spec: dict, op: dict) -> list[str] | None:
    """The JSON body's property names ([] for a body without declared properties); None without a JSON body."""
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return list(schema.get("properties", {}))


async def other_user(env) -> int:
    """A user row to PATCH that is not the walker itself (the walks rename and disable it freely)."""
    user = env.ctx.table("user")
    rows = await user.select(user.id).where(user.username != ROOT_USER).order_by(user.id, ascending=False).limit(1)
    return rows[0]["id"]


class Walk:
    def __init__(self, client):
        self.client = client
        self.sent = 0
        self.failures: list[str] = []

    async def send(self, method: str, url: str, params: dict, body=None, json_body: bool = False) -> None:
        self.sent += 1
        kwargs = {"params": params}
        if json_body:
            kwargs["json"] = body
        r = await self.client.request(method, url, **kwargs)
        what = f"{r.status_code} {method} {url} {str(params)[:80]} {str(body)[:80]}"
        if r.status_code >= 500:
            self.failures.append(what)
        elif r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
            detail = r.json().get("detail") if isinstance(r.json(), dict) else None
            if not (isinstance(detail, str) and CHINESE.search(detail)):
                self.failures.append(f"{what}: no Chinese message ({str(detail)[:80]})")


async def _walk(env, walk: Walk) -> None:
    model = env.model
    someone = await other_user(env)
    for method, path, op in operations(env.spec):
        if path.startswith(SKIP) or not path.startswith("/api/"):
            continue
        entity = entity_of_path(model, path)
        query = required_query(op, entity_values(model.entity(entity)) if entity else {})
        if entity and method == "PATCH":
            row_id = someone if entity == "user" else await first_id(env.ctx, entity)
        else:
            row_id = NO_ROW
        screens = _screens_for(model, path)
        filled = {"row_id": row_id, "message_id": NO_ROW, "screen": screens[0].name if screens else "x",
                  "job_id": "x", "action": "x", "code": "x", "field": "x", "file_id": NO_ROW, "log_id": NO_ROW,
                  "group_id": NO_ROW, "notice_id": NO_ROW, "param": "x",
                  "entity": next(iter(flow_entities(model)), "x")}  # /api/workflow/{entity}/...
        url = fill_path(path, filled)
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        if "/stats/" in path or "/bigscreen/" in path:
            names += _stat_params(model, screens[0]) if screens else []
        for name in dict.fromkeys(names):
            for value in QUERY_VALUES:
                await walk.send(method, url, {**query, name: value})
        for name in re.findall(r"\{(\w+)", path):
            for value in PATH_VALUES:
                await walk.send(method, fill_path(path, {**filled, name: quote(value, safe="%")}), query)
        fields = _body_fields(env.spec, op)
        if fields is not None:
            for name in fields or ["x"]:
                for value in BODY_VALUES:
                    await walk.send(method, url, query, {name: value}, json_body=True)
            for value in BODY_VALUES:
                await walk.send(method, url, query, value, json_body=True)


ENVS = [(app, backend) for app in APPS for backend in BACKENDS]


@pytest.mark.parametrize("app,backend", ENVS, ids=[f"{a}-{b}" for a, b in ENVS])
async def test_malformed_and_out_of_range_values_in_every_operation_answer_4xx_in_chinese(pool, app, backend):
    env = await pool.get(app, backend)
    walk = Walk(await env.client(ROOT_USER))
    await _walk(env, walk)
    assert walk.sent > 1000, walk.sent
    assert walk.failures == [], f"{len(walk.failures)} of {walk.sent} requests:\n" + "\n".join(walk.failures[:60])


async def test_schemathesis_cases_of_every_write_operation_cause_no_server_error(pool):
    """Generated bodies and parameters for every POST, PATCH, PUT and DELETE, valid ones and ones that
    violate the schema; PATCH on a real row of each entity. xicheng, the larger app (kaiping's operations
    are its system ones plus a few, walked above); GET operations have their own property run in
    tests/test_sql_injection.py."""
    from property_run import run_property_checks

    env = await pool.get("xicheng", "sqlite")
    someone = await other_user(env)
    row_ids, queries = {}, {}
    for method, path, _ in operations(env.spec):
        entity = entity_of_path(env.model, path)
        if method == "PATCH" and entity:
            row_ids[path] = someone if entity == "user" else await first_id(env.ctx, entity)
        screens = env.model.screens_of(entity) if entity else []
        if screens:
            queries[path] = {"screen": screens[0].name}
    report = await asyncio.to_thread(run_property_checks, env.app_dir, env.url, ROOT_USER, env.password, env.ctx,
                                     methods=("POST", "PATCH", "PUT", "DELETE"), modes=("positive", "negative"),
                                     row_ids=row_ids, queries=queries, max_examples=6)
    # Operations without a parameter or body that can be made invalid are counted as unsatisfiable.
    assert report["operations"] - report["unsatisfiable"] > 200 and report["cases"] > 1000, report
    assert report["failures"] == [], "\n".join(report["failures"])
