"""Shared fixtures: a fresh copy of an example app, migrated on SQLite and on a real PostgreSQL.

PostgreSQL comes from SPECADMIN_TEST_DATABASE_URL, which scripts/test.sh provides; when it
is missing the postgres half of the suite fails instead of quietly skipping.
"""
from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BACKENDS = ["sqlite", "postgres"]


def copy_app(name: str, target: Path) -> Path:
    source = EXAMPLES / name
    target.mkdir(parents=True, exist_ok=True)
    for item in ("app.yaml", "modules", "generated", "demo.py"):
        src = source / item
        if src.is_dir():
            shutil.copytree(src, target / item, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, target / item)
    return target


def postgres_url() -> str:
    url = os.environ.get("SPECADMIN_TEST_DATABASE_URL")
    if not url:
        pytest.fail("SPECADMIN_TEST_DATABASE_URL is not set: run the suite with `bash scripts/test.sh`")
    return url


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        await conn.execute("CREATE SCHEMA public")
    finally:
        await conn.close()


def database_url_for(backend: str) -> str | None:
    if backend == "sqlite":
        return None
    url = postgres_url()
    asyncio.run(reset_postgres(url))
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("SPECADMIN_CHROMIUM")
    if not path:
        pytest.fail("SPECADMIN_CHROMIUM is not set: run the suite with `bash scripts/test.sh`")
    return path
