"""The hand-written baseline of bench/api.py: one Litestar endpoint answering the same JSON as
`GET /api/place?screen=threshold_admin&street=S&page=P&page_size=N` for one supervising unit,
written the way a careful person would without specadmin: one constant SQL statement per
database (the page with its total as a scalar subquery, the unit's name and head joined), the
driver's own connection (asyncpg pool, or one sqlite3 connection per worker used from a thread),
dictionary labels and the SM4 cipher loaded once at start-up, rows turned into dicts by hand.

It is an upper bound, not a rival product: it serves one screen's query with the scope fixed
in advance (env BENCH_RAW_SUPERVISOR), so it checks no session, grant or CSRF token and builds no
query. Run by bench/api.py under uvicorn with the same worker count as `specadmin serve`:

    BENCH_RAW_APP=/tmp/app BENCH_RAW_SUPERVISOR=3 [DATABASE_URL=postgresql://...] \\
        uvicorn raw_list:app --app-dir bench --workers 2
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from litestar.exceptions import HTTPException

from specadmin.runtime.app.context import AppContext
from specadmin.runtime.crypto.masking import mask

PAGE_SQL = {  # the same scope (supervisor), filter (street), order (place_code, id) and paging
    "postgres": (
        "SELECT p.id, p.version, p.place_code, p.name, p.category, p.city, p.street, p.manager, p.location, "
        "p.supervisor, o.name AS supervisor_label, o.head_name AS supervisor_head, p.min_daily, p.max_daily, "
        "(SELECT count(*) FROM place WHERE supervisor = $1 AND street = $2) AS total "
        "FROM place p LEFT JOIN sys_org o ON o.id = p.supervisor "
        "WHERE p.supervisor = $1 AND p.street = $2 ORDER BY p.place_code, p.id LIMIT $3 OFFSET $4"),
    "sqlite": (
        "SELECT p.id, p.version, p.place_code, p.name, p.category, p.city, p.street, p.manager, p.location, "
        "p.supervisor, o.name AS supervisor_label, o.head_name AS supervisor_head, p.min_daily, p.max_daily, "
        "(SELECT count(*) FROM place WHERE supervisor = ?1 AND street = ?2) AS total "
        "FROM place p LEFT JOIN sys_org o ON o.id = p.supervisor "
        "WHERE p.supervisor = ?1 AND p.street = ?2 ORDER BY p.place_code, p.id LIMIT ?3 OFFSET ?4"),
}
COLUMNS = ("id", "version", "place_code", "name", "category", "city", "street", "manager", "location",
           "supervisor", "supervisor_label", "supervisor_head", "min_daily", "max_daily", "total")


class Source:
    """What the endpoint keeps for the worker's life: the connection, labels and the cipher."""

    def __init__(self) -> None:
        ctx = AppContext.open(Path(os.environ["BENCH_RAW_APP"]))
        items = {d.name: dict(d.items) for d in ctx.app.dictionaries}  # the spec's dictionaries
        self.labels = {f: items[ctx.app.entity("place").field(f).dict] for f in ("category", "street")}
        self.sensitive = ctx.sensitive
        self.supervisor = int(os.environ["BENCH_RAW_SUPERVISOR"])
        self.url = os.environ.get("DATABASE_URL") or ""
        self.sqlite_path = str(Path(os.environ["BENCH_RAW_APP"]) / "var" / "app.sqlite3")
        self.pool = None
        self.conn: sqlite3.Connection | None = None
        self.lock = asyncio.Lock()

    async def start(self) -> None:
        if self.url:
            import asyncpg

            self.pool = await asyncpg.create_pool(self.url, min_size=4, max_size=20)
        else:
            self.conn = sqlite3.connect(self.sqlite_path, check_same_thread=False)

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self.conn is not None:
            self.conn.close()

    async def page(self, street: str, page: int, size: int) -> list[tuple]:
        args = (self.supervisor, street, size, (page - 1) * size)
        if self.pool is not None:
            async with self.pool.acquire() as con:
                return [tuple(r) for r in await con.fetch(PAGE_SQL["postgres"], *args)]
        async with self.lock:  # one connection per worker, used from a thread: the loop never blocks on it
            return await asyncio.to_thread(lambda: self.conn.execute(PAGE_SQL["sqlite"], args).fetchall())

    def item(self, row: tuple) -> dict[str, Any]:
        r = dict(zip(COLUMNS, row))
        del r["total"]
        clear = self.sensitive.decode(r["location"])
        return {"id": r["id"], "version": r["version"], "place_code": r["place_code"], "name": r["name"],
                "category": r["category"], "category_label": self.labels["category"].get(r["category"]),
                "city": r["city"], "street": r["street"], "street_label": self.labels["street"].get(r["street"]),
                "manager": r["manager"], "location": mask(clear, "address"), "supervisor": r["supervisor"],
                "supervisor_label": r["supervisor_label"], "supervisor_head": r["supervisor_head"],
                "min_daily": r["min_daily"], "max_daily": r["max_daily"]}


SOURCE = Source()


@get("/raw/place")
async def raw_place(street: str, page: int = 1, page_size: int = 20) -> dict[str, Any]:
    if not 1 <= page_size <= 500 or page < 1:
        raise HTTPException(status_code=400, detail="bad paging")
    rows = await SOURCE.page(street, page, page_size)
    total = rows[0][-1] if rows else 0
    return {"items": [SOURCE.item(r) for r in rows], "total": total, "page": page, "page_size": page_size}


app = Litestar([raw_place], on_startup=[SOURCE.start], on_shutdown=[SOURCE.stop], debug=False)
