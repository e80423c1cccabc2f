"""References by business key (issue 12 item 5): a ref stored by id named in imports and inbound
feeds by a unique field of its target (`by:`, import `ref_keys`), resolved in bulk inside the
writer's view; soft references (`key:`) show their target's label. The app is the example of
specs/REFERENCE.md ("References by business key"): the test runs the docs, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from conftest import BACKENDS, api_login, reference_blocks, spec_app

from specadmin.generator.build import load_app
from specadmin.generator.errors import SpecInvalid

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Readings@2026x"
APP = "app: demo\nlabel: 示例\nmodules: [readings]\n"
HEADER = ["站点", "上报站点编码", "填报单位", "读数"]


# Beside the documented example: a meter per station, imported by upsert on its station's code.
METER = """\
  meter:
    label: 表计
    fields:
      station: {type: ref, to: station, by: code, label: 站点, required: true, unique: true}
      value: {type: integer, label: 读数}
screens:
  meter_admin:
    entity: meter
    label: 表计
    list: [station, value]
    actions: [import]
    import: {key: [station], mode: upsert}
"""


def write_app(app_dir: Path, module: str | None = None) -> Path:
    (app_dir / "modules").mkdir(parents=True, exist_ok=True)
    (app_dir / "app.yaml").write_text(APP, encoding="utf-8")
    (app_dir / "modules" / "readings.yaml").write_text(
        module or reference_blocks()["modules/readings.yaml"].replace("screens:\n", METER, 1), encoding="utf-8")
    return app_dir


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.api_callers.keys import issue_token, register_key
    from specadmin.runtime.identity.users import ensure_user

    app_dir = write_app(tmp_path_factory.mktemp(f"refkeys-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD) as (app, client, hq):
        ctx = app.state.ctx
        org, station = ctx.table("org"), ctx.table("station")
        orgs = {"HQ": hq}
        for code in ("U1", "U2"):
            oid = (await org.insert(org(code=code, name=f"单位{code}", level="city", org_type="department",
                                        active=True)).returning(org.id))[0]["id"]
            await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
            orgs[code] = oid
        await ctx.refresh_caches()
        stations = {}
        for code, name, unit in (("S1", "东站", "U1"), ("S2", "西站", "U2")):
            stations[code] = (await station.insert(station(code=code, name=name, unit=orgs[unit]))
                              .returning(station.id))[0]["id"]
        await ensure_user(ctx, "rec", PASSWORD, name="填报员", org_code="U1", roles=("recorder",))
        recorder = await api_login(app, "rec", PASSWORD)
        await register_key(ctx, "hub", role="recorder", name="读数数据中心")
        caller = ctx.table("api_caller")
        await caller.update({caller.org: orgs["U1"]}).where(caller.code == "hub")
        token = await issue_token(ctx, "hub")
        yield {"ctx": ctx, "client": client, "recorder": recorder, "orgs": orgs, "stations": stations,
               "token": token}
        await recorder.aclose()


def readings_csv(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def import_rows(client, rows, name: str) -> dict:
    r = await client.post("/api/reading/import", params={"screen": "reading_admin", "mode": "skip_bad_rows"},
                          files={"file": (f"{name}.csv", readings_csv(rows))})
    assert r.status_code == 200, r.text
    return r.json()


async def stored(env, value: int) -> list[dict]:
    reading = env["ctx"].table("reading")
    return await reading.select(reading.station, reading.reported, reading.unit).where(reading.value == value)


async def test_an_import_stores_the_id_of_the_row_its_business_key_names(env):
    result = await import_rows(env["client"], [
        ("S1", "S2", "U1", 101),      # row 2: station by code (by:), unit by org code (import ref_keys)
        ("Ｓ２", "S7", "", 102),       # row 3: a full-width key folds; a soft key need not exist
        ("S9", "", "U1", 103),        # row 4: no such station
        ("S1", "", "U9", 104),        # row 5: no such unit
    ], "superuser")
    assert (result["status"], result["ok"], result["bad"]) == ("done", 2, 2), result
    assert {(p["row"], p["column"], p["reason"]) for p in result["problems"]} == {
        (4, "站点", "“S9”不存在"), (5, "填报单位", "“U9”不存在")}
    s, orgs = env["stations"], env["orgs"]
    assert await stored(env, 101) == [{"station": s["S1"], "reported": "S2", "unit": orgs["U1"]}]
    assert await stored(env, 102) == [{"station": s["S2"], "reported": "S7", "unit": None}]
    assert await stored(env, 103) == [] and await stored(env, 104) == []


async def test_a_key_outside_the_importers_view_is_the_same_error(env):
    """The recorder (unit U1) sees station S1 only: S2 exists, but the answer says no more than S9's."""
    result = await import_rows(env["recorder"], [("S1", "", "", 201), ("S2", "", "", 202), ("S9", "", "", 203)],
                               "recorder")
    assert (result["status"], result["ok"], result["bad"]) == ("done", 1, 2), result
    assert [(p["row"], p["column"], p["reason"]) for p in result["problems"]] == [
        (3, "站点", "“S2”不存在"), (4, "站点", "“S9”不存在")]
    assert await stored(env, 201) == [{"station": env["stations"]["S1"], "reported": None, "unit": None}]


async def test_an_inbound_feed_names_the_station_by_code_inside_the_callers_view(env):
    """The caller (role recorder, unit U1) may name S1; S2 (another unit's) and S9 (none) answer alike."""
    headers = {"Authorization": f"Bearer {env['token']}"}
    r = await env["client"].post("/ext/feeds/reading_push", headers=headers,
                                 json=[{"station": "S1", "reported": "S1", "value": 301}])
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "created"
    assert await stored(env, 301) == [{"station": env["stations"]["S1"], "reported": "S1", "unit": None}]
    r = await env["client"].post("/ext/feeds/reading_push", headers=headers, json=[
        {"station": "S1", "value": 302}, {"station": "S2", "value": 303}, {"station": "S9", "value": 304}])
    assert r.status_code == 422, r.text
    results = r.json()["results"]
    assert results[0]["status"] == "not_written", results
    assert [(x["status"], x.get("errors")) for x in results[1:]] == [
        ("error", {"station": "“S2”不存在"}), ("error", {"station": "“S9”不存在"})]
    assert await stored(env, 302) == []


async def test_lists_show_the_label_of_a_soft_reference(env):
    r = await env["client"].get("/api/reading", params={"screen": "reading_admin", "page_size": 100})
    assert r.status_code == 200, r.text
    rows = {row["value"]: row for row in r.json()["items"]}
    assert (rows[101]["station_label"], rows[101]["reported"], rows[101]["reported_label"]) == ("东站", "S2", "西站")
    assert (rows[102]["reported"], rows[102]["reported_label"]) == ("S7", None)  # no such station (yet)
    detail = (await env["client"].get(f"/api/reading/{rows[101]['id']}", params={"screen": "reading_admin"})).json()
    assert detail["reported_label"] == "西站"
    page = await env["client"].get("/s/reading_admin", headers={"accept": "text/html"})
    assert page.status_code == 200 and "S2（西站）" in page.text and "S7" in page.text  # the key, its label beside it


@pytest.mark.parametrize("old,new,code,needle", [
    ("by: code, label: 站点", "by: name, label: 站点", "SA039", "station: {type: ref"),
    ("by: code, label: 站点", "by: nosuch, label: 站点", "SA039", "station: {type: ref"),
    ("ref_keys: {unit: code}", "ref_keys: {unit: head_name}", "SA113", "ref_keys:"),
    ("ref_keys: {unit: code}", "ref_keys: {value: code}", "SA113", "ref_keys:"),
])
async def test_a_bad_business_key_is_reported_with_file_line_and_code(tmp_path, old, new, code, needle):
    module = reference_blocks()["modules/readings.yaml"]
    assert old in module
    module = module.replace(old, new)
    with pytest.raises(SpecInvalid) as info:
        load_app(write_app(tmp_path, module))
    line = next(i for i, text in enumerate(module.splitlines(), 1) if needle in text)
    assert [(e.code, Path(e.file).name, e.line) for e in info.value.errors] == [(code, "readings.yaml", line)]


async def test_an_upsert_keyed_on_a_business_key_ref_updates_the_row_it_names(env):
    meter = env["ctx"].table("meter")
    for value in (1, 2):
        r = await env["client"].post("/api/meter/import", params={"screen": "meter_admin", "mode": "upsert"},
                                     files={"file": ("meters.csv", f"站点,读数\nS1,{value}\nS2,{value}\nS1,9\n".encode())})
        result = r.json()
        assert (result["status"], result["ok"], result["bad"]) == ("done", 2, 1), result
        assert [(p["row"], p["column"]) for p in result["problems"]] == [(4, "站点")]  # S1 twice in the file
    s = env["stations"]
    assert await meter.select(meter.station, meter.value).order_by(meter.station) == [
        {"station": s["S1"], "value": 2}, {"station": s["S2"], "value": 2}]


async def test_a_chunk_resolves_each_business_key_column_with_one_query(env):
    from types import SimpleNamespace

    from specadmin.runtime.imports.bulk import BulkWriter
    from specadmin.runtime.imports.plan import make_plan
    from specadmin.runtime.imports.refs import RefKeys

    ctx = env["ctx"]
    columns = BulkWriter(ctx, "reading").columns
    queries = []

    class Writer:
        async def fetch(self, query):
            queries.append(str(query))
            return [tuple(r.values()) for r in await query]

    Writer.columns = columns
    refs = RefKeys(ctx, make_plan(ctx, "reading", "reading_admin", "skip_bad_rows"), SimpleNamespace(superuser=True),
                   Writer())
    good = []
    for n in range(300):
        row = dict.fromkeys(columns) | {"station": ("S1", "S2", "S9")[n % 3], "unit": ("U1", "HQ")[n % 2], "value": n}
        good.append((n + 2, tuple(row[c] for c in columns), (), None))
    kept, bad = await refs.resolve(good)
    assert len(queries) == 2  # station, unit: one query each for the 300 rows
    assert (len(kept), len(bad)) == (200, 100)
    assert {row[columns.index("station")] for _, row, _, _ in kept} == set(env["stations"].values())


async def test_the_template_says_which_field_a_business_key_column_takes(env):
    import openpyxl

    r = await env["client"].get("/api/reading/import/template", params={"screen": "reading_admin"})
    assert r.status_code == 200, r.text[:200]
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    notes = {c.value: c.comment.text if c.comment else "" for row in sheet.iter_rows(max_row=3) for c in row if c.value}
    assert notes["站点"].startswith("填写站点编码") and notes["填报单位"].startswith("填写组织编码")
