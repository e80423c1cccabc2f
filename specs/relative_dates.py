"""Relative dates in where clauses: `$today`, `$today-1`, `$now-24h`, `$month_start`, ...

A token names a day or a moment relative to when the clause is used (each request, each
notification run), never to when the spec was loaded. Day anchors `$today`, `$week_start`
(Monday), `$month_start` and `$year_start` take an offset in days (`$today-1`, `$today+3`,
`$month_start-1`; a trailing `d` is allowed); `$now` is a moment and its offset needs a unit:
`d`, `h` or `m` (`$now-24h`, `$now-30m`, `$now+7d`). Shared by `specadmin check` (SA083) and
the runtime (runtime/data/where.py), so both read a token the same way.
"""
from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass

DAY_ANCHORS = ("today", "week_start", "month_start", "year_start")
ANCHORS = DAY_ANCHORS + ("now",)
MAX_OFFSET = 99999
UNITS = {"d": "days", "h": "hours", "m": "minutes"}
EXPECTED = "$today, $week_start, $month_start, $year_start (each ±N days) or $now±N with d, h or m"
_TOKEN = re.compile(r"\$([a-z_]+)(?:([+-])(.*))?", re.S)
_OFFSET = re.compile(r"(\d+)([a-z]?)")
SPELLED = {"tomorrow": "$today+1", "yesterday": "$today-1"}  # what to write instead


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Relative:
    anchor: str
    offset: dt.timedelta

    @property
    def is_day(self) -> bool:
        return self.anchor != "now"

    def resolve(self, now: dt.datetime) -> dt.date | dt.datetime:
        """A date for a day anchor, a datetime for `$now`, as seen at `now`."""
        if not self.is_day:
            return now + self.offset
        today = now.date()
        start = {"today": today, "week_start": today - dt.timedelta(days=today.weekday()),
                 "month_start": today.replace(day=1), "year_start": today.replace(month=1, day=1)}[self.anchor]
        return start + self.offset


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith("$")


def parse(text: str) -> Relative:
    """The token `text`, or TokenError saying what is wrong with it."""
    m = _TOKEN.fullmatch(text)
    anchor = m[1] if m else text[1:].split("+")[0].split("-")[0]
    if not m or anchor not in ANCHORS:
        hint = difflib.get_close_matches(anchor, ANCHORS + tuple(SPELLED), n=1)
        also = f" (did you mean '{SPELLED.get(hint[0], '$' + hint[0])}'?)" if hint else ""
        raise TokenError(f"unknown relative date '{text}'{also}; expected {EXPECTED}")
    if m[2] is None:
        return Relative(anchor, dt.timedelta())
    offset = _OFFSET.fullmatch(m[3])
    day = anchor in DAY_ANCHORS
    if not offset or (day and offset[2] not in ("", "d")) or (not day and offset[2] not in UNITS):
        example = f"${anchor}{m[2]}1" if day else f"${anchor}{m[2]}24h"
        unit = "a whole number of days" if day else "a whole number with its unit d, h or m"
        raise TokenError(f"relative date '{text}': the offset must be {unit}, e.g. {example}")
    amount = int(offset[1])
    if amount > MAX_OFFSET:
        raise TokenError(f"relative date '{text}': the offset is larger than {MAX_OFFSET}")
    delta = dt.timedelta(**{UNITS[offset[2] or "d"]: amount})
    return Relative(anchor, delta if m[2] == "+" else -delta)
