"""The app's working-day calendar read from its 工作日历 table, and a year loaded into it from the
`chinesecalendar` package (idempotent: a day already in the table is left as it is, so edits win)."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from specadmin.runtime.calendar.worktime import DEFAULT_HOURS, WorkCalendar, parse_periods

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

ENTITY = "calendar_day"
APP_KEY = "calendar"  # app.yaml `calendar: {working_hours: ["09:00-12:00", "13:30-17:30"]}`


def working_hours(app) -> tuple:
    """The working periods of a day from app.yaml `calendar: {working_hours: [...]}` (checked by SA169)."""
    settings = app.section(APP_KEY).get("app.yaml") or {}
    return parse_periods(settings.get("working_hours") or DEFAULT_HOURS)


async def calendar_of(ctx: "AppContext") -> WorkCalendar:
    """The calendar as the table holds it now (a few dozen rows a year: read on each use)."""
    table = ctx.table(ENTITY)
    rows = await table.select(table.day, table.kind)
    return WorkCalendar(holidays=frozenset(r["day"] for r in rows if r["kind"] == "holiday"),
                        workdays=frozenset(r["day"] for r in rows if r["kind"] == "workday"),
                        periods=working_hours(ctx.app))


def year_days(year: int) -> list[dict]:
    """Weekday holidays and worked weekend days of `year` by chinesecalendar (ValueError beyond its years)."""
    import chinese_calendar

    try:
        chinese_calendar.get_holiday_detail(dt.date(year, 1, 1))
    except NotImplementedError as exc:
        raise ValueError(f"chinesecalendar 没有 {year} 年的节假日数据（{exc}）") from None
    out = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        holiday, name = chinese_calendar.get_holiday_detail(day)
        if day.weekday() < 5 and holiday:
            out.append({"day": day, "kind": "holiday", "name": _label(name) or "节假日"})
        elif day.weekday() >= 5 and not holiday:
            out.append({"day": day, "kind": "workday", "name": f"{_label(name) or ''}调休上班"})
        day += dt.timedelta(days=1)
    return out


NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
         "Dragon Boat Festival": "端午节", "National Day": "国庆节", "Mid-autumn Festival": "中秋节",
         "Anti-Fascist 70th Day": "抗战胜利纪念日"}


def _label(name) -> str | None:
    if name is None:
        return None
    text = getattr(name, "value", name)
    return NAMES.get(text, text)


async def load_year(ctx: "AppContext", year: int) -> int:
    """Add the year's days the table does not hold yet; returns how many were added."""
    table = ctx.table(ENTITY)
    days = year_days(year)
    async with ctx.engine.transaction():
        held = {r["day"] for r in await table.select(table.day).where(
            (table.day >= dt.date(year, 1, 1)) & (table.day <= dt.date(year, 12, 31)))}
        new = [table(**d) for d in days if d["day"] not in held]
        if new:
            await table.insert(*new)
    return len(new)


async def load_known_years(ctx: "AppContext", years) -> int:
    """load_year for each of `years` the package has data for (a demo's this year and next)."""
    added = 0
    for year in years:
        try:
            added += await load_year(ctx, year)
        except ValueError:
            continue
    return added
