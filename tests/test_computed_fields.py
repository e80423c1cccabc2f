"""Computed fields (`type: computed`, spec-language issue item 1) and the labels of dict and band group
keys in statistics (item 13), on SQLite and PostgreSQL, through the example of specs/REFERENCE.md run
as written: an age that turns on the birthday (the test clock, runtime/data/where.py `clock`), bands,
safe division, a path through a ref, `if`; list, detail, filters, sort, tabs, export, statistics; a
write refused; and `specadmin check` naming each broken expression with its code, file and line."""
from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from conftest import BACKENDS, clock_at, reference_blocks, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/residents.yaml"]
APP = "app: residents\nlabel: 居民\nmodules: [residents]\n"
PASSWORD = "Resident@2026x"
D = dt.date
NOON = dt.datetime(2026, 12, 6, 12, 0)
PEOPLE = {  # name: (birth_date, gender, income, members, on the street)
    "甲": (D(1966, 12, 7), "m", "3000", 3, True),  # 60 tomorrow
    "乙": (D(2008, 12, 6), "f", "1000", 0, False),  # 18 today; no members: per head is empty, not an error
    "丙": (D(1940, 1, 1), "f", "2000", 1, False),
    "丁": (None, "m", None, None, False),
}


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    return write_spec_app(app_dir, APP, {"residents": module})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    app_dir = write_app(tmp_path_factory.mktemp(f"computed-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD) as (app, client, _):
        ctx = app.state.ctx
        street, resident = ctx.table("street"), ctx.table("resident")
        street_id = (await street.insert(street(name="西长安街", since=D(1998, 5, 1))).returning(street.id))[0]["id"]
        ids = {}
        for name, (born, gender, income, members, on_street) in PEOPLE.items():
            row = resident(name=name, birth_date=born, gender=gender, income=income, members=members,
                           street=street_id if on_street else None, visited=False)
            ids[name] = (await resident.insert(row).returning(resident.id))[0]["id"]
        yield {"client": client, "ids": ids, "ctx": ctx}


async def listed(client, **params) -> list[dict]:
    r = await client.get("/api/resident", params={"screen": "resident_admin", **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


@ASYNC
async def test_age_turns_on_the_birthday_not_the_day_before(env):
    client = env["client"]
    with clock_at(dt.datetime(2026, 12, 5, 23, 59)):
        ages = {i["name"]: (i["age"], i["age_band"]) for i in await listed(client)}
        assert ages == {"甲": (59, "18-59"), "乙": (17, "0-17"), "丙": (86, "60+"), "丁": (None, None)}
    with clock_at(NOON):  # 乙's 18th birthday
        assert {i["name"]: i["age"] for i in await listed(client)} == {"甲": 59, "乙": 18, "丙": 86, "丁": None}
    with clock_at(dt.datetime(2026, 12, 7, 0, 1)):  # 甲's 60th
        items = {i["name"]: i for i in await listed(client)}
        assert (items["甲"]["age"], items["甲"]["age_band"], items["甲"]["stage"]) == (60, "60+", "老年")


@ASYNC
async def test_arithmetic_paths_and_conditions_are_read_in_sql(env):
    with clock_at(NOON):
        items = {i["name"]: i for i in await listed(env["client"])}
        detail = (await env["client"].get(f"/api/resident/{env['ids']['丙']}", params={"screen": "resident_admin"})).json()
    assert {n: (float(i["per_head"]) if i["per_head"] is not None else None, i["street_year"], i["elder"], i["birthday"])
            for n, i in items.items()} == {"甲": (1000.0, 1998, "否", 1207), "乙": (None, 0, "否", 1206),
                                           "丙": (2000.0, 0, "否", 101), "丁": (None, 0, "否", None)}
    assert (detail["age"], detail["age_band"], detail["stage"]) == (86, "60+", "高龄")


@ASYNC
async def test_filters_sort_and_tabs_use_the_computed_value(env):
    client = env["client"]
    with clock_at(NOON):
        assert [i["name"] for i in await listed(client, age_from="60")] == ["丙"]
        assert [i["name"] for i in await listed(client, age_from="18", age_to="59")] == ["乙", "甲"]
        assert sorted(i["name"] for i in await listed(client, age_band="18-59")) == ["乙", "甲"]
        assert [i["name"] for i in await listed(client, sort="-age") if i["age"] is not None] == ["丙", "甲", "乙"]
        assert [i["name"] for i in await listed(client, tab="elderly")] == ["丙"]
        assert sorted(i["name"] for i in await listed(client, tab="grown")) == ["丙", "乙", "甲"]
        bad = await client.get("/api/resident", params={"screen": "resident_admin", "age_from": "old"})
        assert bad.status_code == 400 and "age_from" in bad.text, bad.text
    with clock_at(dt.datetime(2026, 12, 7, 12, 0)):  # the tab follows the clock: 甲 is 60 now
        assert sorted(i["name"] for i in await listed(client, tab="elderly")) == ["丙", "甲"]
        page = await client.get("/s/resident_admin")
    assert page.status_code == 200
    assert 'name="age_from"' in page.text and 'name="age_to"' in page.text
    assert all(f'<option value="{b}"' in page.text for b in ("0-17", "18-59", "60+"))


@ASYNC
async def test_an_action_condition_reads_the_computed_value(env):
    client, ids = env["client"], env["ids"]
    with clock_at(NOON):  # 甲 is 59 today: only 丙 is visited
        r = await client.post("/api/resident/actions/visit", json={"ids": [ids["甲"], ids["丙"]], "params": {}})
    assert r.status_code == 200 and (r.json()["done"], r.json()["skipped"]) == ([ids["丙"]], [ids["甲"]]), r.text
    with clock_at(dt.datetime(2026, 12, 7, 12, 0)):
        r = await client.post("/api/resident/actions/visit", json={"ids": [ids["甲"]], "params": {}})
    assert r.status_code == 200 and r.json()["done"] == [ids["甲"]], r.text


@ASYNC
async def test_a_computed_field_is_never_written(env):
    client = env["client"]
    r = await client.post("/api/resident", json={"name": "戊", "age": 30}, params={"screen": "resident_admin"})
    assert r.status_code == 422 and "年龄" in r.text and "计算" in r.text, r.text
    r = await client.patch(f"/api/resident/{env['ids']['甲']}", json={"age_band": "60+"}, params={"screen": "resident_admin"})
    assert r.status_code == 422 and "年龄段" in r.text, r.text


@ASYNC
async def test_export_writes_the_computed_columns(env):
    with clock_at(NOON):
        r = await env["client"].get("/api/resident/export.csv", params={"screen": "resident_admin", "sort": "-age"})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[3:6] == ["年龄", "年龄段", "阶段"]
    assert [row[0] for row in rows[1:]] == ["丙", "甲", "乙", "丁"]  # by age, the empty one last
    by_name = {row[0]: row for row in rows[1:]}
    assert (by_name["乙"][3], by_name["乙"][4], by_name["丙"][5]) == ("18", "18-59", "高龄")


@ASYNC
async def test_export_batches_page_through_a_computed_sort(env):
    """Large exports read keyset batches after the last (value, id): here one row a batch."""
    from specadmin.runtime.data.export import sorted_batches
    from specadmin.runtime.data.queries import ordering

    ctx = env["ctx"]
    table = ctx.table("resident")

    async def names(rows):
        return [r["name"] for r in rows]

    with clock_at(NOON):
        column, ascending = ordering(ctx.app.entity("resident"), [], table, "-age")
        batches = sorted_batches(table, [table.id, table.name], None, column, ascending, names, batch=1)
        assert [n async for batch in batches for n in batch] == ["丙", "甲", "乙", "丁"]


@ASYNC
async def test_statistics_group_by_a_band_with_dict_labels(env):
    client = env["client"]
    with clock_at(NOON):
        r = await client.get("/api/stats/resident_stat")
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        exported = await client.get("/api/stats/resident_stat/export.csv")
        page = await client.get("/s/resident_stat")
    assert sorted((i["age_band"] or "", i["gender"], i["gender_label"], i["people"]) for i in items) == [
        ("", "m", "男", 1), ("18-59", "f", "女", 1), ("18-59", "m", "男", 1), ("60+", "f", "女", 1)]
    assert [i["age_band"] for i in items if i["age_band"]] == ["18-59", "18-59", "60+"]  # ordered by the band
    assert all(i["age_band_label"] == i["age_band"] for i in items)
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["年龄段", "性别", "人数"]
    assert ["60+", "女", "1"] in lines and not any("f" in line[:2] for line in lines)
    assert page.status_code == 200 and ">女<" in page.text and ">60+<" in page.text and ">f<" not in page.text


BROKEN = [  # (replace, with, code, message fragment)
    ('"age(birth_date)"', '"age(birth_date"', "SA175", "the expression ends too early"),
    ('"income / members"', '"incom / members"', "SA176", "'incom' is not a field of entity 'resident'"),
    ('"coalesce(year(street.since), 0)"', '"coalesce(year(street.name), 0)"', "SA177", "'year()' needs date or datetime, not string"),
    ('"band(age(birth_date), [18, 60])"', '"band(age(birth_date), [60, 18])"', "SA178", "ascending"),
    ("labels: [非老年, 老年, 高龄]", "labels: [非老年, 老年]", "SA178", "2 labels are given"),
    ("list: [name, gender, birth_date, age,", "form: [name, age]\n    list: [name, gender, birth_date, age,",
     "SA179", "form field 'age' is computed"),
]


@pytest.mark.parametrize("old,new,code,fragment", BROKEN, ids=[b[2] + "-" + b[3][:12] for b in BROKEN])
def test_check_names_a_broken_computed_field(tmp_path, capsys, old, new, code, fragment):
    from specadmin.cli import main

    assert old in MODULE
    broken = MODULE.replace(old, new, 1)
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    errors = [e for e in capsys.readouterr().err.splitlines() if "[SA" in e]
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if new.splitlines()[0] in text)
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path.name}/modules/residents.yaml:{line}: [{code}]"), errors
    assert fragment in errors[0], errors
