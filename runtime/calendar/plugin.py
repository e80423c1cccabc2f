"""Built-in plugin `calendar`: the 工作日历 (calendar.yaml: holidays and adjusted working days,
editable and importable), `specadmin calendar` and the job `calendar.load_year` that fill it from
the chinesecalendar package, and deadline fields stored on every write (runtime/calendar/deadlines.py);
the job `calendar.fill_deadlines` computes those that rows written in bulk (imports) lack."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.calendar.commands import CALENDAR, load_year_job
from specadmin.runtime.calendar.days import APP_KEY, working_hours
from specadmin.runtime.calendar.worktime import CalendarError
from specadmin.runtime.calendar.deadlines import fill_deadlines_job, restamp_for_param, stamp_deadlines
from specadmin.runtime.plugin import Check, EntityHooks, Plugin

APP_SCHEMA = {"type": "object", "additionalProperties": False,
              "description": "working-day calendar settings",
              "properties": {"working_hours": {
                  "type": "array", "minItems": 1, "maxItems": 6,
                  "items": {"type": "string", "pattern": "^\\d{2}:\\d{2}-\\d{2}:\\d{2}$"},
                  "description": "working periods of a day, default [09:00-12:00, 13:30-17:30]"}}}



def check_working_hours(spec):
    """SA169: app.yaml `calendar: {working_hours}` periods in order, each ending after it starts."""
    try:
        working_hours(spec.app)
    except CalendarError as exc:
        yield spec.error(None, (APP_KEY, "working_hours"), f"calendar working_hours: {exc}")


plugin = Plugin(name="calendar", label="工作日历", builtin=True, order=55,
                modules=(Path(__file__).with_name("calendar.yaml"),), app_keys={APP_KEY: APP_SCHEMA},
                hooks={"*": EntityHooks(before_create=stamp_deadlines, before_update=stamp_deadlines,
                                        after_create=restamp_for_param, after_update=restamp_for_param,
                                        after_delete=restamp_for_param)},
                checks=(Check("SA169", check_working_hours, "工作时段"),),
                handlers={"load_year": load_year_job, "fill_deadlines": fill_deadlines_job}, commands=(CALENDAR,))
