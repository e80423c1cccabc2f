"""Declarative rules (spec key `rules:`): evaluate one rule for the windows ending in a date range.

`evaluate(ctx, rule, first, last)` returns a summary dict with at least `created`. Every kind is
idempotent, so the job runner can re-run a day or backfill a range without duplicates.
"""
from __future__ import annotations

import datetime as dt
import importlib
from typing import TYPE_CHECKING, Any

from specadmin.runtime.rules import consecutive, missing, threshold

if TYPE_CHECKING:
    from specadmin.specs.model import Rule

    from specadmin.runtime.app.context import AppContext

KINDS = {"consecutive_days": consecutive.evaluate, "missing_reference": missing.evaluate,
         "threshold": threshold.evaluate}


async def evaluate(ctx: "AppContext", rule: "Rule", first: dt.date, last: dt.date) -> dict[str, Any]:
    if first > last:
        raise ValueError("开始日期不能晚于结束日期")
    if rule.kind == "custom":
        module_name, _, attr = rule.function.rpartition(".")
        fn = getattr(importlib.import_module(module_name), attr)
        result = dict(await fn(ctx, rule, first, last) or {})
        result.setdefault("created", 0)
        return result
    return await KINDS[rule.kind](ctx, rule, first, last)
