"""Plugin `workflow`: persisted, permissioned state machines declared under a module's `workflow:` key.

Actions are custom actions of the entity's screens with `handler: workflow.act` (grant, scope,
parameters, operation log as any action); the flow (plugins/workflow/engine.py) decides who may act
from which state and what follows. State columns are guarded against every other write (guard.py),
the version each row runs on is kept in `specadmin_workflow_run` (runs.py), routes.py is the API and pages.py the
detail-page panel and 我的待办 with its menu badge.
"""
from __future__ import annotations

from pathlib import Path

from specadmin.plugins.workflow.checks import CHECKS
from specadmin.plugins.workflow.engine import act
from specadmin.plugins.workflow.guard import refuse_state_writes
from specadmin.plugins.workflow.pages import (PAGE_HANDLERS, panel_actions, todo_badges, todo_entries,
                                              workflow_panels)
from specadmin.plugins.workflow.routes import HANDLERS
from specadmin.plugins.workflow.runs import run_table
from specadmin.plugins.workflow.schema import SCHEMA
from specadmin.plugins.workflow.views import row_condition
from specadmin.runtime.plugin import EntityHooks, Plugin

HERE = Path(__file__).parent

plugin = Plugin(name="workflow", label="流程", module_keys={"workflow": SCHEMA}, checks=CHECKS,
                hooks={"*": EntityHooks(before_create=refuse_state_writes, before_update=refuse_state_writes)},
                handlers={"act": act}, routes=lambda ctx, options: [*HANDLERS, *PAGE_HANDLERS], tables=(run_table,),
                templates=HERE / "templates", static=HERE / "static", detail_panels=(workflow_panels,),
                panel_actions=(panel_actions,), action_conditions=(row_condition,),
                menu_entries=(todo_entries,), menu_badges=(todo_badges,))
