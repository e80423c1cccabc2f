"""Shared pieces of the page handlers: HTML error pages and screen / grant / service lookups."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.response import Template

from specadmin.runtime.errors import Denied, NotFound
from specadmin.runtime.pages.support import STATIC_URL, ctx_of, layout


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
def screen_of(request: Request, name: str) -> dict[str, Any]:
    screen = ctx_of(request).screens.get(name)
    if screen is None:
        raise NotFound("没有这个页面")
    return screen


def grant_for(request: Request, name: str, action: str):
    grant = request.user.grant(name)
    if grant is None or action not in grant.actions:
        raise Denied()
    return grant


def service_for(request: Request, screen: dict[str, Any]):
    return request.app.state.services[screen["entity"]]


def can(grant, action: str) -> bool:
    return grant is not None and action in grant.actions


def custom_actions(request: Request, name: str, screen: dict[str, Any], grant) -> list[dict[str, Any]]:
    """Custom actions this grant allows, with their `when` condition from the model and the plugins'
    conditions on it (`Plugin.action_conditions`, e.g. a flow action's from-states)."""
    ctx = ctx_of(request)
    try:
        specs = {a.name: a for a in ctx.app.screen(name).custom_actions}
    except KeyError:
        specs = {}
    out = []
    for a in screen.get("custom_actions", []):
        if can(grant, a["name"]):
            spec = specs.get(a["name"])
            conds = [c for c in (spec.when if spec else None, *ctx.plugins.action_conditions(ctx, name, a["name"])) if c]
            when = None if not conds else conds[0] if len(conds) == 1 else {"and": conds}
            out.append({**a, "when": when, "params": bool(spec and spec.params),
                        "confirm_text": a.get("confirm") or f"确定要{a['label']}所选记录吗？"})
    return out


def applies(action: dict[str, Any], item: dict[str, Any]) -> bool:
    from specadmin.runtime.data.where import matches

    if not action.get("when"):
        return True
    try:
        return matches(item, action["when"])
    except Exception:  # a condition on a field the row does not show: let the server decide
        return True


def quote_qs(qs: str) -> str:
    return quote(qs, safe="")
