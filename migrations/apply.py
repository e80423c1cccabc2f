"""Apply the built-in modules' migrations and an app's generated Piccolo migrations, in order, once each.

Destructive migrations (drops, type changes) are refused unless allowed; when allowed, the
database is backed up first under var/backups (the SQLite file, or pg_dump of PostgreSQL), and a
backup that fails refuses the migration.
"""
from __future__ import annotations

import datetime as dt
import importlib
import os
import shutil
import sys
from pathlib import Path

from piccolo.columns import Timestamp, Varchar
from piccolo.table import Table, create_table_class

from specadmin.runtime.data import db


class AppliedMigration(Table, tablename="specadmin_migration"):
    app = Varchar(length=40)
    migration_id = Varchar(length=20)
    description = Varchar(length=300, null=True)
    applied_at = Timestamp(null=True, default=None)


class DestructiveRefused(Exception):
    pass


def _use_engine(engine) -> None:
    """Piccolo's MigrationManager asks engine_finder(); point it at ours."""
    module = sys.modules.setdefault("specadmin_piccolo_conf", type(sys)("specadmin_piccolo_conf"))
    module.DB = engine
    os.environ["PICCOLO_CONF"] = "specadmin_piccolo_conf"


SYSTEM_KEY = "specadmin.system"  # the built-in modules' migrations (runtime/system/generated), recorded once


def migration_units(ctx) -> list[tuple[str, object]]:
    """(key recorded in specadmin_migration, generated package) in the order they apply: the
    built-in modules first (every app's tables may point at orgs and users), then the app's own."""
    return [(SYSTEM_KEY, ctx.package.SYSTEM), (ctx.app.name, ctx.package)]


def migration_modules(key: str, package) -> list:
    folder = Path(package.__file__).parent / "migrations"
    return [importlib.import_module(f"{package.__name__}.migrations.{path.stem}")
            for path in sorted(folder.glob("m[0-9][0-9][0-9][0-9]_*.py"))]


async def _recorded(key: str) -> set[str]:
    return {r["migration_id"] for r in await AppliedMigration.select(AppliedMigration.migration_id)
            .where(AppliedMigration.app == key)}


async def _table_exists(engine, tablename: str) -> bool:
    probe = create_table_class(class_name="Probe", class_kwargs={"tablename": tablename})
    db.bind_tables([probe], engine)
    return await probe.table_exists()


async def _adopt(manager, engine, log) -> None:
    """Leave out the tables that already exist (a database made before the built-in modules were
    generated on their own holds them already, with their rows); the rest is created as usual."""
    existing = {t.tablename for t in manager.add_tables if await _table_exists(engine, t.tablename)}
    if existing:
        log(f"adopting existing tables: {', '.join(sorted(existing))}")
    manager.add_tables = [t for t in manager.add_tables if t.tablename not in existing]
    manager.add_columns.add_columns = [c for c in manager.add_columns.add_columns if c.tablename not in existing]


async def apply_migrations(ctx, allow_destructive: bool = False, log=print) -> list[str]:
    engine = ctx.engine
    _use_engine(engine)
    db.bind_tables([AppliedMigration], engine)
    await AppliedMigration.create_table(if_not_exists=True)
    units = migration_units(ctx)
    # A database migrated before the built-in modules had their own migrations recorded the app's
    # old history, which created the built-in tables too. Start both histories anew over it,
    # adopting every table that exists: nothing is dropped, no row is lost.
    legacy = not await _recorded(SYSTEM_KEY) and bool(await _recorded(ctx.app.name))
    if legacy:
        log(f"upgrading {ctx.app.name}: the built-in tables now have their own migrations")
        await AppliedMigration.delete().where(AppliedMigration.app == ctx.app.name)
    applied = []
    for key, package in units:
        done = await _recorded(key)
        for module in migration_modules(key, package):
            if module.ID in done:
                continue
            if module.DESTRUCTIVE:
                if not allow_destructive:
                    raise DestructiveRefused(
                        f"migration {module.ID} ({module.DESCRIPTION}) drops or changes data; "
                        "re-run with --allow-destructive after taking a backup")
                backup(ctx, module.ID, log)
            if hasattr(module, "check_unique"):  # rows breaking a new unique index: refused before any change
                await module.check_unique()
            manager = await module.forwards()
            if legacy:
                await _adopt(manager, engine, log)
            await manager.run()
            if hasattr(module, "change_indexes"):
                await module.change_indexes()
            log("")
            await AppliedMigration.insert(AppliedMigration(app=key, migration_id=module.ID,
                                                           description=module.DESCRIPTION,
                                                           applied_at=dt.datetime.now()))
            applied.append(module.ID if key == ctx.app.name else f"{key}:{module.ID}")
    return applied


async def pending(ctx) -> list[str]:
    """Migrations not applied yet (all of them when the database is new)."""
    db.bind_tables([AppliedMigration], ctx.engine)
    if not await AppliedMigration.table_exists():
        return ["(new database)"]
    missing = []
    for key, package in migration_units(ctx):
        done = await _recorded(key)
        missing += [f"{key}:{m.ID}" for m in migration_modules(key, package) if m.ID not in done]
    return missing


def backup(ctx, migration_id: str, log) -> Path:
    """A copy of the database before a destructive migration, under the app's var/backups (0600):
    the SQLite file, or `pg_dump -Fc` of the PostgreSQL database (restore: `pg_restore -d URL FILE`).
    A backup that cannot be made refuses the migration: nothing has changed yet."""
    from specadmin.runtime.data.private_files import open_private, private_dir

    folder = private_dir(Path(ctx.app_dir) / "var" / "backups")
    stamp = f"{dt.datetime.now():%Y%m%d%H%M%S}"
    if db.is_sqlite(ctx.engine):
        source = Path(ctx.engine.path)
        target = folder / f"{source.stem}.before-{migration_id}.{stamp}.sqlite"
        with open(source, "rb") as src, open_private(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        target = folder / f"{ctx.app.name}.before-{migration_id}.{stamp}.dump"
        open_private(target, "wb").close()
        _pg_dump(ctx.engine.config["dsn"], target)
    log(f"backup: {target}")
    return target


def _pg_dump(dsn: str, target: Path) -> None:
    """pg_dump with the password in the environment, not on the command line (ps shows that)."""
    import glob
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    binary = shutil.which("pg_dump") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[::-1]), None)
    if binary is None:
        raise DestructiveRefused("找不到 pg_dump，无法在破坏性迁移前备份数据库；请安装 postgresql-client 后重试")
    parts = urlsplit(dsn)
    env = dict(os.environ)
    netloc = parts.netloc
    if parts.password is not None:
        env["PGPASSWORD"] = parts.password
        netloc = netloc.replace(f":{parts.password}@", "@", 1)
    done = subprocess.run([binary, "--format=custom", f"--file={target}", f"--dbname={urlunsplit(parts._replace(netloc=netloc))}"],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise DestructiveRefused(f"pg_dump 备份失败，迁移未执行：{done.stderr.strip()[:300]}")
