"""Custom actions on the pages: the parameter form of an action (a dialog, or a page without
JavaScript), reading the posted parameters, and what an action's outcome says to the actor.

A parameter is drawn with the edit form's widgets (runtime/pages/forms.py): a dict or code list is
a drop-down (check boxes when `multi`), a ref a drop-down of the rows in the actor's view (or in the
parameter's `ref_scope`), a password a password box. The outcome is a message (成功 N 条，跳过 M 条),
the reasons rows were skipped, and the `result:` values an action returns once (a generated
password): those go into the answer page or the dialog's JSON, never into the session.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.runtime.pages.forms import parse_form, widgets
from specadmin.runtime.pages.support import Options, ctx_of

if TYPE_CHECKING:
    from litestar import Request

    from specadmin.specs.model import CustomAction, Field

PARAMS_MARKER = "params_form"  # a posted parameter form says so: its problems are then shown
COLUMN_KEYS = ("dict", "codes", "to", "ref_scope", "min", "max", "max_length", "help", "pattern", "sensitive")


def asks_json(request: "Request") -> bool:
    """A dialog's post (static/dialogs.js sends Accept: application/json) rather than a plain form's."""
    return "application/json" in request.headers.get("accept", "")


def model_action(request: "Request", screen: str, action: str) -> "CustomAction | None":
    try:
        return next((a for a in ctx_of(request).app.screen(screen).custom_actions if a.name == action), None)
    except KeyError:
        return None


def param_column(p: "Field") -> dict[str, Any]:
    """A parameter as a form column (the shape generated screens give their form fields)."""
    col: dict[str, Any] = {"name": p.name, "label": p.label, "type": p.type, "required": p.required}
    for key in COLUMN_KEYS:
        value = getattr(p, key)
        if value not in (None, False, ""):
            col[key] = value
    if p.multi:
        col["multi"] = True
    return col


def param_columns(action: "CustomAction | None") -> list[dict[str, Any]]:
    return [param_column(p) for p in action.params] if action is not None else []


def _defaults(action: "CustomAction") -> dict[str, Any]:
    values: dict[str, Any] = {}
    for p in action.params:
        if p.multi:
            values[p.name] = [str(v) for v in (p.default or ())]
        elif p.type == "boolean":
            values[p.name] = bool(p.default)
        else:
            values[p.name] = "" if p.default is None else str(p.default)
    return values


async def param_fields(request: "Request", action: "CustomAction", values: dict[str, Any] | None = None,
                       errors: dict[str, str] | None = None, options: Options | None = None) -> list[dict[str, Any]]:
    """Widgets of the action's parameter form (defaults, or the values posted back with their errors)."""
    options = options or Options(ctx_of(request), request.user)
    return await widgets(options, param_columns(action), {**_defaults(action), **(values or {})}, errors or {},
                         editing=False)


async def action_dialogs(request: "Request", screen: str, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parameter forms of the actions a page offers (rendered into <template>s for static/dialogs.js)."""
    options = Options(ctx_of(request), request.user)
    out = []
    for a in actions:
        spec = model_action(request, screen, a["name"])
        if spec is not None and spec.params:
            out.append({"name": a["name"], "label": a["label"], "fields": await param_fields(request, spec, options=options)})
    return out


def read_params(form, action: "CustomAction | None") -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameters for the service, values to echo into the form) from a posted action form."""
    columns = param_columns(action)
    if not columns:
        return {}, {}
    data, echo = parse_form(form, columns, editing=False)
    for col in columns:  # a password is sent as typed (spaces and all); the echo never holds it
        if col["type"] == "password":
            echo[col["name"]] = ""
    return data, echo


def outcome(service, action: "CustomAction | None", label: str, result: dict[str, Any]) -> dict[str, Any]:
    """What the actor is told: the message, skipped rows' reasons, the values shown once."""
    done, skipped = result.get("done", []), result.get("skipped", [])
    message = f"{label}成功 {len(done)} 条" + (f"，跳过 {len(skipped)} 条" if skipped else "")
    reasons = [str(text) for text in (result.get("reasons") or {}).values()]
    labels = dict(action.result or {}) if action is not None else {}
    shown = []
    for row_id, value in (result.get("results") or {}).items():
        if not isinstance(value, dict):
            continue
        items = [{"label": text, "value": str(value[key])} for key, text in labels.items() if value.get(key) is not None]
        if items:
            shown.append({"row_id": row_id, "items": items})
    return {"message": message, "kind": "success" if done or not skipped else "error", "done": len(done),
            "skipped": len(skipped), "reasons": reasons, "shown": shown}


async def name_rows(service, shown: list[dict[str, Any]]) -> None:
    """Name each row whose values are shown once (the rows the action was just run on)."""
    names = await service.row_names([int(s["row_id"]) for s in shown])
    for s in shown:
        s["row"] = names.get(int(s["row_id"]), f"记录 {s['row_id']}")
