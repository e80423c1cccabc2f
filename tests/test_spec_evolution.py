"""Spec evolution on live data (issue 12 item 16): one app's spec goes through 20 versions on SQLite
and on PostgreSQL, each generated and migrated over the rows the earlier ones wrote, with the data
checked after every step: fields, entities, screens (their indexes), dictionaries, sensitive fields,
unique sets (one refused over duplicate rows, naming them, until the rows are fixed), renames with a
`renamed_from` hint that keep the data (a field, a sensitive field, an entity that others point at),
and destructive changes refused without --allow-destructive and, with it, made after a backup
(the SQLite file, or pg_dump)."""
from __future__ import annotations

import copy
import sys

import pytest
import yaml
from conftest import BACKENDS, database_env, postgres_url, reset_postgres

ASYNC = pytest.mark.asyncio(loop_scope="session")

V1 = {
    "entities": {"site": {"label": "场所", "fields": {
        "code": {"type": "string", "label": "编码", "required": True, "unique": True, "max_length": 20},
        "name": {"type": "string", "label": "名称", "max_length": 60}}}},
    "screens": {"site_admin": {"entity": "site", "label": "场所管理", "list": ["code", "name"],
                               "actions": ["create", "update"]}},
}


def step(spec: dict, change) -> dict:
    spec = copy.deepcopy(spec)
    change(spec)
    return spec


def fields(spec, entity):
    return spec["entities"][entity]["fields"]


def versions() -> list[tuple[str, dict]]:
    """(what changes, the whole module) for each of the 20 versions."""
    out = [("v1 one entity", V1)]

    def add(name, change):
        out.append((name, step(out[-1][1], change)))

    add("v2 a field with a default", lambda s: fields(s, "site").update(
        capacity={"type": "integer", "label": "容量", "default": 0}))
    add("v3 an entity pointing at the first", lambda s: s["entities"].update(visit={"label": "到访", "fields": {
        "site": {"type": "ref", "to": "site", "label": "场所", "required": True},
        "day": {"type": "date", "label": "日期", "required": True},
        "count": {"type": "integer", "label": "人次"}}}))
    add("v4 a screen filtering on a field (its index)", lambda s: s["screens"].update(visit_admin={
        "entity": "visit", "label": "到访管理", "list": ["site", "day", "count"], "filters": ["day"]}))
    add("v5 a dictionary field", lambda s: (s.setdefault("dictionaries", {}).update(
        site_kind={"label": "场所类型", "items": {"school": "学校", "market": "市场"}}),
        fields(s, "site").update(kind={"type": "dict", "dict": "site_kind", "label": "类型"})))
    add("v6 a sensitive field", lambda s: fields(s, "site").update(
        phone={"type": "string", "label": "电话", "sensitive": "phone"}))
    add("v7 a unique set over clean rows", lambda s: s["entities"]["visit"].update(unique=[["site", "day"]]))
    add("v8 a unique name over duplicate rows", lambda s: fields(s, "site")["name"].update(unique=True))
    add("v9 a field renamed", lambda s: (fields(s, "site").update(
        title={**fields(s, "site").pop("name"), "renamed_from": "name"}),
        s["screens"]["site_admin"].update(list=["code", "title"])))
    add("v10 an entity renamed, another pointing at it", lambda s: (
        s["entities"].update(inspection={**s["entities"].pop("visit"), "renamed_from": "visit"}),
        s["screens"]["visit_admin"].update(entity="inspection")))
    add("v11 a sensitive field renamed", lambda s: fields(s, "site").update(
        mobile={**fields(s, "site").pop("phone"), "renamed_from": "phone"}))
    add("v12 a many-to-many field and its target", lambda s: (
        s["entities"].update(tag={"label": "标签", "fields": {"label": {"type": "string", "label": "名称"}}}),
        fields(s, "site").update(tags={"type": "multi_ref", "to": "tag", "label": "标签"})))
    add("v13 a tree entity", lambda s: s["entities"].update(area={"label": "片区", "tree": "parent", "fields": {
        "name": {"type": "string", "label": "名称"},
        "parent": {"type": "ref", "to": "area", "label": "上级", "on_delete": "set_null"}}}))
    add("v14 a ref to the tree, indexed by a screen's filter", lambda s: (
        fields(s, "site").update(area={"type": "ref", "to": "area", "label": "片区", "on_delete": "set_null"}),
        s["screens"]["site_admin"].update(filters=["area", "kind"])))
    add("v15 a field dropped (destructive)", lambda s: fields(s, "site").pop("capacity"))
    add("v16 a screen removed (its indexes dropped)", lambda s: s["screens"]["site_admin"].pop("filters"))
    add("v17 a decimal field and an indexed date", lambda s: fields(s, "site").update(
        area_m2={"type": "decimal", "label": "面积", "places": 1},
        opened_on={"type": "date", "label": "开业日期", "index": True}))
    add("v18 a field's type changed (destructive)", lambda s: fields(s, "inspection")["count"].update(
        type="decimal", places=1))
    add("v19 a renamed field and a new one at once", lambda s: (fields(s, "site").update(
        display_name={**fields(s, "site").pop("title"), "renamed_from": "title"},
        note={"type": "text", "label": "备注"}), s["screens"]["site_admin"].update(list=["code", "display_name"])))
    add("v20 a unique set over the renamed entity", lambda s: s["entities"]["inspection"].update(
        unique=[["site", "day"], ["site", "count"]]))
    return out


def purge_generated(app_dir) -> None:
    """The same app folder is imported again after each generate (a fresh package of its migrations)."""
    from specadmin.runtime.app.context import load_generated

    del load_generated  # the package name starts with the folder's name (runtime/app/context.py)
    for name in [n for n in sys.modules if n.startswith(f"specadmin_apps.{app_dir.name}_")]:
        del sys.modules[name]


class Evolving:
    def __init__(self, app_dir, url):
        self.dir, self.url = app_dir, url

    def write(self, module: dict) -> None:
        (self.dir / "modules").mkdir(parents=True, exist_ok=True)
        (self.dir / "app.yaml").write_text("app: evolve\nlabel: 演进\nmodules: [main]\n", encoding="utf-8")
        (self.dir / "modules" / "main.yaml").write_text(yaml.safe_dump(module, allow_unicode=True), encoding="utf-8")

    async def migrate(self, module: dict, allow_destructive: bool = False) -> list[str]:
        from specadmin.cli import _migrate
        from specadmin.generator.writer import generate

        self.write(module)
        generate(self.dir)
        purge_generated(self.dir)
        with database_env(self.url):
            return await _migrate(self.dir, allow_destructive)

    async def ctx(self):
        from specadmin.runtime.app.context import AppContext
        from specadmin.runtime.data import db

        purge_generated(self.dir)
        ctx = AppContext.open(self.dir, self.url)
        await db.start(ctx.engine)
        return ctx


async def rows(ctx, entity: str, *names: str) -> list[tuple]:
    table = ctx.table(entity)
    return [tuple(r[n] for n in names) for r in
            await table.select(*[getattr(table, n) for n in names]).order_by(table.id)]


@pytest.fixture(params=BACKENDS)
async def evolving(request, tmp_path):
    url = None
    if request.param == "postgres":
        url = postgres_url()
        await reset_postgres(url)
    return Evolving(tmp_path / "evolve", url)


@ASYNC
async def test_twenty_spec_versions_migrate_over_live_rows_without_losing_any(evolving):
    import decimal

    from specadmin.migrations.apply import DestructiveRefused
    from specadmin.migrations.unique import DuplicateRows
    from specadmin.runtime.data import db

    specs = versions()
    assert len(specs) == 20
    ctx = None

    async def at(index: int, allow: bool = False):
        nonlocal ctx
        if ctx is not None:
            await db.stop(ctx.engine)
        applied = await evolving.migrate(specs[index][1], allow)
        ctx = await evolving.ctx()
        return applied

    try:
        await at(0)
        site = ctx.table("site")
        await site.insert(site(code="S1", name="一中"), site(code="S2", name="二中"), site(code="S3", name="二中"))
        await at(1)
        assert await rows(ctx, "site", "code", "name", "capacity") == [("S1", "一中", 0), ("S2", "二中", 0), ("S3", "二中", 0)]
        await at(2)
        visit, ids = ctx.table("visit"), [r[0] for r in await rows(ctx, "site", "id")]
        import datetime as dt

        day = dt.date(2026, 12, 1)
        await visit.insert(visit(site=ids[0], day=day, count=5), visit(site=ids[1], day=day, count=7))
        for i in (3, 4, 5, 6):
            await at(i)
        site = ctx.table("site")
        await site.update({site.kind: "school"}).where(site.code == "S1")
        assert await rows(ctx, "visit", "site", "day", "count") == [(ids[0], day, 5), (ids[1], day, 7)]
        assert await rows(ctx, "site", "code", "kind") == [("S1", "school"), ("S2", None), ("S3", None)]

        with pytest.raises(DuplicateRows) as refused:  # v8: two rows named 二中
            await at(7)
        assert "二中" in str(refused.value)
        assert await rows(ctx, "site", "code", "name") == [("S1", "一中"), ("S2", "二中"), ("S3", "二中")]
        site = ctx.table("site")
        await site.update({site.name: "三中"}).where(site.code == "S3")
        await at(7)
        with pytest.raises(Exception):  # the unique name holds now
            await ctx.table("site").insert(ctx.table("site")(code="S4", name="一中"))

        await at(8)  # v9 name -> title
        assert await rows(ctx, "site", "code", "title") == [("S1", "一中"), ("S2", "二中"), ("S3", "三中")]
        await at(9)  # v10 visit -> inspection
        assert await rows(ctx, "inspection", "site", "day", "count") == [(ids[0], day, 5), (ids[1], day, 7)]
        inspection = ctx.table("inspection")
        with pytest.raises(Exception):  # the unique set moved with the table
            await inspection.insert(inspection(site=ids[0], day=day, count=1))
        site = ctx.table("site")
        await site.update({site.phone: "sm4:stored-token", site.phone_bidx: "blind-token"}).where(site.code == "S2")
        await at(10)  # v11 phone -> mobile, and its blind index column with it
        assert (await rows(ctx, "site", "mobile", "mobile_bidx"))[1] == ("sm4:stored-token", "blind-token")
        for i in (11, 12, 13):
            await at(i)
        area = ctx.table("area")
        area_id = (await area.insert(area(name="东片")).returning(area.id))[0]["id"]
        site = ctx.table("site")
        await site.update({site.area: area_id}).where(site.code == "S1")

        with pytest.raises(DestructiveRefused):  # v15 drops capacity
            await at(14)
        assert "capacity" in [c._meta.name for c in ctx.table("site")._meta.columns]  # nothing changed
        backups = evolving.dir / "var" / "backups"
        assert not backups.exists() or not any(backups.iterdir())
        await at(14, allow=True)
        assert len(list(backups.iterdir())) == 1 and (backups.stat().st_mode & 0o077) == 0
        assert await rows(ctx, "site", "code", "title", "area") == [("S1", "一中", area_id), ("S2", "二中", None),
                                                                     ("S3", "三中", None)]
        await at(15)
        await at(16)
        await at(17, allow=True)  # v18 integer -> decimal: the column is made anew (values go)
        assert len(list(backups.iterdir())) == 2
        assert await rows(ctx, "inspection", "site", "day") == [(ids[0], day), (ids[1], day)]
        inspection = ctx.table("inspection")
        await inspection.update({inspection.count: decimal.Decimal("2.5")}).where(inspection.site == ids[0])
        await at(18)  # v19 title -> display_name, plus note
        assert await rows(ctx, "site", "code", "display_name", "note") == [
            ("S1", "一中", None), ("S2", "二中", None), ("S3", "三中", None)]
        await at(19)
        assert await rows(ctx, "inspection", "site", "count") == [(ids[0], decimal.Decimal("2.5")), (ids[1], None)]
        migrations = sorted(p.name for p in (evolving.dir / "generated" / "migrations").glob("m*.py"))
        assert len(migrations) == 20  # one per version: v8's refused first attempt applied nothing
    finally:
        if ctx is not None:
            await db.stop(ctx.engine)


def test_check_refuses_a_former_name_still_in_use(tmp_path, capsys):
    from specadmin.cli import main

    module = step(versions()[8][1], lambda s: fields(s, "site").update(code={**fields(s, "site")["code"],
                                                                             "renamed_from": "title"}))
    evolving = Evolving(tmp_path, None)
    evolving.write(module)
    assert main(["check", str(tmp_path)]) == 1
    assert "[SA195] field 'site.code': renamed_from 'title' is a field in use; a former name must be free" in \
        capsys.readouterr().err
