"""Apply an app's generated Piccolo migrations to its database, in order, once each.

Destructive migrations (drops, type changes) are refused unless allowed; when allowed,
the SQLite file is copied aside first (PostgreSQL: take a pg_dump; we refuse to guess).
"""
from __future__ import annotations

import datetime as dt
import importlib
import os
import shutil
import sys
from pathlib import Path

from piccolo.columns import Timestamp, Varchar
from piccolo.table import Table

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


async def apply_migrations(ctx, allow_destructive: bool = False, log=print) -> list[str]:
    engine = ctx.engine
    _use_engine(engine)
    db.bind_tables([AppliedMigration], engine)
    await AppliedMigration.create_table(if_not_exists=True)
    done = {r["migration_id"] for r in await AppliedMigration.select(AppliedMigration.migration_id)
            .where(AppliedMigration.app == ctx.app.name)}
    package = ctx.package.__name__ + ".migrations"
    folder = Path(ctx.package.__file__).parent / "migrations"
    applied = []
    for path in sorted(folder.glob("m[0-9][0-9][0-9][0-9]_*.py")):
        module = importlib.import_module(f"{package}.{path.stem}")
        if module.ID in done:
            continue
        if module.DESTRUCTIVE:
            if not allow_destructive:
                raise DestructiveRefused(
                    f"migration {module.ID} ({module.DESCRIPTION}) drops or changes data; "
                    "re-run with --allow-destructive after taking a backup")
            backup(ctx, module.ID, log)
        manager = await module.forwards()
        await manager.run()
        if hasattr(module, "change_indexes"):
            await module.change_indexes()
        log("")
        await AppliedMigration.insert(AppliedMigration(app=ctx.app.name, migration_id=module.ID,
                                                       description=module.DESCRIPTION,
                                                       applied_at=dt.datetime.now()))
        applied.append(module.ID)
    return applied


def backup(ctx, migration_id: str, log) -> None:
    if db.is_sqlite(ctx.engine):
        source = Path(ctx.engine.path)
        target = source.with_name(f"{source.stem}.before-{migration_id}.{dt.datetime.now():%Y%m%d%H%M%S}.bak")
        shutil.copy2(source, target)
        log(f"backup: {target}")
    else:
        log("PostgreSQL: make sure a pg_dump backup exists before destructive migrations")
