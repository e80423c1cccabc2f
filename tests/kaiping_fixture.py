"""A small, fully known Kaiping data set: two supervising units, places, scans and alerts."""
from __future__ import annotations

import datetime as dt

PASSWORD = "Kaiping@2026"


async def build(ctx) -> dict:
    """Create orgs, users, places, scans and alerts; return their ids for the tests."""
    from specadmin.runtime.identity.users import ensure_user

    org = ctx.table("org")
    ids: dict = {}

    async def add_org(code, name, level, parent, phone=None):
        extra = ctx.sensitive.encode(ctx.app.entity("org"), {"head_phone": phone}) if phone else {}
        r = await org.insert(org(code=code, name=name, level=level, parent=parent, org_type="department",
                                 head_name=f"{name}负责人", active=True, **extra)).returning(org.id)
        new_id = r[0]["id"]
        parent_path = (await org.select(org.path).where(org.id == parent))[0]["path"] if parent else "/"
        await org.update({org.path: f"{parent_path}{new_id}/"}).where(org.id == new_id)
        ids[code] = new_id
        return new_id

    city = await add_org("KP", "开平市", "city", None)
    await add_org("OPS", "开平市政务服务数据管理局", "city", city)
    await add_org("U1", "开平市教育局", "city", city, "13900000001")
    await add_org("U2", "开平市卫生健康局", "city", city, "13900000002")
    await ctx.refresh_caches()
    from specadmin.runtime.identity.seed import sync_roles

    await sync_roles(ctx)
    ids["user_ops"] = await ensure_user(ctx, "ops", PASSWORD, name="运维", org_code="OPS", roles=("ops",))
    ids["user_unit1"] = await ensure_user(ctx, "unit1", PASSWORD, name="监管一", org_code="U1", roles=("supervisor",))
    ids["user_unit2"] = await ensure_user(ctx, "unit2", PASSWORD, name="监管二", org_code="U2", roles=("supervisor",))
    ids["user_nobody"] = await ensure_user(ctx, "nobody", PASSWORD, name="无权限", org_code="U1")

    place = ctx.table("place")
    entity = ctx.app.entity("place")

    async def add_place(code, name, supervisor, low=None, high=None):
        values = ctx.sensitive.encode(entity, {"location": f"开平市{name}路1号"})
        r = await place.insert(place(place_code=code, name=name, category="catering", city="开平市",
                                     street="changsha", manager="张三", supervisor=supervisor,
                                     min_daily=low, max_daily=high, **values)).returning(place.id)
        ids[code] = r[0]["id"]

    await add_place("P1", "一号酒家", ids["U1"], 5, 50)
    await add_place("P2", "二号超市", ids["U2"], 5, 50)
    await add_place("P3", "三号茶楼", None)

    scan = ctx.table("scan_record")
    scan_entity = ctx.app.entity("scan_record")
    day = dt.datetime(2026, 11, 1, 9, 0)
    rows = []
    for code, count in (("P1", 3), ("P2", 4), ("P9", 2)):  # P9 has no place row: its unit shows as 空
        for i in range(count):
            rows.append(scan(**ctx.sensitive.encode(scan_entity, {
                "place_code": code, "place_name": f"{code}名称", "subject_id_number": "440783199001011234",
                "phone": "13812345678", "subject_name": "李四", "scanned_at": day + dt.timedelta(days=i % 2),
                "imported_at": day})))
    await scan.insert(*rows)

    alert = ctx.table("scan_alert")
    for code in ("P1", "P2"):
        r = await alert.insert(alert(place=ids[code], period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 10, 7),
                                     period_label="2026-10-01至2026-10-07", reason="below",
                                     status="unreceived")).returning(alert.id)
        ids[f"alert_{code}"] = r[0]["id"]
    return ids
