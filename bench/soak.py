"""Soak: 200 connections for 10 minutes against Kaiping while an import, an export and the jobs run.

    .venv/bin/python bench/soak.py                           # PostgreSQL, 10,000 extra places, 600 s
    .venv/bin/python bench/soak.py --backend sqlite --duration 60

A copy of examples/kaiping is migrated, given the demo data and ~N more places (bench/api.py's
loaders), and served with two workers and the embedded job runner (`specadmin serve`). Then, at
the same time:

* wrk: 200 connections on the scoped list API as `unit1` for the whole run;
* an import: ops uploads a CSV of scan records (`--scans` rows) through the API and polls it;
* an export: ops asks for a background xlsx export of every scan record and polls it;
* the jobs: `specadmin jobs --all` (rules, SMS, feeds) in a separate process, every minute.

It prints requests, errors (non-2xx and socket errors: must be 0), p50/p99, the outcome of the
import, export and job runs, and the server's resident memory (all its processes) sampled every
second: the peak, and the peak of the first and the last minute (bounded: the last is not far
above the first). Exits 1 when there were errors or the import/export failed.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as listbench  # noqa: E402  (bench/api.py: app copy, loaders, wrk, logins)

ROOT = listbench.ROOT
SPECADMIN = listbench.SPECADMIN
log = listbench.log


def scan_csv(path: Path, rows: int, place_codes: list[str]) -> None:
    """Scan records as the provincial export has them (ID numbers valid, phones, times)."""
    rng = random.Random(7)
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 9, 6, 3, 7, 9, 10, 5, 8, 4]
    start = dt.datetime.now() - dt.timedelta(days=2)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["公共场所ID", "姓名", "身份证号码", "联系电话", "采集时间"])
        for i in range(rows):
            area, birth = "440783", dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(20000))
            body = f"{area}{birth:%Y%m%d}{i % 1000:03d}"
            check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
            out.writerow([place_codes[i % len(place_codes)], f"旅客{i}", body + check, f"139{i % 10**8:08d}",
                          (start + dt.timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S")])


def rss_of_group(pgid: int) -> int:
    """Resident bytes of every process in the server's process group."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ProcessLookupError):
            continue
    return total


class RssSampler(threading.Thread):
    def __init__(self, pgid: int):
        super().__init__(daemon=True)
        self.pgid, self.samples, self.stop = pgid, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), rss_of_group(self.pgid)))
            self.stop.wait(1.0)


def ops_client(base: str) -> httpx.Client:
    r = httpx.post(base + "/api/auth/login", json={"username": "ops", "password": listbench.PASSWORD}, timeout=60)
    if r.status_code != 200:
        raise SystemExit(f"login ops: {r.status_code} {r.text[:300]}")
    jar = listbench.login_generated(base, "ops")
    client = httpx.Client(base_url=base, timeout=120, headers={"Cookie": listbench.cookie_header(jar, ["specadmin_session"])})
    r = client.get("/api/auth/me")  # hands out the CSRF cookie
    csrf = r.cookies.get("csrftoken")
    client.headers["Cookie"] += f"; csrftoken={csrf}"
    client.headers["x-csrftoken"] = csrf
    return client


def poll(client: httpx.Client, url: str, deadline: float) -> dict:
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body.get("status") not in ("running", None):
            return body
        time.sleep(2)
    return {"status": "timeout"}


def run_import(base: str, path: Path, deadline: float, out: dict) -> None:
    out.update(status="logging in")
    client = ops_client(base)
    try:
        t0 = time.monotonic()
        out.update(status="uploading")
        with path.open("rb") as fh:
            r = client.post("/api/scan_record/import", params={"screen": "scan_admin", "force": "true"},
                            files={"file": (path.name, fh, "text/csv")})
        if r.status_code != 200:
            out.update(status=f"HTTP {r.status_code}", detail=r.text[:300])
            return
        job = r.json()
        token = job.get("token") or job.get("job")
        result = job if job.get("status") != "running" else poll(client, f"/api/imports/{token}", deadline)
        out.update(result, seconds=round(time.monotonic() - t0, 1))
    finally:
        client.close()


def run_export(base: str, deadline: float, out: dict) -> None:
    out.update(status="logging in")
    client = ops_client(base)
    try:
        t0 = time.monotonic()
        out.update(status="requesting")
        r = client.get("/api/scan_record/export.xlsx", params={"screen": "scan_admin", "background": "1"})
        if r.status_code != 200:
            out.update(status=f"HTTP {r.status_code}", detail=r.text[:300])
            return
        job = r.json()
        token = job.get("token") or job.get("job")
        out.update(poll(client, f"/api/exports/{token}", deadline), seconds=round(time.monotonic() - t0, 1))
    finally:
        client.close()


def recorded(work, out: dict, *args) -> None:
    """Run `work(*args, out)` in a thread; what stopped it (a refused login included) lands in `out`."""
    try:
        work(*args, out)
    except BaseException as exc:  # SystemExit in a thread would vanish without a word
        out.update(status="failed", detail=str(exc)[:300])


def run_jobs(app: Path, env: dict, stop: threading.Event, out: dict) -> None:
    runs = failures = 0
    while not stop.is_set():
        res = subprocess.run([SPECADMIN, "jobs", str(app), "--all"], env=env, capture_output=True, text=True,
                             timeout=600)
        runs += 1
        failures += res.returncode != 0
        if res.returncode != 0:
            out["last_error"] = (res.stderr or res.stdout)[-500:]
        stop.wait(60)
    out.update(runs=runs, failures=failures)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    p.add_argument("--places", type=int, default=10_000)
    p.add_argument("--scans", type=int, default=200_000, help="rows in the imported CSV")
    p.add_argument("--duration", type=int, default=600)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL",
                                                      "postgresql://specadmin:specadmin@127.0.0.1:5432/postgres"))
    p.add_argument("--pg-db", default="specadmin_soak", type=listbench.db_name)
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found (apt-get install -y wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="specadmin-soak-"))
    app = workdir / args.backend
    listbench.copy_app(app)
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if args.backend == "postgres":
        url = args.pg_url.rsplit("/", 1)[0] + "/" + args.pg_db
        asyncio.run(listbench.pg_recreate(url))
        env["DATABASE_URL"] = url
    listbench.run([SPECADMIN, "migrate", str(app)], env)
    listbench.run([SPECADMIN, "demo", str(app)], env)
    if args.backend == "sqlite":
        org_id = listbench.load_sqlite(app / "var" / "app.sqlite3", args.places)
    else:
        org_id = asyncio.run(listbench.load_pg(env["DATABASE_URL"], args.places))
    csv_path = workdir / "scans.csv"
    scan_csv(csv_path, args.scans, [f"B{i:08d}" for i in range(min(args.places, 5000))])
    log(f"{args.backend}: {args.places} extra places (unit1 org {org_id}); import file {csv_path.stat().st_size >> 20} MB")

    port = listbench.free_port()
    base = f"http://127.0.0.1:{port}"
    # The server's stderr goes to a file: a pipe nobody reads fills up and would block the server.
    server_log = Path(tempfile.gettempdir()) / f"specadmin-soak-{args.backend}-server.log"
    with server_log.open("wb") as sink:
        server = subprocess.Popen([SPECADMIN, "serve", str(app), "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", "2"], env=env | {"SPECADMIN_RUN_JOBS": "1"},
                                  stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True)
    sampler = RssSampler(server.pid)
    outcome = {"import": {}, "export": {}, "jobs": {}}
    stop_jobs = threading.Event()
    try:
        listbench.wait_up(base, server)
        cookie = listbench.cookie_header(listbench.login_generated(base, "unit1"), ["specadmin_session"])
        list_url = f"{base}/api/place?screen=threshold_admin&street=changsha&page=1&page_size=20"
        listbench.check(list_url, cookie, "items")
        sampler.start()
        deadline = time.monotonic() + args.duration
        workers = [threading.Thread(target=recorded, args=(run_import, outcome["import"], base, csv_path, deadline)),
                   threading.Thread(target=recorded, args=(run_export, outcome["export"], base, deadline)),
                   threading.Thread(target=run_jobs, args=(app, env, stop_jobs, outcome["jobs"]))]
        for t in workers:
            t.start()
        load = listbench.run_wrk(list_url, cookie, args.connections, args.duration)
        stop_jobs.set()
        for t in workers:
            t.join(timeout=120)
    finally:
        sampler.stop.set()
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
        err = server_log.read_text(errors="replace")
        if err.strip():
            log(f"server stderr ({server_log}), tail:\n{err[-1500:]}")
    samples = sampler.samples
    first = [b for t, b in samples if t - samples[0][0] <= 60] if samples else [0]
    last = [b for t, b in samples if samples[-1][0] - t <= 60] if samples else [0]
    mb = 1 << 20
    print(f"\nsoak on {args.backend}, {args.duration} s, {args.connections} connections, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"  list API: {load['requests']} requests, {load['rps']:.1f} req/s, p50 {load['p50'] * 1000:.0f} ms, "
          f"p99 {load['p99'] * 1000:.0f} ms, errors {load['errors']}")
    if load["errors"]:
        print("  wrk: " + "; ".join(line.strip() for line in load["raw"].splitlines()
                                    if line.strip().startswith(("Non-2xx", "Socket errors"))))
    print(f"  import: {outcome['import']}")
    print(f"  export: {outcome['export']}")
    print(f"  jobs: {outcome['jobs']}")
    print(f"  server RSS: peak {max(b for _, b in samples) / mb:.0f} MB; first minute peak {max(first) / mb:.0f} MB, "
          f"last minute peak {max(last) / mb:.0f} MB")
    ok = load["errors"] == 0 and outcome["import"].get("status") == "done" and outcome["export"].get("status") == "done"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
