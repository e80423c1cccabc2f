"""The 交办 picker's helpers on the Chongzhou hub (SQLite and PostgreSQL): 推荐单位 from the 事项清单 through the
flow's `recommend:` (a parent type's entry applies to its children; a type without one gets none), the picker's
org list filtered by keyword (name or pinyin initials) and 仅下级, and 常用单位组 saved per user (private: another
user's group is 404)."""
from __future__ import annotations

from test_workflow_chongzhou import hub, launch  # noqa: F401  (the module's app, its clients and a launch helper)
import pytest

ASYNC = pytest.mark.asyncio(loop_scope="session")  # the app tests; the spec checks below are plain
GROUPS = "/api/workflow/org-groups"


async def detail(hub, who: str, event_id: int) -> dict:
    r = await hub["c"][who].get(f"/api/workflow/event/{event_id}")
    assert r.status_code == 200, r.text
    return r.json()


@ASYNC
async def test_the_detail_recommends_the_responsibility_lists_orgs_for_the_events_type(hub):  # noqa: F811
    event_id = await launch(hub, "town", "推荐单位：占道经营")
    got = (await detail(hub, "town", event_id))["recommended"]
    assert [r["org"] for r in got] == [hub["orgs"]["CZ-CGJ"]]  # demo.py: 占道经营 (城管 line) → 城管局
    assert got[0]["org_name"] == "崇州市城市管理局"
    assert "占道经营" in got[0]["requirement"]


@ASYNC
async def test_a_parent_types_entry_applies_to_its_children_after_their_own(hub):  # noqa: F811
    ctx = hub["ctx"]
    resp, join = ctx.table("responsibility"), ctx.join_table("responsibility", "orgs")
    rid = (await resp.insert(resp(event_type=hub["types"]["0201"], requirement="市容秩序类由生态环境局协办"))
           .returning(resp.id))[0]["id"]
    await join.insert(join(owner=rid, target=hub["orgs"]["CZ-STJ"]), join(owner=rid, target=hub["orgs"]["CZ-CGJ"]))
    try:
        event_id = await launch(hub, "town", "推荐单位：父类清单")
        got = (await detail(hub, "town", event_id))["recommended"]
        assert [r["org"] for r in got] == [hub["orgs"]["CZ-CGJ"], hub["orgs"]["CZ-STJ"]]
        assert "占道经营" in got[0]["requirement"]  # the child type's own entry wins for 城管局
        assert got[1]["requirement"] == "市容秩序类由生态环境局协办"
    finally:
        await join.delete().where(join.owner == rid)
        await resp.delete().where(resp.id == rid)


@ASYNC
async def test_a_type_without_a_list_entry_gets_no_recommendation(hub):  # noqa: F811
    r = await hub["c"]["town"].post("/api/workflow/event", json={
        "data": {"title": "推荐单位：邻里纠纷", "event_type": hub["types"]["040101"]}})
    assert r.status_code == 201, r.text
    assert (await detail(hub, "town", r.json()["id"]))["recommended"] == []


@ASYNC
async def test_the_picker_org_list_filters_by_keyword_initials_and_subordinates_only(hub):  # noqa: F811
    c, orgs = hub["c"]["town"], hub["orgs"]
    every = (await c.get("/api/workflow/picker-orgs")).json()["items"]
    ids = {o["id"] for o in every}
    assert orgs["CZ-ZJJ"] in ids and orgs["CZ-CY-ZX"] not in ids  # every active org but the actor's own
    below = (await c.get("/api/workflow/picker-orgs", params={"below": "true"})).json()["items"]
    assert below and all(o["below"] for o in below)
    assert orgs["CZ-ZJJ"] not in {o["id"] for o in below} and orgs["CZ-CY-K1"] in {o["id"] for o in below}
    named = (await c.get("/api/workflow/picker-orgs", params={"q": "住房"})).json()["items"]
    assert [o["id"] for o in named] == [orgs["CZ-ZJJ"]]  # 崇州市住房和城乡建设局
    by_initials = (await c.get("/api/workflow/picker-orgs", params={"q": "czszf"})).json()["items"]
    assert [o["id"] for o in by_initials] == [orgs["CZ-ZJJ"]] and by_initials[0]["initials"]
    grids = (await c.get("/api/workflow/picker-orgs", params={"q": "网格", "below": "true"})).json()["items"]
    assert grids and all("网格" in o["name"] and o["below"] for o in grids)
    assert {o["id"] for o in grids} < {o["id"] for o in below}


@ASYNC
async def test_saved_org_groups_round_trip_and_stay_private_to_their_owner(hub):  # noqa: F811
    town, city, orgs = hub["c"]["town"], hub["c"]["city"], hub["orgs"]
    items = [{"org": orgs["CZ-CGJ"], "role": "lead", "requirement": "牵头处置"}, {"org": orgs["CZ-STJ"], "role": "co"}]
    r = await town.post(GROUPS, json={"name": "环境类", "items": items})
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["name"] == "环境类" and group["items"] == items
    mine = (await town.get(GROUPS)).json()["items"]
    assert [g["id"] for g in mine] == [group["id"]] and mine[0]["items"] == items
    again = await town.post(GROUPS, json={"name": "环境类", "items": items[:1]})  # same name: replaced
    assert again.status_code == 201 and again.json()["id"] == group["id"]
    assert (await town.get(GROUPS)).json()["items"][0]["items"] == items[:1]

    assert (await city.get(GROUPS)).json()["items"] == []  # another user sees none of them
    assert (await city.delete(f"{GROUPS}/{group['id']}")).status_code == 404
    assert (await town.get(GROUPS)).json()["items"][0]["id"] == group["id"]
    assert (await town.delete(f"{GROUPS}/{group['id']}")).status_code == 204
    assert (await town.get(GROUPS)).json()["items"] == []
    assert (await town.delete(f"{GROUPS}/{group['id']}")).status_code == 404


@ASYNC
@pytest.mark.parametrize("body, word", [
    ({"name": "", "items": [{"org": 1}]}, "name"),
    ({"name": "x" * 61, "items": [{"org": 1}]}, "name"),
    ({"name": "组", "items": []}, "items"),
    ({"name": "组", "items": [{"org": "1"}]}, "第 1 项的 org"),
    ({"name": "组", "items": [{"org": 2 ** 70}]}, "第 1 项的 org"),
    ({"name": "组", "items": [{"org": 999999}]}, "第 1 项的单位不存在"),
    ({"name": "组", "items": [{"org": None, "role": 1}]}, "第 1 项的 org"),
    (["not", "an", "object"], "JSON 对象"),
])
async def test_a_bad_org_group_is_refused_naming_what_is_wrong(hub, body, word):  # noqa: F811
    r = await hub["c"]["town"].post(GROUPS, json=body)
    assert r.status_code == 400, r.text
    assert word in r.text


def _check(tmp_path, recommend: str, capsys) -> tuple[list[str], int]:
    from specadmin.cli import main
    from workflow_fixture import FLOW_MODULE, write_app

    module = FLOW_MODULE.replace("    version: v1\n", f"    version: v1\n    recommend: {recommend}\n", 1)
    write_app(tmp_path, module)
    code = main(["check", str(tmp_path)])
    line = next(i for i, text in enumerate(module.splitlines(), 1) if text.startswith("    recommend:"))
    return [e for e in capsys.readouterr().err.splitlines() if "[WF030]" in e and f"flow.yaml:{line}:" in e], code


def test_the_references_recommend_example_checks_clean(tmp_path, capsys):
    from conftest import reference_blocks

    example = reference_blocks()["flow-recommend.yaml"].strip().removeprefix("recommend: ")
    found, code = _check(tmp_path, example, capsys)
    assert found == [] and code == 0


def test_a_broken_recommend_is_wf030_with_its_file_and_line(tmp_path, capsys):
    found, _ = _check(tmp_path / "a", "{entity: plans, match: {event_type: event_type}, orgs: dispatch_orgs}", capsys)
    assert len(found) == 1 and "没有名为 plans 的实体" in found[0], found
    found, code = _check(tmp_path / "b", "{entity: plan, match: {event_type: title}, orgs: name, requirement: nothing}",
                         capsys)
    text = "\n".join(found)
    assert code == 1 and len(found) == 3, found
    assert "plan.name 应为指向 org 的多选引用" in text and "plan 没有字段 nothing" in text
    assert "match 的 event_type 与 title 类型不同" in text
