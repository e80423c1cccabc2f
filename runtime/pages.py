"""End-user HTML pages: login, home, and per screen list / detail / new / edit / delete / actions.

Every page goes through the same EntityService as the JSON API, always naming the screen,
so the screen's own grant, tabs and data scope apply. Pages never see an anonymous user:
the auth middleware sends those to /login. No inline script anywhere (strict CSP);
confirmations use `data-confirm` (static/app.js) and deletion has its own confirm page.

The app registers PAGE_HANDLERS, a TemplateConfig over TEMPLATE_DIRS(theme) and serves
STATIC_DIRS(theme) (or STATIC_DIR(theme)) at STATIC_URL.
"""
from __future__ import annotations

import datetime as dt
import math
import time
from decimal import Decimal
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from .errors import BadRequest, Conflict, Denied, NotFound
from .pages_forms import (defaults_for_create, form_columns, other_errors, parse_form, values_from_item,
                          widgets)
from .pages_support import (STATIC_DIR, STATIC_DIRS, STATIC_URL, TEMPLATE_DIRS, Options, cell_text, clean_qs,
                            ctx_of, flash, layout, list_url, pop_flash, read_filters, with_params)
from .values import Invalid

__all__ = ["PAGE_HANDLERS", "TEMPLATE_DIRS", "STATIC_DIR", "STATIC_DIRS", "STATIC_URL", "render_error"]

LOGIN_FAILED = "用户名或密码错误"


# -- errors -------------------------------------------------------------------
ERROR_TITLES = {400: "请求有误", 401: "请先登录", 403: "无权访问", 404: "页面不存在", 405: "请求方式不正确",
                409: "操作冲突", 422: "数据校验失败", 429: "请求过于频繁", 500: "服务器错误"}

ERROR_MESSAGES = {400: "请求参数不正确", 401: "请先登录", 403: "无权执行此操作", 404: "您访问的页面不存在",
                  405: "不支持的请求方式", 413: "提交的内容过大", 429: "请求过于频繁，请稍后再试",
                  500: "服务器内部错误，请稍后再试"}


def render_error(request: Request, status: int, message: str | None = None) -> Response:
    """An HTML error page; works for anonymous requests too (then without menu and user)."""
    try:
        context = layout(request)
    except Exception:  # no user on this request (route not found, error before authentication)
        context = {"menus": [], "flashes": [], "static": STATIC_URL, "user_name": "", "org_name": "",
                   "app_title": "", "short_title": "", "current": None}
        try:
            ctx = ctx_of(request)
            context.update(app_title=ctx.app.label, short_title=ctx.app.short_label or ctx.app.label)
        except Exception:
            pass
    title = ERROR_TITLES.get(status, "出错了")
    if message and "csrf" in message.lower():
        message = "页面已过期，请返回刷新后重试"
    elif not message or message.isascii():  # framework details ("Not Found") are English: say it in Chinese
        message = ERROR_MESSAGES.get(status, title)
    context.update(status=status, title=title, message=message)
    return Template(template_name="error.html", context=context, status_code=status)


def _denied(request: Request, exc: Exception) -> Response:
    return render_error(request, 403, getattr(exc, "message", None) or "无权执行此操作")


def _not_found(request: Request, exc: Exception) -> Response:
    return render_error(request, 404, getattr(exc, "message", None) or "记录不存在或无权访问")


PAGE_ERRORS = {Denied: _denied, NotFound: _not_found}


# -- shared lookups -----------------------------------------------------------
def _screen(request: Request, name: str) -> dict[str, Any]:
    screen = ctx_of(request).screens.get(name)
    if screen is None:
        raise NotFound("没有这个页面")
    return screen


def _grant(request: Request, name: str, action: str):
    grant = request.user.grant(name)
    if grant is None or action not in grant.actions:
        raise Denied()
    return grant


def _service(request: Request, screen: dict[str, Any]):
    return request.app.state.services[screen["entity"]]


def _can(grant, action: str) -> bool:
    return grant is not None and action in grant.actions


def _custom_actions(request: Request, name: str, screen: dict[str, Any], grant) -> list[dict[str, Any]]:
    """Custom actions this grant allows, with their `when` condition from the model."""
    try:
        specs = {a.name: a for a in ctx_of(request).app.screen(name).custom_actions}
    except KeyError:
        specs = {}
    out = []
    for a in screen.get("custom_actions", []):
        if _can(grant, a["name"]):
            spec = specs.get(a["name"])
            out.append({**a, "when": spec.when if spec else None,
                        "confirm_text": a.get("confirm") or f"确定要{a['label']}所选记录吗？"})
    return out


def _applies(action: dict[str, Any], item: dict[str, Any]) -> bool:
    from .where import matches

    if not action.get("when"):
        return True
    try:
        return matches(item, action["when"])
    except Exception:  # a condition on a field the row does not show: let the server decide
        return True


# -- login / logout / home ------------------------------------------------------
def _safe_next(raw: str | None) -> str:
    """Only a local page path may follow a login (no scheme, no host, no API)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or raw.startswith(("/api/", "/login", "/logout")):
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
    from .auth import login_attempt, start_session

    form = await request.form()
    username = (form.get("username") or "").strip()[:100]
    password = (form.get("password") or "")[:200]
    next_url = _safe_next(form.get("next"))
    user_id, message = await login_attempt(ctx_of(request), username, password)
    if not user_id:
        return _login_page(request, username, message or LOGIN_FAILED, next_url, 200)
    # start_session stores {"uid", "seen"} in the session and writes the login to the operation log.
    await start_session(request, user_id)
    return Redirect(next_url, status_code=303)


@post("/logout", name="page_logout")
async def logout(request: Request) -> Response:
    from . import audit

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


# -- list and statistics -------------------------------------------------------
def _filter_widgets(options_by_name: dict[str, Any], columns, echo: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for col in columns:
        name, ftype = col["name"], col.get("type")
        if ftype in ("date", "datetime"):
            out.append({"name": name, "label": col["label"], "kind": "daterange",
                        "from": echo.get(f"{name}_from", ""), "to": echo.get(f"{name}_to", "")})
            continue
        opts = options_by_name.get(name)
        if ftype == "boolean":
            kind, opts = "select", [("true", "是"), ("false", "否")]
        elif opts is not None:
            kind = "select"
        else:
            kind = "number" if ftype == "integer" or (ftype == "ref" and not col.get("key")) else "text"
        out.append({"name": name, "label": col["label"], "kind": kind, "options": opts or [],
                    "value": echo.get(name, "")})
    return out


async def _filter_bar(request: Request, screen: dict[str, Any], params) -> dict[str, Any]:
    filters, echo_pairs, problems = read_filters(screen.get("filters", []), params)
    options = Options(ctx_of(request))
    by_name = {c["name"]: await options.for_column(c) for c in screen.get("filters", [])
               if c.get("type") in ("dict", "ref")}
    return {"filters": filters, "echo": echo_pairs, "problems": problems,
            "widgets": _filter_widgets(by_name, screen.get("filters", []), dict(echo_pairs))}


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 100000))
    except ValueError:
        return 1


@get("/s/{name:str}", name="page_list", exception_handlers=PAGE_ERRORS)
async def list_page(request: Request, name: str) -> Response:
    screen = _screen(request, name)
    grant = _grant(request, name, "list")
    if screen.get("kind") == "stat":
        return await _stat_page(request, name, screen)
    ctx, params = ctx_of(request), request.query_params
    tabs = screen.get("tabs", [])
    tab = params.get("tab") or (tabs[0]["name"] if tabs else None)
    if tabs and tab not in {t["name"] for t in tabs}:
        tab = tabs[0]["name"]
    q = (params.get("q") or "").strip()[:100]
    page = _page_number(params.get("page"))
    bar = await _filter_bar(request, screen, params)
    problems = list(bar["problems"])
    page_size = _page_size(request, name)
    base = ([("tab", tab)] if tab else []) + ([("q", q)] if q else []) + bar["echo"]
    result: dict[str, Any] = {"items": [], "total": 0}
    try:
        result = await _service(request, screen).list_page(
            request, screen=name, tab=tab, q=q or None, page=page, page_size=page_size, filters=bar["filters"])
    except (BadRequest, Conflict) as exc:
        problems.append(exc.message)
    except Invalid as exc:
        problems += list(exc.errors.values())
    total = int(result.get("total") or 0)
    pages = max(1, math.ceil(total / page_size))
    here = with_params(base, page=page if page > 1 else None)
    actions = _custom_actions(request, name, screen, grant)
    rows = []
    for item in result["items"]:
        rows.append({"id": item["id"],
                     "cells": [cell_text(item, c) for c in screen["list"]],
                     "actions": [a for a in actions if _applies(a, item)]})
    export_url = None
    if _can(grant, "export") and "export" in screen.get("actions", []):
        export_url = f"/api/{screen['entity']}/export?" + with_params(base, screen=name)
    context = layout(
        request, name, title=screen["label"], screen=screen, screen_name=name, tab=tab,
        tabs=[{**t, "url": f"/s/{name}?" + with_params(base, tab=t["name"]), "active": t["name"] == tab}
              for t in tabs],
        q=q, has_search=bool(screen.get("search")), filter_widgets=bar["widgets"],
        columns=screen["list"], rows=rows, total=total, page=page, pages=pages,
        prev_url=f"/s/{name}?" + with_params(base, page=page - 1 if page > 2 else None) if page > 1 else None,
        next_url=f"/s/{name}?" + with_params(base, page=page + 1) if page < pages else None,
        reset_url=f"/s/{name}" + (f"?tab={tab}" if tab else ""),
        here_qs=here, r_param=(f"?r={_q(here)}" if here else ""), page_size=page_size,
        search_hint=_search_hint(ctx, screen), can_read=_can(grant, "read"), can_create=_can(grant, "create"),
        can_update=_can(grant, "update"), can_delete=_can(grant, "delete"), export_url=export_url,
        row_actions=actions, batch_actions=[a for a in actions if a.get("batch")], problems=problems)
    from .imports.page import list_extras

    context["transfer"] = await list_extras(request, name, grant)  # 导入 form, newest 采集时间
    return Template(template_name="list.html", context=context)


def _search_hint(ctx, screen: dict[str, Any]) -> str:
    entity = ctx.app.entity(screen["entity"])
    labels = [entity.field(n).label if entity.has_field(n) else n for n in screen.get("search", [])]
    return "/".join(labels)


def _page_size(request: Request, name: str) -> int:
    try:
        return max(1, min(int(ctx_of(request).app.screen(name).page_size or 20), 500))
    except (KeyError, TypeError, ValueError):
        return 20


def _column_sums(columns: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[str] | None:
    """A 合计 row for the numeric (measure) columns of a statistics table."""
    out, any_sum = [], False
    for col in columns:
        if col.get("type") in ("integer", "decimal") and "." not in col["name"]:
            total = Decimal(0)
            for item in items:
                try:
                    total += Decimal(str(item.get(col["name"]) or 0))
                except ArithmeticError:
                    pass
            out.append(str(total.normalize()) if total != total.to_integral() else str(int(total)))
            any_sum = True
        else:
            out.append("")
    return out if any_sum else None


def _stat_days(request: Request, name: str) -> int:
    try:
        stat = ctx_of(request).app.screen(name).stat
        return max(1, int(stat.default_days)) if stat else 7
    except (KeyError, TypeError, ValueError):
        return 7


async def _stat_page(request: Request, name: str, screen: dict[str, Any]) -> Response:
    params = request.query_params
    bar = await _filter_bar(request, screen, params)
    problems = list(bar["problems"])
    today = dt.date.today()
    default_from = today - dt.timedelta(days=_stat_days(request, name) - 1)
    date_from, date_to = default_from, today
    for key in ("date_from", "date_to"):
        raw = (params.get(key) or "").strip()
        if raw:
            try:
                value = dt.date.fromisoformat(raw[:10])
            except ValueError:
                problems.append(("开始日期" if key == "date_from" else "结束日期") + "格式应为 YYYY-MM-DD")
                continue
            if key == "date_from":
                date_from = value
            else:
                date_to = value
    if date_from > date_to:
        problems.append("开始日期不能晚于结束日期")
    result: dict[str, Any] = {"items": [], "total": 0}
    stats = getattr(request.app.state, "stats", None)
    if stats is None:
        problems.append("统计服务尚未启用")
    elif date_from <= date_to:
        try:
            result = await stats.run(request, name, date_from, date_to, bar["filters"])
        except (BadRequest, Conflict) as exc:
            problems.append(exc.message)
    items = list(result.get("items", []))
    total = len(items)
    page_size = _page_size(request, name)
    pages = max(1, math.ceil(total / page_size))
    page = min(_page_number(params.get("page")), pages)
    rows = [{"id": item.get("id"), "cells": [cell_text(item, c) for c in screen["list"]]}
            for item in items[(page - 1) * page_size: page * page_size]]
    sums = _column_sums(screen["list"], items) if items else None
    base = [("date_from", date_from.isoformat()), ("date_to", date_to.isoformat())] + bar["echo"]
    context = layout(
        request, name, title=screen["label"], screen=screen, screen_name=name,
        date_from=date_from.isoformat(), date_to=date_to.isoformat(), filter_widgets=bar["widgets"],
        columns=screen["list"], rows=rows, total=total, problems=problems, sums=sums,
        page=page, pages=pages, page_size=page_size,
        prev_url=f"/s/{name}?" + with_params(base, page=page - 1 if page > 2 else None) if page > 1 else None,
        next_url=f"/s/{name}?" + with_params(base, page=page + 1) if page < pages else None,
        reset_url=f"/s/{name}")
    return Template(template_name="stat.html", context=context)


# -- detail -------------------------------------------------------------------
@get("/s/{name:str}/{row_id:int}", name="page_detail", exception_handlers=PAGE_ERRORS)
async def detail_page(request: Request, name: str, row_id: int) -> Response:
    screen = _screen(request, name)
    grant = _grant(request, name, "read")
    item = await _service(request, screen).get(request, row_id, screen=name)
    back = clean_qs(request.query_params.get("r"))
    actions = [a for a in _custom_actions(request, name, screen, grant) if _applies(a, item)]
    fields = [{"name": c["name"], "label": c["label"], "text": cell_text(item, c), "type": c.get("type")}
              for c in screen.get("detail") or screen["list"]]
    context = layout(
        request, name, title=screen["label"], screen=screen, screen_name=name, row_id=row_id, fields=fields,
        back_qs=back, list_url=list_url(name, back), r_param=(f"?r={_q(back)}" if back else ""),
        can_update=_can(grant, "update") and bool(form_columns(ctx_of(request), screen, grant)),
        can_delete=_can(grant, "delete"), row_actions=actions)
    return Template(template_name="detail.html", context=context)


def _q(qs: str) -> str:
    from urllib.parse import quote

    return quote(qs, safe="")


# -- new / edit ---------------------------------------------------------------
async def _form_page(request: Request, name: str, screen: dict[str, Any], columns, values, errors,
                     row_id: int | None, back: str, status: int = 200, alert: str = "") -> Template:
    ctx = ctx_of(request)
    editing = row_id is not None
    entity = ctx.app.entity(screen["entity"])
    labels = {f.name: f.label for f in entity.fields}
    context = layout(
        request, name, title=screen["label"], screen=screen, screen_name=name, row_id=row_id, editing=editing,
        fields=await widgets(Options(ctx), columns, values, errors, editing),
        form_errors=([alert] if alert else []) + other_errors(columns, errors, labels),
        has_field_errors=any(c["name"] in errors for c in columns),
        action_url=(f"/s/{name}/{row_id}/edit" if editing else f"/s/{name}/new"),
        back_qs=back,
        cancel_url=(f"/s/{name}/{row_id}" + (f"?r={_q(back)}" if back else "")
                    if editing and _can(request.user.grant(name), "read") else list_url(name, back)))
    return Template(template_name="form.html", context=context, status_code=status)


@get("/s/{name:str}/new", name="page_new", exception_handlers=PAGE_ERRORS)
async def new_form(request: Request, name: str) -> Response:
    screen = _screen(request, name)
    grant = _grant(request, name, "create")
    columns = form_columns(ctx_of(request), screen, grant)
    values = defaults_for_create(ctx_of(request), screen, columns)
    return await _form_page(request, name, screen, columns, values, {}, None, clean_qs(request.query_params.get("r")))


@post("/s/{name:str}/new", name="page_new_post", exception_handlers=PAGE_ERRORS)
async def new_submit(request: Request, name: str) -> Response:
    screen = _screen(request, name)
    grant = _grant(request, name, "create")
    columns = form_columns(ctx_of(request), screen, grant)
    form = await request.form()
    back = clean_qs(form.get("r"))
    data, echo = parse_form(form, columns, editing=False)
    try:
        row = await _service(request, screen).create(request, data, screen=name)
    except Invalid as exc:
        return await _form_page(request, name, screen, columns, echo, exc.errors, None, back, 422)
    except (Conflict, BadRequest) as exc:
        errors = getattr(exc, "errors", None) or {}
        return await _form_page(request, name, screen, columns, echo, errors, None, back, 409, exc.message)
    flash(request, "新增成功")
    if _can(grant, "read") and _can(request.user.grant(name), "read"):
        return Redirect(f"/s/{name}/{row['id']}" + (f"?r={_q(back)}" if back else ""), status_code=303)
    return Redirect(list_url(name, back), status_code=303)


@get("/s/{name:str}/{row_id:int}/edit", name="page_edit", exception_handlers=PAGE_ERRORS)
async def edit_form(request: Request, name: str, row_id: int) -> Response:
    screen = _screen(request, name)
    grant = _grant(request, name, "update")
    columns = form_columns(ctx_of(request), screen, grant)
    if not _can(grant, "read"):
        raise Denied()
    item = await _service(request, screen).get(request, row_id, screen=name)
    return await _form_page(request, name, screen, columns, values_from_item(columns, item), {}, row_id,
                            clean_qs(request.query_params.get("r")))


@post("/s/{name:str}/{row_id:int}/edit", name="page_edit_post", exception_handlers=PAGE_ERRORS)
async def edit_submit(request: Request, name: str, row_id: int) -> Response:
    screen = _screen(request, name)
    grant = _grant(request, name, "update")
    columns = form_columns(ctx_of(request), screen, grant)
    form = await request.form()
    back = clean_qs(form.get("r"))
    data, echo = parse_form(form, columns, editing=True)
    try:
        await _service(request, screen).update(request, row_id, data, screen=name)
    except Invalid as exc:
        return await _form_page(request, name, screen, columns, echo, exc.errors, row_id, back, 422)
    except (Conflict, BadRequest) as exc:
        errors = getattr(exc, "errors", None) or {}
        return await _form_page(request, name, screen, columns, echo, errors, row_id, back, 409, exc.message)
    flash(request, "保存成功")
    if _can(grant, "read"):
        return Redirect(f"/s/{name}/{row_id}" + (f"?r={_q(back)}" if back else ""), status_code=303)
    return Redirect(list_url(name, back), status_code=303)


# -- delete -------------------------------------------------------------------
@get("/s/{name:str}/{row_id:int}/delete", name="page_delete", exception_handlers=PAGE_ERRORS)
async def delete_confirm(request: Request, name: str, row_id: int) -> Response:
    screen = _screen(request, name)
    grant = _grant(request, name, "delete")
    back = clean_qs(request.query_params.get("r"))
    fields = []
    if _can(grant, "read"):
        item = await _service(request, screen).get(request, row_id, screen=name)
        fields = [{"label": c["label"], "text": cell_text(item, c)} for c in screen["list"][:6]]
    context = layout(request, name, title=screen["label"], screen=screen, screen_name=name, row_id=row_id,
                     fields=fields, back_qs=back, list_url=list_url(name, back),
                     cancel_url=(f"/s/{name}/{row_id}" + (f"?r={_q(back)}" if back else ""))
                     if _can(grant, "read") else list_url(name, back))
    return Template(template_name="delete.html", context=context)


@post("/s/{name:str}/{row_id:int}/delete", name="page_delete_post", exception_handlers=PAGE_ERRORS)
async def delete_submit(request: Request, name: str, row_id: int) -> Response:
    screen = _screen(request, name)
    _grant(request, name, "delete")
    form = await request.form()
    back = clean_qs(form.get("r"))
    try:
        await _service(request, screen).delete(request, row_id, screen=name)
    except (Conflict, BadRequest) as exc:
        flash(request, exc.message, "error")
        return Redirect(f"/s/{name}/{row_id}/delete" + (f"?r={_q(back)}" if back else ""), status_code=303)
    flash(request, "删除成功")
    return Redirect(list_url(name, back), status_code=303)


# -- custom actions -------------------------------------------------------------
@post("/s/{name:str}/action/{action:str}", name="page_action", exception_handlers=PAGE_ERRORS)
async def run_action(request: Request, name: str, action: str) -> Response:
    screen = _screen(request, name)
    spec = next((a for a in screen.get("custom_actions", []) if a["name"] == action), None)
    if spec is None:
        raise NotFound("没有这个操作")
    _grant(request, name, action)
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
        target = f"/s/{name}/{ids[0]}" + (f"?r={_q(back)}" if back else "")
    if not ids:
        flash(request, "请先选择记录", "error")
        return Redirect(target, status_code=303)
    try:
        result = await _service(request, screen).run_action(request, action, ids, screen=name)
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
                       edit_form, edit_submit, delete_confirm, delete_submit, run_action]
