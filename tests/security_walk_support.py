"""What the security walk sends for one (screen, action), and what counts as a refusal.

A refusal is 403 or 404 and nothing else: a redirect after a POST would mean the write went
through, a 400/422 would mean the request got past the grant check to validation.
"""
from __future__ import annotations

import json
import re

from example_apps import NOGRANT_USER

REFUSED = (403, 404)
BASE_ACTIONS = ("list", "read", "create", "update", "delete", "export")
ERROR_KEYS = {"detail", "status_code"}

# Endpoints any logged-in user (or anyone) may call, each with the reason; all others must refuse.
OTHER_ALLOWED = {
    ("POST", "/api/auth/login"): "登录本身是公开的",
    ("POST", "/api/auth/logout"): "任何登录用户都可以结束自己的会话（不调用：会结束巡检用户的会话）",
    ("POST", "/logout"): "任何登录用户都可以结束自己的会话（不调用：会结束巡检用户的会话）",
    ("GET", "/login"): "登录页是公开的",
    ("POST", "/login"): "登录表单是公开的",
    ("GET", "/api/auth/me"): "只返回调用者本人",
    ("GET", "/"): "首页只列出调用者被授权的菜单",
    ("GET", "/api/identity/saved-searches"): "只返回调用者本人保存的查询",
    # 站内消息 (runtime/notify/inapp_routes.py): every query is filtered on recipient = the caller.
    **{(m, p): "只读取或标记调用者本人的站内消息" for m, p in (
        ("GET", "/api/messages"), ("GET", "/api/messages/unread-count"), ("GET", "/api/messages/{message_id}"),
        ("POST", "/api/messages/{message_id}/read"), ("POST", "/api/messages/read-all"), ("GET", "/messages"),
        ("POST", "/messages/{message_id}/open"), ("POST", "/messages/{message_id}/read"),
        ("POST", "/messages/read-all"), ("GET", "/api/messages/unread-latest"),
        ("DELETE", "/api/messages/{message_id}"), ("POST", "/api/messages/delete"), ("POST", "/messages/delete"))},
}


# The caller API (/ext/) authenticates registered external systems only: to a browser session it
# answers 401 (no caller credentials), which refuses just as well.
CALLER_PREFIX = "/ext/"


def assert_refused(response, what: str, also: tuple[int, ...] = ()) -> None:
    assert response.status_code in (*REFUSED, *also), f"{what}: {response.status_code} {response.text[:300]}"
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        assert isinstance(body, dict) and set(body) <= ERROR_KEYS, f"{what}: refusal carries data {body}"


async def check_allowed_other(env, client, method: str, path: str) -> None:
    """The allowed endpoints still leak nothing to a role-less user."""
    if (method, path) == ("GET", "/api/auth/me"):
        r = await client.get(path)
        assert r.status_code == 200
        user = r.json()["user"]
        assert user["username"] == NOGRANT_USER and not user["superuser"]
        assert all(set(a) <= {"list", "read"} for a in user["screens"].values()), user["screens"]
    elif (method, path) == ("GET", "/"):
        r = await client.get(path)
        assert r.status_code == 200
        principal = await env.principal(NOGRANT_USER)
        shown = set(re.findall(r'href="/s/([A-Za-z0-9_]+)', r.text))
        assert shown <= set(principal.grants), f"home page links screens without a grant: {shown}"
    elif "/messages" in path:
        await check_own_messages(env, client, method, path)
    elif (method, path) == ("GET", "/api/identity/saved-searches"):
        screen = env.model.screens[0].name
        r = await client.get(path, params={"screen": screen})
        assert r.status_code == 200 and r.json()["items"] == [], r.text


async def check_own_messages(env, client, method: str, path: str) -> None:
    """A role-less user's message endpoints show and change only their own (here: no) messages;
    any other message id (another user's, or none) answers 404."""
    m = env.ctx.table("message")
    others = [r["id"] for r in await m.select(m.id).limit(1)] or [1]
    url = path.replace("{message_id}", str(others[0]))
    body = {"/api/messages/delete": {"json": {"ids": others}}, "/messages/delete": {"data": {"ids": others}}}
    r = await client.request(method, url, **body.get(path, {}))
    if "{message_id}" in path:
        assert r.status_code == 404, f"{method} {url}: {r.status_code}"
    elif path == "/api/messages":
        assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == 0, r.text
    elif path == "/api/messages/unread-count":
        assert r.json() == {"unread": 0}, r.text
    elif path == "/api/messages/read-all":
        assert r.json() == {"updated": 0}, r.text
    elif path == "/api/messages/unread-latest":
        assert r.json() == {"unread": 0, "latest": None}, r.text
    elif path == "/api/messages/delete":  # another user's message: not deleted, not counted
        assert r.json() == {"deleted": 0}, r.text
    else:
        assert r.status_code in (200, 303), f"{method} {url}: {r.status_code}"


GENERATED_OPS = ("list", "get", "create", "update", "delete", "actions", "export")
# Endpoints the runtime adds beside the generated controllers (imports, range deletes...) may check
# their parameters before the grant; such a 400/422 carries no data and writes nothing.
PARAMETER_ERRORS = (400, 422)


def allowed_refusals(op: dict, entity: str) -> tuple[int, ...]:
    """Generated entity operations must refuse with 403/404; added endpoints may also say 400/422."""
    generated = op.get("operationId") in {f"{verb}_{entity}" for verb in GENERATED_OPS}
    return () if generated else PARAMETER_ERRORS


def entity_values(entity) -> dict:
    """Values for an entity's endpoint parameters: a date field where one is wanted, a date range."""
    dated = [f.name for f in entity.fields if f.type in ("date", "datetime")]
    return {"field": (dated or [entity.fields[0].name])[0], "start": "2000-01-01", "end": "2099-12-31"}


def request_kwargs(op: dict, row_id: int, action: str | None = None, known: dict | None = None) -> dict:
    """A well-formed body for the operation, so a refusal cannot be a mere parse error."""
    content = op.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        upload = ("sec.csv", "名称\n安全巡检\n".encode(), "text/csv")
        fields = list(content["multipart/form-data"].get("schema", {}).get("properties", {}))
        # The import handlers read "file" while the schema shows the generic "files": send both.
        return {"files": {name: upload for name in {*fields, "file"}}}
    if "application/x-www-form-urlencoded" in content:
        return {"data": {}}
    if content:
        # ids for actions, confirm for confirmation-guarded endpoints (delete-range): the request must
        # get as far as it can, so only the grant check is left to stop it.
        return {"json": {**(known or {}), "ids": [row_id], "confirm": True}}
    return {}


def _example(schema: dict, name: str, known: dict) -> str:
    if name in known:
        return str(known[name])
    for option in [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]:
        if option.get("enum"):
            return str(option["enum"][0])
        if option.get("format") == "date":
            return "2026-01-01"
        if option.get("format") == "date-time":
            return "2026-01-01T00:00:00"
        if option.get("type") in ("integer", "number"):
            return "1"
        if option.get("type") == "boolean":
            return "false"
    return "x"


def required_query(op: dict, known: dict | None = None) -> dict[str, str]:
    """Valid values for the operation's required query parameters (typed from the schema)."""
    return {p["name"]: _example(p.get("schema", {}), p["name"], known or {}) for p in op.get("parameters", [])
            if p["in"] == "query" and p.get("required")}


def operation_kind(method: str, path: str) -> str:
    """The grant action an entity operation needs: list/read/create/update/delete or its last word."""
    words = [w for w in path.split("/")[3:] if w and not w.startswith("{")]
    if words and words[0] != "actions":
        return words[0]
    return {"GET": "read" if "{row_id" in path else "list", "POST": "create", "PATCH": "update",
            "PUT": "update", "DELETE": "delete"}[method]


def page_calls_for(screen, action: str, row_id: int, form: dict | None = None) -> list[tuple[str, str, dict]]:
    """The page requests of one action; `form` fills the create/edit forms (strings, as a browser sends)."""
    s = f"/s/{screen.name}"
    data = {k: str(v) for k, v in (form or {}).items()}
    calls = {
        "list": [("GET", s, {})],
        "read": [("GET", f"{s}/{row_id}", {})],
        "create": [("GET", f"{s}/new", {}), ("POST", f"{s}/new", {"data": data})],
        "update": [("GET", f"{s}/{row_id}/edit", {}), ("POST", f"{s}/{row_id}/edit", {"data": data})],
        "delete": [("GET", f"{s}/{row_id}/delete", {}), ("POST", f"{s}/{row_id}/delete", {"data": {}})],
        "export": [],
    }
    return calls.get(action, [("POST", f"{s}/action/{action}", {"data": {"ids": str(row_id)}})])


def api_calls_for(screen, action: str, row_id: int) -> list[tuple[str, str, dict]]:
    e, q = f"/api/{screen.entity}", {"params": {"screen": screen.name}}
    calls = {
        "list": [("GET", e, q)] + ([("GET", f"/api/stats/{screen.name}", {})] if screen.stat else []),
        "read": [("GET", f"{e}/{row_id}", q)],
        "create": [("POST", e, {**q, "json": {}})],
        "update": [("PATCH", f"{e}/{row_id}", {**q, "json": {}})],
        "delete": [("DELETE", f"{e}/{row_id}", q)],
        "export": [("GET", f"{e}/export", q)],
    }
    return calls.get(action, [("POST", f"{e}/actions/{action}", {**q, "json": {"ids": [row_id]}})])


def csv_rows(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def cell(item: dict, name: str, key: bool = False) -> str:
    """A list item's value as the CSV export writes it (label first, 是/否 for booleans; a business
    key as itself, so the export can be imported again)."""
    label = None if key else item.get(f"{name}_label")
    value = label if label is not None else item.get(name)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)
