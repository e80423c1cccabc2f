"""Built-in plugin `security`: hardening headers on every response, the signed session cookie, and
CSRF tokens on forms and the API. (Who is logged in is the `identity` plugin's part.)"""
from __future__ import annotations

from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig

from specadmin.runtime.plugin import Plugin
from specadmin.runtime.security.headers import SecurityHeadersMiddleware

SESSION_HOURS = 8


def _middleware(ctx, options) -> list:
    # /ext/: API callers authenticate per request (api_callers), never with a session or CSRF token.
    session = CookieBackendConfig(
        secret=ctx.session_secret[:32], key="specadmin_session", max_age=SESSION_HOURS * 3600, httponly=True,
        samesite="lax", secure=options.secure_cookies, exclude=["^/static/", "^/ext/"],
    )
    return [DefineMiddleware(SecurityHeadersMiddleware), session.middleware]


def _configure(config, ctx, options) -> None:
    config.csrf_config = CSRFConfig(
        secret=ctx.session_secret.hex(), cookie_name="csrftoken", header_name="x-csrftoken",
        cookie_secure=options.secure_cookies, cookie_httponly=False, safe_methods={"GET", "HEAD", "OPTIONS"},
        exclude=["^/api/auth/login$", "^/admin", "^/ext/"])


plugin = Plugin(name="security", label="安全防护", builtin=True, order=10, middleware=_middleware,
                configure=_configure)
