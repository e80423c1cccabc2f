"""A small event-handling app on the workflow plugin, shared by the workflow tests.

Orgs: 总部 HQ (city) › 城运中心 TOWN (镇街, tagged 镇街城运中心) › 部门甲 DA, 部门乙 DB; 部门丙 DC under HQ.
One user per org (`hq`, `town`, `da`, `db`, `dc`) with the role `handler` (every screen and action),
and `viewer` in TOWN with list/read only. Flow: draft → 发起 → open → 交办 → in_process (derived from the
tasks) → 处置 ×n → handled (a 结案 task for the closing org) → 结案 → closed; 核查退回, 作废, 强制办结.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import write_spec_app

PASSWORD = "Flow#Pass2026"
APP_YAML = "app: flowdemo\nlabel: 流程示例\nmodules: [flow]\nplugins: [workflow]\n"
FLOW_MODULE = """label: 事件
dictionaries:
  event_status:
    label: 事件状态
    items: {draft: 草稿, open: 已发起, in_process: 处置中, handled: 已处置, closed: 已办结, force_closed: 强制办结, voided: 已作废}
  task_role:
    label: 任务角色
    items: {owner: 发起, lead: 主办, co: 协办, assist: 协助, cc: 抄送, closing: 结案, review: 审核}
  task_state:
    label: 任务状态
    items: {todo: 待办, signed: 已签收, submitted: 已提交, return_pending: 退回审核中, extension_pending: 延期审核中,
            withdrawn: 已撤回, returned: 已退回, cancelled: 已取消}
  log_channel:
    label: 日志类型
    items: {local: 处理日志, city: 市级日志}
entities:
  event_type:
    label: 事件类型
    fields:
      name: {type: string, label: 名称, required: true, max_length: 50}
      limit_days: {type: integer, label: 处置时限（工作日）, min: 0, max: 60}
  event:
    label: 事件
    display: title
    fields:
      title: {type: string, label: 标题, required: true, max_length: 100}
      event_type: {type: ref, to: event_type, label: 事件类型}
      status: {type: dict, dict: event_status, label: 状态, default: draft}
      launched_at: {type: datetime, label: 发起时间, readonly: true}
      due_at:
        type: datetime
        label: 处置时限
        readonly: true
        deadline: {from: launched_at, working_days: event_type.limit_days}
        lights: {yellow: {working_days: 1}, done: {status: [closed, force_closed, voided]}}
      owner_org: {type: ref, to: org, label: 发起单位, readonly: true}
      initiator: {type: ref, to: user, label: 发起人, system: current_user}
      closing_org: {type: ref, to: org, label: 结案单位, readonly: true}
  event_task:
    label: 待办任务
    fields:
      event: {type: ref, to: event, label: 事件, required: true}
      org: {type: ref, to: org, label: 单位}
      role: {type: dict, dict: task_role, label: 角色}
      state: {type: dict, dict: task_state, label: 状态, default: todo}
      requirement: {type: text, label: 处置要求}
      limit_days: {type: integer, label: 时限（工作日）}
      created_at: {type: datetime, label: 下达时间}
      due_at:
        type: datetime
        label: 办理时限
        deadline: {from: created_at, working_days: limit_days}
        lights: {yellow: {working_days: 1}, done: {state: [submitted, withdrawn, returned, cancelled]}}
      opinion: {type: text, label: 意见}
      submitted_at: {type: datetime, label: 提交时间}
      handler: {type: ref, to: user, label: 办理人}
      parent: {type: ref, to: event_task, label: 上级任务}
      dispatcher_org: {type: ref, to: org, label: 交办单位}
  event_log:
    label: 处置过程
    fields:
      event: {type: ref, to: event, label: 事件, required: true}
      at: {type: datetime, label: 时间}
      operator: {type: ref, to: user, label: 操作人}
      operator_name: {type: string, label: 操作人姓名, max_length: 50}
      org: {type: ref, to: org, label: 单位}
      action: {type: string, label: 动作, max_length: 40}
      action_label: {type: string, label: 动作名称, max_length: 40}
      opinion: {type: text, label: 意见}
      channel: {type: dict, dict: log_channel, label: 日志类型}
screens:
  event_type_admin:
    entity: event_type
    label: 事件类型
    list: [name, limit_days]
    actions: [create, update]
  event_draft:
    entity: event
    label: 草稿箱
    list: [title, event_type, status]
    form: [title, event_type]
    actions: [create, update]
    scope: {mode: own_records, field: initiator}
    custom_actions:
      launch: {label: 发起, handler: workflow.act}
  event_work:
    entity: event
    label: 事件办理
    list: [title, status, due_at, owner_org, closing_org]
    detail: [title, event_type, status, launched_at, due_at, owner_org, initiator, closing_org]
    form: [title, status]
    actions: [update]
    scope: {mode: participated, through: {entity: event_task, ref: event, field: org}}
    custom_actions:
      dispatch:
        label: 交办
        handler: workflow.act
        params:
          assignments: {type: text, label: 交办单位, required: true, help: '[{"org": 1, "role": "lead", "requirement": "…"}]'}
          opinion: {type: text, label: 交办意见}
      handle:
        label: 处置
        handler: workflow.act
        params:
          opinion: {type: text, label: 处置意见, required: true, max_length: 500}
      verify_return:
        label: 核查退回
        handler: workflow.act
        params:
          opinion: {type: text, label: 退回意见, required: true}
      close:
        label: 结案
        handler: workflow.act
        params:
          opinion: {type: text, label: 结案意见}
      void: {label: 作废, handler: workflow.act}
  event_city:
    entity: event
    label: 辖区事件
    list: [title, status, due_at, owner_org]
    scope: {mode: own_and_sub, field: owner_org}
    custom_actions:
      force_close:
        label: 强制办结
        handler: workflow.act
        params:
          opinion: {type: text, label: 办结理由, required: true}
  event_task_list:
    entity: event_task
    label: 待办任务
    list: [event, org, role, state, due_at]
    form: [requirement, state]
    actions: [update, import]
    scope: {mode: own_unit, field: org}
    import: {columns: [event, org, role, requirement]}
workflow:
  event_flow:
    label: 事件流转
    entity: event
    state: status
    final: [closed, force_closed, voided]
    tasks: {entity: event_task, ref: event, org: org, role: role, state: state, initial: todo,
            open: [todo, signed, return_pending, extension_pending], done: [submitted], parent: parent,
            dispatcher: dispatcher_org}
    log: {entity: event_log, ref: event, at: at, operator: operator, operator_name: operator_name, org: org,
          action: action, label: action_label, opinion: opinion, channel: channel}
    derive: {states: [open, in_process], roles: [lead, co, assist], none: open, outstanding: in_process,
             all_done: handled}
    enter:
      handled:
        - create_tasks: {each: $row.closing_org, role: closing, set: {created_at: $now, limit_days: 1}}
    boxes:
      todo: {label: 待办, roles: [lead, co, assist]}
      closing: {label: 结案, roles: [closing]}
    version: v1
    actions:
      launch:
        from: [draft]
        to: open
        who: [{user: initiator}]
        refuse: 只有发起人可以发起
        effects:
          - set: {owner_org: $user.org, closing_org: $user.org, launched_at: $now}
          - deadline: recompute
          - create_tasks: {each: $user.org, role: owner, state: submitted, notify: false}
      dispatch:
        from: [open, in_process]
        who: [{org: owner_org}, {task: {roles: [lead], states: [todo, signed]}}]
        refuse: 只有发起单位或主办单位可以交办
        effects:
          - create_tasks:
              each: $params.assignments
              org: $item.org
              role: $item.role
              roles: [lead, co, assist, cc]
              set: {requirement: $item.requirement, created_at: $now, limit_days: 3}
      handle:
        from: [in_process]
        who: [{task: {roles: [lead, co, assist], states: [todo, signed]}}]
        refuse: 只有承办单位可以处置
        effects:
          - tasks: {which: mine, to: submitted, set: {opinion: $params.opinion, submitted_at: $now, handler: $user}}
      verify_return:
        from: [handled]
        to: in_process
        who: [{task: {roles: [closing], states: [todo]}}]
        refuse: 只有结案单位可以核查退回
        effects:
          - tasks: {which: mine, delete: true}
          - tasks: {which: all, roles: [lead], states: [submitted], to: todo}
      close:
        from: [handled]
        to: closed
        who: [{task: {roles: [closing], states: [todo]}}]
        refuse: 只有结案单位可以结案
        effects:
          - tasks: {which: mine, to: submitted, set: {opinion: $params.opinion, submitted_at: $now}}
      void:
        from: [open]
        to: voided
        who: [{user: initiator}]
        refuse: 只有发起人可以作废
        effects:
          - tasks: {which: open, to: cancelled}
      force_close:
        from: [open, in_process, handled]
        to: force_closed
        who: [{org_tag: 市城运中心}]
        refuse: 只有市城运中心可以强制办结
        effects:
          - tasks: {which: open, to: cancelled}
        log: {channel: city}
"""
GRANTS = {"event_type_admin": "list,read",
          "event_draft": "list,read,create,update,launch",
          "event_work": "list,read,update,dispatch,handle,verify_return,close,void",
          "event_city": "list,read,force_close",
          "event_task_list": "list,read,update,import"}
ORGS = (("TOWN", "城运中心", "street", "HQ", "镇街城运中心"), ("DA", "部门甲", "street", "TOWN", ""),
        ("DB", "部门乙", "street", "TOWN", ""), ("DC", "部门丙", "street", "HQ", ""))
USERS = {"hq": "HQ", "town": "TOWN", "da": "DA", "db": "DB", "dc": "DC"}


def write_app(app_dir: Path, module: str = FLOW_MODULE) -> Path:
    return write_spec_app(app_dir, APP_YAML, {"flow": module})


async def populate(app) -> dict:
    """Orgs, the two roles and one user per org; the event type 市容 (3 working days). Returns ids."""
    from specadmin.runtime.identity.users import ensure_user

    ctx = app.state.ctx
    org, role, grant = ctx.table("org"), ctx.table("role"), ctx.table("grant")
    ids = {"HQ": (await org.select(org.id).where(org.code == "HQ"))[0]["id"]}
    await org.update({org.tags: "市城运中心"}).where(org.id == ids["HQ"])
    for code, name, level, parent, tags in ORGS:
        row = (await org.insert(org(code=code, name=name, level=level, org_type="department", active=True,
                                    parent=ids[parent], tags=tags)).returning(org.id))[0]["id"]
        parent_path = (await org.select(org.path).where(org.id == ids[parent]))[0]["path"]
        await org.update({org.path: f"{parent_path}{row}/"}).where(org.id == row)
        ids[code] = row
    for code, grants in (("handler", GRANTS), ("viewer", {"event_work": "list,read"})):
        ids[f"role_{code}"] = (await role.insert(role(code=code, label=code, active=True)).returning(role.id))[0]["id"]
        for screen, actions in grants.items():
            await grant.insert(grant(role=ids[f"role_{code}"], screen=screen, actions=actions))
    await ctx.refresh_caches()
    for username, org_code in USERS.items():
        ids[username] = await ensure_user(ctx, username, PASSWORD, name=f"{username}用户", org_code=org_code,
                                          roles=("handler",))
    ids["viewer"] = await ensure_user(ctx, "viewer", PASSWORD, name="只读用户", org_code="TOWN", roles=("viewer",))
    et = ctx.table("event_type")
    ids["type"] = (await et.insert(et(name="市容", limit_days=3, version=1)).returning(et.id))[0]["id"]
    return ids


def assignments(*pairs) -> str:
    import json

    return json.dumps([{"org": o, "role": r, "requirement": f"请{r}"} for o, r in pairs])


MONDAY = dt.datetime(2026, 12, 7, 9, 0)
