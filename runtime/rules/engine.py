"""Evaluate one declarative rule (spec key `rules:`) for the windows ending in a date range, by kind or custom function."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.runtime.plugin import RuleCall
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
        handler = ctx.plugins.handler(rule.function)  # `function: plugin.handler`
        result = dict(await handler(RuleCall(ctx, rule, first, last)) or {})
        result.setdefault("created", 0)
        return result
    return await KINDS[rule.kind](ctx, rule, first, last)
