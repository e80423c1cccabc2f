"""Prove the test command really provides PostgreSQL, MariaDB, Redis and Chromium.

scripts/test.sh starts the services and exports the SPECADMIN_TEST_* /
SPECADMIN_CHROMIUM variables. If they are missing these tests FAIL (they do
not skip), so a suite that silently ran without its services cannot pass.
"""

import os
from urllib.parse import quote

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the suite via `bash scripts/test.sh`, "
            "which starts PostgreSQL, MariaDB, Redis and Chromium and exports it",
            pytrace=False,
        )
    return value


async def test_postgres_answers() -> None:
    import asyncpg

    conn = await asyncpg.connect(_env("SPECADMIN_TEST_DATABASE_URL"), timeout=10)
    try:
        assert await conn.fetchval("select 1") == 1
        assert (await conn.fetchval("select current_database()")).startswith("specadmin_test")
    finally:
        await conn.close()


async def test_mariadb_answers_with_utf8mb4() -> None:
    from urllib.parse import urlsplit

    import aiomysql

    url = urlsplit(_env("SPECADMIN_TEST_MYSQL_URL"))
    conn = await aiomysql.connect(host=url.hostname, port=url.port, user=url.username, password=url.password,
                                  db=url.path.lstrip("/"), charset="utf8mb4", connect_timeout=10)
    try:
        async with conn.cursor() as cur:
            await cur.execute("select database(), @@character_set_server, %s", ("监测站",))
            name, charset, echoed = await cur.fetchone()
        assert name.startswith("specadmin_test") and charset == "utf8mb4" and echoed == "监测站"
    finally:
        conn.close()


def test_redis_answers() -> None:
    import redis

    client = redis.Redis.from_url(_env("SPECADMIN_TEST_REDIS_URL"), socket_timeout=5)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_chromium_renders_chinese() -> None:
    from playwright.sync_api import sync_playwright

    executable = _env("SPECADMIN_CHROMIUM")
    html = "<!doctype html><meta charset=utf-8><h1>场所信息管理</h1>"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto("data:text/html;charset=utf-8," + quote(html))
            assert page.inner_text("h1") == "场所信息管理"
            # Rendering works too (headless, no GPU): a real PNG comes back.
            assert page.screenshot().startswith(b"\x89PNG")
        finally:
            browser.close()
