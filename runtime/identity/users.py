"""Create and update user accounts outside the web UI (CLI, demo data); the password policy applies."""
from __future__ import annotations

from typing import TYPE_CHECKING

from specadmin.runtime.identity.passwords import problem as password_problem
from specadmin.runtime.identity.pinyin import initials

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


class UserError(Exception):
    pass


async def ensure_user(ctx: "AppContext", username: str, password: str, *, name: str | None = None,
                      org_code: str | None = None, roles: tuple[str, ...] = (), superuser: bool = False) -> int:
    """Create the user, or bring an existing one in line (idempotent). Returns the user id."""
    user, org, role = ctx.table("user"), ctx.table("org"), ctx.table("role")
    join = ctx.join_table("user", "roles")
    problem = password_problem(password, ctx.app.security, username)
    if problem:
        raise UserError(problem)
    user._validate_password(password)
    org_id = None
    if org_code:
        rows = await org.select(org.id).where(org.code == org_code)
        if not rows:
            raise UserError(f"组织编码 {org_code} 不存在")
        org_id = rows[0]["id"]
    role_ids = []
    for code in roles:
        rows = await role.select(role.id).where(role.code == code)
        if not rows:
            raise UserError(f"角色 {code} 不存在（可选：{', '.join(r.name for r in ctx.app.roles)}）")
        role_ids.append(rows[0]["id"])
    values = {"name": name or username, "org": org_id, "active": True, "superuser": superuser, "admin": superuser,
              "name_initials": initials(name or username, 50), "failed_logins": 0, "locked_until": None}
    existing = await user.select(user.id).where(user.username == username)
    if existing:
        user_id = existing[0]["id"]
        await user.update(values).where(user.id == user_id)
        await user.update_password(user_id, password)
    else:
        result = await user.insert(user(username=username, password=password, email=f"{username}@users.invalid",
                                        **values)).returning(user.id)
        user_id = result[0]["id"]
    await join.delete().where(join.owner == user_id)
    if role_ids:
        await join.insert(*[join(owner=user_id, target=r) for r in role_ids])
    ctx.principals.pop(user_id, None)
    return user_id
