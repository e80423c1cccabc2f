"""Hierarchy in data scope on SQLite and PostgreSQL, through the event hub of specs/REFERENCE.md run as
written: the 本级 / 下级 / 本级及下级 switch (`scope_level`) narrows a tree-scoped screen's list, tab
counts, exports, statistic and page without ever widening them, and the `participated` scope (我参与)
shows the events a task of the user's org (or, with `and_sub`, of an org below it) points at.
A statistic grouped by `street(org)` rolls each event up to its street, and the street groups sum
to the org groups below them. `specadmin check` names each broken key with its code, file and line.

The orgs: 总部 (city) > 甲街道 > 甲社区, and 总部 > 乙街道. The street user 甲街道 sees 甲街道's and
甲社区's events, never 总部's or 乙街道's."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from conftest import BACKENDS, api_login, reference_blocks, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/events.yaml"]
APP = "app: events\nlabel: 事件中心\nmodules: [events]\n"
PASSWORD = "Events@2026x"
EVENTS = {  # title: (org code, status, people)
    "市级事件": ("HQ", "已完成", 1),
    "街道事件": ("JA", "处置中", 2),
    "社区事件": ("JA1", "处置中", 4),
    "他街事件": ("JB", "处置中", 8),
}
TASKS = [("他街事件", "JA1"), ("市级事件", "JA"), ("街道事件", "JB")]  # (event, acting org)


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    return write_spec_app(app_dir, APP, {"events": module})


async def load(ctx, hq: int) -> dict[str, int]:
    """The org tree, the street user, the events and the tasks; {code or title: id}."""
    from specadmin.runtime.identity.seed import sync_roles
    from specadmin.runtime.identity.users import ensure_user

    org, event, task = ctx.table("org"), ctx.table("event"), ctx.table("task")
    ids = {"HQ": hq}
    for code, name, level, parent in (("JA", "甲街道", "street", "HQ"), ("JA1", "甲社区", "community", "JA"),
                                      ("JB", "乙街道", "street", "HQ")):
        new = (await org.insert(org(code=code, name=name, level=level, parent=ids[parent], org_type="department",
                                    active=True)).returning(org.id))[0]["id"]
        parent_path = (await org.select(org.path).where(org.id == ids[parent]))[0]["path"]
        await org.update({org.path: f"{parent_path}{new}/"}).where(org.id == new)
        ids[code] = new
    await ctx.refresh_caches()
    await sync_roles(ctx)
    await ensure_user(ctx, "jie", PASSWORD, name="甲街道用户", org_code="JA", roles=("street",))
    for title, (code, status, people) in EVENTS.items():
        ids[title] = (await event.insert(event(title=title, org=ids[code], status=status, people=people))
                      .returning(event.id))[0]["id"]
    for title, code in TASKS:
        await task.insert(task(event=ids[title], org=ids[code], note=f"{code}处置"))
    return ids


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    app_dir = write_app(tmp_path_factory.mktemp(f"hierarchy-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD, "总部") as (app, root, hq):
        ids = await load(app.state.ctx, hq)
        jie = await api_login(app, "jie", PASSWORD)
        try:
            yield {"app": app, "root": root, "jie": jie, "ids": ids}
        finally:
            await jie.aclose()


async def titles(client, screen: str, **params) -> set[str]:
    r = await client.get("/api/event", params={"screen": screen, "page_size": 100, **params})
    assert r.status_code == 200, r.text
    return {item["title"] for item in r.json()["items"]}


@ASYNC
async def test_levels_narrow_the_street_users_list_to_own_or_below_and_never_beyond(env):
    jie = env["jie"]
    assert await titles(jie, "event_hub") == {"街道事件", "社区事件"}
    assert await titles(jie, "event_hub", scope_level="all") == {"街道事件", "社区事件"}
    assert await titles(jie, "event_hub", scope_level="self") == {"街道事件"}
    assert await titles(jie, "event_hub", scope_level="sub") == {"社区事件"}
    assert await titles(jie, "event_hub", scope_level="sub", tab="done") == set()
    # a grant of `all` narrowed: the superuser's own org (总部) and the orgs below it
    assert await titles(env["root"], "event_hub", scope_level="self") == {"市级事件"}
    assert await titles(env["root"], "event_hub", scope_level="sub") == {"街道事件", "社区事件", "他街事件"}


@ASYNC
async def test_a_bad_level_or_a_level_on_a_screen_without_the_switch_is_a_400(env):
    jie = env["jie"]
    r = await jie.get("/api/event", params={"screen": "event_hub", "scope_level": "up"})
    assert r.status_code == 400 and "scope_level" in r.text, r.text
    r = await jie.get("/api/event", params={"screen": "event_mine", "scope_level": "self"})
    assert r.status_code == 400 and "不分本级、下级" in r.text, r.text
    r = await jie.get("/api/event/export.xlsx", params={"screen": "event_hub", "scope_level": "x"})
    assert r.status_code == 400, r.text


@ASYNC
async def test_exports_follow_the_level(env):
    from openpyxl import load_workbook

    jie = env["jie"]
    r = await jie.get("/api/event/export", params={"screen": "event_hub", "scope_level": "sub"})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == ["社区事件"]
    r = await jie.get("/api/event/export.xlsx", params={"screen": "event_hub", "scope_level": "self"})
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [c for c in (row[0] for row in sheet.iter_rows(min_row=2, values_only=True)) if c] == ["街道事件"]


@ASYNC
async def test_statistic_by_level_sums_to_the_whole(env):
    jie = env["jie"]

    async def totals(**params) -> dict:
        r = await jie.get("/api/stats/event_stat", params=params)
        assert r.status_code == 200, r.text
        return r.json()["totals"]

    whole, own, below = await totals(), await totals(scope_level="self"), await totals(scope_level="sub")
    assert whole == {"events": 2, "people": 6}
    assert (own, below) == ({"events": 1, "people": 2}, {"events": 1, "people": 4})
    r = await jie.get("/api/stats/event_stat/export.csv", params={"scope_level": "sub"})
    assert r.status_code == 200 and "甲社区" in r.content.decode("utf-8-sig") and "甲街道" not in r.content.decode("utf-8-sig")


@ASYNC
async def test_participated_shows_the_events_a_task_of_my_org_points_at(env):
    jie, ids = env["jie"], env["ids"]
    assert await titles(jie, "event_mine") == {"市级事件"}  # 甲街道 acted on it; 甲社区's act needs and_sub
    assert await titles(jie, "event_mine_sub") == {"市级事件", "他街事件"}
    r = await jie.get(f"/api/event/{ids['他街事件']}", params={"screen": "event_mine"})
    assert r.status_code in (403, 404), r.text  # outside the scope: not readable either
    r = await jie.get(f"/api/event/{ids['市级事件']}", params={"screen": "event_mine"})
    assert r.status_code == 200 and r.json()["title"] == "市级事件"


@ASYNC
async def test_list_page_offers_the_three_levels_and_keeps_the_choice_through_tabs(env):
    import re

    page = await env["jie"].get("/s/event_hub", params={"scope_level": "sub", "tab": "doing"})
    assert page.status_code == 200, page.text[:500]
    assert ">社区事件<" in page.text and ">街道事件<" not in page.text  # the row links (the menu has 各街道事件)
    pressed = re.findall(r'data-level="(\w+)" aria-pressed="true"', page.text)
    assert pressed == ["sub"]
    assert re.search(r'data-tab="done" href="[^"]*scope_level=sub', page.text)
    assert re.search(r'name="scope_level" value="sub"', page.text)  # the filter form keeps it
    assert "export.xlsx?" in page.text and re.search(r'id="btn-export" href="[^"]*scope_level=sub', page.text)
    plain = await env["jie"].get("/s/event_mine")
    assert 'class="levels"' not in plain.text  # a participated screen has no switch


def test_check_names_broken_hierarchy_keys_with_their_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    broken = (MODULE.replace("through: {entity: task, ref: event, field: org}}\n",
                             "through: {entity: tsk, ref: event, field: org}}\n", 1)
              .replace("through: {entity: task, ref: event, field: org}, and_sub",
                       "through: {entity: task, ref: note, field: note}, and_sub")
              .replace("    actions: [export]\n    scope: {mode: own_and_sub}\n    stat:",
                       "    actions: [export]\n    scope: {mode: own_unit}\n    levels: true\n    stat:")
              .replace("group_by: [street(org)]", "group_by: [strete(org), street(title)]"))
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    lines = broken.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if text in line)

    err = [e.removeprefix(f"{tmp_path.name}/") for e in capsys.readouterr().err.splitlines() if "[SA" in e]
    assert err == [
        f"modules/events.yaml:{line_of('entity: tsk')}: [SA170] scope participated: unknown entity 'tsk'",
        f"modules/events.yaml:{line_of('ref: note')}: [SA171] scope participated: 'task.note' must be a ref (by id) "
        "to 'event'",
        f"modules/events.yaml:{line_of('ref: note')}: [SA172] scope participated: 'task.note' must lead to an org (string)",
        f"modules/events.yaml:{line_of('levels: true')}: [SA173] levels: true needs a tree scope (own_and_sub) on the "
        "screen to narrow to 本级 / 下级, not own_unit",
        f"modules/events.yaml:{line_of('strete(org)')}: [SA174] stat group 'street(title)': 'title' is not a ref to org",
        f"modules/events.yaml:{line_of('strete(org)')}: [SA174] stat group 'strete(org)': 'strete' is neither date, "
        "month nor an org level (expected one of province, city, district, street, community, grid)"]


@ASYNC
async def test_rollup_groups_by_street_and_sums_to_the_leaf_groups(env):
    async def groups(client, screen: str) -> dict:
        r = await client.get(f"/api/stats/{screen}")
        assert r.status_code == 200, r.text
        body = r.json()
        return {item.get("org_label"): (item["events"], item["people"]) for item in body["items"]}, body["totals"]

    root, jie = env["root"], env["jie"]
    leaves, leaf_totals = await groups(root, "event_stat")
    assert leaves == {"总部": (1, 1), "甲街道": (1, 2), "甲社区": (1, 4), "乙街道": (1, 8)}
    streets, street_totals = await groups(root, "event_by_street")
    assert streets == {None: (1, 1), "甲街道": (2, 6), "乙街道": (1, 8)}  # 总部 lies above every street
    assert street_totals == leaf_totals == {"events": 4, "people": 15}
    assert streets["甲街道"] == tuple(map(sum, zip(leaves["甲街道"], leaves["甲社区"])))
    assert await groups(jie, "event_by_street") == ({"甲街道": (2, 6)}, {"events": 2, "people": 6})
    r = await jie.get("/api/stats/event_by_street", params={"scope_level": "sub", "sort": "-people"})
    assert r.status_code == 200 and [(i["org_label"], i["people"]) for i in r.json()["items"]] == [("甲街道", 4)]
    page = await jie.get("/s/event_by_street", params={"scope_level": "self"})  # the page: buttons, 本级 only
    assert page.status_code == 200 and 'data-level="self" aria-pressed="true"' in page.text, page.text[:300]
    assert "甲街道" in page.text and '<td class="num">2</td>' in page.text and '<td class="num">6</td>' not in page.text


@ASYNC
async def test_tree_view_starts_at_the_users_own_tops_and_opens_children_on_demand(env):
    ctx, root, jie = env["app"].state.ctx, env["root"], env["jie"]
    area, ids = ctx.table("area"), env["ids"]
    await area.delete(force=True)
    made: dict[str, int] = {}
    for name, org, parent in (("全市", "HQ", None), ("甲片区", "JA", "全市"), ("甲一网格", "JA1", "甲片区"),
                              ("甲二网格", "JA1", "甲片区"), ("乙片区", "JB", "全市")):
        made[name] = (await area.insert(area(name=name, org=ids[org], parent=made.get(parent)))
                      .returning(area.id))[0]["id"]

    async def level(client, **params) -> dict[str, int]:
        r = await client.get("/api/area", params={"screen": "area_admin", "tree": "1", **params})
        assert r.status_code == 200, r.text
        return {item["name"]: item["children"] for item in r.json()["items"]}

    assert await level(root) == {"全市": 2}
    assert await level(root, parent=made["全市"]) == {"甲片区": 2, "乙片区": 0}
    assert await level(jie) == {"甲片区": 2}  # 全市 lies outside the street's scope: its tree starts below
    assert await level(jie, parent=made["甲片区"]) == {"甲一网格": 0, "甲二网格": 0}
    assert await level(jie, parent=made["全市"]) == {"甲片区": 2}  # 乙片区 is not the street's
    r = await root.get("/api/org", params={"screen": "org_admin", "tree": "1"})  # the org tree itself
    assert r.status_code == 200 and [(i["name"], i["children"]) for i in r.json()["items"]] == [("总部", 2)]
    r = await jie.get("/api/area", params={"screen": "area_admin", "tree": "maybe"})
    assert r.status_code == 400 and "tree" in r.text
    r = await jie.get("/api/event", params={"screen": "event_hub", "tree": "1"})
    assert r.status_code == 400 and "不是树形数据" in r.text
    page = await jie.get("/s/area_admin", params={"tree": "1"})
    assert page.status_code == 200 and 'data-children="2"' in page.text and "展开下级（2）" in page.text
    assert f"parent={made['甲片区']}" in page.text and "tree=1" in page.text
    opened = await jie.get("/s/area_admin", params={"tree": "1", "parent": made["甲片区"]})
    assert ">甲一网格<" in opened.text and ">甲片区<" not in opened.text.split("<tbody>")[1] and 'id="tree-top"' in opened.text
