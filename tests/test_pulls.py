"""Pulls from an external database (issue 12 item 15), on SQLite (the source: a second SQLite file),
PostgreSQL (the source: a second PostgreSQL database) and an app on SQLite pulling from MySQL (the
source: the MariaDB database scripts/test.sh starts), through the example of specs/REFERENCE.md
run as written: a job pulls new rows by watermark as one import batch (sensitive values encrypted,
bad rows skipped and counted), running again adds nothing, a changed source row updates the stored
one by its key, `specadmin pull` does the same from the command line, and while the database is
configured the screen it owns has no import and no delete, for a superuser too."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

import asyncpg
import pytest
from conftest import check_errors, line_of, mysql_url, postgres_url, reference_blocks, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Pulls@2026x"
T = dt.datetime
GOOD_ID = "11010519491231002X"  # a valid 身份证号 (GB 11643 check digit)
BAD_ID = "110105194912310021"  # wrong check digit: the row is refused and skipped
SOURCE_DDL = ('CREATE TABLE t_reading ("BH" varchar(40), "ZDMC" varchar(60), "DS" integer, "JCSJ" timestamp, '
              '"SFZH" varchar(18), "GXSJ" timestamp)')  # upper-case names, as the province spells them
ROWS = [("R1", "一号站", 10, T(2026, 12, 1, 8), GOOD_ID, T(2026, 12, 1, 9)),
        ("R2", "二号站", 20, T(2026, 12, 1, 8), BAD_ID, T(2026, 12, 1, 9, 30)),
        ("R3", "三号站", 30, T(2026, 12, 1, 8), None, T(2026, 12, 1, 10))]


# (the app's database, the external source's kind): each source kind once, one app start each.
SETUPS = [("sqlite", "sqlite"), ("postgres", "postgres"), ("sqlite", "mysql")]


class Source:
    """The external database: a second SQLite file, a second PostgreSQL database, or MariaDB."""

    def __init__(self, backend: str, tmp_path):
        self.backend = backend
        if backend == "sqlite":
            self.path = tmp_path / "station.db"
            self.url = f"sqlite:///{self.path}"
        elif backend == "mysql":
            self.url = mysql_url()
        else:
            base = postgres_url()
            self.db = f"{base.rsplit('/', 1)[1]}_station"
            self.admin_url, self.url = base, f"{base.rsplit('/', 1)[0]}/{self.db}"

    async def setup(self) -> None:
        if self.backend == "sqlite":
            import sqlite3

            with sqlite3.connect(self.path) as conn:
                conn.execute(SOURCE_DDL)
        elif self.backend == "mysql":
            await self.execute("DROP TABLE IF EXISTS t_reading")
            await self.execute(SOURCE_DDL.replace("timestamp", "datetime"))
        else:
            conn = await asyncpg.connect(self.admin_url)
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.db}"')
            await conn.execute(f'CREATE DATABASE "{self.db}"')
            await conn.close()
            await self.execute(SOURCE_DDL)

    async def execute(self, sql: str, *rows) -> None:
        if self.backend == "sqlite":
            import sqlite3

            rows = [tuple(str(v) if isinstance(v, dt.datetime) else v for v in row) for row in rows]
            with sqlite3.connect(self.path) as conn:
                conn.executemany(re.sub(r"\$\d", "?", sql), rows) if rows else conn.execute(sql)
        elif self.backend == "mysql":
            import aiomysql

            url = urlsplit(self.url)
            conn = await aiomysql.connect(host=url.hostname, port=url.port, user=url.username, password=url.password,
                                          db=url.path.lstrip("/"), charset="utf8mb4", autocommit=True)
            try:
                async with conn.cursor() as cur:
                    await cur.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES'), sql_notes = 0")  # "BH" as in PG
                    sql = re.sub(r"\$\d", "%s", sql)
                    await (cur.executemany(sql, rows) if rows else cur.execute(sql))
            finally:
                conn.close()
        else:
            conn = await asyncpg.connect(self.url)
            try:
                await (conn.executemany(sql, rows) if rows else conn.execute(sql))
            finally:
                await conn.close()

    async def insert(self, *rows) -> None:
        await self.execute("INSERT INTO t_reading VALUES ($1, $2, $3, $4, $5, $6)", *rows)

    async def drop(self) -> None:
        if self.backend == "mysql":
            await self.execute("DROP TABLE IF EXISTS t_reading")
        if self.backend == "postgres":
            conn = await asyncpg.connect(self.admin_url)
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            await conn.close()


def write_app(app_dir, module: str | None = None) -> None:
    blocks = reference_blocks()
    write_spec_app(app_dir, blocks["pulls/app.yaml"], {"readings": module or blocks["modules/station_readings.yaml"]})


@pytest.fixture(scope="module", params=SETUPS, ids=[f"{app}-from-{src}" for app, src in SETUPS])
async def env(request, tmp_path_factory):
    backend, kind = request.param
    tmp = tmp_path_factory.mktemp(f"pulls-{backend}-{kind}")
    source = Source(kind, tmp)
    await source.setup()
    app_dir = tmp / "app"
    app_dir.mkdir()
    write_app(app_dir)
    os.environ["STATION_DB_URL"] = source.url
    try:
        async with spec_app(app_dir, backend, PASSWORD) as (app, client, _):
            yield {"ctx": app.state.ctx, "client": client, "source": source, "dir": app_dir, "backend": backend}
    finally:
        os.environ.pop("STATION_DB_URL", None)
        await source.drop()


async def stored(ctx) -> dict[str, tuple]:
    reading = ctx.table("reading")
    rows = await reading.select(reading.code, reading.station, reading.value, reading.read_at, reading.id_number)
    return {r["code"]: (r["station"], r["value"], r["read_at"], r["id_number"]) for r in rows}


@ASYNC
async def test_a_job_pulls_new_rows_as_one_batch_and_a_second_run_adds_nothing(env):
    from specadmin.runtime.jobs.runner import run_job

    ctx, source = env["ctx"], env["source"]
    await source.insert(*ROWS)
    run = await run_job(ctx, "pull_station_readings")
    assert run["status"] == "succeeded", run["error"]
    assert run["created"] == 2, run["summary"]
    rows = await stored(ctx)
    assert sorted(rows) == ["R1", "R3"]  # R2's ID number fails its check digit: skipped, counted
    assert rows["R1"][:3] == ("一号站", 10, T(2026, 12, 1, 8))
    assert rows["R1"][3] not in (None, GOOD_ID)  # encrypted at rest
    listed = (await env["client"].get("/api/reading", params={"screen": "reading_admin"})).json()
    assert sorted(i["code"] for i in listed["items"]) == ["R1", "R3"]
    batch = ctx.table("import_batch")
    batches = await batch.select(batch.source, batch.watermark, batch.total, batch.ok_count, batch.bad_count,
                                 batch.status).where(batch.source == "station_readings")
    assert batches == [{"source": "station_readings", "watermark": "t:2026-12-01T10:00:00", "total": 3,
                        "ok_count": 2, "bad_count": 1, "status": "done"}]

    again = await run_job(ctx, "pull_station_readings")
    assert again["status"] == "succeeded" and again["created"] == 0
    assert sorted(await stored(ctx)) == ["R1", "R3"]
    assert await batch.count().where(batch.source == "station_readings") == 1


@ASYNC
async def test_a_changed_source_row_updates_the_stored_one_and_the_command_line_pulls_too(env):
    from specadmin.runtime.pulls.run import run_pull

    ctx, source = env["ctx"], env["source"]
    await source.execute('UPDATE t_reading SET "DS" = 11, "GXSJ" = $1 WHERE "BH" = $2', (T(2026, 12, 2, 9), "R1"))
    await source.insert(("R4", "四号站", 40, T(2026, 12, 2, 8), None, T(2026, 12, 2, 9, 5)))
    result = await run_pull(ctx, "station_readings")
    assert (result["read"], result["created"], result["bad"]) == (2, 2, 0)
    rows = await stored(ctx)
    assert sorted(rows) == ["R1", "R3", "R4"] and rows["R1"][1] == 11

    await source.insert(("R5", "五号站", 50, T(2026, 12, 3, 8), None, T(2026, 12, 3, 9)))
    env_vars = {**os.environ, "STATION_DB_URL": source.url}
    if env["backend"] == "postgres":
        env_vars["DATABASE_URL"] = postgres_url()
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "specadmin.cli", "pull", str(env["dir"])],
                                   capture_output=True, text=True, env=env_vars, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"created": 1' in done.stdout and '"pull": "station_readings"' in done.stdout
    assert sorted(await stored(ctx)) == ["R1", "R3", "R4", "R5"]


@ASYNC
async def test_while_the_database_is_configured_the_owned_screen_has_no_import_and_no_delete(env):
    from specadmin.runtime.pulls.run import run_pull
    from specadmin.runtime.pulls.spec import withheld

    ctx, client = env["ctx"], env["client"]
    screens = (await client.get("/api/auth/me")).json()["user"]["screens"]
    assert screens["reading_admin"] == ["export", "list", "read", "unmask"]  # a superuser's, less import and delete
    reading = ctx.table("reading")
    row_id = (await reading.select(reading.id).where(reading.code == "R3").first())["id"]
    assert (await client.delete(f"/api/reading/{row_id}", params={"screen": "reading_admin"})).status_code == 403
    preview = await client.get("/api/reading/delete-range", params={
        "screen": "reading_admin", "field": "read_at", "start": "2026-12-01", "end": "2026-12-31"})
    assert preview.status_code == 403
    upload = await client.post("/api/reading/import", params={"screen": "reading_admin"},
                               files={"file": ("r.csv", "记录编号,读数\nX1,1\n".encode(), "text/csv")})
    assert upload.status_code == 403
    assert await reading.count().where(reading.code == "X1") == 0

    os.environ["STATION_DB_URL"] = ""
    try:
        assert withheld(ctx) == {}  # no URL: the screen keeps import and delete
        result = await run_pull(ctx, "station_readings")
        assert result["created"] == 0 and "未配置" in result["message"]
    finally:
        os.environ["STATION_DB_URL"] = env["source"].url
    assert withheld(ctx) == {"reading_admin": frozenset({"import", "delete"})}


def test_check_names_each_broken_pull_with_its_file_and_line(tmp_path, capsys):
    module = reference_blocks()["modules/station_readings.yaml"]
    broken = (module.replace("database: station_db", "database: stations")
              .replace("station: ZDMC", "site: ZDMC")
              .replace("key: [code]                   #", "key: [read_on]                #")
              .replace("owns: [reading_admin]", "owns: [reading_list]"))
    write_app(tmp_path, broken)
    found = check_errors(tmp_path, capsys)
    where = "modules/readings.yaml"
    assert f"{where}:{line_of(broken, 'database: stations')}: [SA190] pull 'station_readings': no external " \
           "database 'stations' in app.yaml external_databases (known: station_db)" in found
    assert f"{where}:{line_of(broken, 'site: ZDMC')}: [SA191] pull 'station_readings': entity 'reading' has " \
           "no field 'site'" in found
    assert f"{where}:{line_of(broken, 'key: [read_on]')}: [SA192] pull 'station_readings': key field " \
           "'read_on' is not among its fields" in found
    assert f"{where}:{line_of(broken, 'owns: [reading_list]')}: [SA193] pull 'station_readings': no screen " \
           "'reading_list'" in found

    write_app(tmp_path, module.replace("    function: pulls.run\n", "    rule: nothing\n"))
    assert any("[SA122] job 'pull_station_readings': 'args' are given to a 'function' only" in e
               for e in check_errors(tmp_path, capsys))


def test_a_mysql_url_passes_the_check_and_only_plain_names_reach_its_select(tmp_path, capsys):
    from specadmin.runtime.pulls.errors import SourceError
    from specadmin.runtime.pulls.mysql_source import quoted, select
    from specadmin.cli import main
    from specadmin.generator.build import load_app
    from specadmin.runtime.pulls.spec import pulls

    app_yaml = reference_blocks()["pulls/app.yaml"]
    for url in ("mysql://reader:pw@front.example:3306/qzk", "mariadb://reader:pw@front.example/qzk"):
        write_spec_app(tmp_path, app_yaml.replace("${STATION_DB_URL:-}", url),
                       {"readings": reference_blocks()["modules/station_readings.yaml"]})
        assert main(["check", str(tmp_path)]) == 0, capsys.readouterr().err
    pull = pulls(load_app(tmp_path))["station_readings"]
    write_spec_app(tmp_path, app_yaml.replace("${STATION_DB_URL:-}", "oracle://front.example/qzk"),
                   {"readings": reference_blocks()["modules/station_readings.yaml"]})
    assert any("[SA190] external database 'station_db': the url must start with sqlite:///, postgresql://, "
               "mysql://" in e for e in check_errors(tmp_path, capsys))

    text, params = select(pull, T(2026, 12, 1, 10))
    assert text == ("SELECT `BH`, `ZDMC`, `DS`, `JCSJ`, `SFZH`, `GXSJ` FROM `t_reading` WHERE `GXSJ` > %s "
                    "ORDER BY `GXSJ` LIMIT %s")
    assert params == [T(2026, 12, 1, 10), 100_000]
    assert str(quoted("ods.t_reading")) == "`ods`.`t_reading`"
    for bad in ("t`; DROP TABLE t_reading; --", "a b", "x.y.z", ""):
        with pytest.raises(SourceError, match="表名或列名不合规"):
            quoted(bad)


@ASYNC
async def test_a_missing_mysql_table_or_a_refused_login_is_a_clear_source_error():
    import dataclasses

    from specadmin.runtime.pulls.errors import SourceError
    from specadmin.runtime.pulls.source import read
    from specadmin.runtime.pulls.spec import Pull

    pull = Pull("p", "p", "station_db", "t_no_such_table", "reading", (("code", "BH"),), "GXSJ")
    with pytest.raises(SourceError, match="读取外部数据库失败：ProgrammingError.*t_no_such_table"):
        await read(pull, mysql_url(), None, None)
    wrong = mysql_url().replace("specadmin:specadmin@", "specadmin:wrong-secret@")
    with pytest.raises(SourceError, match="读取外部数据库失败：OperationalError") as refused:
        await read(dataclasses.replace(pull, table="t_reading"), wrong, None, None)
    assert "wrong-secret" not in str(refused.value)
