"""One sign-on for the ops console: piccolo-admin trusts the app's own login.

piccolo-admin guards its API with its own session cookie, filled by its own login form. Its
authentication backend is replaced here by one that takes the superuser the mount has already
resolved from the app's session (idle limit, disabled accounts and all, by the identity plugin's
middleware), so a logged-in superuser reaches /admin/ without a second login, and nobody reaches
piccolo-admin's API any other way. Its login endpoint is closed by the mount; its logout ends the
app's session.
"""
from __future__ import annotations

from typing import Any

from piccolo_api.shared.auth import User
from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError
from starlette.middleware.authentication import AuthenticationMiddleware

PRINCIPAL_KEY = "specadmin.principal"  # scope key: the superuser the mount let in


class AppSessionBackend(AuthenticationBackend):
    def __init__(self, auth_table: Any):
        self.auth_table = auth_table

    async def authenticate(self, conn) -> tuple[AuthCredentials, User]:
        principal = conn.scope.get(PRINCIPAL_KEY)
        if principal is None or not principal.superuser:
            raise AuthenticationError("仅超级管理员可访问运维控制台")
        user = await self.auth_table.objects().where(self.auth_table._meta.primary_key == principal.user_id).first()
        if user is None:
            raise AuthenticationError("账号不存在")
        return AuthCredentials(scopes=["authenticated"]), User(user=user)


def trust_app_sign_on(admin_app: Any, auth_table: Any) -> None:
    """Point piccolo-admin's API authentication at the app's login (fails loudly if its layout changed)."""
    for route in admin_app.routes:
        inner = getattr(route, "_base_app", None)
        if getattr(route, "path", None) == "/api" and isinstance(inner, AuthenticationMiddleware):
            inner.backend = AppSessionBackend(auth_table)
            return
    raise RuntimeError("piccolo-admin has no /api mount behind AuthenticationMiddleware: one sign-on cannot be set up")
