"""Indexes follow what the list screens do (issue 14): a scoped list screen gets an index on its
scope column, each equality filter or equality tab between, then its default sort and `id`, so a
scoped page is one index range read in page order (specs/physical.py screen_list_indexes); one that
another index already reads in sort order (the same columns up to the sort) is left out.

The plans are checked, on SQLite and PostgreSQL, never timings: the list query a scoped user's page
runs (scope, filter, default sort, id) reads the new index and sorts nothing.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BACKENDS, copy_app, start_app
from kaiping_fixture import build
from piccolo.querystring import QueryString

from specadmin.generator.build import load_app
from specadmin.runtime.data.queries import ordering
from specadmin.specs.physical import import_key_indexes, physical_tables

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parent.parent
PLAIN = ("string", "dict", "integer", "boolean", "decimal", "ref", "date", "datetime")


def _expected(app, entity, screen) -> list[tuple[str, ...]]:
    """(lead, [filter,] sort, id) for each scope lead on a plain column and each exact-match filter."""
    leads = {s.field.split(".")[0] for s in [screen.scope] + [g.scope for r in app.roles for g in r.grants
                                                              if g.screen == screen.name and g.scope]
             if s.mode != "all" and s.field}
    sort = (screen.sort or entity.order_by or "-id").lstrip("-")
    tail = (sort, "id") if sort != "id" else ("id",)
    plain = {f.name for f in entity.fields if f.stored and not f.sensitive and f.type in PLAIN}
    out = []
    for lead in sorted(leads & plain):
        out.append(tuple(dict.fromkeys((lead, *tail))))
        out += [tuple(dict.fromkeys((lead, f, *tail))) for f in screen.filters
                if f in plain and entity.field(f).type not in ("date", "datetime")]
    return out


@pytest.mark.parametrize("name", ["kaiping", "xicheng"])
async def test_each_scoped_list_screen_has_its_scope_sort_index(name):
    app = load_app(ROOT / "examples" / name)
    tables = {t.entity: t for t in physical_tables(app) if t.entity}
    checked = 0
    for entity in app.entities:
        table = tables[entity.name]
        for screen in app.screens_of(entity.name):
            if screen.stat is None and (entity.order_by or screen.sort):
                for ix in _expected(app, entity, screen):  # or one that reads the range in sort order too
                    assert ix in table.indexes or (len(ix) >= 3 and any(o[:len(ix) - 1] == ix[:-1]
                                                                        for o in table.indexes)), \
                        (screen.name, ix, table.indexes)
                    checked += 1
        for ix in table.indexes:  # a prefix of another index is left out
            assert not any(o != ix and o[:len(ix)] == ix for o in table.indexes), (table.tablename, ix)
        for key in import_key_indexes(app, entity, table.columns):  # the import keys keep theirs
            assert any(o[:len(key)] == key for o in table.indexes), (table.tablename, key)
        assert len(table.indexes) <= 6, (table.tablename, table.indexes)  # writes pay for each
    assert checked >= 5
    kaiping_place = ("supervisor", "street", "place_code", "id")  # threshold_admin, filtered by street
    if name == "kaiping":
        assert kaiping_place in tables["place"].indexes and ("supervisor", "street") not in tables["place"].indexes


@pytest.fixture(scope="module", params=BACKENDS)
async def kaiping(request, tmp_path_factory):
    app, _ = await start_app(copy_app("kaiping", tmp_path_factory.mktemp(f"kaiping-ix-{request.param}")),
                             request.param)
    try:
        await build(app.state.ctx)
        yield {"app": app, "backend": request.param}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def _plan(app, backend: str, query) -> str:
    engine = app.state.ctx.table("place")._meta.db
    if backend == "sqlite":
        rows = await engine.run_querystring(QueryString("EXPLAIN QUERY PLAN {}", query.querystrings[0]))
        return "\n".join(str(r.get("detail")) for r in rows)
    async with engine.transaction():
        # A near-empty table: ask for the plan a large one gets (no sequential scan, a sort costed high).
        await engine.run_querystring(QueryString("SET LOCAL enable_seqscan = off"))
        await engine.run_querystring(QueryString("SET LOCAL enable_sort = off"))
        rows = await engine.run_querystring(QueryString("EXPLAIN {}", query.querystrings[0]))
    return "\n".join(r["QUERY PLAN"] for r in rows)


@pytest.mark.parametrize("filters", [{"street": "sanbu"}, {}])
async def test_a_scoped_sorted_list_page_reads_the_index_in_order(kaiping, filters):
    app = kaiping["app"]
    service = app.state.services["place"]
    user = service.ctx.table("user")
    from specadmin.runtime.identity.sessions import load_principal

    uid = (await user.select(user.id).where(user.username == "unit1"))[0]["id"]
    principal = await load_principal(service.ctx, uid)
    grants = service.grants(principal, "list", "threshold_admin")
    where = service._conditions(principal, grants, None, None, filters)  # the scope is in it
    column, ascending = ordering(service.entity, [s for s, _ in grants], service.table, None)
    pk = service.table._meta.primary_key
    query = (service.table.select(service.table.place_code).where(where)
             .order_by(column, ascending=ascending).order_by(pk, ascending=ascending).limit(20))
    plan = await _plan(app, kaiping["backend"], query)
    wanted = "place_supervisor_street_place_code_id" if filters else "place_supervisor_place_code_id"
    assert wanted in plan, plan
    if kaiping["backend"] == "sqlite":
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "Sort" not in plan, plan
    rows = await query
    assert [r["place_code"] for r in rows] == sorted(r["place_code"] for r in rows)
