"""State columns are written only by the flow's actions: PATCH, create, feeds and other custom actions that
would change one are refused (422 naming the field), like Frappe's `validate_workflow`.

Hooks on every entity (`before_create`, `before_update`); an entity no flow names is left alone. A
workflow action itself (`handler: workflow.act`) writes its states inside the handler, never through
the service's columns, so nothing here stands in its way. Imports cannot name a state column (WF008).
"""
from __future__ import annotations

from typing import Any

from specadmin.plugins.workflow.model import flows
from specadmin.runtime.data.values import Invalid

_GUARDED: dict[int, tuple[Any, dict[str, set[str]]]] = {}


def guarded(app: Any) -> dict[str, set[str]]:
    """entity -> its fields only flow actions write (parsed once per app model)."""
    cached = _GUARDED.get(id(app))
    if cached is None or cached[0] is not app:
        out: dict[str, set[str]] = {}
        for flow in flows(app):
            for entity, names in flow.state_columns().items():
                out.setdefault(entity, set()).update(names)
        cached = _GUARDED[id(app)] = (app, out)
    return cached[1]


async def refuse_state_writes(event: Any) -> None:
    names = guarded(event.ctx.app).get(event.entity.name)
    if not names:
        return
    touched = {}
    for name in names & set(event.clean or {}):
        value = event.clean[name]
        if event.kind == "create" and value == event.entity.field(name).default:
            continue
        touched[name] = f"“{event.entity.field(name).label}”只能通过流程操作改变"
    if touched:
        raise Invalid(touched)
