"""Cron expressions, parsed by celery.schedules.crontab so the embedded scheduler and Celery beat
agree on every schedule. Times are the server's local wall clock (Kaiping runs on 北京时间)."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

from celery.schedules import crontab


@lru_cache(maxsize=256)
def parse(expr: str) -> crontab:
    minute, hour, dom, month, dow = expr.split()
    return crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)


def matches(expr: str, when: dt.datetime) -> bool:
    """True when the minute `when` is one the expression fires on (celery: 0 = Sunday)."""
    c = parse(expr)
    return (when.minute in c.minute and when.hour in c.hour and when.day in c.day_of_month
            and when.month in c.month_of_year and when.isoweekday() % 7 in c.day_of_week)


def slot(job: str, when: dt.datetime) -> str:
    """The identity of one scheduled firing; unique in job_run so it runs once across processes."""
    return f"{job}@{when.strftime('%Y-%m-%dT%H:%M')}"
