"""Working-time arithmetic: add working days or working hours to a moment, given a calendar.

Pure (no database): a `WorkCalendar` is the holidays and adjusted working days (调休上班) of the
app's 工作日历 table plus the working hours of a day. Saturdays and Sundays are days off unless
adjusted to working days; holidays are days off even on a weekday.

- `add_working_days(start, n)`: the end of the working day that is the n-th working day after the
  start's day (an event reported on Friday with 1 working day is due at Monday's close).
- `add_working_hours(start, h)`: the moment when h hours of working time have passed since start,
  counting only the working periods of working days.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEFAULT_HOURS = ("09:00-12:00", "13:30-17:30")
UNITS = ("working_days", "working_hours", "days", "hours")
MAX_AMOUNT = 3650  # far beyond any deadline; keeps a bad row from walking forever
MAX_SCAN = 3660 * 3  # days a walk may look ahead before declaring the calendar has no working day


class CalendarError(ValueError):
    pass


def parse_periods(texts) -> tuple[tuple[dt.time, dt.time], ...]:
    """`["09:00-12:00", "13:30-17:30"]` → ordered, non-overlapping periods; ValueError (Chinese) when not."""
    periods = []
    for text in texts:
        try:
            start, end = (dt.time.fromisoformat(part.strip()) for part in str(text).split("-"))
        except ValueError:
            raise CalendarError(f"工作时段 {text} 的格式应为 HH:MM-HH:MM") from None
        if end <= start or (periods and start < periods[-1][1]):
            raise CalendarError(f"工作时段 {text} 应晚于前一时段且结束晚于开始")
        periods.append((start, end))
    if not periods:
        raise CalendarError("至少需要一个工作时段")
    return tuple(periods)


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset = frozenset()  # days off that would be working days
    workdays: frozenset = frozenset()  # weekend days worked (调休上班)
    periods: tuple = parse_periods(DEFAULT_HOURS)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def _next_working_day(self, day: dt.date) -> dt.date:
        for _ in range(MAX_SCAN):
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise CalendarError("工作日历中找不到工作日")

    def add_working_days(self, start: dt.datetime, n: int) -> dt.datetime:
        _check(n)
        if int(n) != n:
            raise CalendarError(f"工作日数 {n} 应为整数")
        day = start.date()
        for _ in range(int(n)):
            day = self._next_working_day(day)
        if n == 0:
            return start
        return dt.datetime.combine(day, self.periods[-1][1])

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        _check(hours)
        left = dt.timedelta(hours=hours)
        day, at = start.date(), start.time().replace(tzinfo=None)
        if not self.is_working_day(day):
            day, at = self._next_working_day(day), dt.time.min
        while True:
            for begin, end in self.periods:
                if at >= end:
                    continue
                begin_at = dt.datetime.combine(day, max(begin, at))
                available = dt.datetime.combine(day, end) - begin_at
                if left <= available:
                    return begin_at + left
                left -= available
            day, at = self._next_working_day(day), dt.time.min

    def _previous_working_day(self, day: dt.date) -> dt.date:
        for _ in range(MAX_SCAN):
            day -= dt.timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise CalendarError("工作日历中找不到工作日")

    def sub_working_days(self, end: dt.datetime, n: int) -> dt.datetime:
        """The same time of day n working days before `end`'s day (a warning n working days ahead)."""
        _check(n)
        day = end.date()
        for _ in range(int(n)):
            day = self._previous_working_day(day)
        return dt.datetime.combine(day, end.time())

    def sub_working_hours(self, end: dt.datetime, hours: float) -> dt.datetime:
        """The moment from which `hours` of working time remain until `end`."""
        _check(hours)
        left = dt.timedelta(hours=hours)
        day, at = end.date(), end.time().replace(tzinfo=None)
        if not self.is_working_day(day):
            day, at = self._previous_working_day(day), dt.time.max
        while True:
            for begin, finish in reversed(self.periods):
                if at <= begin:
                    continue
                end_at = dt.datetime.combine(day, min(finish, at))
                available = end_at - dt.datetime.combine(day, begin)
                if left <= available:
                    return end_at - left
                left -= available
            day, at = self._previous_working_day(day), dt.time.max

    def add(self, start: dt.datetime, unit: str, amount: float) -> dt.datetime:
        """`start` plus `amount` of `unit` (one of UNITS); plain days and hours ignore the calendar."""
        if unit == "working_days":
            return self.add_working_days(start, amount)
        if unit == "working_hours":
            return self.add_working_hours(start, amount)
        _check(amount)
        return start + dt.timedelta(**{unit: amount})


def _check(amount) -> None:
    if amount < 0 or amount > MAX_AMOUNT:
        raise CalendarError(f"时限 {amount} 应在 0 到 {MAX_AMOUNT} 之间")
