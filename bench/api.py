"""Benchmark: the generated list API vs a hand-written raw-SQL endpoint and piccolo-admin's list API.

    .venv/bin/python bench/api.py                       # SQLite and PostgreSQL, 100,000 places, 15 s each
    .venv/bin/python bench/api.py --backend sqlite --places 20000 --duration 5

For each backend: a copy of examples/kaiping in /tmp is migrated and given the demo data
(``specadmin demo``), then ~N more places spread over the 15 streets and the 10 supervising
units are bulk-inserted; the server is started (``specadmin serve --workers 2``) as a
subprocess and both targets are driven by ``wrk`` against the same server and database:

* generated:     GET /api/place?screen=threshold_admin&street=changsha&page=1&page_size=20
                 as ``unit1`` (its scope adds ``supervisor = <KP-JYJ id>``)
* raw-sql:       GET /raw/place?street=changsha&page=1&page_size=20 on bench/raw_list.py (uvicorn, the
                 same worker count): the same statement written by hand, the same JSON (checked equal
                 to the generated answer, items and total, before timing), the scope fixed in advance
* piccolo-admin: GET /admin/api/tables/place/?street=changsha&street__match=exact&supervisor=<KP-JYJ id>&__page=1&__page_size=20
                 as ``admin`` (our superuser session, which piccolo-admin trusts)

Prints req/s, p50, p99 and errors (non-2xx + socket errors) per target at --connections, and p50
at one connection (how a page's latency grows with the table: run with --places 10000, 100000 and
1000000), with the ratios. Targets for the generated API: zero errors, p99 <= 1 s, throughput >=
0.8x the raw endpoint's and >= 2x piccolo-admin's.
Exits 1 if a target is missed.  The server and wrk share the machine's cores: note it when
reading the figures.  PostgreSQL: DATABASE_URL-style base URL from --pg-url; the database
``specadmin_bench`` (or --pg-db) is dropped and re-created.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
SPECADMIN = str(VENV_BIN / "specadmin")
EXAMPLE = ROOT / "examples" / "kaiping"
PASSWORD = "Kaiping@2026"
STREETS = ["changsha", "sanbu", "yueshan", "shuikou", "shatang", "cangcheng", "longsheng", "dasha", "magang",
           "tangkou", "chikan", "baihe", "xiangang", "jinji", "chishui"]
UNITS = ["KP-JYJ", "KP-WJJ", "KP-SCJ", "KP-JTJ", "KP-WGLJ", "KP-MZJ", "KP-ZJJ", "KP-SWJ", "KP-GAJ", "KP-MZZJ"]
PG_DB = "specadmin_bench"
COLS = ["place_code", "name", "category", "city", "street", "manager", "location", "location_bidx",
        "supervisor", "min_daily", "max_daily", "created_by", "created_at", "updated_at"]
TARGET_P99_S = 1.0
TARGET_RATIO = 2.0  # vs piccolo-admin
TARGET_RAW_RATIO = 0.8  # vs the hand-written endpoint


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], env: dict) -> None:
    log("$ " + " ".join(cmd[1:] if cmd[0] == SPECADMIN else cmd))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise SystemExit(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")


def copy_app(dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in ("app.yaml", "demo.py"):
        shutil.copy2(EXAMPLE / name, dest / name)
    # examples/kaiping/demo.py inserts scans 2,000 rows (~20 columns) at a time: over PostgreSQL's
    # 32,767 bind-parameter limit. Patch the /tmp copy only (smaller batches, same data).
    demo = dest / "demo.py"
    demo.write_text(demo.read_text().replace("if len(batch) >= 2000:", "if len(batch) >= 1000:"))
    for name in ("modules", "generated"):
        shutil.copytree(EXAMPLE / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))


def make_rows(templates: list[tuple], unit_ids: list[int], n: int) -> list[tuple]:
    """``n`` new places cloned from the demo's (location ciphertext/blind index kept as-is)."""
    rng = random.Random(2026)
    rows = []
    for i in range(n):
        t = dict(zip(COLS, templates[i % len(templates)]))
        t["place_code"] = f"B{i:08d}"
        t["name"] = f"{t['name']}-{i}"
        t["street"] = STREETS[rng.randrange(len(STREETS))]
        t["supervisor"] = unit_ids[rng.randrange(len(unit_ids))] if i % 7 else None
        rows.append(tuple(t[c] for c in COLS))
    return rows


def load_sqlite(db_path: Path, n: int) -> int:
    con = sqlite3.connect(db_path)
    try:
        org_ids = dict(con.execute("SELECT code, id FROM sys_org"))
        unit_ids = [org_ids[c] for c in UNITS]
        templates = con.execute(f"SELECT {', '.join(COLS)} FROM place").fetchall()
        rows = make_rows(templates, unit_ids, n)
        con.executemany(f"INSERT INTO place ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})", rows)
        con.commit()
        con.execute("ANALYZE")
        total = con.execute("SELECT count(*) FROM place").fetchone()[0]
        log(f"sqlite: place rows = {total}")
        return org_ids["KP-JYJ"]
    finally:
        con.close()


async def pg_recreate(base_url: str) -> None:
    import asyncpg

    name = base_url.rsplit("/", 1)[1]
    con = await asyncpg.connect(base_url.rsplit("/", 1)[0] + "/postgres")
    try:
        await con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await con.execute(f"CREATE DATABASE {name}")
    finally:
        await con.close()


async def load_pg(url: str, n: int) -> int:
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        org_ids = {r["code"]: r["id"] for r in await con.fetch("SELECT code, id FROM sys_org")}
        unit_ids = [org_ids[c] for c in UNITS]
        templates = [tuple(r) for r in await con.fetch(f"SELECT {', '.join(COLS)} FROM place")]
        rows = make_rows(templates, unit_ids, n)
        await con.copy_records_to_table("place", records=rows, columns=COLS)
        # As autovacuum would soon after a bulk load: without the visibility map every COUNT of a
        # page's total reads the heap (27 ms instead of 0.7 ms for 5,800 rows of 1M places).
        await con.execute("VACUUM ANALYZE")
        total = await con.fetchval("SELECT count(*) FROM place")
        log(f"postgres: place rows = {total}")
        return org_ids["KP-JYJ"]
    finally:
        await con.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(base: str, proc: subprocess.Popen, timeout: float = 60, path: str = "/login") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise SystemExit(f"server exited early with {proc.returncode}: {err[-1500:]}")
        try:
            httpx.get(base + path, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("server did not answer in time")


def set_cookies(resp: httpx.Response, jar: dict) -> None:
    for header in resp.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]


def cookie_header(jar: dict, names: list[str]) -> str:
    return "; ".join(f"{k}={jar[k]}" for k in names)


def login_generated(base: str, user: str) -> dict:
    jar: dict = {}
    r = httpx.post(base + "/api/auth/login", json={"username": user, "password": PASSWORD}, timeout=10)
    r.raise_for_status()
    set_cookies(r, jar)
    if "specadmin_session" not in jar:
        raise SystemExit(f"login {user}: no specadmin_session cookie ({r.headers})")
    return jar


def login_piccolo(base: str) -> str:
    """piccolo-admin trusts the app's superuser session (one sign-on: runtime/console/sign_on.py)."""
    jar = login_generated(base, "admin")
    r = httpx.get(base + "/admin/api/tables/", headers={"Cookie": cookie_header(jar, ["specadmin_session"])}, timeout=10)
    if r.status_code != 200:
        raise SystemExit(f"/admin/api answered {r.status_code} to the superuser session: {r.text[:300]}")
    return cookie_header(jar, ["specadmin_session"])


_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _dur(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * _UNIT[m.group(2)]


def run_wrk(url: str, cookie: str, connections: int, duration: int) -> dict:
    threads = min(2, connections)  # wrk refuses more threads than connections
    cmd = ["wrk", "-c", str(connections), "-t", str(threads), "-d", f"{duration}s", "--timeout", "10s", "--latency",
           "-H", f"Cookie: {cookie}", url]
    log(f"wrk -c {connections} -t {threads} -d {duration}s {url}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": rps, "p50": _dur(p50.group(1)) if p50 else float("nan"),
            "p99": _dur(p99.group(1)) if p99 else float("nan"), "errors": errors, "requests": total,
            "raw": out}


def check(url: str, cookie: str, key: str) -> int:
    r = httpx.get(url, headers={"Cookie": cookie}, timeout=30)
    if r.status_code != 200:
        raise SystemExit(f"sanity GET {url} -> {r.status_code}: {r.text[:300]}")
    body = r.json()
    rows = body[key]
    log(f"sanity {url.split('?')[0]}: {len(rows)} rows" + (f", total={body['total']}" if "total" in body else ""))
    return len(rows)


def bench_backend(backend: str, args, workdir: Path) -> list[dict]:
    app = workdir / backend
    copy_app(app)
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if backend == "postgres":
        url = args.pg_url.rsplit("/", 1)[0] + "/" + args.pg_db
        asyncio.run(pg_recreate(url))
        env["DATABASE_URL"] = url
    run([SPECADMIN, "migrate", str(app)], env)
    run([SPECADMIN, "demo", str(app)], env)
    t0 = time.monotonic()
    if backend == "sqlite":
        org_id = load_sqlite(app / "var" / "app.sqlite3", args.places)
    else:
        org_id = asyncio.run(load_pg(env["DATABASE_URL"], args.places))
    log(f"{backend}: loaded {args.places} places in {time.monotonic() - t0:.1f}s; unit1 org id = {org_id}")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([SPECADMIN, "serve", str(app), "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    raw_port = free_port()
    raw_base = f"http://127.0.0.1:{raw_port}"
    raw_env = {**env, "BENCH_RAW_APP": str(app), "BENCH_RAW_SUPERVISOR": str(org_id)}
    raw = subprocess.Popen([str(VENV_BIN / "uvicorn"), "raw_list:app", "--app-dir", str(ROOT / "bench"), "--host", "127.0.0.1",
                            "--port", str(raw_port), "--workers", "2", "--no-access-log", "--log-level", "warning"],
                           env=raw_env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        wait_up(base, proc)
        wait_up(raw_base, raw, path="/raw/place?street=changsha")
        gen_cookie = cookie_header(login_generated(base, "unit1"), ["specadmin_session"])
        pic_cookie = login_piccolo(base)
        gen_url = f"{base}/api/place?screen=threshold_admin&street=changsha&page=1&page_size=20"
        raw_url = f"{raw_base}/raw/place?street=changsha&page=1&page_size=20"
        pic_url = f"{base}/admin/api/tables/place/?street=changsha&street__match=exact&supervisor={org_id}&__page=1&__page_size=20"
        same_answer(gen_url, gen_cookie, raw_url)
        check(pic_url, pic_cookie, "rows")
        results = []
        targets = (("generated", gen_url, gen_cookie), ("raw-sql", raw_url, gen_cookie), ("piccolo-admin", pic_url, pic_cookie))
        for target, url, cookie in targets:
            res = run_wrk(url, cookie, args.connections, args.duration)
            res["p50_1"] = run_wrk(url, cookie, 1, max(3, args.duration // 3))["p50"]  # latency alone
            res.update(backend=backend, target=target)
            results.append(res)
            time.sleep(1)
        return results
    finally:
        for server in (proc, raw):
            stop(server)
        if backend == "postgres" and not args.keep:
            try:
                asyncio.run(pg_recreate_drop(args.pg_url, args.pg_db))
            except Exception as exc:  # noqa: BLE001
                log(f"could not drop {args.pg_db}: {exc}")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if err.strip():
        log(f"server stderr (tail):\n{err[-2000:]}")


def same_answer(gen_url: str, cookie: str, raw_url: str) -> None:
    """The baseline must answer exactly what the generated API answers (items, total, paging)."""
    gen = httpx.get(gen_url, headers={"Cookie": cookie}, timeout=30)
    raw = httpx.get(raw_url, timeout=30)
    if gen.status_code != 200 or raw.status_code != 200:
        raise SystemExit(f"sanity: generated {gen.status_code}, raw {raw.status_code}: {gen.text[:200]} {raw.text[:200]}")
    if gen.json() != raw.json():
        raise SystemExit(f"the raw endpoint's answer differs from the generated one:\n{gen.json()}\n{raw.json()}")
    log(f"sanity: generated and raw-sql answers equal ({len(gen.json()['items'])} items, total {gen.json()['total']})")


async def pg_recreate_drop(base_url: str, name: str) -> None:
    import asyncpg

    con = await asyncpg.connect(base_url.rsplit("/", 1)[0] + "/postgres")
    try:
        await con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await con.close()


def db_name(text: str) -> str:
    """A plain identifier only: the name goes into DROP/CREATE DATABASE."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", text):
        raise argparse.ArgumentTypeError("database name: lower-case letters, digits and _ only")
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--places", type=int, default=100_000)
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL",
                                                      "postgresql://specadmin:specadmin@127.0.0.1:5432/postgres"))
    p.add_argument("--pg-db", default=PG_DB, type=db_name, help="database the PostgreSQL run drops, re-creates and fills")
    p.add_argument("--keep", action="store_true", help="keep the /tmp app copies and the PostgreSQL database")
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found (apt-get install -y wrk)")

    started = time.monotonic()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = Path(tempfile.mkdtemp(prefix="specadmin-bench-api-"))
    results: list[dict] = []
    try:
        for backend in backends:
            results += bench_backend(backend, args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nplaces={args.places} (+demo), connections={args.connections}, duration={args.duration}s, "
          f"server workers=2, cpus={os.cpu_count()} (wrk shares the CPUs with the server)")
    print(f"{'backend':<9} {'target':<14} {'req/s':>9} {'p50':>9} {'p99':>9} {'errors':>7} {'requests':>9} {'p50 at 1':>9}")
    ok = True
    for r in results:
        print(f"{r['backend']:<9} {r['target']:<14} {r['rps']:>9.1f} {r['p50'] * 1000:>7.1f}ms "
              f"{r['p99'] * 1000:>7.1f}ms {r['errors']:>7} {r['requests']:>9} {r['p50_1'] * 1000:>7.2f}ms")
    print()
    for backend in backends:
        gen, raw, pic = (next(r for r in results if r["backend"] == backend and r["target"] == t)
                         for t in ("generated", "raw-sql", "piccolo-admin"))
        ratio = gen["rps"] / pic["rps"] if pic["rps"] else float("inf")
        raw_ratio = gen["rps"] / raw["rps"] if raw["rps"] else float("inf")
        misses = []
        if gen["errors"]:
            misses.append(f"{gen['errors']} errors")
        if not gen["p99"] <= TARGET_P99_S:
            misses.append(f"p99 {gen['p99'] * 1000:.0f}ms > {TARGET_P99_S * 1000:.0f}ms")
        if ratio < TARGET_RATIO:
            misses.append(f"vs piccolo-admin {ratio:.2f}x < {TARGET_RATIO:.0f}x")
        if raw_ratio < TARGET_RAW_RATIO:
            misses.append(f"vs raw-sql {raw_ratio:.2f}x < {TARGET_RAW_RATIO}x")
        ok &= not misses
        print(f"{backend:<9} generated/raw-sql = {raw_ratio:.2f}x, generated/piccolo-admin = {ratio:.2f}x   "
              + ("targets met" if not misses else "MISSED: " + "; ".join(misses)))
    print(f"total wall time {time.monotonic() - started:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
