"""The list page's statement is compiled once per shape (runtime/data/page_query.py) and each request
binds its own values: users with different data scopes, filters, pages and sorts reading the same
screen in turn each get their own rows and totals, the data scope is applied on every request, and
the cached statements are keyed by shape, never by a value; the prepared statements of every request
(its session, its user's row) bind each call's values. On SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from conftest import BACKENDS, api_login, copy_app, start_app
from kaiping_fixture import PASSWORD, build
from piccolo.querystring import QueryString

from specadmin.runtime.data.page_query import SLOT, flat_template, needs_joins
from specadmin.runtime.data.prepared import Prepared
from specadmin.runtime.data.queries import split_total, with_total

pytestmark = pytest.mark.asyncio(loop_scope="session")
SCREEN = "threshold_admin"


@pytest.fixture(scope="module", params=BACKENDS)
async def kaiping(request, tmp_path_factory):
    app, _ = await start_app(copy_app("kaiping", tmp_path_factory.mktemp(f"kaiping-stmt-{request.param}")),
                             request.param)
    try:
        ids = await build(app.state.ctx)
        place = app.state.ctx.table("place")
        for n in range(4):  # more of unit1's places, to page and sort through
            await place.insert(place(place_code=f"P1{n}", name=f"一号分店{n}", category="catering", city="开平市",
                                     street="sanbu", manager="张三", supervisor=ids["U1"]))
        yield {"app": app, "ids": ids}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


def codes(page: dict) -> list[str]:
    return [item["place_code"] for item in page["items"]]


async def test_each_request_gets_its_own_scope_filters_page_and_sort(kaiping):
    unit1 = await api_login(kaiping["app"], "unit1", PASSWORD)
    unit2 = await api_login(kaiping["app"], "unit2", PASSWORD)
    ops = await api_login(kaiping["app"], "ops", PASSWORD)

    async def page(client, **params):
        r = await client.get("/api/place", params={"screen": SCREEN, **params})  # one screen unless told
        assert r.status_code == 200, r.text
        return r.json()

    for _ in range(2):  # the second round runs on the statements the first one compiled
        first = await page(unit1)
        assert codes(first) == ["P1", "P10", "P11", "P12", "P13"] and first["total"] == 5
        assert codes(await page(unit2)) == ["P2"]
        assert (await page(unit1, street="sanbu"))["total"] == 4
        assert codes(await page(unit1, street="changsha")) == ["P1"]
        assert codes(await page(unit2, street="sanbu")) == [] and (await page(unit2, street="sanbu"))["total"] == 0
        assert codes(await page(unit1, page=2, page_size=2)) == ["P11", "P12"]
        paged = await page(unit1, page=3, page_size=2, sort="-place_code")
        assert codes(paged) == ["P1"] and paged["total"] == 5
        past = await page(unit1, page=9, page_size=2)
        assert codes(past) == [] and past["total"] == 5
        assert codes(await page(unit1, q="分店3")) == ["P13"]
        assert set(codes(await page(ops, screen="place_admin", street="changsha"))) == {"P1", "P2", "P3"}

    service = kaiping["app"].state.services["place"]
    # Keys are shapes (visible fields, sort, with or without a condition), never values: the rounds
    # above, with their different users, streets, pages and keywords, compiled a handful.
    assert 0 < len(service.statements._frames) <= 6


async def test_a_frame_holds_no_value_of_its_own():
    assert flat_template(QueryString("SELECT {} FROM t WHERE {}", QueryString('"a"'), SLOT)) == \
        ('SELECT "a" FROM t WHERE {}', 1)
    with pytest.raises(ValueError):
        flat_template(QueryString("SELECT a FROM t WHERE b = {} AND {}", 7, SLOT))


async def test_a_condition_on_a_joined_column_is_built_each_time(kaiping):
    statements = kaiping["app"].state.services["place"].statements
    place = statements.table

    def build(condition):
        query = place.select(place.place_code).order_by(place.place_code)
        count = place.count()
        return with_total(query.where(condition), count.where(condition)) if condition is not None \
            else with_total(query, count)

    joined = place.supervisor.name == "开平市教育局"
    assert needs_joins(joined) and not needs_joins(place.street == "sanbu")
    before = dict(statements._frames)
    rows, total = await split_total(await statements.page(("joined",), build, joined, 2, 1), place.count(), 1)
    assert [r["place_code"] for r in rows] == ["P10", "P11"] and total == 5
    assert statements._frames == before  # nothing compiled for it


async def test_a_prepared_statement_binds_each_calls_values_and_keeps_its_own_constants(kaiping):
    """runtime/data/prepared.py (the session and revocation reads): compiled once, each call's values
    bound as parameters (a quote is a value, not SQL), a constant of the statement kept as Piccolo
    bound it, and a value the statement does not use refused when it is built."""
    place = kaiping["app"].state.ctx.table("place")
    read = Prepared(place, lambda street, code: place.select(place.place_code).where(
        place.street == street, place.place_code != code, place.city == "开平市").order_by(place.place_code), 2)
    assert "开平市" not in read.template and "sanbu" not in read.template
    assert [r["place_code"] for r in await read("sanbu", "P12")] == ["P10", "P11", "P13"]
    assert [r["place_code"] for r in await read("changsha", "P2")] == ["P1", "P3"]
    assert await read("sanbu' OR '1'='1", "x") == []
    with pytest.raises(ValueError):
        Prepared(place, lambda street, code: place.select().where(place.street == street), 2)
