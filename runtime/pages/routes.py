"""End-user HTML pages: home, and per screen list / detail / new / edit / delete / actions (the login
page is the identity plugin's).

Every page goes through the same EntityService as the JSON API, always naming the screen,
so the screen's own grant, tabs and data scope apply. Pages never see an anonymous user:
the auth middleware sends those to /login. No inline script anywhere (strict CSP): dialogs
(static/dialogs.js) confirm `data-confirm` actions and deletions and ask for an action's parameters;
without JavaScript deletion has its own confirm page and a parameter form its own page.

The app registers PAGE_HANDLERS, a TemplateConfig over TEMPLATE_DIRS(theme) and serves
STATIC_DIRS(theme) (or STATIC_DIR(theme)) at STATIC_URL.
"""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from specadmin.runtime.errors import BadRequest, Conflict, Denied, NotFound, Stale
from specadmin.runtime.pages.action_forms import (PARAMS_MARKER, action_dialogs, asks_json, model_action, name_rows,
                                                  outcome, param_fields, read_params)
from specadmin.runtime.pages.common import (ERROR_MESSAGES, PAGE_ERRORS, applies, can, custom_actions, grant_for, quote_qs,
                                            render_error, screen_of, service_for)
from specadmin.runtime.pages.forms import (STALE_FORM, defaults_for_create, form_columns, form_version, other_errors,
                                           parse_form, values_from_item, widgets, with_initial_password)
from specadmin.runtime.pages.lists import list_page
from specadmin.runtime.pages.range_delete import RANGE_DELETE_HANDLERS
from specadmin.runtime.pages.support import (STATIC_DIR, STATIC_DIRS, STATIC_URL, TEMPLATE_DIRS, Options, cell_text,
                            clean_qs, ctx_of, flash, layout, list_url, record_label)
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.security.unmask import may_unmask

__all__ = ["PAGE_HANDLERS", "TEMPLATE_DIRS", "STATIC_DIR", "STATIC_DIRS", "STATIC_URL", "render_error"]

# -- home -----------------------------------------------------------------------
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
    offered = ctx_of(request).plugins.panel_actions(ctx_of(request), name)  # in a plugin's panel instead
    fields = [{"name": c["name"], "label": c["label"], "text": cell_text(item, c, key_label=True), "type": c.get("type")}
              for c in screen.get("detail") or screen["list"]]
    context = layout(
        request, name, record=record_label(ctx_of(request), screen, item), screen_url=list_url(name, back),
        title=screen["label"], screen=screen, screen_name=name, row_id=row_id, fields=fields,
        back_qs=back, list_url=list_url(name, back), r_param=(f"?r={quote_qs(back)}" if back else ""),
        can_update=can(grant, "update") and bool(form_columns(ctx_of(request), screen, grant)),
        can_delete=can(grant, "delete"), action_dialogs=await action_dialogs(request, name, actions),
        row_actions=[a for a in actions if a["name"] not in offered],
        panels=await ctx_of(request).plugins.detail_panels(ctx_of(request), request, name, item))
    context["field_views"] = await ctx_of(request).plugins.field_views(
        ctx_of(request), name, screen["entity"], row_id, [f["name"] for f in fields], writable=False)
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
    clear = may_unmask(request.user, name)
    back_url = f"/s/{name}/{row_id}" + (f"?r={quote_qs(back)}" if back else "")
    may_read = can(request.user.grant(name), "read")
    if editing and item is None and may_read:
        try:
            item = await service_for(request, screen).get(request, row_id, screen=name)
        except (NotFound, Denied):
            item = None
    shown = {c["name"] for c in columns}
    views = await ctx.plugins.field_views(ctx, name, entity.name, row_id,
                                          [c["name"] for c in screen.get("detail") or screen["list"]],
                                          writable=True) if editing and item else {}
    shown |= set(views)  # fields plugins show with their own controls (files: upload and delete)
    context_fields = [{"name": c["name"], "label": c["label"], "text": cell_text(item, c, key_label=True)}
                      for c in screen.get("detail") or screen["list"] if c["name"] not in shown] if item else []
    context = layout(
        request, name, record=record_label(ctx, screen, item) if item else (f"#{row_id}" if editing else None),
        record_url=back_url if editing and may_read else None, step="编辑" if editing else "新增",
        screen_url=list_url(name, back),
        title=screen["label"], screen=screen, screen_name=name, row_id=row_id, editing=editing,
        version=version, stale=mine is not None, context_fields=context_fields, field_views=views,
        fields=await widgets(Options(ctx, request.user, name, writing=True), columns, values, errors, editing, mine, clear),
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
    clear = may_unmask(request.user, name)
    return await _form_page(request, name, screen, columns, values_from_item(columns, item, clear), {}, row_id,
                            clean_qs(request.query_params.get("r")), version=item.get("version"), item=item)


@post("/s/{name:str}/{row_id:int}/edit", name="page_edit_post", exception_handlers=PAGE_ERRORS)
async def edit_submit(request: Request, name: str, row_id: int) -> Response:
    screen = screen_of(request, name)
    grant = grant_for(request, name, "update")
    columns = form_columns(ctx_of(request), screen, grant)
    form = await request.form()
    back = clean_qs(form.get("r"))
    clear = may_unmask(request.user, name)
    data, echo = parse_form(form, columns, editing=True, clear=clear)
    version = form_version(form)
    try:
        await service_for(request, screen).update(request, row_id, data, screen=name, expected_version=version)
    except Stale as exc:
        # Someone saved since this form was opened: show what is stored now (and what this user
        # submitted, beside each field), with the new version, so a second save is a decision.
        return await _form_page(request, name, screen, columns, values_from_item(columns, exc.current, clear), {}, row_id,
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
def _action_ids(form) -> list[int]:
    ids = []
    for raw in (form.getall("ids") if "ids" in form else []):
        for part in str(raw).split(","):
            if part.strip().isdigit() and len(part.strip()) <= 10:
                ids.append(int(part.strip()))
    return list(dict.fromkeys(ids))[:1000]


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


async def _action_page(request: Request, name: str, screen: dict[str, Any], spec, label: str, ids: list[int],
                       back: str, detail: str | None, target: str, values=None, errors=None,
                       status: int = 200, outcome: dict[str, Any] | None = None) -> Template:
    """The action's parameter form as a page of its own (without JavaScript), or its outcome page
    when there are values to show once."""
    fields = await param_fields(request, spec, values, errors) if spec is not None and outcome is None else []
    shown = {c["name"] for c in fields}
    context = layout(
        request, name, title=screen["label"], screen=screen, screen_name=name, action_label=label,
        action_name=spec.name if spec is not None else "", confirm=(spec.confirm if spec is not None else None),
        fields=fields, ids=",".join(map(str, ids)), count=len(ids), back_qs=back, detail=detail or "",
        cancel_url=target, outcome=outcome,
        form_errors=[text for key, text in (errors or {}).items() if key not in shown],
        has_field_errors=any(key in shown for key in (errors or {})))
    return Template(template_name="action.html", context=context, status_code=status)


@post("/s/{name:str}/action/{action:str}", name="page_action", exception_handlers=PAGE_ERRORS)
async def run_action(request: Request, name: str, action: str) -> Response:
    """Run a custom action from a page. The dialogs (static/dialogs.js) post with Accept: application/json
    and get the outcome or the problems per parameter as JSON; a plain form post gets a redirect with a
    flash message, the parameter form as a page when the action needs parameters it was not sent, or
    the outcome page when the action returns values to show once (a generated password)."""
    screen = screen_of(request, name)
    declared = next((a for a in screen.get("custom_actions", []) if a["name"] == action), None)
    if declared is None:
        raise NotFound("没有这个操作")
    grant_for(request, name, action)
    as_json = asks_json(request)
    spec = model_action(request, name, action)
    form = await request.form()
    back = clean_qs(form.get("r"))
    target = list_url(name, back)
    detail = form.get("detail")
    ids = _action_ids(form)
    if detail and str(detail).isdigit() and len(ids) == 1 and int(detail) == ids[0]:
        target = f"/s/{name}/{ids[0]}" + (f"?r={quote_qs(back)}" if back else "")
    if not ids:
        if as_json:
            return _json({"detail": "请先选择记录", "status_code": 400}, 400)
        flash(request, "请先选择记录", "error")
        return Redirect(target, status_code=303)
    params, echo = read_params(form, spec)
    submitted = form.get(PARAMS_MARKER) == "1"
    service = service_for(request, screen)
    try:
        result = await service.run_action(request, action, ids, screen=name, params=params)
    except Invalid as exc:
        if as_json:
            return _json({"detail": "请检查填写的内容", "errors": exc.errors, "status_code": 422}, 422)
        # Without the form (a plain button), show it; posted back, with what is wrong.
        return await _action_page(request, name, screen, spec, declared["label"], ids, back, detail, target, echo,
                                  exc.errors if submitted else {}, 422 if submitted else 200)
    except (Conflict, BadRequest, Denied, NotFound) as exc:
        status = 409 if isinstance(exc, Conflict) else 400 if isinstance(exc, BadRequest) else \
            403 if isinstance(exc, Denied) else 404
        if as_json:
            return _json({"detail": exc.message or ERROR_MESSAGES.get(status, "操作失败"), "status_code": status}, status)
        if isinstance(exc, (Denied, NotFound)):
            raise
        flash(request, exc.message, "error")
        return Redirect(target, status_code=303)
    told = outcome(service, spec, declared["label"], result)
    if told["shown"]:
        await name_rows(service, told["shown"])
    flash(request, told["message"], told["kind"])  # the values shown once never go into the session
    if as_json:
        return _json({**told, "redirect": target})
    if told["shown"]:
        return await _action_page(request, name, screen, spec, declared["label"], ids, back, detail, target,
                                  outcome=told)
    return Redirect(target, status_code=303)


PAGE_HANDLERS: list = [home, list_page, detail_page, new_form, new_submit,
                       edit_form, edit_submit, delete_confirm, delete_submit, run_action, *RANGE_DELETE_HANDLERS]
