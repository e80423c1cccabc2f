"""A Kaiping database made by the code from before the built-in modules had their own migrations
(its app history created every table, built-in ones included), with rows in every table, upgrades
with `specadmin migrate`: nothing dropped, no row lost, and the app then serves it — on SQLite and
PostgreSQL. The old history is kept in tests/upgrade/kaiping_before_split (generated files, as committed then)."""
from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
from pathlib import Path

import pytest
from conftest import BACKENDS, api_login, copy_app, database_env, postgres_url, reset_postgres
from kaiping_fixture import PASSWORD, build
from piccolo.columns import ForeignKey

pytestmark = pytest.mark.asyncio(loop_scope="session")
OLD_HISTORY = Path(__file__).parent / "upgrade" / "kaiping_before_split"
REQUIRED_VALUES = {"Date": dt.date(2026, 5, 1), "Timestamp": dt.datetime(2026, 5, 1, 8), "Integer": 1,
                   "Varchar": "x", "Text": "x", "Boolean": False, "BigInt": 1, "Numeric": 1}


def _old_migrations() -> list:
    modules = []
    for path in sorted(OLD_HISTORY.glob("m*.py")):
        spec = importlib.util.spec_from_file_location(f"kaiping_before_split_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


async def _old_database(ctx) -> None:
    """The schema and migration records exactly as the old `specadmin migrate` left them."""
    from specadmin.migrations.apply import AppliedMigration, _use_engine
    from specadmin.runtime.data import db

    _use_engine(ctx.engine)
    db.bind_tables([AppliedMigration], ctx.engine)
    await AppliedMigration.create_table(if_not_exists=True)
    for module in _old_migrations():
        await (await module.forwards()).run()
        if hasattr(module, "change_indexes"):
            await module.change_indexes()
        await AppliedMigration.insert(AppliedMigration(app="kaiping", migration_id=module.ID,
                                                       description=module.DESCRIPTION, applied_at=dt.datetime.now()))


async def _stored_columns(ctx, table) -> set[str]:
    """The column names the database holds for `table` (the old schema lacks the newer ones)."""
    name = table._meta.tablename
    if ctx.engine.engine_type == "sqlite":
        return {r["name"] for r in await table.raw(f"PRAGMA table_info({name})")}
    rows = await table.raw("SELECT column_name FROM information_schema.columns WHERE table_name = {}", name)
    return {r["column_name"] for r in rows}


@contextlib.asynccontextmanager
async def _shaped_as_stored(ctx):
    """Let today's Table classes write rows into the old schema: columns added since are left out
    (as the old code wrote them). Migrations need not run backwards for it (SQLite cannot drop an
    indexed column)."""
    saved = {}
    for table in ctx.package.tables.TABLES:
        stored = await _stored_columns(ctx, table)
        saved[table] = table._meta.columns
        table._meta.columns = [c for c in table._meta.columns if c._meta.db_column_name in stored]
    try:
        yield
    finally:
        for table, columns in saved.items():
            table._meta.columns = columns


async def _fill_every_table(ctx) -> dict[str, int]:
    """Demo data, then one row in each table still empty; returns the row count of every table the old
    history made (tables the built-in modules gained after the split come with their own migrations)."""
    await build(ctx)
    counts = {}
    for table in ctx.package.tables.TABLES:
        if not await table.table_exists():
            continue
        if not await table.count():
            values = {}
            for column in table._meta.columns:
                if column._meta.null or column._meta.primary_key:
                    continue
                if isinstance(column, ForeignKey):
                    target = column._foreign_key_meta.resolved_references
                    values[column._meta.name] = (await target.select(target.id).limit(1))[0]["id"]
                elif column.get_default_value() is None:
                    values[column._meta.name] = REQUIRED_VALUES[type(column).__name__]
            await table.insert(table(**values))
        counts[table._meta.tablename] = await table.count()
    return counts


async def _counts(ctx, names) -> dict[str, int]:
    return {t._meta.tablename: await t.count() for t in ctx.package.tables.TABLES if t._meta.tablename in names}


def _tables_added_since_the_split() -> int:
    """How many tables the built-in modules' later migrations create (a migration may add several)."""
    folder = Path(__file__).resolve().parent.parent / "runtime" / "system" / "generated" / "migrations"
    return sum(p.read_text(encoding="utf-8").count(".add_table(") for p in sorted(folder.glob("m*.py"))[1:])


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_database_from_before_the_split_upgrades_with_no_row_lost(backend, tmp_path):
    from specadmin.cli import _migrate
    from specadmin.migrations.apply import SYSTEM_KEY, AppliedMigration, migration_modules, migration_units
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.app.factory import create_app
    from specadmin.runtime.data import db

    app_dir = copy_app("kaiping", tmp_path / f"kaiping-{backend}")
    url = postgres_url() if backend == "postgres" else None
    if url:
        await reset_postgres(url)
    with database_env(url):
        ctx = AppContext.open(app_dir, url)
        await db.start(ctx.engine)
        try:
            await _old_database(ctx)
            assert "version" not in await _stored_columns(ctx, ctx.table("place"))
            async with _shaped_as_stored(ctx):
                before = await _fill_every_table(ctx)
        finally:
            await db.stop(ctx.engine)
        assert all(before.values()) and len(before) >= len(ctx.package.tables.TABLES) - _tables_added_since_the_split()

        history = [(key, module.ID) for key, package in migration_units(ctx)
                   for module in migration_modules(key, package)]
        applied = await _migrate(app_dir, False)
        # both histories start anew over the old tables (0001 adopts them), later migrations follow
        assert applied == [f"{key}:{mid}" if key == SYSTEM_KEY else mid for key, mid in history]
        systems = [a for a in applied if a.startswith(f"{SYSTEM_KEY}:")]  # the built-in modules' own first
        assert systems[:2] == [f"{SYSTEM_KEY}:0001", f"{SYSTEM_KEY}:0002"] and applied[len(systems)] == "0001"
        assert await _migrate(app_dir, False) == []  # and are done

        app = create_app(app_dir, url)
    for hook in app.on_startup:
        await hook(app)
    try:
        ctx = app.state.ctx
        assert await _counts(ctx, before) == before
        assert all([await t.table_exists() for t in ctx.package.tables.TABLES])  # the later ones too
        records = await AppliedMigration.select(AppliedMigration.app, AppliedMigration.migration_id).order_by(
            AppliedMigration.id)
        assert [(r["app"], r["migration_id"]) for r in records] == history
        for table in (ctx.table("place"), ctx.table("org")):  # the rows from before got row version 1
            assert {r["version"] for r in await table.select(table.version)} == {1}
        ops = await api_login(app, "ops", PASSWORD)
        page = (await ops.get("/api/place", params={"screen": "place_admin"})).json()
        assert page["total"] == before["place"]
        await ops.aclose()
    finally:
        for hook in app.on_shutdown:
            await hook(app)
