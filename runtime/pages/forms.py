"""Edit forms of the end-user pages: which fields a user may fill in, their widgets, and
turning a POSTed form back into the dict the EntityService expects.

POSTed values are strings. They go to the service as they are, except: an empty string
becomes None for a non-required field, a boolean checkbox is True when ticked and False
when absent, a multi_ref is a list of ids, and an empty sensitive field in an edit form is
left out (the stored value stays) — unless the user holds `unmask` on the screen (`clear`): then
the form shows the stored value in clear like any other field, and emptying it empties it. An
edit form carries the row version it was opened at in a hidden `version` field; a save after
someone else's is refused and the form shows the stored values, with what this user submitted
beside each field that differs (`mine`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.runtime.pages.support import SEARCH_MIN, Options

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import EffectiveGrant

SENSITIVE_PLACEHOLDER = "不修改请留空"
# An edit form saved after someone else saved the row (its hidden `version` is behind the row's).
STALE_FORM = "记录已被他人修改，请核对后重新保存"


# On the create form of the login-user entity (人员管理): the initial password, checked by the
# password policy; left empty, the service sets a random one (then 重置密码 gives a known one).
INITIAL_PASSWORD = {"name": "password", "label": "初始密码", "type": "password",
                    "help": "留空则生成随机密码，之后可用“重置密码”设置"}


def with_initial_password(ctx: "AppContext", screen: dict[str, Any], columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The create form's columns, plus the initial password for the login-user entity."""
    if ctx.app.entity(screen["entity"]).auth_user:
        return [*columns, INITIAL_PASSWORD]
    return columns


def form_columns(ctx: "AppContext", screen: dict[str, Any], grant: "EffectiveGrant") -> list[dict[str, Any]]:
    """The screen's form columns this grant may write (read-only and system fields left out)."""
    entity = ctx.app.entity(screen["entity"])
    out = []
    for col in screen.get("form", []):
        name = col["name"]
        if "." in name or not entity.has_field(name):
            continue
        field = entity.field(name)
        if not (field.editable or field.type == "multi_ref"):
            continue
        if grant.fields is not None and name not in grant.fields:
            continue
        out.append(col)
    return out


def _hidden(col: dict[str, Any], clear: bool) -> bool:
    """A sensitive field the user sees only masked: its form input starts empty (不修改请留空)."""
    return bool(col.get("sensitive")) and not clear


def values_from_item(columns: list[dict[str, Any]], item: dict[str, Any], clear: bool = False) -> dict[str, Any]:
    """Initial input values of an edit form from a row the service returned (in clear with `clear`)."""
    values: dict[str, Any] = {}
    for col in columns:
        name, ftype = col["name"], col.get("type")
        value = item.get(name)
        if _hidden(col, clear):
            values[name] = ""
        elif ftype == "boolean":
            values[name] = bool(value)
        elif ftype == "multi_ref" or col.get("multi"):
            values[name] = [str(v) for v in (value or [])]
        elif value is None:
            values[name] = ""
        elif ftype == "datetime":
            values[name] = str(value).replace(" ", "T")[:19]
        elif ftype == "geo" and isinstance(value, dict):
            values[name] = f"{value.get('lng')},{value.get('lat')}"
        else:
            values[name] = str(value)
    return values


def defaults_for_create(ctx: "AppContext", screen: dict[str, Any], columns: list[dict[str, Any]]) -> dict[str, Any]:
    entity = ctx.app.entity(screen["entity"])
    values: dict[str, Any] = {}
    for col in columns:
        if not entity.has_field(col["name"]):  # the initial password
            values[col["name"]] = ""
            continue
        field = entity.field(col["name"])
        if col.get("type") == "boolean":
            values[col["name"]] = bool(field.default) if field.default is not None else False
        elif col.get("type") == "multi_ref":
            values[col["name"]] = []
        elif col.get("multi"):  # several dictionary keys: checked boxes
            values[col["name"]] = [str(v) for v in (field.default or ())]
        else:
            values[col["name"]] = "" if field.default is None else str(field.default)
    return values


def parse_form(form, columns: list[dict[str, Any]], editing: bool,
               clear: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data for the service, values to echo back into the form)."""
    data: dict[str, Any] = {}
    echo: dict[str, Any] = {}
    for col in columns:
        name, ftype = col["name"], col.get("type")
        if ftype == "boolean":
            checked = (form.get(name) or "").lower() in ("on", "1", "true", "是")
            data[name] = echo[name] = checked
            continue
        if ftype == "multi_ref" or col.get("multi"):  # several records, or several keys of a choice
            raw_list = [str(v).strip() for v in form.getall(name)] if name in form else []
            raw_list = [v for v in raw_list if v]
            echo[name] = raw_list
            data[name] = [int(v) if v.isdigit() else v for v in raw_list] if ftype == "multi_ref" else raw_list
            continue
        raw = form.get(name)
        raw = "" if raw is None else str(raw)
        echo[name] = raw
        if _hidden(col, clear) and editing and raw.strip() == "":
            continue
        if ftype == "datetime" and raw:
            raw = raw.replace("T", " ")
            if len(raw) == 16:
                raw += ":00"
        if raw.strip() == "":
            data[name] = "" if col.get("required") else None
        else:
            data[name] = raw
    return data, echo


def form_version(form) -> int | None:
    """The row version an edit form was opened at (its hidden field); None when it has none."""
    raw = str(form.get("version") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


def _mine_text(col: dict[str, Any], kind: str, typed: Any, options: list | None, clear: bool) -> str:
    """What a user submitted in a field, as text to show beside the stored value."""
    if _hidden(col, clear):
        return "已填写新值（未保存）"
    if kind == "checkbox":
        return "是" if typed else "否"
    labels = dict(options or [])
    if isinstance(typed, list):
        return "，".join(str(labels.get(v, v)) for v in typed) or "（空）"
    return str(labels.get(typed, typed)) if typed not in (None, "") else "（空）"


def _widget_kind(col: dict[str, Any], options: list | None) -> str:
    ftype = col.get("type")
    if ftype == "file":  # an action's file parameter: uploaded by static/attachments.js, ids in a hidden input
        return "file"
    if ftype == "password":
        return "password"
    if ftype == "boolean":
        return "checkbox"
    if ftype == "multi_ref" or col.get("multi"):
        return "checkboxes" if options is not None else "text"
    if ftype in ("dict", "ref") or col.get("codes") or col.get("choices"):
        return "select" if options is not None else "text"
    return {"text": "textarea", "integer": "number", "date": "date", "datetime": "datetime"}.get(ftype or "", "text")


async def widgets(options: Options, columns: list[dict[str, Any]], values: dict[str, Any],
                  errors: dict[str, str], editing: bool, mine: dict[str, Any] | None = None,
                  clear: bool = False) -> list[dict[str, Any]]:
    """Everything a template needs to draw each field of a form. `mine`: what the user submitted, shown
    beside the fields where it differs from `values` (a stale save, runtime/pages/routes.py); `clear`:
    the user sees sensitive values in clear (`unmask`), so they are edited like any other field."""
    out = []
    for col in columns:
        name = col["name"]
        opts = await options.for_column(col)
        kind = _widget_kind(col, opts)
        value = values.get(name)
        if col.get("choices") and value not in (None, "") and str(value) not in col["choices"]:
            opts = [*opts, (str(value), str(value))]  # choices are the usual values, not the only ones
        details = options.details_of(col)
        typed = (mine or {}).get(name, value)
        differs = mine is not None and typed != value and not (_hidden(col, clear) and typed in (None, ""))
        if kind == "text" and col.get("type") == "multi_ref" and isinstance(value, list):
            value = ",".join(value)
        hint = col.get("help") or ""
        if kind == "text" and col.get("type") == "ref":
            hint = hint or ("请输入编码" if col.get("key") else "请输入记录编号")
        elif col.get("type") == "geo":
            hint = hint or "格式：经度,纬度"
        out.append({
            "name": name,
            "label": col["label"],
            "type": col.get("type"),
            "kind": kind,
            "required": bool(col.get("required")),
            "value": value if value is not None else "",
            "selected": set(value) if isinstance(value, list) else {str(value)} if value not in (None, "") else set(),
            "options": opts or [],
            "details": details,
            "searchable": kind == "select" and bool(details) and (
                len(opts or []) >= SEARCH_MIN or any(d for d, _ in details.values())),
            "help": hint,
            "error": errors.get(name),
            "placeholder": SENSITIVE_PLACEHOLDER if _hidden(col, clear) and editing else "",
            "maxlength": col.get("max_length"),
            "min": col.get("min"),
            "max": col.get("max"),
            "decimal": col.get("type") == "decimal",
            "multi": bool(col.get("multi")),
            "mine": _mine_text(col, kind, typed, opts, clear) if differs else None,
        })
    return out


def other_errors(columns: list[dict[str, Any]], errors: dict[str, str], labels: dict[str, str]) -> list[str]:
    """Messages for fields that are not on the form (checks, hidden required fields)."""
    shown = {c["name"] for c in columns}
    out = []
    for name, message in errors.items():
        if name in shown:
            continue
        label = labels.get(name)
        out.append(f"{label}：{message}" if label else message)
    return out
