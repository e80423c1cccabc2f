"""Working-time arithmetic (runtime/calendar/worktime.py), without a database: N working days or
hours from a moment skip a weekend, a configured holiday, and count an adjusted working Saturday."""
from __future__ import annotations

import datetime as dt

import pytest

from specadmin.runtime.calendar.worktime import CalendarError, WorkCalendar, parse_periods

T = dt.datetime
D = dt.date
# 2026-10-01..07 National Day (Thu..Wed) off; Saturday 2026-10-10 worked (调休上班).
CAL = WorkCalendar(holidays=frozenset(D(2026, 10, d) for d in (1, 2, 5, 6, 7)),
                   workdays=frozenset({D(2026, 10, 10)}))


def test_working_days_skip_a_weekend():
    # Friday 2026-12-04 10:00 + 1 working day → Monday's close.
    assert CAL.add_working_days(T(2026, 12, 4, 10), 1) == T(2026, 12, 7, 17, 30)
    assert CAL.add_working_days(T(2026, 12, 3, 10), 2) == T(2026, 12, 7, 17, 30)


def test_working_days_skip_a_configured_holiday():
    # Wednesday 2026-09-30 + 1 working day: Oct 1-7 are off (Oct 3-4 a weekend) → Thursday Oct 8.
    assert CAL.add_working_days(T(2026, 9, 30, 15), 1) == T(2026, 10, 8, 17, 30)


def test_working_days_count_an_adjusted_working_saturday():
    # Thursday Oct 8 + 2 working days: Friday 9, Saturday 10 (worked) → Saturday's close.
    assert CAL.add_working_days(T(2026, 10, 8, 9), 2) == T(2026, 10, 10, 17, 30)
    plain = WorkCalendar()
    assert plain.add_working_days(T(2026, 10, 8, 9), 2) == T(2026, 10, 12, 17, 30)


def test_working_hours_run_through_periods_and_days():
    # Friday 16:30 + 4 working hours: 1 h on Friday, 3 h on Monday morning → 12:00.
    assert CAL.add_working_hours(T(2026, 12, 4, 16, 30), 4) == T(2026, 12, 7, 12, 0)
    # Lunch break is not counted: 11:00 + 2 h → 14:30.
    assert CAL.add_working_hours(T(2026, 12, 7, 11, 0), 2) == T(2026, 12, 7, 14, 30)
    # Started before opening, on a holiday, on an adjusted Saturday.
    assert CAL.add_working_hours(T(2026, 12, 7, 7, 0), 1) == T(2026, 12, 7, 10, 0)
    assert CAL.add_working_hours(T(2026, 10, 2, 10, 0), 1) == T(2026, 10, 8, 10, 0)
    assert CAL.add_working_hours(T(2026, 10, 10, 17, 0), 1) == T(2026, 10, 12, 9, 30)


def test_plain_days_and_hours_ignore_the_calendar():
    assert CAL.add(T(2026, 10, 1, 8), "days", 2) == T(2026, 10, 3, 8)
    assert CAL.add(T(2026, 10, 1, 8), "hours", 30) == T(2026, 10, 2, 14)


def test_configured_working_hours():
    cal = WorkCalendar(periods=parse_periods(["08:00-12:00", "14:00-18:00"]))
    assert cal.add_working_days(T(2026, 12, 4, 10), 1) == T(2026, 12, 7, 18, 0)
    assert cal.add_working_hours(T(2026, 12, 4, 11, 0), 2) == T(2026, 12, 4, 15, 0)


@pytest.mark.parametrize("bad", [["9-12"], ["12:00-09:00"], ["09:00-12:00", "11:00-13:00"], []])
def test_bad_working_hours_are_refused_in_chinese(bad):
    with pytest.raises(CalendarError, match="工作时段"):
        parse_periods(bad)


def test_out_of_range_amounts_are_refused():
    with pytest.raises(CalendarError, match="时限"):
        CAL.add_working_days(T(2026, 12, 4), -1)
    with pytest.raises(CalendarError, match="整数"):
        CAL.add_working_days(T(2026, 12, 4), 1.5)


def test_working_time_back_from_a_deadline():
    # 4 working hours before Monday 12:00 → Friday 16:30 (weekend and lunch skipped).
    assert CAL.sub_working_hours(T(2026, 12, 7, 12, 0), 4) == T(2026, 12, 4, 16, 30)
    # Before Thursday Oct 8 17:30 by 1 working day: back over the National Day holiday → Sep 30.
    assert CAL.sub_working_days(T(2026, 10, 8, 17, 30), 1) == T(2026, 9, 30, 17, 30)
    assert CAL.sub_working_days(T(2026, 10, 12, 17, 30), 1) == T(2026, 10, 10, 17, 30)


def test_the_yellow_moment_of_each_kind_of_warning():
    from specadmin.runtime.calendar.deadlines import warn_at

    start, due = T(2026, 12, 4, 10, 0), T(2026, 12, 7, 17, 30)
    assert warn_at(CAL, start, due, {"working_hours": 4}) == T(2026, 12, 7, 13, 30)
    assert warn_at(CAL, start, due, {"working_days": 1}) == T(2026, 12, 4, 17, 30)  # back over the weekend
    assert warn_at(CAL, start, due, {"hours": 24}) == T(2026, 12, 6, 17, 30)
    assert warn_at(CAL, start, due, {"days": 1}) == T(2026, 12, 6, 17, 30)
    assert warn_at(CAL, start, due, {"ratio": 0.25}) == due - (due - start) / 4


def test_float_amounts_from_number_fields():
    assert CAL.add(T(2026, 12, 4, 10, 0), "working_days", 1.0) == T(2026, 12, 7, 17, 30)
    assert CAL.add(T(2026, 12, 7, 11, 0), "working_hours", 2.5) == T(2026, 12, 7, 15, 0)
