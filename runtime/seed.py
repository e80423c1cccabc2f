"""Keep the database's roles in step with the spec (roles are declared; grants may be added at run time)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import AppContext


async def sync_roles(ctx: "AppContext") -> None:
    role = ctx.table("role")
    existing = {r["code"]: r for r in await role.select(role.id, role.code, role.label)}
    for spec_role in ctx.app.roles:
        if spec_role.name not in existing:
            await role.insert(role(code=spec_role.name, label=spec_role.label, active=True))
        elif existing[spec_role.name]["label"] != spec_role.label:
            await role.update({role.label: spec_role.label}).where(role.code == spec_role.name)
