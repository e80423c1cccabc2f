"""Plugin `workflow`: persisted, permissioned state machines declared under a module's `workflow:` key.

Actions are custom actions of the entity's screens with `handler: workflow.act` (grant, scope,
parameters, operation log as any action); the flow (plugins/workflow/engine.py) decides who may act
from which state and what follows. State columns are guarded against every other write (guard.py),
the version each row runs on is kept in `specadmin_workflow_run` (runs.py), a person's 常用单位组 in
`specadmin_workflow_org_group` (org_groups.py), routes.py is the API and pages.py the
detail-page panel and 我的待办 with its menu badge.
"""
from __future__ import annotations

from pathlib import Path

from specadmin.plugins.workflow.checks import CHECKS
from specadmin.plugins.workflow.engine import act
from specadmin.plugins.workflow import forms_admin, org_groups, plan_warnings
from specadmin.plugins.workflow.guard import refuse_state_writes
from specadmin.plugins.workflow.pages import (PAGE_HANDLERS, panel_actions, todo_badges, todo_entries,
                                              workflow_panels)
from specadmin.plugins.workflow.routes import HANDLERS
from specadmin.plugins.workflow.runs import run_table
from specadmin.plugins.workflow.schema import SCHEMA
from specadmin.plugins.workflow.sms import SMS_CHECKS, SmsRuleDispatcher, check_rule_text, dispatch_job
from specadmin.plugins.workflow.views import row_condition
from specadmin.runtime.plugin import EntityHooks, Plugin
from specadmin.runtime.plugin.background import background_service

HERE = Path(__file__).parent
configure, sms_dispatcher = background_service("workflow_sms_dispatcher", SmsRuleDispatcher)


async def _before_write(event) -> None:
    await refuse_state_writes(event)
    await check_rule_text(event)
    await forms_admin.check_schema_field(event)  # form_versions: the JSON Schema text field
    await plan_warnings.check_condition(event)  # plan_warnings: a plan's content-warning condition


plugin = Plugin(name="workflow", label="流程", module_keys={"workflow": SCHEMA, forms_admin.KEY: forms_admin.SCHEMA},
                checks=(*CHECKS, *SMS_CHECKS, *forms_admin.CHECKS, *plan_warnings.CHECKS),
                hooks={"*": EntityHooks.on_write(_before_write, plan_warnings.content_warning)},
                handlers={"act": act, "sms_dispatch": dispatch_job, "plan_warnings": plan_warnings.job,
                          **forms_admin.HANDLERS},
                configure=configure, lifespan=(sms_dispatcher,),
                routes=lambda ctx, options: [*HANDLERS, *org_groups.HANDLERS, *PAGE_HANDLERS,
                                             *forms_admin.PREVIEW_HANDLERS],
                tables=(run_table, org_groups.org_group_table), templates=HERE / "templates",
                static=HERE / "static",
                detail_panels=(workflow_panels, forms_admin.preview_panels),
                panel_actions=(panel_actions,), action_conditions=(row_condition,),
                menu_entries=(todo_entries,), menu_badges=(todo_badges,))
