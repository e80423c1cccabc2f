"""A small event-handling app on the workflow plugin, shared by the workflow tests.

Orgs: 总部 HQ (city) › 城运中心 TOWN (镇街, tagged 镇街城运中心) › 部门甲 DA, 部门乙 DB; 部门丙 DC under HQ.
One user per org (`hq`, `town`, `da`, `db`, `dc`) with the role `handler` (every screen and action),
and `viewer` in TOWN with list/read only. Flow: draft → 发起 → open → 交办 → in_process (derived from the
tasks) → 处置 ×n → handled (a 结案 task for the closing org) → 结案 → closed; 核查退回, 作废, 强制办结.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import contextlib

from conftest import api_login, spec_app, write_spec_app

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
  review_kind:
    label: 审核类型
    items: {extension: 延期, return: 退回, reply: 回复}
  review_status:
    label: 审核状态
    items: {pending: 待审核, postponed: 暂缓审核, approved: 已通过, rejected: 已驳回}
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
      is_key: {type: boolean, label: 重点工单, readonly: true}
      key_locked: {type: boolean, label: 重点标记锁定, readonly: true}
      city_dispatched_at: {type: datetime, label: 下派时间}
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
      signed_at: {type: datetime, label: 签收时间}
      sign_opinion: {type: text, label: 签收意见}
  event_review:
    label: 审核
    fields:
      event: {type: ref, to: event, label: 事件, required: true}
      task: {type: ref, to: event_task, label: 待办}
      kind: {type: dict, dict: review_kind, label: 类型}
      applicant_org: {type: ref, to: org, label: 申请单位}
      reviewer_org: {type: ref, to: org, label: 审核单位}
      original_deadline: {type: datetime, label: 原时限}
      requested_deadline: {type: datetime, label: 申请时限}
      reason: {type: text, label: 理由}
      status: {type: dict, dict: review_status, label: 审核状态, default: pending}
      reviewed_at: {type: datetime, label: 审核时间}
      review_opinion: {type: text, label: 审核意见}
      postpone_reason: {type: text, label: 暂缓理由}
      expected_review_at: {type: datetime, label: 预计审核时间}
  event_instruction:
    label: 批示
    fields:
      event: {type: ref, to: event, label: 事件, required: true}
      instructor: {type: ref, to: user, label: 批示人}
      dept: {type: ref, to: org, label: 部门}
      at: {type: datetime, label: 时间}
      content: {type: text, label: 内容}
  event_supervision:
    label: 督办
    fields:
      event: {type: ref, to: event, label: 事件, required: true}
      supervisor: {type: ref, to: user, label: 督办人}
      dept: {type: ref, to: org, label: 部门}
      at: {type: datetime, label: 时间}
      content: {type: text, label: 内容}
  event_track:
    label: 事件跟踪
    fields:
      event: {type: ref, to: event, label: 事件, required: true}
      org: {type: ref, to: org, label: 单位}
      author: {type: ref, to: user, label: 记录人}
      at: {type: datetime, label: 时间}
      content: {type: text, label: 内容}
  return_visit:
    label: 回访
    fields:
      event: {type: ref, to: event, label: 事件, required: true}
      visitor: {type: ref, to: user, label: 回访人}
      at: {type: datetime, label: 时间}
      satisfaction: {type: string, label: 满意度, max_length: 10, choices: [满意, 基本满意, 不满意]}
      notes: {type: text, label: 备注}
  plan:
    label: 预案
    fields:
      name: {type: string, label: 名称, max_length: 50}
      event_type: {type: ref, to: event_type, label: 事件类型}
      dispatch_orgs: {type: multi_ref, to: org, label: 自动交办单位}
      cc_orgs: {type: multi_ref, to: org, label: 抄送单位}
      active: {type: boolean, label: 启用}
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
      mark_key: {label: 标记重点工单, handler: workflow.act}
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
      withdraw:
        label: 撤回
        handler: workflow.act
        params:
          task: {type: integer, label: 撤回的待办, required: true}
      escalate:
        label: 上报
        handler: workflow.act
        params:
          opinion: {type: text, label: 上报意见, required: true}
      sign:
        label: 签收
        handler: workflow.act
        params:
          opinion: {type: text, label: 签收意见}
      return:
        label: 退回
        handler: workflow.act
        params:
          reason: {type: text, label: 退回理由, required: true}
      approve_return:
        label: 同意退回
        handler: workflow.act
        params:
          opinion: {type: text, label: 审核意见}
      reject_return:
        label: 驳回退回
        handler: workflow.act
        params:
          opinion: {type: text, label: 审核意见, required: true}
      extend:
        label: 延期
        handler: workflow.act
        params:
          deadline: {type: datetime, label: 申请时限, required: true}
          reason: {type: text, label: 延期理由, required: true}
      approve_extension:
        label: 同意延期
        handler: workflow.act
        params:
          opinion: {type: text, label: 审核意见}
      postpone_review:
        label: 暂缓审核
        handler: workflow.act
        params:
          reason: {type: text, label: 暂缓理由, required: true}
          expected: {type: datetime, label: 预计审核时间}
      request_assist:
        label: 申请协助
        handler: workflow.act
        params:
          assignments: {type: text, label: 协助单位, required: true}
      track:
        label: 事件跟踪
        handler: workflow.act
        params:
          content: {type: text, label: 跟踪内容, required: true}
      instruct:
        label: 批示
        handler: workflow.act
        params:
          content: {type: text, label: 批示内容, required: true}
      supervise:
        label: 督办
        handler: workflow.act
        params:
          content: {type: text, label: 督办内容, required: true}
      visit:
        label: 回访
        handler: workflow.act
        params:
          satisfaction: {type: string, label: 满意度, max_length: 10, required: true}
          notes: {type: text, label: 备注}
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
      instruct:
        label: 批示
        handler: workflow.act
        params:
          content: {type: text, label: 批示内容, required: true}
      supervise:
        label: 督办
        handler: workflow.act
        params:
          content: {type: text, label: 督办内容, required: true}
      mark_key: {label: 标记重点工单, handler: workflow.act}
      urge:
        label: 催办
        handler: workflow.act
        params:
          content: {type: text, label: 催办内容}
  plan_admin:
    entity: plan
    label: 预案
    list: [name, event_type, dispatch_orgs, cc_orgs, active]
    form: [name, event_type, dispatch_orgs, cc_orgs, active]
    actions: [create, update]
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
    guarded: [{entity: event_review, field: status}]
    escalation: {top_tag: 市城运中心, top_from: [镇街城运中心]}
    boxes:
      todo: {label: 待办, roles: [lead, co, assist]}
      review: {label: 审核, roles: [review]}
      closing: {label: 结案, roles: [closing]}
    version: v1
    actions:
      launch:
        from: [draft]
        to: derive
        who: [{user: initiator}]
        refuse: 只有发起人可以发起
        effects:
          - set: {owner_org: $user.org, closing_org: $user.org, launched_at: $now}
          - deadline: recompute
          - create_tasks: {each: $user.org, role: owner, state: submitted, notify: false}
          - find: {entity: plan, where: {event_type: $row.event_type, active: true}}
          - create_tasks: {each: $found.dispatch_orgs, role: lead, set: {requirement: 按预案处置, created_at: $now, limit_days: 3}}
          - create_tasks: {each: $found.cc_orgs, role: cc, set: {created_at: $now, limit_days: 3}}
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
      withdraw:
        from: [in_process]
        who: [{org: owner_org}, {task: {roles: [lead, co, assist], states: [todo, signed, submitted]}}]
        refuse: 只有交办单位可以撤回
        effects:
          - tasks: {which: $params.task, states: [todo, signed], where: {dispatcher_org: $user.org}, to: withdrawn}
      escalate:
        from: [open, in_process]
        who: [{task: {roles: [owner, lead], states: [todo, signed, submitted]}}]
        refuse: 只有发起或主办单位可以上报
        effects:
          - tasks: {which: mine, roles: [lead], to: returned, set: {opinion: $params.opinion}}
          - create_tasks: {each: $superior, role: lead, set: {requirement: $params.opinion, created_at: $now, limit_days: 3}}
          - set: {closing_org: $superior}
        to: derive
      sign:
        from: [open, in_process]
        who: [{task: {roles: [lead, co, assist], states: [todo]}}]
        refuse: 只有待签收的承办单位可以签收
        where: {city_dispatched_at: {not: null}}
        refuse_where: 只有市级下派的事件需要签收
        effects:
          - tasks: {which: mine, to: signed, set: {signed_at: $now, sign_opinion: $params.opinion}}
        log: {channel: city}
      return:
        from: [in_process]
        who: [{task: {roles: [lead, co, assist], states: [todo, signed]}}]
        refuse: 只有承办单位可以退回
        effects:
          - tasks: {which: mine, to: return_pending, set: {opinion: $params.reason}}
          - create: {entity: event_review, set: {event: $row.id, task: $task.id, kind: return, applicant_org: $user.org,
                                                 reviewer_org: $task.dispatcher_org, reason: $params.reason}}
          - create_tasks: {each: $task.dispatcher_org, role: review, set: {requirement: $params.reason, created_at: $now, limit_days: 1}}
        log: {opinion: $params.reason}
      approve_return:
        from: [in_process]
        who: [{task: {roles: [review], states: [todo]}}]
        refuse: 只有审核单位可以审核
        effects:
          - tasks: {which: parent, states: [return_pending], to: returned}
          - update: {entity: event_review, ref: event, where: {task: $task.parent, status: {in: [pending, postponed]}},
                     set: {status: approved, reviewed_at: $now, review_opinion: $params.opinion}}
          - tasks: {which: mine, to: submitted, set: {opinion: $params.opinion, submitted_at: $now}}
      reject_return:
        from: [in_process]
        who: [{task: {roles: [review], states: [todo]}}]
        refuse: 只有审核单位可以审核
        effects:
          - tasks: {which: parent, states: [return_pending], to: todo}
          - update: {entity: event_review, ref: event, where: {task: $task.parent, status: {in: [pending, postponed]}},
                     set: {status: rejected, reviewed_at: $now, review_opinion: $params.opinion}}
          - tasks: {which: mine, to: submitted, set: {opinion: $params.opinion, submitted_at: $now}}
      extend:
        from: [in_process]
        who: [{org: owner_org}, {task: {roles: [lead, co, assist], states: [todo, signed]}}]
        refuse: 只有承办单位可以申请延期
        effects:
          - deadline: {field: due_at, value: $params.deadline}
            if: {owner_org: $user.org}
          - tasks: {which: mine, to: extension_pending}
            unless: {owner_org: $user.org}
          - create: {entity: event_review, set: {event: $row.id, task: $task.id, kind: extension, applicant_org: $user.org,
                                                 reviewer_org: $task.dispatcher_org, original_deadline: $row.due_at,
                                                 requested_deadline: $params.deadline, reason: $params.reason}}
            unless: {owner_org: $user.org}
          - create_tasks: {each: $task.dispatcher_org, role: review, set: {requirement: $params.reason, created_at: $now, limit_days: 1}}
            unless: {owner_org: $user.org}
        log: {opinion: $params.reason}
      approve_extension:
        from: [in_process]
        who: [{task: {roles: [review], states: [todo]}}]
        refuse: 只有审核单位可以审核
        effects:
          - tasks: {which: parent, states: [extension_pending], to: todo}
          - find: {entity: event_review, where: {task: $task.parent, kind: extension, status: {in: [pending, postponed]}}}
          - deadline: {field: due_at, value: $found.requested_deadline}
          - update: {entity: event_review, ref: event, where: {task: $task.parent, status: {in: [pending, postponed]}},
                     set: {status: approved, reviewed_at: $now, review_opinion: $params.opinion}}
          - tasks: {which: mine, to: submitted, set: {opinion: $params.opinion, submitted_at: $now}}
      postpone_review:
        from: [in_process]
        who: [{task: {roles: [review], states: [todo]}}]
        refuse: 只有审核单位可以暂缓审核
        effects:
          - update: {entity: event_review, ref: event, where: {task: $task.parent, status: pending},
                     set: {status: postponed, postpone_reason: $params.reason, expected_review_at: $params.expected}}
        log: {opinion: $params.reason}
      request_assist:
        from: [in_process]
        who: [{task: {roles: [lead, co], states: [todo, signed]}}]
        refuse: 只有主办或协办单位可以申请协助
        effects:
          - create_tasks: {each: $params.assignments, org: $item.org, role: assist,
                           set: {requirement: $item.requirement, created_at: $now, limit_days: 3}}
      track:
        from: [open, in_process, handled]
        who: [{task: {roles: [owner, lead, co, assist], states: [todo, signed, submitted]}}]
        refuse: 只有处置单位可以跟踪
        effects:
          - create: {entity: event_track, set: {event: $row.id, org: $user.org, author: $user, at: $now, content: $params.content}}
        log: {opinion: $params.content}
      instruct:
        from: [open, in_process, handled, closed, force_closed]
        who: [{org_above: owner_org, roles: [leader]}, {task: {roles: [cc]}}]
        refuse: 只有本级及以上领导或抄送单位可以批示
        effects:
          - create: {entity: event_instruction, set: {event: $row.id, instructor: $user, dept: $user.org, at: $now, content: $params.content}}
          - notify: {orgs: {tasks: {roles: [lead, co, assist]}}, title: 新的批示}
        log: {opinion: $params.content}
      supervise:
        from: [in_process]
        who: [{org_above: owner_org, roles: [leader]}, {task: {roles: [cc]}}]
        refuse: 只有本级及以上领导或抄送单位可以督办
        effects:
          - create: {entity: event_supervision, set: {event: $row.id, supervisor: $user, dept: $user.org, at: $now, content: $params.content}}
          - notify: {orgs: {tasks: {roles: [lead, co, assist]}}, title: 督办}
        log: {opinion: $params.content}
      mark_key:
        from: [draft, open, in_process, handled]
        who: [{org_tag: 镇街城运中心}, {org_tag: 市城运中心}]
        refuse: 只有城运中心可以标记重点工单
        where: {key_locked: {not: true}, city_dispatched_at: null}
        refuse_where: 市级下派或已上报市城运中心的事件不能标记重点工单
        effects:
          - set: {is_key: true}
      urge:
        from: [in_process]
        who: [{org_tag: 市城运中心}, {org: owner_org}]
        refuse: 只有城运中心或发起单位可以催办
        effects:
          - notify: {orgs: {tasks: {roles: [lead, co, assist]}}, title: 催办, text: 请尽快办理。}
        log: {opinion: $params.content}
      visit:
        from: [closed]
        effects:
          - create: {entity: return_visit, set: {event: $row.id, visitor: $user, at: $now, satisfaction: $params.satisfaction,
                                                 notes: $params.notes}}
        log: {opinion: $params.notes}
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
# sys_grant.actions holds 200 characters: the many actions of the handling screen come through two roles
WORK = "list,read,update,dispatch,handle,verify_return,close,void,withdraw,escalate,sign,return,track,visit,cancel"
MORE = "list,read,approve_return,reject_return,extend,approve_extension,postpone_review,request_assist,instruct,supervise"
GRANTS = {"event_type_admin": "list,read",
          "event_draft": "list,read,create,update,launch,mark_key",
          "event_work": WORK,
          "event_city": "list,read,force_close,instruct,supervise,mark_key,urge",
          "plan_admin": "list,read,create,update",
          "event_task_list": "list,read,update,import"}
ORGS = (("TOWN", "城运中心", "street", "HQ", "镇街城运中心"), ("DA", "部门甲", "street", "TOWN", ""),
        ("DB", "部门乙", "street", "TOWN", ""), ("DC", "部门丙", "street", "HQ", ""))
USERS = {"hq": "HQ", "town": "TOWN", "da": "DA", "db": "DB", "dc": "DC"}


def write_app(app_dir: Path, module: str = FLOW_MODULE, app_yaml: str = APP_YAML) -> Path:
    return write_spec_app(app_dir, app_yaml, {"flow": module})


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
    for code, grants in (("handler", GRANTS), ("handler_more", {"event_work": MORE}),
                         ("viewer", {"event_work": "list,read"}), ("leader", {})):
        ids[f"role_{code}"] = (await role.insert(role(code=code, label=code, active=True)).returning(role.id))[0]["id"]
        for screen, actions in grants.items():
            await grant.insert(grant(role=ids[f"role_{code}"], screen=screen, actions=actions))
    await ctx.refresh_caches()
    for username, org_code in USERS.items():
        ids[username] = await ensure_user(ctx, username, PASSWORD, name=f"{username}用户", org_code=org_code,
                                          roles=("handler", "handler_more"))
    await ensure_user(ctx, "hqlead", PASSWORD, name="市领导", org_code="HQ", roles=("handler", "handler_more", "leader"))
    await ensure_user(ctx, "outsider", PASSWORD, name="外单位管理员", org_code="DC", superuser=True)
    ids["viewer"] = await ensure_user(ctx, "viewer", PASSWORD, name="只读用户", org_code="TOWN", roles=("viewer",))
    et = ctx.table("event_type")
    ids["type"] = (await et.insert(et(name="市容", limit_days=3, version=1)).returning(et.id))[0]["id"]
    return ids


def assignments(*pairs) -> str:
    import json

    return json.dumps([{"org": o, "role": r, "requirement": f"请{r}"} for o, r in pairs])


MONDAY = dt.datetime(2026, 12, 7, 9, 0)


@contextlib.asynccontextmanager
async def flow_env(backend: str, tmp_path_factory, module: str = FLOW_MODULE, app_yaml: str = APP_YAML):
    """The app started on `backend` with its orgs and users, a logged-in client per user (`c`) and `root`."""
    app_dir = write_app(tmp_path_factory.mktemp(f"workflow-{backend}"), module, app_yaml)
    async with spec_app(app_dir, backend, PASSWORD) as (app, root, _):
        ids = await populate(app)
        clients = {name: await api_login(app, name, PASSWORD) for name in (*USERS, "viewer", "hqlead", "outsider")}
        yield {"app": app, "ctx": app.state.ctx, "ids": ids, "c": clients, "root": root, "dir": app_dir}


async def draft(env, title="路灯损坏", who="town") -> int:
    r = await env["c"][who].post("/api/event", params={"screen": "event_draft"},
                                 json={"title": title, "event_type": env["ids"]["type"]})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


async def act(env, who, event_id, action, **params):
    return await env["c"][who].post(f"/api/workflow/event/{event_id}/{action}", json={"params": params})


async def launched(env, *pairs, title="路灯损坏") -> int:
    r = await env["c"]["town"].post("/api/workflow/event", json={
        "data": {"title": title, "event_type": env["ids"]["type"]}, "action": "launch"})
    assert r.status_code == 201 and r.json()["state"] == "open", r.text
    event_id = r.json()["id"]
    if pairs:
        ids = env["ids"]
        r = await act(env, "town", event_id, "dispatch", assignments=assignments(*((ids[o], role) for o, role in pairs)))
        assert r.status_code == 200 and r.json()["state"] == "in_process", r.text
    return event_id


async def snapshot(env, event_id) -> dict:
    ctx = env["ctx"]
    ev, task, log = ctx.table("event"), ctx.table("event_task"), ctx.table("event_log")
    return {"event": await ev.select().where(ev.id == event_id),
            "tasks": await task.select().where(task.event == event_id).order_by(task.id),
            "log": await log.select().where(log.event == event_id).order_by(log.id)}


