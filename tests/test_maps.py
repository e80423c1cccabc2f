"""Maps (spec-language issue item 14): radius and polygon filters of a geo field in SQL, the map API's
points and clusters inside the user's data scope, bad values as 400, broken specs named with code,
file and line, and (one Chromium test) the map page on its coordinate grid and the form's point picker.
The app is the example of specs/REFERENCE.md ("maps"): the test runs the docs, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from conftest import BACKENDS, api_login, reference_blocks, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
APP = reference_blocks()["maps/app.yaml"]
MODULE = reference_blocks()["modules/toilets.yaml"]
PASSWORD = "Toilet@2026x"
LNG0, LAT0 = 116.366, 39.912
KX = 111320 * math.cos(math.radians(LAT0))
KY = 110540
CROWD = 1100  # more than the map API's 1000 points: clusters


def east(m: float) -> float:
    return LNG0 + m / KX


def north(m: float) -> float:
    return LAT0 + m / KY


# A concave "U" of 0.01° squares: two arms and a notch between them (the notch is inside the bounding box).
U = [(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)]
BASE = (116.30, 39.80)


def u_point(x: float, y: float) -> tuple[float, float]:
    return BASE[0] + x * 0.01, BASE[1] + y * 0.01


U_TEXT = ";".join(f"{lng:.6f},{lat:.6f}" for lng, lat in (u_point(*p) for p in U))
PLACES = {  # name: (lng, lat, inside the unit U1)
    "东490米": (east(490), LAT0, True), "东510米": (east(510), LAT0, False),
    "北495米": (LNG0, north(495), True), "北505米": (LNG0, north(505), False),
    "左臂": (*u_point(0.5, 2.0), True), "凹口": (*u_point(1.5, 2.0), True), "底边": (*u_point(1.5, 0.5), False),
    "右臂": (*u_point(2.5, 2.5), False), "U外": (*u_point(3.5, 1.0), False),
}


def write_app(app_dir: Path, module: str = MODULE, app: str = APP) -> Path:
    return write_spec_app(app_dir, app, {"toilets": module})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user

    app_dir = write_app(tmp_path_factory.mktemp(f"maps-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD) as (app, client, hq):
        ctx = app.state.ctx
        org, toilet = ctx.table("org"), ctx.table("toilet")
        u1 = (await org.insert(org(code="U1", name="西长安街街道", level="street", org_type="department", active=True,
                                   parent=hq)).returning(org.id))[0]["id"]
        await org.update({org.path: f"/{hq}/{u1}/"}).where(org.id == u1)
        await ctx.refresh_caches()
        ids = {}
        for name, (lng, lat, mine) in PLACES.items():
            row = toilet(name=name, unit=u1 if mine else hq, location_lng=lng, location_lat=lat)
            ids[name] = (await toilet.insert(row).returning(toilet.id))[0]["id"]
        crowd = [toilet(name=f"密集{i}", unit=hq, location_lng=117.0 + (i % 40) * 0.001,
                        location_lat=40.5 + (i // 40) * 0.001) for i in range(CROWD)]
        await toilet.insert(*crowd)
        await ensure_user(ctx, "keeper", PASSWORD, name="街道管理员", org_code="U1", roles=("keeper",))
        keeper = await api_login(app, "keeper", PASSWORD)
        yield {"app": app, "client": client, "keeper": keeper, "ids": ids, "ctx": ctx}
        await keeper.aclose()


async def names(client, **params) -> set[str]:
    r = await client.get("/api/toilet", params={"screen": "toilet_admin", "page_size": 500, **params})
    assert r.status_code == 200, r.text
    return {i["name"] for i in r.json()["items"]}


@ASYNC
async def test_near_keeps_a_point_just_inside_the_radius_and_drops_one_just_outside(env):
    found = await names(env["client"], location_near=f"{LNG0},{LAT0},500")
    assert found == {"东490米", "北495米"}


@ASYNC
async def test_within_a_concave_polygon_leaves_out_the_notch_and_the_outside(env):
    found = await names(env["client"], location_within=U_TEXT)
    assert found == {"左臂", "底边", "右臂"}
    closed = await names(env["client"], location_within=U_TEXT + f";{u_point(0, 0)[0]:.6f},{u_point(0, 0)[1]:.6f}")
    assert closed == found  # a closing vertex equal to the first changes nothing


@ASYNC
async def test_a_polygon_of_200_vertices_far_longer_than_a_text_filter_is_used_whole(env):
    circle = [(east(600 * math.cos(a)), north(600 * math.sin(a))) for a in (i * math.pi / 100 for i in range(200))]
    text = ";".join(f"{lng:.6f},{lat:.6f}" for lng, lat in circle)
    assert len(text) > 4000  # a plain text filter keeps 200 characters
    assert await names(env["client"], location_within=text) == {"东490米", "东510米", "北495米", "北505米"}


@ASYNC
async def test_the_export_and_the_tab_free_count_apply_the_same_geo_filter(env):
    r = await env["client"].get("/api/toilet/export", params={"screen": "toilet_admin",
                                                              "location_near": f"{LNG0},{LAT0},500"})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sorted(row[0] for row in rows[1:]) == sorted(["东490米", "北495米"])


@ASYNC
async def test_the_map_answers_points_in_view_with_labels_and_totals(env):
    w, s, e, n = LNG0 - 0.02, LAT0 - 0.02, LNG0 + 0.02, LAT0 + 0.02
    r = await env["client"].get("/api/toilet/map", params={"screen": "toilet_admin", "bbox": f"{w},{s},{e},{n}",
                                                           "zoom": 15})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 4 and body["clusters"] == []
    assert {p["label"] for p in body["points"]} == {"东490米", "东510米", "北495米", "北505米"}
    point = next(p for p in body["points"] if p["label"] == "东490米")
    assert point["id"] == env["ids"]["东490米"] and abs(point["lng"] - east(490)) < 1e-9
    near = await env["client"].get("/api/toilet/map", params={
        "screen": "toilet_admin", "bbox": f"{w},{s},{e},{n}", "zoom": 15, "location_near": f"{LNG0},{LAT0},500"})
    assert {p["label"] for p in near.json()["points"]} == {"东490米", "北495米"}


@ASYNC
async def test_thousands_of_points_come_as_clusters_whose_counts_add_up_to_the_total(env):
    r = await env["client"].get("/api/toilet/map", params={"screen": "toilet_admin", "bbox": "116.9,40.4,117.1,40.6",
                                                           "zoom": 13})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == CROWD and body["points"] == []
    assert 1 < len(body["clusters"]) < CROWD
    assert sum(c["count"] for c in body["clusters"]) == CROWD
    assert all(116.99 < c["lng"] < 117.05 and 40.49 < c["lat"] < 40.54 for c in body["clusters"])
    wide = await env["client"].get("/api/toilet/map", params={"screen": "toilet_admin", "bbox": "100,30,130,50",
                                                              "zoom": 18})
    assert wide.json()["total"] == CROWD + len(PLACES)  # a world of cells is capped, never truncated
    assert sum(c["count"] for c in wide.json()["clusters"]) == CROWD + len(PLACES)


@ASYNC
async def test_a_user_sees_on_the_map_only_the_rows_of_their_data_scope(env):
    r = await env["keeper"].get("/api/toilet/map", params={"screen": "toilet_admin", "bbox": "100,30,130,50",
                                                           "zoom": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    mine = {name for name, (_, _, inside) in PLACES.items() if inside}
    assert body["total"] == len(mine) and {p["label"] for p in body["points"]} == mine
    assert env["ids"]["东510米"] not in {p["id"] for p in body["points"]}


@ASYNC
@pytest.mark.parametrize("params, named", [
    ({"location_near": "116.3,39.9"}, "location_near"),
    ({"location_near": "116.3,39.9,-5"}, "location_near"),
    ({"location_near": "200,39.9,100"}, "location_near"),
    ({"location_within": "116.3,39.9;116.4,39.9"}, "location_within"),
    ({"location_within": ";".join(f"{116 + i * 0.001:.3f},39.9" for i in range(300))}, "location_within"),
    ({"location_within": "a,b;c,d;e,f"}, "location_within"),
])
async def test_a_malformed_geo_filter_is_a_400_naming_it_on_the_list_the_map_and_the_page(env, params, named):
    listed = await env["client"].get("/api/toilet", params={"screen": "toilet_admin", **params})
    assert listed.status_code == 400 and named in listed.text, listed.text
    mapped = await env["client"].get("/api/toilet/map", params={"screen": "toilet_admin", "bbox": "116,39,118,41",
                                                                "zoom": 10, **params})
    assert mapped.status_code == 400 and named in mapped.text, mapped.text
    page = await env["client"].get("/s/toilet_admin", params=params)
    assert page.status_code == 200 and 'class="alert alert-error" role="alert">位置（' in page.text, page.text


@ASYNC
@pytest.mark.parametrize("params, named", [
    ({"bbox": "118,39,116,41", "zoom": 10}, "bbox"), ({"bbox": "1,2,3", "zoom": 10}, "bbox"),
    ({"bbox": "116,39,118,41", "zoom": "x"}, "zoom"), ({"bbox": "116,39,118,41", "zoom": 99}, "zoom"),
])
async def test_a_bad_view_is_a_400_naming_the_parameter(env, params, named):
    r = await env["client"].get("/api/toilet/map", params={"screen": "toilet_admin", **params})
    assert r.status_code == 400 and named in r.text, r.text
    assert (await env["client"].get("/api/toilet/map", params=params)).status_code == 400  # no screen
    assert (await env["client"].get("/api/toilet/map", params={**params, "screen": "nope"})).status_code == 404


@ASYNC
async def test_sorting_by_a_geo_field_is_a_400_naming_it_and_the_page_keeps_its_own_order(env):
    r = await env["client"].get("/api/toilet", params={"screen": "toilet_admin", "sort": "-location"})
    assert r.status_code == 400 and "location" in r.text, r.text  # a point has no order (was a 500)
    page = await env["client"].get("/s/toilet_admin", params={"sort": "location"})
    assert page.status_code == 200 and 'class="row-link"' in page.text
    assert 'name="sort"' not in page.text  # the unusable choice is dropped, not carried on


@ASYNC
async def test_the_list_page_links_to_the_map_keeping_its_filters_and_the_map_page_loads(env):
    page = await env["client"].get("/s/toilet_admin", params={"location_near": f"{LNG0},{LAT0},500"})
    assert page.status_code == 200
    assert 'id="btn-map" href="/s/toilet_admin/map?location_near=' in page.text
    assert 'name="location_within"' in page.text
    r = await env["client"].get("/s/toilet_admin/map", params={"location_near": f"{LNG0},{LAT0},500"})
    assert r.status_code == 200 and 'id="map"' in r.text and "location_near" in r.text
    assert (await env["keeper"].get("/s/toilet_admin/map")).status_code == 200


def test_check_names_each_broken_map_key_with_its_code_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    broken = (MODULE.replace("map: {field: location, label: name}", "map: {field: name, label: location}"))
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "map: {field" in text)
    found = sorted(e.removeprefix(f"{tmp_path.name}/") for e in err.splitlines() if "[SA" in e)
    assert found == sorted([
        f"modules/toilets.yaml:{line}: [SA215] map field 'name' must be a geo field of 'toilet'",
        f"modules/toilets.yaml:{line}: [SA216] map label 'location' must be a stored, unencrypted field of "
        "'toilet' (a string, number, date or ref)",
    ]), err


def test_check_names_a_tile_template_that_is_no_http_url_with_z_x_y(tmp_path, capsys):
    from specadmin.cli import main

    write_app(tmp_path, app=APP.replace("map: {center", "map: {tiles: 'ftp://tiles.example.cn/{z}/{x}.png', center"))
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path.name}/app.yaml:4: [SA217] map tiles must be an http(s) URL (with {{z}}, {{x}} and {{y}})" in err
    write_app(tmp_path, app=APP.replace("map: {center", "map: {tiles: 'https://tiles.example.cn/{z}/{x}.png', center"))
    assert main(["check", str(tmp_path)]) == 1
    assert "[SA217] map tiles lacks {y} (with {z}, {x} and {y})" in capsys.readouterr().err
