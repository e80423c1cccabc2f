"""What the workflow writes beside the row's state, through the API of the small event app
(tests/workflow_fixture.py, with a recording plugin and a 系统参数 entity), SQLite and PostgreSQL: review
updates run the other plugins' after-update hooks like every other flow write; each handling step keeps its
own files, downloaded through the event by its readers only; the 临期 threshold of the
lights comes from a parameter row, and changing it re-stamps the open rows' lights and todo counters."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import BACKENDS
from plugin_support import install_plugin
from workflow_fixture import APP_YAML, FLOW_MODULE, act, flow_env, launched

from specadmin.runtime.data.where import now as clock_now
from specadmin.runtime.plugin import EntityHooks, Plugin

ASYNC = pytest.mark.asyncio(loop_scope="session")
SEEN: list[tuple] = []


async def _seen(event) -> None:
    SEEN.append((event.entity.name, event.row_id, (event.before or {}).get("status"), event.columns.get("status")))


TALLY = Plugin(name="flowtally", hooks={"event_review": EntityHooks(after_update=_seen)})
PARAM = "param: {entity: system_param, code: near_due_days}"
PARAMS = """  system_param:
    label: 系统参数
    display: code
    fields:
      code: {type: string, label: 参数编码, required: true, unique: true, max_length: 60}
      value: {type: string, label: 参数值, max_length: 200}
      default_value: {type: string, label: 默认值, max_length: 200}
"""
MODULE = (FLOW_MODULE.replace("lights: {yellow: {working_days: 1}", "lights: {yellow: {working_days: 1, " + PARAM + "}")
          .replace("entities:\n", "entities:\n" + PARAMS, 1)
          .replace("screens:\n", "screens:\n  param_admin:\n    entity: system_param\n    label: 系统参数配置\n"
                   "    list: [code, value, default_value]\n    form: [code, value, default_value]\n"
                   "    actions: [create, update, delete]\n", 1)
          .replace("      city_dispatched_at: {type: datetime, label: 下派时间}\n",
                   "      city_dispatched_at: {type: datetime, label: 下派时间}\n"
                   "      files_after: {type: file, label: 处理后附件, multi: true, readonly: true}\n", 1)
          .replace("      channel: {type: dict, dict: log_channel, label: 日志类型}\n",
                   "      channel: {type: dict, dict: log_channel, label: 日志类型}\n"
                   "      files: {type: file, label: 附件, multi: true}\n", 1)
          .replace("action: action, label: action_label, opinion: opinion, channel: channel}",
                   "action: action, label: action_label, opinion: opinion, channel: channel, files: files}", 1)
          .replace("        label: 处置\n        handler: workflow.act\n        params:\n",
                   "        label: 处置\n        handler: workflow.act\n        set: {files_after: $params.files}\n"
                   "        params:\n          files: {type: file, label: 处理后附件, multi: true}\n", 1))


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    install_plugin(Path(tempfile.gettempdir()) / "specadmin-plugin-flowtally", "flowtally", "test_workflow_writes:TALLY")
    app_yaml = APP_YAML.replace("plugins: [workflow]", "plugins: [workflow, flowtally]")
    async with flow_env(request.param, tmp_path_factory, MODULE, app_yaml) as env:
        yield env


@ASYNC
async def test_a_review_approval_runs_another_plugins_after_update_hook_on_the_review(env):
    event_id = await launched(env, ("DA", "lead"))
    assert (await act(env, "da", event_id, "return", reason="不属本单位职责")).status_code == 200
    review = env["ctx"].table("event_review")
    [row] = await review.select(review.id).where(review.event == event_id)
    SEEN.clear()
    r = await act(env, "town", event_id, "approve_return", opinion="同意")
    assert r.status_code == 200, r.text
    assert ("event_review", row["id"], "pending", "approved") in SEEN


async def _lights(env, event_id) -> tuple:
    ev = env["ctx"].table("event")
    [row] = await ev.select(ev.due_at, ev.due_at_warn_at).where(ev.id == event_id)
    todo = (await env["c"]["da"].get("/api/workflow/todo", params={"flow": "event_flow"})).json()
    light = next(i["light"] for i in todo["items"] if i["id"] == event_id)
    return row["due_at_warn_at"] <= clock_now() < row["due_at"], light, todo["lights"]["yellow"]


@ASYNC
async def test_the_near_due_threshold_is_a_system_parameter_and_changing_it_restamps_open_rows(env):
    assert MODULE.count(PARAM) == 2  # the event's and the task's lights
    event_id = await launched(env, ("DA", "lead"))  # 3 working days; no parameter yet: 1 working day
    near, light, yellow = await _lights(env, event_id)
    assert (near, light) == (False, "green")
    r = await env["root"].post("/api/system_param", params={"screen": "param_admin"},
                               json={"code": "near_due_days", "value": "10", "default_value": "1"})
    assert r.status_code in (200, 201), r.text
    near, light, yellow_after = await _lights(env, event_id)  # 10 working days ahead of a 3-day deadline: 临期 now
    assert (near, light) == (True, "yellow") and yellow_after == yellow + 1
    param = r.json()["id"]
    r = await env["root"].patch(f"/api/system_param/{param}", params={"screen": "param_admin"},
                                json={"value": "不是数字"})  # unusable: its default (1) applies
    assert r.status_code == 200, r.text
    assert (await _lights(env, event_id))[:2] == (False, "green")
    r = await env["root"].patch(f"/api/system_param/{param}", params={"screen": "param_admin"}, json={"value": "10"})
    assert r.status_code == 200, r.text
    later = await launched(env, ("DA", "lead"))  # a row stamped while the parameter says 10
    assert (await _lights(env, later))[:2] == (True, "yellow")
    r = await env["root"].delete(f"/api/system_param/{param}", params={"screen": "param_admin"})
    assert r.status_code in (200, 204), r.text
    assert (await _lights(env, later))[:2] == (False, "green")


def test_a_broken_yellow_param_is_named_with_its_code_file_and_line(tmp_path, capsys):
    from specadmin.cli import main
    from workflow_fixture import write_app

    event_lights = "lights: {yellow: {working_days: 1, " + PARAM + "}, done: {status:"
    task_lights = "lights: {yellow: {working_days: 1, " + PARAM + "}, done: {state:"
    assert event_lights in MODULE and task_lights in MODULE
    broken = (MODULE.replace(event_lights, "lights: {yellow: {param: {entity: nowhere, code: x}}, done: {status:")
              .replace(task_lights, "lights: {yellow: {days: 1, param: {entity: event_type, code: x, key: limit_days, "
                                    "fallback: gone}}, done: {state:"))
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()
    event_line = next(i for i, line in enumerate(lines, 1) if "entity: nowhere" in line)
    task_line = next(i for i, line in enumerate(lines, 1) if "fallback: gone" in line)
    found = sorted(e.removeprefix(f"{tmp_path.name}/") for e in err.splitlines() if "[SA23" in e)
    where = "modules/flow.yaml"
    assert found == sorted([
        f"{where}:{event_line}: [SA236] field 'due_at': lights yellow with param needs exactly one unit beside it "
        "(the amount when the parameter is unset), found none",
        f"{where}:{event_line}: [SA235] field 'due_at': lights yellow param names entity 'nowhere', which does not exist",
        f"{where}:{task_line}: [SA236] field 'due_at': lights yellow param key 'limit_days' must be an unencrypted "
        "string field of 'event_type'",
        f"{where}:{task_line}: [SA235] field 'due_at': lights yellow param value 'value' is not a field of 'event_type'",
        f"{where}:{task_line}: [SA235] field 'due_at': lights yellow param fallback 'gone' is not a field of 'event_type'",
    ]), err


def test_the_reference_example_of_a_parameter_threshold_checks_clean(tmp_path, capsys):
    from conftest import reference_blocks, write_spec_app

    from specadmin.cli import main

    block = reference_blocks()["modules/near_due_param.yaml"]
    write_spec_app(tmp_path, "app: nearparam\nlabel: 临期参数\nmodules: [near_due_param]\n", {"near_due_param": block})
    assert main(["check", str(tmp_path)]) == 0, capsys.readouterr().err
    bad = block.replace("code: near_due_days}", "code: near_due_days, value: nothing}")
    write_spec_app(tmp_path, "app: nearparam\nlabel: 临期参数\nmodules: [near_due_param]\n", {"near_due_param": bad})
    assert main(["check", str(tmp_path)]) == 1
    assert "[SA235] field 'due_at': lights yellow param value 'nothing' is not a field of 'system_param'" in capsys.readouterr().err


@ASYNC
async def test_a_steps_files_stay_on_its_log_row_and_download_through_the_readable_event(env):
    for piece in ("files_after: {type: file", "channel: channel, files: files}", "set: {files_after: $params.files}",
                  "files: {type: file, label: 附件"):
        assert piece in MODULE, piece
    event_id = await launched(env, ("DA", "lead"), ("DB", "co"))
    pdf = b"%PDF-1.7\n" + b"step" * 50
    staged = await env["c"]["da"].post("/api/event/actions/handle/files/files", files={"file": ("现场处置.pdf", pdf)})
    assert staged.status_code == 201, staged.text
    r = await act(env, "da", event_id, "handle", opinion="已修复", files=[staged.json()["id"]])
    assert r.status_code == 200, r.text
    assert (await act(env, "db", event_id, "handle", opinion="已配合")).status_code == 200  # a step without files
    body = (await env["c"]["town"].get(f"/api/workflow/event/{event_id}")).json()
    steps = {(e["action"], e["org"]): e for e in body["log"]}
    mine = steps[("handle", env["ids"]["DA"])]
    assert mine["files"] == "现场处置.pdf" and [f["name"] for f in mine["file_items"]] == ["现场处置.pdf"]
    assert steps[("handle", env["ids"]["DB"])]["file_items"] == []
    url = mine["file_items"][0]["url"]
    for reader in ("town", "viewer", "db"):  # every org on the event, and a read-only user of the owning org
        r = await env["c"][reader].get(url)
        assert r.status_code == 200 and r.content == pdf, (reader, r.status_code)
    r = await env["c"]["dc"].get(url)  # 部门丙 takes no part in this event: it cannot read it, nor its files
    assert r.status_code in (403, 404), r.text
    other = await launched(env, ("DC", "lead"))  # through an event the reader can read, not another's log
    log_id, file_id = url.split("/")[-3], url.split("/")[-1]
    r = await env["c"]["dc"].get(f"/api/workflow/event/{other}/log/{log_id}/files/{file_id}")
    assert r.status_code == 404, r.text
    page = await env["c"]["town"].get(f"/s/event_work/{event_id}")
    assert f'href="{url}"' in page.text  # 处置过程 on the detail page links the step's file
