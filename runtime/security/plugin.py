"""Built-in plugin `security`: hardening headers on every response and CSRF tokens on forms and the
API. (Sessions and who is logged in are the `identity` plugin's part.)"""
from __future__ import annotations

from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware

from specadmin.runtime.plugin import Plugin
from specadmin.runtime.security.headers import SecurityHeadersMiddleware


def _middleware(ctx, options) -> list:
    return [DefineMiddleware(SecurityHeadersMiddleware)]


def _configure(config, ctx, options) -> None:
    config.csrf_config = CSRFConfig(
        secret=ctx.session_secret.hex(), cookie_name="csrftoken", header_name="x-csrftoken",
        cookie_secure=options.secure_cookies, cookie_httponly=False, safe_methods={"GET", "HEAD", "OPTIONS"},
        exclude=["^/api/auth/login$", "^/admin", "^/ext/"])


plugin = Plugin(name="security", label="安全防护", builtin=True, order=10, middleware=_middleware,
                configure=_configure)
