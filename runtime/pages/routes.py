"""End-user HTML pages: login, home, and per screen list / detail / new / edit / delete / actions.

Every page goes through the same EntityService as the JSON API, always naming the screen,
so the screen's own grant, tabs and data scope apply. Pages never see an anonymous user:
the auth middleware sends those to /login. No inline script anywhere (strict CSP);
confirmations use `data-confirm` (static/app.js) and deletion has its own confirm page.

The app registers PAGE_HANDLERS, a TemplateConfig over TEMPLATE_DIRS(theme) and serves
STATIC_DIRS(theme) (or STATIC_DIR(theme)) at STATIC_URL.
"""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from specadmin.runtime.errors import BadRequest, Conflict, Denied, NotFound, Stale
from specadmin.runtime.pages.common import (PAGE_ERRORS, applies, can, custom_actions, grant_for, quote_qs, render_error,
                           screen_of, service_for)
from specadmin.runtime.pages.forms import (STALE_FORM, defaults_for_create, form_columns, form_version, other_errors,
                                           parse_form, values_from_item, widgets, with_initial_password)
from specadmin.runtime.pages.lists import list_page
from specadmin.runtime.pages.range_delete import RANGE_DELETE_HANDLERS
from specadmin.runtime.pages.support import (STATIC_DIR, STATIC_DIRS, STATIC_URL, TEMPLATE_DIRS, Options, cell_text, chart_assets,
                            clean_qs, ctx_of, flash, layout, list_url, pop_flash, record_label)
from specadmin.runtime.related.routes import related_for
from specadmin.runtime.data.values import Invalid

__all__ = ["PAGE_HANDLERS", "TEMPLATE_DIRS", "STATIC_DIR", "STATIC_DIRS", "STATIC_URL", "render_error"]

LOGIN_FAILED = "用户名或密码错误"


# -- login / logout / home ------------------------------------------------------
def _safe_next(raw: str | None) -> str:
    """Only a local page path may follow a login (no scheme, no host, no API)."""
    if not raw or not raw.startswith("/") or raw.startswith(("//", "/api/", "/login", "/logout")) or "\\" in raw:
        return "/"
    if any(c in raw for c in "\r\n\t") or len(raw) > 500:
        return "/"
    return raw


def _login_page(request: Request, username: str = "", error: str = "", next_url: str = "/",
                status: int = 200) -> Template:
    ctx = ctx_of(request)
    return Template(template_name="login.html", status_code=status, context={
        "app_title": ctx.app.label, "short_title": ctx.app.short_label or ctx.app.label,
        "static": STATIC_URL, "username": username, "error": error, "flashes": pop_flash(request),
        "next_url": next_url if next_url != "/" else ""})


@get("/login", exclude_from_auth=True, name="page_login")
async def login_form(request: Request) -> Template:
    return _login_page(request, next_url=_safe_next(request.query_params.get("next")))


@post("/login", exclude_from_auth=True, name="page_login_post")
async def login_submit(request: Request) -> Response:
    from specadmin.runtime.identity.sessions import client_address, login_attempt, start_session

    form = await request.form()
    username = (form.get("username") or "").strip()[:100]
    password = (form.get("password") or "")[:200]
    next_url = _safe_next(form.get("next"))
    user_id, message = await login_attempt(ctx_of(request), username, password, client_address(request))
    if not user_id:
        return _login_page(request, username, message or LOGIN_FAILED, next_url, 200)
    # start_session opens a server-side session under a fresh id and writes the login to the operation log.
    await start_session(request, user_id)
    return Redirect(next_url, status_code=303)


@post("/logout", name="page_logout")
async def logout(request: Request) -> Response:
    from specadmin.runtime.data import audit

    user = request.scope.get("user")
    if user is not None:
        try:
            await audit.record(ctx_of(request), user, "logout", "user", user.user_id, user.username)
        except Exception:  # the log must not keep anyone logged in
            pass
    request.clear_session()
    return Redirect("/login", status_code=303)


@get("/", name="page_home")
async def home(request: Request) -> Template:
    return Template(template_name="home.html", context=layout(request, None, title="首页"))

# -- detail -------------------------------------------------------------------
@get("/s/{name:str}/{row_id:int}", name="page_detail", exception_handlers=PAGE_ERRORS)
async def detail_page(request: Request, name: str, row_id: int) -> Response:
    screen = screen_of(request, name)
    grant = grant_for(request, name, "read")
    item = await service_for(request, screen).get(request, row_id, screen=name)
    back = clean_qs(request.query_params.get("r"))
    actions = [a for a in custom_actions(request, name, screen, grant) if applies(a, item)]
    fields = [{"name": c["name"], "label": c["label"], "text": cell_text(item, c), "type": c.get("type")}
              for c in screen.get("detail") or screen["list"]]
    context = layout(
        request, name, record=record_label(ctx_of(request), screen, item), screen_url=list_url(name, back),
        title=screen["label"], screen=screen, screen_name=name, row_id=row_id, fields=fields,
        back_qs=back, list_url=list_url(name, back), r_param=(f"?r={quote_qs(back)}" if back else ""),
        can_update=can(grant, "update") and bool(form_columns(ctx_of(request), screen, grant)),
        can_delete=can(grant, "delete"), row_actions=actions,
        related=[{**r, "rows": [[cell_text(i, c) for c in r["columns"]] for i in r["items"]]}
                 for r in await related_for(request, name, row_id, read_checked=True)])
    context.update(chart_assets(ctx_of(request)) if any(r["chart"] for r in context["related"]) else {})
    return Template(template_name="detail.html", context=context)


# -- new / edit ---------------------------------------------------------------
async def _form_page(request: Request, name: str, screen: dict[str, Any], columns, values, errors,
                     row_id: int | None, back: str, status: int = 200, alert: str = "", version: Any = None,
                     mine: dict[str, Any] | None = None, item: dict[str, Any] | None = None) -> Template:
    """The new or edit form; an edit form also shows, read-only, the record's other detail fields
    (which place a threshold belongs to, the plan and street of a count), from `item` or read here."""
    ctx = ctx_of(request)
    editing = row_id is not None
    entity = ctx.app.entity(screen["entity"])
    labels = {f.name: f.label for f in entity.fields}
    back_url = f"/s/{name}/{row_id}" + (f"?r={quote_qs(back)}" if back else "")
    may_read = can(request.user.grant(name), "read")
    if editing and item is None and may_read:
        try:
            item = await service_for(request, screen).get(request, row_id, screen=name)
        except (NotFound, Denied):
            item = None
    shown = {c["name"] for c in columns}
    context_fields = [{"name": c["name"], "label": c["label"], "text": cell_text(item, c)}
                      for c in screen.get("detail") or screen["list"] if c["name"] not in shown] if item else []
    context = layout(
        request, name, record=record_label(ctx, screen, item) if item else (f"#{row_id}" if editing else None),
        record_url=back_url if editing and may_read else None, step="编辑" if editing else "新增",
        screen_url=list_url(name, back),
        title=screen["label"], screen=screen, screen_name=name, row_id=row_id, editing=editing,
        version=version, stale=mine is not None, context_fields=context_fields,
        fields=await widgets(Options(ctx, request.user, name), columns, values, errors, editing, mine),
        form_errors=([alert] if alert else []) + other_errors(columns, errors, labels),
        has_field_errors=any(c["name"] in errors for c in columns),
        action_url=(f"/s/{name}/{row_id}/edit" if editing else f"/s/{name}/new"),
        back_qs=back,
        cancel_url=(back_url if editing and may_read else list_url(name, back)))
    return Template(template_name="form.html", context=context, status_code=status)


@get("/s/{name:str}/new", name="page_new", exception_handlers=PAGE_ERRORS)
async def new_form(request: Request, name: str) -> Response:
    screen = screen_of(request, name)
    grant = grant_for(request, name, "create")
    columns = with_initial_password(ctx_of(request), screen, form_columns(ctx_of(request), screen, grant))
    values = defaults_for_create(ctx_of(request), screen, columns)
    return await _form_page(request, name, screen, columns, values, {}, None, clean_qs(request.query_params.get("r")))


@post("/s/{name:str}/new", name="page_new_post", exception_handlers=PAGE_ERRORS)
async def new_submit(request: Request, name: str) -> Response:
    screen = screen_of(request, name)
    grant = grant_for(request, name, "create")
    columns = with_initial_password(ctx_of(request), screen, form_columns(ctx_of(request), screen, grant))
    form = await request.form()
    back = clean_qs(form.get("r"))
    data, echo = parse_form(form, columns, editing=False)
    try:
        row = await service_for(request, screen).create(request, data, screen=name)
    except Invalid as exc:
        return await _form_page(request, name, screen, columns, echo, exc.errors, None, back, 422)
    except (Conflict, BadRequest) as exc:
        errors = getattr(exc, "errors", None) or {}
        return await _form_page(request, name, screen, columns, echo, errors, None, back, 409, exc.message)
    flash(request, "新增成功")
    if can(grant, "read") and can(request.user.grant(name), "read"):
        return Redirect(f"/s/{name}/{row['id']}" + (f"?r={quote_qs(back)}" if back else ""), status_code=303)
    return Redirect(list_url(name, back), status_code=303)


@get("/s/{name:str}/{row_id:int}/edit", name="page_edit", exception_handlers=PAGE_ERRORS)
async def edit_form(request: Request, name: str, row_id: int) -> Response:
    screen = screen_of(request, name)
    grant = grant_for(request, name, "update")
    columns = form_columns(ctx_of(request), screen, grant)
    if not can(grant, "read"):
        raise Denied()
    item = await service_for(request, screen).get(request, row_id, screen=name)
    return await _form_page(request, name, screen, columns, values_from_item(columns, item), {}, row_id,
                            clean_qs(request.query_params.get("r")), version=item.get("version"), item=item)


@post("/s/{name:str}/{row_id:int}/edit", name="page_edit_post", exception_handlers=PAGE_ERRORS)
async def edit_submit(request: Request, name: str, row_id: int) -> Response:
    screen = screen_of(request, name)
    grant = grant_for(request, name, "update")
    columns = form_columns(ctx_of(request), screen, grant)
    form = await request.form()
    back = clean_qs(form.get("r"))
    data, echo = parse_form(form, columns, editing=True)
    version = form_version(form)
    try:
        await service_for(request, screen).update(request, row_id, data, screen=name, expected_version=version)
    except Stale as exc:
        # Someone saved since this form was opened: show what is stored now (and what this user
        # submitted, beside each field), with the new version, so a second save is a decision.
        return await _form_page(request, name, screen, columns, values_from_item(columns, exc.current), {}, row_id,
                                back, 409, STALE_FORM, version=exc.current.get("version"), mine=echo)
    except Invalid as exc:
        return await _form_page(request, name, screen, columns, echo, exc.errors, row_id, back, 422, version=version)
    except (Conflict, BadRequest) as exc:
        errors = getattr(exc, "errors", None) or {}
        return await _form_page(request, name, screen, columns, echo, errors, row_id, back, 409, exc.message,
                                version=version)
    flash(request, "保存成功")
    if can(grant, "read"):
        return Redirect(f"/s/{name}/{row_id}" + (f"?r={quote_qs(back)}" if back else ""), status_code=303)
    return Redirect(list_url(name, back), status_code=303)


# -- delete -------------------------------------------------------------------
@get("/s/{name:str}/{row_id:int}/delete", name="page_delete", exception_handlers=PAGE_ERRORS)
async def delete_confirm(request: Request, name: str, row_id: int) -> Response:
    screen = screen_of(request, name)
    grant = grant_for(request, name, "delete")
    back = clean_qs(request.query_params.get("r"))
    fields, item = [], None
    if can(grant, "read"):
        item = await service_for(request, screen).get(request, row_id, screen=name)
        fields = [{"label": c["label"], "text": cell_text(item, c)} for c in screen["list"][:6]]
    context = layout(request, name, record=record_label(ctx_of(request), screen, item) if item else f"#{row_id}",
                     record_url=f"/s/{name}/{row_id}" + (f"?r={quote_qs(back)}" if back else "") if item else None,
                     step="删除", screen_url=list_url(name, back),
                     title=screen["label"], screen=screen, screen_name=name, row_id=row_id,
                     fields=fields, back_qs=back, list_url=list_url(name, back),
                     cancel_url=(f"/s/{name}/{row_id}" + (f"?r={quote_qs(back)}" if back else ""))
                     if can(grant, "read") else list_url(name, back))
    return Template(template_name="delete.html", context=context)


@post("/s/{name:str}/{row_id:int}/delete", name="page_delete_post", exception_handlers=PAGE_ERRORS)
async def delete_submit(request: Request, name: str, row_id: int) -> Response:
    screen = screen_of(request, name)
    grant_for(request, name, "delete")
    form = await request.form()
    back = clean_qs(form.get("r"))
    try:
        await service_for(request, screen).delete(request, row_id, screen=name)
    except (Conflict, BadRequest) as exc:
        flash(request, exc.message, "error")
        return Redirect(f"/s/{name}/{row_id}/delete" + (f"?r={quote_qs(back)}" if back else ""), status_code=303)
    flash(request, "删除成功")
    return Redirect(list_url(name, back), status_code=303)


# -- custom actions -------------------------------------------------------------
@post("/s/{name:str}/action/{action:str}", name="page_action", exception_handlers=PAGE_ERRORS)
async def run_action(request: Request, name: str, action: str) -> Response:
    screen = screen_of(request, name)
    spec = next((a for a in screen.get("custom_actions", []) if a["name"] == action), None)
    if spec is None:
        raise NotFound("没有这个操作")
    grant_for(request, name, action)
    form = await request.form()
    back = clean_qs(form.get("r"))
    target = list_url(name, back)
    detail = form.get("detail")
    raw_ids = form.getall("ids") if "ids" in form else []
    ids = []
    for raw in raw_ids:
        for part in str(raw).split(","):
            if part.strip().isdigit():
                ids.append(int(part.strip()))
    ids = list(dict.fromkeys(ids))[:1000]
    if detail and str(detail).isdigit() and len(ids) == 1 and int(detail) == ids[0]:
        target = f"/s/{name}/{ids[0]}" + (f"?r={quote_qs(back)}" if back else "")
    if not ids:
        flash(request, "请先选择记录", "error")
        return Redirect(target, status_code=303)
    try:
        result = await service_for(request, screen).run_action(request, action, ids, screen=name)
    except (Conflict, BadRequest) as exc:
        flash(request, exc.message, "error")
        return Redirect(target, status_code=303)
    done, skipped = len(result.get("done", [])), len(result.get("skipped", []))
    text = f"{spec['label']}成功 {done} 条"
    if skipped:
        text += f"，{skipped} 条不符合条件已跳过"
    flash(request, text, "success" if done or not skipped else "error")
    return Redirect(target, status_code=303)


PAGE_HANDLERS: list = [login_form, login_submit, logout, home, list_page, detail_page, new_form, new_submit,
                       edit_form, edit_submit, delete_confirm, delete_submit, run_action, *RANGE_DELETE_HANDLERS]
