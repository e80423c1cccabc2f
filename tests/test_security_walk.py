"""The access-control net: every generated endpoint and page of every example app, walked.

1. A user without roles is refused (403/404) by every operation of the OpenAPI schema and by
   every page of every screen, and nothing is written.
2. Every user is refused every action a grant does not give them, on pages and API alike.
3. A scoped user sees, exports and counts only rows inside the scope (computed independently
   by tests/scope_oracle.py), and cannot read, change, delete or act on a row outside it.
"""
from __future__ import annotations

import re

import pytest
from conftest import BACKENDS
from example_apps import (APPS, NOGRANT_USER, env_pool, diff_snapshots, entity_of_path, fill_path, first_id,
                          model_of, openapi, operations, snapshot)
from security_walk_support import (BASE_ACTIONS, CALLER_PREFIX, OTHER_ALLOWED, REFUSED, allowed_refusals,
                                   api_calls_for, assert_refused, cell, check_allowed_other, csv_rows, entity_values,
                                   operation_kind, page_calls_for, request_kwargs, required_query)
from scope_oracle import ids_in_scopes, ids_on_screen, scoped_screens, visible_on_entity

pytestmark = pytest.mark.asyncio(loop_scope="session")

ENVS = [(app, backend) for app in APPS for backend in BACKENDS]


def _cases(per_app) -> list:
    return [pytest.param(app, backend, item, id=f"{app}-{backend}-{item}")
            for app, backend in ENVS for item in per_app(model_of(app))]


async def _prepare(env) -> None:
    env.spec = await openapi(env)
    for username in [NOGRANT_USER, *env.role_users]:
        await env.client(username)  # log in first: a login writes (operation log, last login) by design


pool = env_pool(_prepare)


@pytest.mark.parametrize("app,backend,entity", _cases(lambda m: [e.name for e in m.entities]))
async def test_user_without_roles_is_refused_by_every_api_operation_of_the_entity(pool, app, backend, entity):
    env = await pool.get(app, backend)
    principal = await env.principal(NOGRANT_USER)
    # A role-less user may at most hold what 登录均可访问 opens to everyone: never a write.
    assert all(g.actions <= {"list", "read"} for g in principal.grants.values()), principal.grants
    opened = {a for s in env.model.screens_of(entity) for a in getattr(principal.grant(s.name), "actions", ())}
    client = await env.client(NOGRANT_USER)
    ops = [(m, p, op) for m, p, op in operations(env.spec) if entity_of_path(env.model, p) == entity]
    assert ops, f"the OpenAPI schema lists no operation of {entity}"
    row_id = await first_id(env.ctx, entity)
    custom = sorted({a.name for s in env.model.screens_of(entity) for a in s.custom_actions}) + ["sec_no_such_action"]
    known = entity_values(env.model.entity(entity))
    file_field = next((f.name for f in env.model.entity(entity).fields if f.type == "file"), "x")  # attachments
    before = await snapshot(env.ctx)
    walked = 0
    for method, path, op in ops:
        for action in (custom if "{action" in path else [None]):
            if (action or operation_kind(method, path)) in opened:
                continue  # opened to every logged-in user by a function policy: covered by the scope test
            url = fill_path(path, {"row_id": row_id, "action": action, "field": file_field, "file_id": 1, "param": "x"})
            r = await client.request(method, url, params=required_query(op, known),
                                     **request_kwargs(op, row_id, action, known))
            assert_refused(r, f"{method} {url}", allowed_refusals(op, entity))
            walked += 1
    assert walked, f"no operation of {entity} was walked"
    assert diff_snapshots(before, await snapshot(env.ctx)) == {}


@pytest.mark.parametrize("app,backend", ENVS, ids=[f"{a}-{b}" for a, b in ENVS])
async def test_user_without_roles_is_refused_by_every_other_endpoint(pool, app, backend):
    env = await pool.get(app, backend)
    client = await env.client(NOGRANT_USER)
    model = env.model
    values = {"screen": [s.name for s in model.screens if s.stat] + ["sec_no_such_screen"],
              "code": ["440783"], "row_id": [1], "entity": [e.name for e in model.entities],
              "job_id": ["sec-no-such-job"], "field": ["x"], "file_id": [1], "log_id": [1], "group_id": [1],
              "notice_id": [1],
              "action": sorted({a.name for s in model.screens for a in s.custom_actions})[:3] + ["sec_no_such_action"],
              "feed_name": [f.name for f in model.feeds if f.kind == "inbound"] + ["sec_no_such_feed"]}
    if any(e.name == "division" for e in model.entities):
        division = env.ctx.table("division")
        rows = await division.select(division.code).limit(1)
        values["code"] = [rows[0]["code"] if rows else "440783"]
    if any(e.name == "saved_search" for e in model.entities):
        values["row_id"] = [await first_id(env.ctx, "saved_search")]
    before = await snapshot(env.ctx)
    walked = []
    for method, path, op in operations(env.spec):
        if entity_of_path(model, path) or path.startswith("/s/"):
            continue  # entity operations and screen pages have their own tests
        if (method, path) in OTHER_ALLOWED:
            await check_allowed_other(env, client, method, path)
            continue
        names = re.findall(r"\{([^}:]+)", path)
        combos = [{}]
        for name in names:
            assert name in values, f"the walker cannot fill {{{name}}} of {method} {path}: teach it"
            combos = [{**c, name: v} for c in combos for v in values[name]]
        query = required_query(op, {name: v[0] for name, v in values.items()})
        for combo in combos:
            url = fill_path(path, combo)
            r = await client.request(method, url, params=query, **request_kwargs(op, 1))
            # /ext/ refuses a request without caller credentials (401), and after many of them from
            # one address answers 429 without logging each (api_callers.middleware).
            assert_refused(r, f"{method} {url}", (401, 429) if path.startswith(CALLER_PREFIX) else ())
            walked.append(url)
    r = await client.get("/admin/")
    assert r.status_code in REFUSED, "the ops console must refuse a user without roles"
    assert walked
    assert diff_snapshots(before, await snapshot(env.ctx)) == {}


@pytest.mark.parametrize("app,backend,screen", _cases(lambda m: [s.name for s in m.screens]))
async def test_every_user_is_refused_every_action_their_grants_do_not_give(pool, app, backend, screen):
    env = await pool.get(app, backend)
    spec = env.model.screen(screen)
    entity = spec.entity
    append_only = env.model.entity(entity).append_only
    actions = BASE_ACTIONS + tuple(a.name for a in spec.custom_actions)
    before = await snapshot(env.ctx)
    checked = 0
    for username in [NOGRANT_USER, *env.role_users]:
        principal = await env.principal(username)
        grant = principal.grant(screen)
        missing = [a for a in actions if not grant or a not in grant.actions]
        if not missing:
            continue
        client = await env.client(username)
        row_ids = {await first_id(env.ctx, entity)}
        reachable = sorted(await visible_on_entity(env.ctx, entity, principal))
        row_ids |= set(reachable[:1])  # a row the user does see through another screen
        for row_id in sorted(row_ids):
            for action in missing:
                for method, url, kwargs in page_calls_for(spec, action, row_id) + api_calls_for(spec, action, row_id):
                    r = await client.request(method, url, **kwargs)
                    # An append-only entity (the logs) publishes no write endpoint: absent refuses too.
                    absent = (404, 405) if append_only and method != "GET" and url.startswith("/api/") else ()
                    assert_refused(r, f"{username}: {method} {url} ({action} not granted)", absent)
                    checked += 1
    assert checked, f"every user holds every action on {screen}: nothing was refused"
    assert diff_snapshots(before, await snapshot(env.ctx)) == {}


# -- data scope ---------------------------------------------------------------------------------
async def _scoped_users(env, screen: str) -> list:
    users = []
    for username in env.role_users:
        principal = await env.principal(username)
        grant = principal.grant(screen)
        if grant and "list" in grant.actions and any(s.mode != "all" for s in grant.scopes):
            users.append((username, principal, grant))
    assert users, f"no user in {env.name}'s test data holds a scoped grant on {screen}: add one to its fixture"
    return users


async def _all_ids(env, entity: str) -> set[int]:
    table = env.ctx.table(entity)
    return {r["id"] for r in await table.select(table._meta.primary_key)}


async def _list_all(client, entity: str, params: dict) -> tuple[list[dict], int]:
    items, page = [], 1
    while True:
        r = await client.get(f"/api/{entity}", params={**params, "page": page, "page_size": 500})
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if len(items) >= body["total"] or not body["items"]:
            return items, body["total"]
        page += 1


async def _check_stats(env, client, spec, expected: set[int]) -> None:
    stat = spec.stat
    r = await client.get(f"/api/stats/{spec.name}", params={"date_from": "2000-01-01", "date_to": "2099-12-31"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    table = env.ctx.table(spec.entity)
    rows = [row for row in await table.select() if row["id"] in expected
            and (not stat.period or row[stat.period] is not None)]
    for m in stat.measures:
        if m.agg == "count" and not m.where and not m.source:
            assert sum(i[m.name] for i in items) == len(rows), f"{spec.name}.{m.name} counts rows outside the scope"
        elif m.agg == "count" and not m.source:  # a filtered count (where:) counts a part of the rows in scope
            assert sum(i[m.name] for i in items) <= len(rows), f"{spec.name}.{m.name} counts rows outside the scope"
    for g in stat.group_by:
        if re.fullmatch(r"[a-z][a-z0-9_]*", g):  # a stored field (not a bucket, path or roll-up)
            assert {i[g] for i in items} <= {row[g] for row in rows}, f"{spec.name} groups by {g} outside the scope"


@pytest.mark.parametrize("app,backend,screen", _cases(scoped_screens))
async def test_scoped_users_list_export_and_count_only_rows_inside_their_scope(pool, app, backend, screen):
    env = await pool.get(app, backend)
    spec = env.model.screen(screen)
    all_ids = await _all_ids(env, spec.entity)
    seen_any = hidden_any = False
    for username, principal, grant in await _scoped_users(env, screen):
        expected = await ids_on_screen(env.ctx, spec, grant.scopes, principal)  # the screen's `where` too
        seen_any |= bool(expected)
        hidden_any |= bool(all_ids - expected)
        client = await env.client(username)
        if spec.stat:
            await _check_stats(env, client, spec, expected)
            assert (await client.get(f"/s/{screen}")).status_code == 200
            continue
        items, total = await _list_all(client, spec.entity, {"screen": screen})
        assert {i["id"] for i in items} == expected and total == len(expected), f"{username} on {screen}"
        for tab in spec.tabs:
            tab_items, _ = await _list_all(client, spec.entity, {"screen": screen, "tab": tab.name})
            assert {i["id"] for i in tab_items} <= expected, f"{username} on {screen} tab {tab.name}"
        for tab in [None, *[t.name for t in spec.tabs]]:
            r = await client.get(f"/s/{screen}", params={"tab": tab} if tab else {})
            assert r.status_code == 200
            assert {int(i) for i in re.findall(r'data-id="(\d+)"', r.text)} <= expected, f"page {screen} tab {tab}"
        if "export" in grant.actions:
            r = await client.get(f"/api/{spec.entity}/export", params={"screen": screen})
            assert r.status_code == 200, r.text
            body = csv_rows(r.text)[1:]
            first = env.ctx.screens[screen]["list"][0]
            assert sorted(row[0] for row in body) == sorted(cell(i, first["name"], bool(first.get("key")))
                                                            for i in items), f"export of {screen}"
    assert seen_any and hidden_any, f"{screen}: the test data must give scoped users rows inside and outside"


def _tamper(spec_entity, grant, screen_form, raw: dict) -> dict:
    """A change the user could make to a row inside the scope: it must not land outside."""
    for name in (grant.fields or screen_form):
        f = spec_entity.field(name)
        if f.type == "integer":
            return {name: (raw.get(name) or 0) + 1}
        if f.type == "string" and not f.pattern and not f.sensitive:
            return {name: "越权修改"}
        if f.type == "boolean":
            return {name: not raw.get(name)}
    return {}


@pytest.mark.parametrize("app,backend,screen", _cases(scoped_screens))
async def test_scoped_users_cannot_read_change_delete_or_act_on_rows_outside_their_scope(pool, app, backend, screen):
    env = await pool.get(app, backend)
    spec = env.model.screen(screen)
    entity, table = env.model.entity(spec.entity), env.ctx.table(spec.entity)
    all_ids = await _all_ids(env, spec.entity)
    before = await snapshot(env.ctx)
    tried = 0
    for username, principal, grant in await _scoped_users(env, screen):
        hidden = sorted(all_ids - await ids_in_scopes(env.ctx, spec.entity, grant.scopes, principal))
        client = await env.client(username)
        q = {"screen": screen}
        for row_id in dict.fromkeys(hidden[:1] + hidden[-1:]):
            raw = (await table.select().where(table._meta.primary_key == row_id))[0]
            body = _tamper(entity, grant, spec.form, raw)
            calls = [("GET", f"/api/{spec.entity}/{row_id}", {"params": q}),
                     ("PATCH", f"/api/{spec.entity}/{row_id}", {"params": q, "json": body}),
                     ("DELETE", f"/api/{spec.entity}/{row_id}", {"params": q})]
            calls += [c for a in ("read", "update", "delete") for c in page_calls_for(spec, a, row_id, body)]
            # Without `screen` the API unions every grant on the entity: refused unless another grant reaches the row.
            for action, method in (("read", "GET"), ("update", "PATCH"), ("delete", "DELETE")):
                if row_id not in await visible_on_entity(env.ctx, spec.entity, principal, action):
                    calls.append((method, f"/api/{spec.entity}/{row_id}", {"json": body} if method == "PATCH" else {}))
            for method, url, kwargs in calls:
                assert_refused(await client.request(method, url, **kwargs), f"{username}: {method} {url} out of scope")
                tried += 1
            for a in spec.custom_actions:
                if a.name not in grant.actions:
                    continue
                r = await client.post(f"/api/{spec.entity}/actions/{a.name}", params=q, json={"ids": [row_id]})
                assert r.status_code in REFUSED or (r.status_code == 200 and r.json()["done"] == []), r.text
                r = await client.post(f"/s/{screen}/action/{a.name}", data={"ids": str(row_id)})
                assert r.status_code in (*REFUSED, 303), r.text
                tried += 1
    assert tried, f"{screen}: no out-of-scope row to try"
    assert diff_snapshots(before, await snapshot(env.ctx)) == {}, "a row outside the scope was changed"
