"""Shared fixtures: a fresh copy of an example app, migrated on SQLite and on a real PostgreSQL.

PostgreSQL comes from SPECADMIN_TEST_DATABASE_URL, which scripts/test.sh provides; when it
is missing the postgres half of the suite fails instead of quietly skipping.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BACKENDS = ["sqlite", "postgres"]

pytest_plugins = ["exit_watchdog"]


def reference_blocks() -> dict[str, str]:
    """The titled code blocks of specs/REFERENCE.md (```lang title="path"), by title: tests run the docs."""
    import re

    text = (ROOT / "specs" / "REFERENCE.md").read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for m in re.finditer(r'```\w+ title="([^"]+)"\n(.*?)```', text, re.S):
        assert m[1] not in blocks, f"specs/REFERENCE.md: two examples titled {m[1]!r}; each test runs its own"
        blocks[m[1]] = m[2]
    return blocks


def write_spec_app(app_dir: Path, app_yaml: str, modules: dict[str, str]) -> Path:
    """An app folder written from text: app.yaml and modules/<name>.yaml (a test's own small app)."""
    (app_dir / "modules").mkdir(parents=True, exist_ok=True)
    (app_dir / "app.yaml").write_text(app_yaml, encoding="utf-8")
    for name, text in modules.items():
        (app_dir / "modules" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return app_dir


@contextlib.contextmanager
def clock_at(moment):
    """Freeze the clock relative dates, deadlines and ages read (runtime/data/where.py `clock`)."""
    from specadmin.runtime.data import where

    saved, where.clock = where.clock, lambda: moment
    try:
        yield
    finally:
        where.clock = saved


def line_of(text: str, needle: str) -> int:
    """The 1-based line of `text` holding `needle` (where a broken-spec error must point)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def check_errors(app_dir: Path, capsys) -> list[str]:
    """`specadmin check DIR` must fail; its `file:line: [SAxxx] message` lines, paths relative to DIR."""
    from specadmin.cli import main

    assert main(["check", str(app_dir)]) == 1
    return [e.removeprefix(f"{app_dir.name}/") for e in capsys.readouterr().err.splitlines() if "[SA" in e]


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


def mysql_url() -> str:
    """The per-run MariaDB database scripts/test.sh starts (an external MySQL source for pulls)."""
    url = os.environ.get("SPECADMIN_TEST_MYSQL_URL")
    if not url:
        pytest.fail("SPECADMIN_TEST_MYSQL_URL is not set: run the suite with `bash scripts/test.sh`")
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


@pytest.fixture(scope="module")
def browser(chromium_path):
    """A headless Chromium for the module's browser tests (tests/browser_support.py)."""
    from browser_support import chromium

    with chromium(chromium_path) as b:
        yield b


@contextlib.contextmanager
def database_env(url: str | None):
    """Point DATABASE_URL at `url` for the duration (the CLI helpers read the environment)."""
    old = os.environ.get("DATABASE_URL")
    if url:
        os.environ["DATABASE_URL"] = url
    try:
        yield
    finally:
        if url:
            if old is None:
                os.environ.pop("DATABASE_URL", None)
            else:
                os.environ["DATABASE_URL"] = old


async def start_app(app_dir: Path, backend: str):
    """Migrate a copied app on `backend` and run its start-up hooks on the test loop.

    asyncpg pools are bound to the loop that made them, so the lifespan runs here rather
    than in a test client's own loop. Returns (app, database url or None).
    """
    from specadmin.cli import _migrate
    from specadmin.runtime.app.factory import create_app

    url = None
    if backend == "postgres":
        url = postgres_url()
        await reset_postgres(url)
    with database_env(url):
        await _migrate(app_dir, False)
        app = create_app(app_dir, url)
    for hook in app.on_startup:
        await hook(app)
    return app, url


@contextlib.asynccontextmanager
async def running_app(name: str, tmp_path_factory, backend: str, label: str):
    """A copied example app migrated and started on `backend`; shut down on exit. Yields the app."""
    app, _ = await start_app(copy_app(name, tmp_path_factory.mktemp(f"{label}-{backend}")), backend)
    try:
        yield app
    finally:
        for hook in app.on_shutdown:
            await hook(app)


@contextlib.asynccontextmanager
async def spec_app(app_dir: Path, backend: str, password: str, org_name: str = "总部"):
    """An app a test wrote: generated, migrated and started on `backend`, with one city org (code HQ)
    and a superuser `root` logged in through the API; shut down on exit. Yields (app, client, org id)."""
    from specadmin.generator.writer import generate
    from specadmin.runtime.identity.users import ensure_user

    generate(app_dir)
    app, _ = await start_app(app_dir, backend)
    ctx = app.state.ctx
    org = ctx.table("org")
    org_id = (await org.insert(org(code="HQ", name=org_name, level="city", org_type="department", active=True))
              .returning(org.id))[0]["id"]
    await org.update({org.path: f"/{org_id}/"}).where(org.id == org_id)
    await ctx.refresh_caches()
    await ensure_user(ctx, "root", password, name="管理员", org_code="HQ", superuser=True)
    client = await api_login(app, "root", password)
    try:
        yield app, client, org_id
    finally:
        await client.aclose()
        for hook in app.on_shutdown:
            await hook(app)


async def api_login(app, username: str, password: str):
    """An httpx client logged in through the API, carrying the CSRF header for writes."""
    import httpx

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    r = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    assert (await client.get("/api/auth/me")).status_code == 200  # a GET hands out the csrftoken cookie
    client.headers["x-csrftoken"] = client.cookies["csrftoken"]
    return client
