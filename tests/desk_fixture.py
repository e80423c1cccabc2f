"""The app of specs/REFERENCE.md's "Fixed screen conditions and scope unions" example (modules/desk.yaml),
started on one backend with a town, two departments, their users and four cases:

| case | owner | status | task of |
|---|---|---|---|
| 甲自办 | D1 | 处置中 | |
| 乙参与 | T | 处置中 | D1 |
| 丙他办 | T | 处置中 | D2 |
| 丁已办结 | T | 已办结 | D1 |

Users: `town` (role town, org T), `d1` and `d2` (role dept, orgs D1 and D2), and `root`.
"""
from __future__ import annotations

import contextlib

from conftest import api_login, reference_blocks, spec_app, write_spec_app

PASSWORD = "Desk@2026x"
CASES = {"甲自办": ("D1", "处置中", None), "乙参与": ("T", "处置中", "D1"), "丙他办": ("T", "处置中", "D2"),
         "丁已办结": ("T", "已办结", "D1")}


@contextlib.asynccontextmanager
async def desk_app(tmp_path_factory, backend: str, label: str):
    from specadmin.runtime.identity.users import ensure_user

    app_dir = write_spec_app(tmp_path_factory.mktemp(f"{label}-{backend}"), "app: demo\nlabel: 示例\nmodules: [desk]\n",
                             {"desk": reference_blocks()["modules/desk.yaml"]})
    async with spec_app(app_dir, backend, PASSWORD) as (app, root, _):
        ctx = app.state.ctx
        org = ctx.table("org")
        orgs = {}
        for code, name in (("T", "镇街"), ("D1", "部门一"), ("D2", "部门二")):
            oid = (await org.insert(org(code=code, name=name, level="city", org_type="department", active=True))
                   .returning(org.id))[0]["id"]
            await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
            orgs[code] = oid
        await ctx.refresh_caches()
        for user, code, role in (("town", "T", "town"), ("d1", "D1", "dept"), ("d2", "D2", "dept")):
            await ensure_user(ctx, user, PASSWORD, name=user, org_code=code, roles=(role,))
        ids = {}
        case, task = ctx.table("case"), ctx.table("case_task")
        for title, (owner, status, handler) in CASES.items():
            ids[title] = (await case.insert(case(title=title, owner=orgs[owner], status=status, version=1))
                          .returning(case.id))[0]["id"]
            if handler:
                await task.insert(task(case=ids[title], org=orgs[handler], note=f"{title}任务", version=1))
        clients = {name: await api_login(app, name, PASSWORD) for name in ("town", "d1", "d2")}
        try:
            yield {"app": app, "ctx": ctx, "root": root, "orgs": orgs, "ids": ids, **clients}
        finally:
            for client in clients.values():
                await client.aclose()
