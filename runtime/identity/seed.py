"""Keep the database in step with the spec at migrate time: roles (declared; grants may be
added at run time), function resources (one per menu group and screen, policies editable at
run time) and system-maintained fields of rows written outside the API (pinyin initials).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


async def sync_roles(ctx: "AppContext") -> None:
    """Roles of the spec, then functions and derived fields (called by `specadmin migrate`)."""
    role = ctx.table("role")
    existing = {r["code"]: r for r in await role.select(role.id, role.code, role.label)}
    for spec_role in ctx.app.roles:
        if spec_role.name not in existing:
            await role.insert(role(code=spec_role.name, label=spec_role.label, active=True))
        elif existing[spec_role.name]["label"] != spec_role.label:
            await role.update({role.label: spec_role.label}).where(role.code == spec_role.name)
    from specadmin.runtime.identity.functions import seed_functions

    await seed_functions(ctx)
    await fill_initials(ctx)


async def fill_initials(ctx: "AppContext") -> int:
    """Fill `initials_of` fields left empty by bulk loads (demo data, imports). Returns rows changed."""
    from specadmin.runtime.identity.pinyin import initials

    changed = 0
    for entity in ctx.app.entities:
        for f in entity.fields:
            if not f.initials_of:
                continue
            table = ctx.table(entity.name)
            column, source = getattr(table, f.name), getattr(table, f.initials_of)
            for row in await table.select(table._meta.primary_key, source).where(column.is_null(), source.is_not_null()):
                await table.update({column: initials(row[f.initials_of], f.max_length)}).where(
                    table._meta.primary_key == row["id"])
                changed += 1
    return changed


async def ensure_org(ctx: "AppContext", code: str, name: str, level: str, parent: int | None, org_type: str,
                     head: str | None = None, phone: str | None = None) -> int:
    """Create the org `code` under `parent` (id) unless it exists, keeping its tree path; returns its id.

    For demo and fixture data loaded outside the API; call `fill_initials` afterwards.
    """
    org = ctx.table("org")
    found = await org.select(org.id).where(org.code == code)
    if found:
        return found[0]["id"]
    values = ctx.sensitive.encode(ctx.app.entity("org"), {"head_phone": phone}) if phone else {}
    result = await org.insert(org(code=code, name=name, level=level, parent=parent, org_type=org_type,
                                  head_name=head, active=True, **values)).returning(org.id)
    new_id = result[0]["id"]
    parent_path = (await org.select(org.path).where(org.id == parent))[0]["path"] if parent else "/"
    await org.update({org.path: f"{parent_path}{new_id}/"}).where(org.id == new_id)
    return new_id
