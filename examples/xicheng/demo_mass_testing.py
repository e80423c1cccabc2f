"""Demo data for 大规模核酸: three plans, should-test and actually-tested counts for all 15
streets, and a few street corrections (the reported count stays as it came).

Loaded by demo.py (`load(ctx, rng, orgs)`); idempotent: nothing is added when plans exist.
"""
from __future__ import annotations

import datetime as dt

PLANS = [("DG20261101", "第一轮全员核酸检测"), ("DG20261108", "第二轮全员核酸检测"), ("DG20261115", "重点人群核酸检测")]


async def load(ctx, rng, orgs) -> str:
    plan, should, actual = ctx.table("mass_test_plan"), ctx.table("mass_test_should"), ctx.table("mass_test_actual")
    if await plan.count():
        return ""
    streets = sorted(v for k, v in orgs.items() if k.startswith("XC-S"))
    editor = ctx.table("user")
    found = await editor.select(editor.id).where(editor.username == "street1")
    editor_id = found[0]["id"] if found else None
    start = dt.datetime.combine(dt.date.today() - dt.timedelta(days=20), dt.time(6, 0))
    shoulds, actuals = [], []
    for n, (no, name) in enumerate(PLANS):
        begin = start + dt.timedelta(days=7 * n)
        await plan.insert(plan(plan_no=no, plan_name=name, start_time=begin, end_time=begin + dt.timedelta(hours=14)))
        for i, street in enumerate(streets):
            planned = rng.randint(8000, 30000)
            shoulds.append(should(plan=no, street=street, planned_count=planned))
            reported = planned - rng.randint(0, planned // 10)
            edited = None
            if i in (0, 1, 5) and n < 2:  # a few streets corrected their count (street1's own street among them)
                edited = reported + rng.randint(1, 300)
            actuals.append(actual(plan=no, street=street, actual_count=reported, street_edited_count=edited,
                                  edited_by=editor_id if edited is not None and i == 0 else None,
                                  edited_at=begin + dt.timedelta(days=1) if edited is not None else None))
    await should.insert(*shoulds)
    await actual.insert(*actuals)
    return f"大规模核酸: {len(PLANS)} 个计划, 应检 {len(shoulds)} 行, 实检 {len(actuals)} 行"
