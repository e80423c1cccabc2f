"""`specadmin check` names each broken part of a `workflow:` section with its WF code, file and line."""
from __future__ import annotations

from workflow_fixture import FLOW_MODULE, write_app

BREAKS = (  # (code, text as written, broken text, the line's marker in the broken module)
    ("WF001", "log: {entity: event_log,", "log: {entity: event_logs,", "entity: event_logs"),
    ("WF002", "dispatcher: dispatcher_org}", "dispatcher: dispatch_org}", "dispatcher: dispatch_org"),
    ("WF003", "        to: voided\n        who: [{user: initiator}]\n        refuse: 只有发起人可以作废",
     "        to: scrapped\n        who: [{user: initiator}]\n        refuse: 只有发起人可以作废", "to: scrapped"),
    ("WF004", "closing: {label: 结案, roles: [closing]}", "closing: {label: 结案, roles: [closer]}", "roles: [closer]"),
    ("WF005", "    version: v1\n", "    version: v1\n    published: v9\n", "published: v9"),
    ("WF006", "      launch: {label: 发起, handler: workflow.act}\n",
     "      launch: {label: 发起, handler: workflow.act}\n      reopen: {label: 重开, handler: workflow.act}\n", None),
    ("WF007", "launched_at: $now}", "launched_at: $tomorrow}", "launched_at: $tomorrow"),
    ("WF008", "import: {columns: [event, org, role, requirement]}", "import: {columns: [event, org, role, state]}",
     "    state: status"),
    ("WF010", "          - set: {is_key: true}", "          - set: {is_key: true, status: open}", "status: open}"),
)


def test_each_broken_workflow_part_is_named_with_its_code_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    broken = FLOW_MODULE
    for _, old, new, _ in BREAKS:
        assert old in broken, old
        broken = broken.replace(old, new, 1)
    broken += "  second_flow:\n    entity: event\n    state: status\n    actions: {}\n"  # WF009
    broken = broken.replace("workflow:\n", "feeds:\n  task_push:\n    kind: inbound\n    label: 任务推送\n"
                            "    entity: event_task\n    fields: [event, org, state]\n    ops: [create]\n"
                            "    screen: event_task_list\n" "workflow:\n", 1)  # WF008 too
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if text in line)

    found = {}
    for e in err.splitlines():
        if "[WF" in e:
            where, _, rest = e.removeprefix(f"{tmp_path.name}/").partition(": [")
            found.setdefault(rest[:5], []).append((where, rest[7:]))
    flow_actions = next(i for i, line in enumerate(lines, 1) if line == "    actions:" and "launch" in lines[i])
    expected_lines = {code: line_of(marker) if marker else flow_actions for code, _, _, marker in BREAKS}
    expected_lines["WF009"] = len(lines) - 2
    assert sorted(found) == sorted(expected_lines), err
    for code, line in expected_lines.items():
        assert (f"modules/flow.yaml:{line}") in [w for w, _ in found[code]], (code, found[code])
    messages = {code: [m for _, m in found[code]] for code in found}
    assert "流程 event_flow：没有名为 event_logs 的实体" in messages["WF001"]
    assert "流程 event_flow：实体 event_task 没有字段 dispatch_org" in messages["WF002"]
    assert any(m.startswith("流程 event_flow：状态 scrapped 不在字段 status 的字典中") for m in messages["WF003"])
    assert any(m.startswith("流程 event_flow：待办角色 closer 不在字典中") for m in messages["WF004"])
    assert "流程 event_flow：发布的版本 v9 不存在" in messages["WF005"]
    assert "流程 event_flow：页面操作 reopen（handler: workflow.act）没有在任何流程版本中声明" in messages["WF006"]
    assert any("未知的取值 $tomorrow" in m for m in messages["WF007"])
    assert "流程 event_flow：页面 event_task_list 的导入列 state 是流程状态，只能由流程动作改变" in messages["WF008"]
    assert "流程 event_flow：接收推送 task_push 的字段 state 是流程状态，只能由流程动作改变" in messages["WF008"]
    assert "流程 second_flow：实体 event 已有流程 event_flow" in messages["WF009"]
    assert "流程 event_flow：状态字段 status 由 to/derive 改变，不能在 set 中写" in messages["WF010"]


def test_a_flow_action_without_its_screen_action_and_an_undeclared_parameter_are_named(tmp_path, capsys):
    from specadmin.cli import main

    broken = FLOW_MODULE.replace("      void: {label: 作废, handler: workflow.act}\n", "", 1)
    broken = broken.replace("set: {opinion: $params.opinion, submitted_at: $now, handler: $user}",
                            "set: {opinion: $params.comment, submitted_at: $now, handler: $user}", 1)
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()
    void = next(i for i, line in enumerate(lines, 1) if line == "      void:")
    comment = next(i for i, line in enumerate(lines, 1) if "$params.comment" in line)
    assert (f"modules/flow.yaml:{void}: [WF006] 流程 event_flow：动作 void 需要实体 event 的页面上有同名自定义操作"
            "（handler: workflow.act）") in err, err
    assert f"modules/flow.yaml:{comment}: [WF007] 流程 event_flow：动作 handle 没有声明参数 comment" in err, err


def test_a_refuse_or_validate_json_effect_on_an_unknown_field_is_wf002(tmp_path, capsys):
    from specadmin.cli import main

    old = "          - set: {is_key: true}\n"
    assert old in FLOW_MODULE
    broken = FLOW_MODULE.replace(old, old + "          - refuse: {field: no_such_field, message: 不能办理}\n"
                                 "          - validate_json: {field: no_such_form, schema: {}}\n", 1)
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()
    for name in ("no_such_field", "no_such_form"):
        line = next(i for i, text in enumerate(lines, 1) if name in text)
        assert f"modules/flow.yaml:{line}: [WF002] 流程 event_flow：实体 event 没有字段 {name}" in err, err
