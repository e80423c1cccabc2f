"""The login page and logout for browsers (the JSON login is identity.sessions): a session opens
only through identity.lockout's throttles, and only a local page may follow the login."""
from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from specadmin.runtime.data import audit
from specadmin.runtime.identity.sessions import client_address, login_attempt, start_session
from specadmin.runtime.pages.support import STATIC_URL, ctx_of, pop_flash

LOGIN_FAILED = "用户名或密码错误"


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
    user = request.scope.get("user")
    if user is not None:
        try:
            await audit.record(ctx_of(request), user, "logout", "user", user.user_id, user.username)
        except Exception:  # the log must not keep anyone logged in
            pass
    request.clear_session()
    return Redirect("/login", status_code=303)


LOGIN_PAGES = [login_form, login_submit, logout]
