"""Unique sets (issue 12 item 3): `unique: [[event, org], [place, day]]` and a sensitive `unique: true`
field, enforced by the database and reported the same way on every write path, on SQLite and
PostgreSQL. The app is the example of specs/REFERENCE.md ("Unique values"): the test runs the docs."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from conftest import BACKENDS, ROOT, api_login, postgres_url, start_app

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Unique@2026x"
BOTH = "已存在相同活动、报名单位的记录"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(serial: int) -> str:
    """A valid 身份证号 (GB 11643 check digit) per serial."""
    body = f"11010519491231{serial:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


# Beside the documented example: an upsert import screen (key: the sensitive ID number) and an inbound feed.
EXTRA = """\
  signup_upsert:
    entity: signup
    label: 报名更新
    list: [event, org, place, day, id_number]
    actions: [import]
    import: {key: [id_number], mode: upsert}
roles:
  data_feed: {label: 数据接口接入, grants: {}}
feeds:
  signup_push:
    kind: inbound
    label: 报名数据接收
    entity: signup
    key: [place, day]
    ops: [create]
    fields: [event, org, place, day]
    caller_role: data_feed
"""


def example_module() -> str:
    text = (ROOT / "specs" / "REFERENCE.md").read_text(encoding="utf-8")
    blocks = {m[1]: m[2] for m in re.finditer(r'```\w+ title="([^"]+)"\n(.*?)```', text, re.S)}
    return blocks["modules/signups.yaml"]


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.generator.writer import generate
    from specadmin.runtime.api_callers.keys import issue_token, register_key
    from specadmin.runtime.identity.users import ensure_user

    app_dir = tmp_path_factory.mktemp(f"unique-{request.param}")
    (app_dir / "modules").mkdir()
    (app_dir / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [signups]\n", encoding="utf-8")
    (app_dir / "modules" / "signups.yaml").write_text(example_module() + EXTRA, encoding="utf-8")
    generate(app_dir)
    app, _ = await start_app(app_dir, request.param)
    ctx = app.state.ctx
    org = ctx.table("org")
    orgs = []
    for code in ("HQ", "U1"):
        oid = (await org.insert(org(code=code, name=f"单位{code}", level="city", org_type="department", active=True))
               .returning(org.id))[0]["id"]
        await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
        orgs.append(oid)
    await ctx.refresh_caches()
    await ensure_user(ctx, "root", PASSWORD, name="管理员", org_code="HQ", superuser=True)
    await register_key(ctx, "hub", role="data_feed", name="报名数据中心")
    token = await issue_token(ctx, "hub")
    client = await api_login(app, "root", PASSWORD)
    yield {"app": app, "ctx": ctx, "dir": app_dir, "client": client, "orgs": orgs, "token": token}
    await client.aclose()
    for hook in app.on_shutdown:
        await hook(app)


async def fresh_event(env, name: str) -> int:
    event = env["ctx"].table("event")
    return (await event.insert(event(name=name)).returning(event.id))[0]["id"]


async def count(env) -> int:
    return await env["ctx"].table("signup").count()


async def create(env, **body):
    return await env["client"].post("/api/signup", json=body)


async def test_the_migration_creates_the_unique_indexes(env):
    migration = (env["dir"] / "generated" / "migrations" / "m0001_initial.py").read_text(encoding="utf-8")
    for columns in ('["event", "org"]', '["place", "day"]', '["id_number_bidx"]'):
        assert f"create_unique_index(Signup, {columns})" in migration


async def test_a_duplicate_pair_is_refused_by_the_api_naming_both_fields_and_nothing_is_written(env):
    e1, (o1, o2) = await fresh_event(env, "春季运动会"), env["orgs"]
    first = await create(env, event=e1, org=o1, place="一号场", day="2026-12-01")
    assert first.status_code == 201, first.text
    before = await count(env)
    again = await create(env, event=e1, org=o1, place="二号场", day="2026-12-02")
    assert again.status_code == 422, again.text
    assert again.json()["errors"] == {"event": BOTH, "org": BOTH}
    assert await count(env) == before
    assert (await create(env, event=e1, org=o2)).status_code == 201  # another unit; empty place and day never clash
    assert (await create(env, event=await fresh_event(env, "秋季运动会"), org=o1)).status_code == 201


async def test_an_update_into_a_duplicate_is_refused_the_same_way_and_changes_nothing(env):
    e2, (o1, o2) = await fresh_event(env, "游泳赛"), env["orgs"]
    assert (await create(env, event=e2, org=o1, place="九号场", day="2026-12-09")).status_code == 201
    row = (await create(env, event=e2, org=o2)).json()
    moved = await env["client"].patch(f"/api/signup/{row['id']}", json={"org": o1})
    assert moved.status_code == 422, moved.text
    assert moved.json()["errors"] == {"event": BOTH, "org": BOTH}
    stored = (await env["client"].get(f"/api/signup/{row['id']}")).json()
    assert (stored["org"], stored["version"]) == (o2, row["version"])
    booked = await env["client"].patch(f"/api/signup/{row['id']}", json={"place": "九号场", "day": "2026-12-09"})
    assert booked.status_code == 422
    assert booked.json()["errors"] == {"place": "已存在相同场地、日期的记录", "day": "已存在相同场地、日期的记录"}
    stored = (await env["client"].get(f"/api/signup/{row['id']}")).json()
    assert (stored["place"], stored["version"]) == (None, row["version"])


async def test_a_sensitive_unique_field_is_enforced_through_its_blind_index(env):
    e3, (o1, o2) = await fresh_event(env, "冬季运动会"), env["orgs"]
    assert (await create(env, event=e3, org=o1, id_number=id_number(1))).status_code == 201
    before = await count(env)
    again = await create(env, event=e3, org=o2, id_number=id_number(1))
    assert again.status_code == 422, again.text
    assert again.json()["errors"] == {"id_number": "已存在相同联系人身份证号的记录"}  # the value is never echoed
    assert await count(env) == before
    assert (await create(env, event=e3, org=o2, id_number=id_number(2))).status_code == 201


async def test_the_form_page_shows_the_clash_beside_the_fields(env):
    e1, o1 = await fresh_event(env, "乒乓球赛"), env["orgs"][0]
    assert (await create(env, event=e1, org=o1)).status_code == 201
    before = await count(env)
    page = await env["client"].post("/s/signup_admin/new", data={"event": str(e1), "org": str(o1)},
                                    headers={"accept": "text/html"})
    assert page.status_code == 422, page.text[:300]
    for name in ("event", "org"):
        assert f'<div class="field-error" data-field="{name}">{BOTH}</div>' in page.text
    assert await count(env) == before


async def test_an_inbound_feed_record_gets_the_clash_as_its_errors_and_the_batch_writes_nothing(env):
    e6, e7, o1 = await fresh_event(env, "田径赛"), await fresh_event(env, "跳绳赛"), env["orgs"][0]
    assert (await create(env, event=e6, org=o1)).status_code == 201
    before = await count(env)
    batch = [{"event": e7, "org": o1, "place": "七号场", "day": "2026-12-20"},   # a new pair: fine alone
             {"event": e6, "org": o1, "place": "八号场", "day": "2026-12-21"}]   # (event, org) stored already
    r = await env["client"].post("/ext/feeds/signup_push", json=batch,
                                 headers={"Authorization": f"Bearer {env['token']}"})
    assert r.status_code == 422, r.text
    results = r.json()["results"]
    assert results[0]["status"] == "not_written", results
    assert (results[1]["status"], results[1]["errors"]) == ("error", {"event": BOTH, "org": BOTH})
    assert await count(env) == before


def signups_csv(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["活动", "报名单位", "场地", "日期", "联系人身份证号"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def test_an_import_rejects_clashing_rows_with_row_columns_and_reason(env):
    stored_event, e4, (o1, o2) = await fresh_event(env, "元旦联欢"), await fresh_event(env, "新春联欢"), env["orgs"]
    assert (await create(env, event=stored_event, org=o1, place="十号场", day="2026-12-14",
                         id_number=id_number(3))).status_code == 201
    data = signups_csv([
        (e4, o1, "三号场", "2026-12-10", ""),              # row 2: good
        (e4, o1, "四号场", "2026-12-11", ""),              # row 3: same event and unit as row 2
        (stored_event, o1, "五号场", "2026-12-12", ""),    # row 4: event and unit stored already
        (e4, o2, "十号场", "2026-12-14", ""),              # row 5: place and day stored already
        (e4, o2, "六号场", "2026-12-13", id_number(3)),   # row 6: the ID number is stored already
    ])
    before = await count(env)
    r = await env["client"].post("/api/signup/import", params={"screen": "signup_admin", "mode": "skip_bad_rows"},
                                 files={"file": ("signups.csv", data)})
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["status"], result["ok"], result["bad"]) == ("done", 1, 4), result
    problems = {(p["row"], p["column"], p["reason"]) for p in result["problems"]}
    assert problems == {
        (3, "活动、报名单位", "与文件中前面的行重复（活动、报名单位）"),
        (4, "活动、报名单位", "与已有数据重复（活动、报名单位）"),
        (5, "场地、日期", "与已有数据重复（场地、日期）"),
        (6, "联系人身份证号", "与已有数据重复（联系人身份证号）"),
    }
    assert await count(env) == before + 1


async def test_an_upsert_keeps_a_rows_own_values_but_not_another_rows(env):
    e8, e9, (o1, o2) = await fresh_event(env, "排球赛"), await fresh_event(env, "羽毛球赛"), env["orgs"]
    row = (await create(env, event=e8, org=o1, place="十一号场", day="2026-12-15", id_number=id_number(4))).json()
    data = signups_csv([
        (e8, o1, "十一号场", "2026-12-15", id_number(4)),   # row 2: updates its own row, same values
        (e9, o2, "十一号场", "2026-12-15", id_number(5)),   # row 3: a new row on the stored place and day
    ])
    r = await env["client"].post("/api/signup/import", params={"screen": "signup_upsert", "mode": "upsert"},
                                 files={"file": ("upsert.csv", data)})
    result = r.json()
    assert (result["status"], result["ok"], result["bad"]) == ("done", 1, 1), result
    assert [(p["row"], p["column"]) for p in result["problems"]] == [(3, "场地、日期")]
    stored = (await env["client"].get(f"/api/signup/{row['id']}")).json()
    assert stored["version"] == row["version"] + 1  # the upsert wrote it


async def test_the_database_itself_refuses_a_duplicate_written_past_the_service(env):
    """The constraint is the database's: a write that skips EntityService is refused too, and the
    refusal maps back to the set (what the import says when a row slips in meanwhile)."""
    from specadmin.runtime.data.unique import refusal, violated

    ctx = env["ctx"]
    signup, e5 = ctx.table("signup"), await fresh_event(env, "篮球赛")
    await signup.insert(signup(event=e5, org=env["orgs"][0]))
    with pytest.raises(Exception) as info:
        await signup.insert(signup(event=e5, org=env["orgs"][0]))
    entity = ctx.app.entity("signup")
    assert violated(entity, info.value) == ("event", "org")
    assert refusal(entity, info.value) == "与已有数据重复（活动、报名单位），未写入任何数据"


async def test_a_new_unique_set_over_existing_columns_is_checked_before_the_migration():
    from specadmin.migrations.diff import plan_migration

    columns = {c: {"kind": "Varchar", "params": {}, "references": None} for c in ("place", "day")}
    old = {"tables": {"signup": {"class_name": "Signup", "columns": columns, "indexes": []}}}
    new = {"tables": {"signup": {"class_name": "Signup", "columns": columns, "indexes": [],
                                 "unique": [["place", "day"]]}}}
    plan = plan_migration(old, new)
    assert plan.new_unique == plan.checked_unique == [("Signup", ["place", "day"])]
    assert "add unique index signup(place, day)" in plan.description()
    assert plan_migration(new, old).dropped_unique == [("Signup", ["place", "day"])]
    assert plan_migration(None, new).checked_unique == []  # a new table holds no rows


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migrate_refuses_a_unique_index_over_duplicate_rows_naming_them(tmp_path, backend):
    from piccolo.columns import Date, Varchar
    from piccolo.engine.postgres import PostgresEngine
    from piccolo.engine.sqlite import SQLiteEngine
    from piccolo.table import create_table_class

    from specadmin.migrations.unique import DuplicateRows, create_unique_index, drop_unique_index, refuse_duplicates
    from specadmin.specs.model import Entity, Field

    engine = (SQLiteEngine(path=str(tmp_path / "dup.sqlite")) if backend == "sqlite"
              else PostgresEngine(config={"dsn": postgres_url()}))
    booking = create_table_class("Booking", class_kwargs={"tablename": "uq_probe_booking", "db": engine},
                                 class_members={"place": Varchar(null=True), "day": Date(null=True)})
    await booking.alter().drop_table(if_exists=True)
    await booking.create_table()
    day = dt.date(2026, 12, 1)
    rows = [("一号场", day), ("一号场", day), ("二号场", day), (None, day), (None, day)]
    await booking.insert(*[booking(place=p, day=d) for p, d in rows])
    with pytest.raises(DuplicateRows) as info:
        await refuse_duplicates(booking, ["place", "day"])
    assert "(一号场, 2026-12-01): 2 rows, ids 1, 2" in str(info.value)  # empty values never clash
    await booking.delete().where(booking.id == 2)
    await refuse_duplicates(booking, ["place", "day"])
    await create_unique_index(booking, ["place", "day"])
    with pytest.raises(Exception) as clash:
        await booking.insert(booking(place="一号场", day=day))
    entity = Entity(name="booking", label="预约", table="uq_probe_booking", display="place", module="main",
                    fields=(Field("place", "string", "场地"), Field("day", "date", "日期")), unique=(("place", "day"),))
    from specadmin.runtime.data.unique import violated

    assert violated(entity, clash.value) == ("place", "day")
    await drop_unique_index(booking, ["place", "day"])
    await booking.insert(booking(place="一号场", day=day))  # the index is gone
    await booking.alter().drop_table()


async def test_specadmin_migrate_refuses_a_new_unique_set_over_duplicates_before_changing_anything(tmp_path):
    """End to end on SQLite through the command line: the refusal names the rows; once fixed, it applies."""
    import os
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    def specadmin(*args):
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # SQLite under the app's var/
        return subprocess.run([str(Path(sys.executable).with_name("specadmin")), *args], capture_output=True,
                              text=True, env=env, timeout=300)

    module = ("entities:\n  booking:\n    label: 预约\n    fields:\n"
              "      place: {type: string, label: 场地}\n      day: {type: date, label: 日期}\n")
    (tmp_path / "modules").mkdir()
    (tmp_path / "app.yaml").write_text("app: booked\nlabel: 预约\nmodules: [main]\n", encoding="utf-8")
    (tmp_path / "modules" / "main.yaml").write_text(module, encoding="utf-8")
    for step in (("generate", str(tmp_path)), ("migrate", str(tmp_path))):
        done = specadmin(*step)
        assert done.returncode == 0, done.stderr
    db = sqlite3.connect(tmp_path / "var" / "app.sqlite3")
    with db:
        db.executemany("INSERT INTO booking (place, day, version) VALUES (?, ?, ?)",
                       [("一号场", "2026-12-01", 1), ("一号场", "2026-12-01", 1), ("二号场", "2026-12-01", 1)])
    (tmp_path / "modules" / "main.yaml").write_text(
        module.replace("    fields:\n", "    unique: [[place, day]]\n    fields:\n"), encoding="utf-8")
    assert specadmin("generate", str(tmp_path)).returncode == 0
    refused = specadmin("migrate", str(tmp_path))
    assert refused.returncode == 1
    assert "booking(place, day)" in refused.stderr and "(一号场, 2026-12-01): 2 rows, ids 1, 2" in refused.stderr
    with db:
        db.execute("DELETE FROM booking WHERE id = ?", (2,))
    applied = specadmin("migrate", str(tmp_path))
    assert applied.returncode == 0, applied.stderr
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: booking.place, booking.day"), db:
        db.execute("INSERT INTO booking (place, day, version) VALUES (?, ?, ?)", ("一号场", "2026-12-01", 1))
    db.close()


async def test_a_plain_unique_field_still_names_its_value_a_duplicate_account_too(env):
    """`unique: true` (e.g. 账号, whose table also has piccolo's unique e-mail) keeps its message."""
    user = env["ctx"].table("user")
    before = await user.count()
    r = await env["client"].post("/api/user", json={"username": "root", "name": "重名", "org": env["orgs"][0],
                                                   "password": "Other@2026x"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == {"username": "“root”已存在"}
    assert await user.count() == before
