"""Typed request bodies and filters of the generated JSON API, on every example app, on SQLite and PostgreSQL.

Every create and update operation documents its body (the entity's writable fields and their
types), every list documents its filters, a body value of the wrong type is a 400 naming the
field in Chinese before any service runs (nothing is written), and append-only entities (the
logs) publish no write operation at all.
"""
from __future__ import annotations

import re

import pytest
from conftest import BACKENDS
from example_apps import APPS, ROOT_USER, env_pool, diff_snapshots, model_of, openapi, snapshot

from specadmin.runtime.data.list_query import filter_params

pytestmark = pytest.mark.asyncio(loop_scope="session")

ENVS = [pytest.param(app, backend, id=f"{app}-{backend}") for app in APPS for backend in BACKENDS]
WRITES = ("create", "update", "delete", "actions")
# A value of the wrong type per body field type, and the Chinese word the answer must use.
WRONG = {"integer": ("很多", "整数"), "boolean": ("也许", "是或否"), "ref": ("某人", "整数"),
         "multi_ref": ("某些人", "列表"), "date": ("昨天", "日期"), "geo": ("城东", "对象")}
CJK = re.compile(r"[\u4e00-\u9fff]")


async def _prepare(env) -> None:
    env.spec = await openapi(env)
    env.ops = {op["operationId"]: op for item in env.spec["paths"].values() for op in item.values()
               if isinstance(op, dict) and "operationId" in op}


pool = env_pool(_prepare)


def writable(entity) -> list:
    return [f for f in entity.fields if f.editable or f.type == "multi_ref"]


def body_schema(spec: dict, op: dict) -> dict:
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def wrong_value(entity):
    """(field, wrong value, expected Chinese word) for a typed field of the body, or None."""
    for f in writable(entity):
        kind = "string" if f.type == "ref" and f.key else f.type  # a ref by business key is text
        if kind in WRONG and not f.sensitive:
            return f.name, *WRONG[kind]
    return None


@pytest.mark.parametrize("app_name,backend", ENVS)
async def test_create_and_update_document_typed_bodies_and_lists_their_filters(pool, app_name, backend):
    env = await pool.get(app_name, backend)
    for entity in env.model.entities:
        e = entity.name
        assert {f"list_{e}", f"get_{e}", f"export_{e}"} <= set(env.ops), e
        documented = {p["name"] for p in env.ops[f"list_{e}"].get("parameters", []) if p["in"] == "query"}
        wanted = {p.name for p in filter_params(entity, env.model.screens_of(e))}
        assert wanted <= documented, (e, wanted - documented)
        if entity.append_only:
            assert not {f"{verb}_{e}" for verb in WRITES} & set(env.ops), f"{e} is append-only"
            continue
        for verb in ("create", "update"):
            schema = body_schema(env.spec, env.ops[f"{verb}_{e}"])
            props = schema.get("properties", {})
            assert {f.name for f in writable(entity)} <= set(props), (verb, e, set(props))
            assert not schema.get("required"), (verb, e, "every body field is optional (a PATCH sends what changed)")
            for name, prop in props.items():
                assert prop.get("type") or prop.get("oneOf") or prop.get("$ref"), (verb, e, name, prop)
        if entity.auth_user:
            assert "password" in body_schema(env.spec, env.ops[f"create_{e}"])["properties"]


@pytest.mark.parametrize("app_name,backend", ENVS)
async def test_wrong_type_in_a_body_is_a_400_naming_the_field_and_writes_nothing(pool, app_name, backend):
    env = await pool.get(app_name, backend)
    root = await env.client(ROOT_USER)
    before = await snapshot(env.ctx)
    tried = 0
    for entity in env.model.entities:
        found = wrong_value(entity)
        if entity.append_only or found is None:
            continue
        field, value, word = found
        table = env.ctx.table(entity.name)
        row = await table.select(table._meta.primary_key).limit(1)
        calls = [("POST", f"/api/{entity.name}")] + ([("PATCH", f"/api/{entity.name}/{row[0]['id']}")] if row else [])
        for method, url in calls:
            r = await root.request(method, url, json={field: value})
            what = f"{method} {url} {field}={value!r}"
            assert r.status_code == 400, f"{what}: {r.status_code} {r.text[:300]}"
            body = r.json()
            assert field in body["errors"] and word in body["errors"][field], f"{what}: {body}"
            assert field in body["detail"] and CJK.search(body["detail"]), f"{what}: {body}"
            tried += 1
    assert tried >= 10
    assert diff_snapshots(before, await snapshot(env.ctx)) == {}


@pytest.mark.parametrize("app_name", APPS)
async def test_append_only_entities_answer_no_write(pool, app_name):
    env = await pool.get(app_name, "sqlite")
    root = await env.client(ROOT_USER)
    logs = [e for e in model_of(app_name).entities if e.append_only]
    assert logs, "the system module's logs are append-only"
    for entity in logs:
        table = env.ctx.table(entity.name)
        count = await table.count()
        for method, url in (("POST", f"/api/{entity.name}"), ("PATCH", f"/api/{entity.name}/1"),
                            ("DELETE", f"/api/{entity.name}/1"), ("POST", f"/api/{entity.name}/actions/delete")):
            r = await root.request(method, url, json={"ids": [1]} if method == "POST" else None)
            assert r.status_code in (404, 405), f"{method} {url}: {r.status_code}"
        assert (await root.get(f"/api/{entity.name}")).status_code == 200
        assert await table.count() == count


async def test_one_parser_types_filters_ranges_and_reserved_names():
    """runtime/data/list_query.py reads every list request (API, caller API, exports, pages)."""
    from specadmin.runtime.data.list_query import parse

    model = model_of("kaiping")
    grant = model.entity("grant")
    query = parse(grant, model.screens_of("grant"), {"filter_screen": "place_admin", "role": " 3 ", "page": "2",
                                                     "valid_until_from": "2026-01-01", "q": " 开平 ", "nope": "1"})
    assert query.filters == {"screen": "place_admin", "role": 3} and query.page == 2 and query.q == "开平"
    assert set(query.unknown) == {"valid_until_from", "nope"}  # not a filter of any grant screen
    oplog = model.entity("oplog")
    query = parse(oplog, model.screens_of("oplog"), {"at_from": "2026-01-02", "at_to": "2026-01-03T08:00",
                                                     "operator": "某人", "page_size": "9999"})
    # A datetime range bound is a day or a moment (runtime/data/list_query.py): the time is kept.
    assert {k: str(v) for k, v in query.filters.items()} == {"at_from": "2026-01-02", "at_to": "2026-01-03 08:00:00"}
    assert set(query.invalid) == {"operator", "page_size"} and "应为数字" in query.invalid["operator"]
    with pytest.raises(Exception, match="operator"):
        query.check()
