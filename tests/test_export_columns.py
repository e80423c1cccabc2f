"""Every export route of every exporting screen writes the same, declared columns; sort is honoured
(issue 9 item 4).

For each screen of both example apps that offers `export`: the generated `/api/<entity>/export`
(streamed csv), `/api/<entity>/export.csv` and `.xlsx` (in the request and as a background job),
and for a statistic its `/api/stats/<screen>/export.*`, for a bulk query its
`/api/bulk_query/<screen>/export.xlsx?batch=` — the header row is the labels of the screen's
`export_columns` (else its list columns), for the superuser and for every role user with the
export grant. A statistic's raw rows are not exported through the entity routes (400).
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io

import pytest
from conftest import BACKENDS
from example_apps import APPS, ROOT_USER, env_pool
from openpyxl import load_workbook

pytestmark = pytest.mark.asyncio(loop_scope="session")

ENVS = [(app, backend) for app in APPS for backend in BACKENDS]


pool = env_pool()


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "csv exports start with the UTF-8 BOM"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> list[list]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def rows_of(r) -> list[list]:
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:300])
    assert "attachment;" in r.headers["content-disposition"], r.headers["content-disposition"]
    if "filename*=" in r.headers["content-disposition"]:
        assert "filename*=UTF-8''" in r.headers["content-disposition"]
    return xlsx_rows(r.content) if r.headers["content-type"].startswith("application/vnd.openxml") \
        else csv_rows(r.content)


def declared(ctx, screen) -> list[tuple[str, str]]:
    """(name, label) of the columns the spec declares for the screen's exports."""
    listed = {c["name"]: c["label"] for c in ctx.screens[screen.name]["list"]}
    if not screen.export_columns:
        return list(listed.items())
    entity = ctx.app.entity(screen.entity)
    return [(n, listed.get(n) or entity.field(n).label) for n in screen.export_columns]


def visible_to(screen, names) -> set[str]:
    """Fields a non-superuser sees through the screen: those on its list, detail and form."""
    return {p.split(".")[0] for p in (*screen.list, *screen.detail, *screen.form)} & {n.split(".")[0] for n in names}


def exporting(model) -> list[str]:
    return [s.name for s in model.screens if "export" in s.actions]


async def export_users(env, screen) -> list[str]:
    users = [ROOT_USER]
    for username in env.role_users:
        grant = (await env.principal(username)).grant(screen)
        if grant and "export" in grant.actions:
            users.append(username)
    return users


async def background_rows(client, url: str, params: dict) -> list[list]:
    r = await client.get(url, params={**params, "background": "1"})
    assert r.status_code == 200, r.text
    job = r.json()
    for _ in range(200):
        status = (await client.get(f"/api/exports/{job['job']}")).json()
        if status["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "done", status
    return rows_of(await client.get(job["download"]))


@pytest.mark.parametrize("app,backend", ENVS, ids=[f"{a}-{b}" for a, b in ENVS])
async def test_every_export_route_writes_the_declared_columns(pool, app, backend):
    env = await pool.get(app, backend)
    ctx, model = env.ctx, env.model
    walked = []
    for name in exporting(model):
        screen = model.screen(name)
        columns = declared(ctx, screen)
        for username in await export_users(env, name):
            client = await env.client(username)
            shown = columns if username == ROOT_USER or screen.stat is not None else \
                [(n, label) for n, label in columns if n.split(".")[0] in visible_to(screen, [n])]
            want = [label for _, label in shown]
            params = {"screen": name}
            entity_routes = [f"/api/{screen.entity}/export", f"/api/{screen.entity}/export.csv",
                             f"/api/{screen.entity}/export.xlsx"]
            if screen.stat is not None:
                for fmt in ("xlsx", "csv"):
                    header = rows_of(await client.get(f"/api/stats/{name}/export.{fmt}"))[0]
                    assert header == want, (name, username, fmt)
                for url in entity_routes:  # a statistic's raw rows never leave through the entity routes
                    assert (await client.get(url, params=params)).status_code == 400, (name, url)
                walked.append(name)
                continue
            for url in entity_routes:
                assert rows_of(await client.get(url, params=params))[0] == want, (name, username, url)
            assert (await background_rows(client, entity_routes[2], params))[0] == want, (name, username)
            if screen.bulk_query is not None and screen.bulk_query.items_screen:
                items = model.screen(screen.bulk_query.items_screen)
                items_want = [label for n, label in declared(ctx, items)
                              if username == ROOT_USER or n.split(".")[0] in visible_to(items, [n])]
                table = ctx.table(screen.entity)
                batch = (await table.select(table.id).order_by(table.id).limit(1))[0]["id"]
                if username != ROOT_USER:  # a batch inside the user's scope
                    listed = (await client.get(f"/api/{screen.entity}", params={"screen": name})).json()["items"]
                    if not listed:
                        continue
                    batch = listed[0]["id"]
                for pending in ("false", "true"):
                    r = await client.get(f"/api/bulk_query/{name}/export.xlsx", params={"batch": batch, "pending": pending})
                    assert rows_of(r)[0] == items_want, (name, username, pending)
            walked.append(name)
    assert walked, f"{app}: no screen offers export"


def text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


async def list_all(client, entity: str, params: dict) -> list[dict]:
    items, page = [], 1
    while True:
        body = (await client.get(f"/api/{entity}", params={**params, "page": page, "page_size": 500})).json()
        items += body["items"]
        if len(items) >= body["total"] or not body["items"]:
            return items
        page += 1


def as_rows(items: list[dict], columns: list[str]) -> list[list[str]]:
    return [[text(i.get(f"{c}_label") if i.get(f"{c}_label") is not None else i.get(c)) for c in columns]
            for i in items]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_exports_honour_sort_like_the_list(pool, backend, monkeypatch):
    from specadmin.runtime.data import export

    monkeypatch.setattr(export, "EXPORT_BATCH", 37)  # several keyset batches, ties across their edges
    env = await pool.get("xicheng", backend)
    client = await env.client(ROOT_USER)
    results = env.ctx.table("test_result")
    newest = (await results.select(results.tested_at).order_by(results.tested_at, ascending=False).limit(1))[0]
    # the filters apply too: the last two days (~1/5 of the rows; the newest day alone is short after midnight,
    # the demo's rows running up to the moment it was loaded)
    day = {"tested_at_from": (newest["tested_at"].date() - dt.timedelta(days=1)).isoformat()}
    cases = [("personal_query", "test_result", sort, day) for sort in ("-tested_at", "institution", "-result", "-id")]
    cases.append(("batch_items", "query_item", "tested_at", {}))  # unmatched items have no 检测时间: last
    for screen, entity, sort, filters in cases:
        columns = [n for n, _ in declared(env.ctx, env.model.screen(screen))]
        listed = await list_all(client, entity, {"screen": screen, "sort": sort, **filters})
        field = sort.lstrip("-")
        with_value = [i for i in listed if i.get(field) is not None]
        empty = sorted((i for i in listed if i.get(field) is None), key=lambda i: i["id"],
                       reverse=sort.startswith("-"))
        want = as_rows(with_value + empty, columns)
        assert len(want) > 2 * 37 or screen == "batch_items", (screen, len(want))
        params = {"screen": screen, "sort": sort, **filters}
        for url in (f"/api/{entity}/export", f"/api/{entity}/export.csv", f"/api/{entity}/export.xlsx"):
            got = [[text(v) for v in row] for row in rows_of(await client.get(url, params=params))[1:]]
            assert got == want, (screen, sort, url)
        got = [[text(v) for v in row] for row in (await background_rows(client, f"/api/{entity}/export.csv", params))[1:]]
        assert got == want, (screen, sort, "background")
    r = await client.get("/api/test_result/export.csv", params={"screen": "personal_query", "sort": "id_number"})
    assert r.status_code == 400  # a sensitive field is no sort key, as on the list
