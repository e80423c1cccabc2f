"""`specadmin calendar DIR --year 2027`: load a year's holidays and adjusted working days from the
chinesecalendar package into the app's 工作日历 (idempotent; days already there are kept as edited),
and the job handler `calendar.load_year` doing the same for the year of the run and the next."""
from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from specadmin.runtime.calendar.days import load_known_years, load_year
from specadmin.runtime.plugin import Command


def _arguments(p) -> None:
    p.add_argument("dir")
    p.add_argument("--year", type=int, action="append", help="year to load (repeatable); default this year")


def _run(args) -> int:
    years = args.year or [dt.date.today().year]

    async def go(ctx):
        return [(year, await load_year(ctx, year)) for year in years]

    try:
        done = asyncio.run(args.with_app(Path(args.dir), go))
    except ValueError as exc:
        print(exc)
        return 1
    for year, added in done:
        print(f"{year}: 新增 {added} 天")
    return 0


CALENDAR = Command("calendar", "load a year's holidays and adjusted working days into 工作日历", _arguments, _run)


async def load_year_job(call) -> dict:
    """Job handler: the years of the run's last day and the next one, as far as the package knows them."""
    return {"created": await load_known_years(call.ctx, (call.last.year, call.last.year + 1))}
