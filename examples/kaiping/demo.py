"""Demo data for the Kaiping app: Kaiping's streets, supervising units, ~200 places, 60 days of scans.

Idempotent: users are brought in line on every run; data is loaded once.
Demo-only credentials (printed, and listed in README): ops, unit1, unit2 / Kaiping@2026; admin / Kaiping@2026.
"""
from __future__ import annotations

import datetime as dt
import random

PASSWORD = "Kaiping@2026"
STREETS = ["changsha", "sanbu", "yueshan", "shuikou", "shatang", "cangcheng", "longsheng", "dasha", "magang",
           "tangkou", "chikan", "baihe", "xiangang", "jinji", "chishui"]
STREET_NAMES = ["长沙街道", "三埠街道", "月山镇", "水口镇", "沙塘镇", "苍城镇", "龙胜镇", "大沙镇", "马冈镇",
                "塘口镇", "赤坎镇", "百合镇", "蚬冈镇", "金鸡镇", "赤水镇"]
UNITS = [("KP-JYJ", "开平市教育局", "黄志明"), ("KP-WJJ", "开平市卫生健康局", "李慧敏"),
         ("KP-SCJ", "开平市市场监督管理局", "陈国强"), ("KP-JTJ", "开平市交通运输局", "梁永康"),
         ("KP-WGLJ", "开平市文化广电旅游体育局", "谭少华"), ("KP-MZJ", "开平市民政局", "关家豪"),
         ("KP-ZJJ", "开平市住房和城乡建设局", "司徒文"), ("KP-SWJ", "开平市商务局", "周丽娟"),
         ("KP-GAJ", "开平市公安局", "吴建新"), ("KP-MZZJ", "开平市民族宗教事务局", "胡美玲")]
CATEGORIES = {"catering": ["酒家", "茶楼", "饭店", "粥粉面店"], "retail": ["超市", "农贸市场", "百货"],
              "transport": ["汽车客运站", "公交总站"], "medical": ["医院", "卫生院", "诊所"],
              "school": ["中学", "小学", "幼儿园"], "office": ["政务服务中心", "办事处"],
              "hotel": ["酒店", "宾馆"], "entertainment": ["影剧院", "体育馆", "KTV"],
              "religious": ["寺"], "other": ["公园", "碉楼景区"]}
SURNAMES = "陈李黄张梁周吴谭关司徒胡何林邓冯余"
GIVEN = "志伟文华明丽敏强国家永康少玲娟豪建新美慧"


def _id_number(rng: random.Random) -> str:
    body = "440783" + f"{rng.randint(1950, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" + f"{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]
    return body + check


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


async def _orgs(ctx) -> dict[str, int]:
    from specadmin.runtime.identity.seed import ensure_org

    ids: dict[str, int] = {}

    async def ensure(code, name, level, parent, org_type, head=None, phone=None):
        ids[code] = await ensure_org(ctx, code, name, level, parent, org_type, head, phone)
        return ids[code]

    city = await ensure("KP", "开平市", "city", None, "government", "开平市人民政府", None)
    await ensure("KP-ZSJ", "开平市政务服务数据管理局", "city", city, "department", "区伟强", "13800000001")
    for i, (code, name, head) in enumerate(UNITS):
        await ensure(code, name, "city", city, "department", head, f"1390750{i:04d}")
    for code, name in zip(STREETS, STREET_NAMES):
        await ensure(f"KP-{code.upper()}", name, "street", city, "government")
    return ids


async def load(ctx, size: str = "small") -> str:
    from specadmin.runtime.calendar.days import load_known_years
    from specadmin.runtime.identity.seed import fill_initials
    from specadmin.runtime.identity.users import ensure_user

    rng = random.Random(2026)
    orgs = await _orgs(ctx)
    await fill_initials(ctx)  # orgs are inserted directly: fill their pinyin initials for search
    await ctx.refresh_caches()
    await ensure_user(ctx, "admin", PASSWORD, name="系统管理员", org_code="KP-ZSJ", roles=("sysadmin",), superuser=True)
    await ensure_user(ctx, "ops", PASSWORD, name="专区运维", org_code="KP-ZSJ", roles=("ops",))
    await ensure_user(ctx, "unit1", PASSWORD, name="教育局监管员", org_code=UNITS[0][0], roles=("supervisor",))
    await ensure_user(ctx, "unit2", PASSWORD, name="卫健局监管员", org_code=UNITS[1][0], roles=("supervisor",))
    # 工作日历: this year's and next year's holidays and adjusted working days (as far as chinesecalendar knows them)
    await load_known_years(ctx, (dt.date.today().year, dt.date.today().year + 1))
    place = ctx.table("place")
    if not await place.count():
        await _load_data(ctx, rng, orgs, 200 if size == "small" else 10000, 60)
        # Run the declared jobs once over the loaded days (windows ending on each day up to
        # yesterday), so 场所比对 and the “扫码”预警 inbox show what the nightly jobs would produce.
        # (SMS jobs are left to the schedule: a demo has no gateway.)
        from specadmin.runtime.jobs.runner import run_job, yesterday

        for job in ctx.app.jobs:
            if job.rule:
                await run_job(ctx, job.name, date_from=dt.date.today() - dt.timedelta(days=54), date_to=yesterday())
        # Today's 站内消息 about unreceived alerts, so unit users see the badge (SMS needs a gateway).
        for job in ctx.app.jobs:
            if job.notification and ctx.app.notification(job.notification).channel == "inapp":
                await run_job(ctx, job.name)
    counts = {name: await ctx.table(name).count() for name in ("place", "scan_record", "scan_alert")}
    lines = ["开平 demo data: " + ", ".join(f"{k}={v}" for k, v in counts.items()),
             "Demo-only logins (password Kaiping@2026):",
             "  ops    疫情防控专区运维单位 (all places, scans, alerts)",
             f"  unit1  监管单位 {UNITS[0][1]}",
             f"  unit2  监管单位 {UNITS[1][1]}",
             "  admin  系统管理员 (superuser, /admin/)"]
    return "\n".join(lines)


async def _load_data(ctx, rng: random.Random, orgs: dict[str, int], n_places: int, days: int) -> None:
    place, scan = ctx.table("place"), ctx.table("scan_record")
    place_entity, scan_entity = ctx.app.entity("place"), ctx.app.entity("scan_record")
    unit_ids = [orgs[code] for code, _, _ in UNITS]
    places = []
    for i in range(n_places):
        category = rng.choice(list(CATEGORIES))
        street_i = rng.randrange(len(STREETS))
        assigned = i % 7 != 0  # about one in seven places waits under 未设置
        low = rng.choice([5, 10, 20]) if assigned and i % 3 else None  # every unit has places with thresholds
        values = {
            "place_code": f"44078{i:06d}", "name": f"开平{STREET_NAMES[street_i][:2]}{rng.choice(CATEGORIES[category])}{i:03d}",
            "category": category, "city": "开平市", "street": STREETS[street_i], "manager": _name(rng),
            "location": f"广东省开平市{STREET_NAMES[street_i]}{rng.randint(1, 300)}号",
            "supervisor": unit_ids[i % len(unit_ids)] if assigned else None,
            "min_daily": low, "max_daily": low * 10 if low else None,
        }
        places.append(values)
    rows = [place(**ctx.sensitive.encode(place_entity, v)) for v in places]
    for start in range(0, len(rows), 500):
        await place.insert(*rows[start:start + 500])
    today = dt.date.today()
    batch = []
    for p in places:
        base = rng.choice([0, 1, 4, 8, 20])
        for d in range(days, 0, -1):
            day = today - dt.timedelta(days=d)
            for _ in range(max(0, int(rng.gauss(base, base / 3 + 1)))):
                at = dt.datetime.combine(day, dt.time(rng.randint(7, 21), rng.randint(0, 59), rng.randint(0, 59)))
                batch.append({
                    "place_code": p["place_code"], "place_name": p["name"],
                    "category": ctx.dict_label("place_category", p["category"]), "city": "开平市",
                    "street": ctx.dict_label("kaiping_street", p["street"]), "manager": p["manager"],
                    "subject_id_number": _id_number(rng), "subject_name": _name(rng),
                    "phone": f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
                    "collect_result": "已采集", "nat_result": rng.choice(["阴性", "阴性", "阴性", "未出结果"]),
                    "nat_result_time": at + dt.timedelta(hours=rng.randint(6, 30)),
                    "health_code": rng.choice(["绿码", "绿码", "绿码", "黄码"]),
                    "collector_location": p["location"], "scanned_at": at, "imported_at": dt.datetime.now().replace(microsecond=0),
                })
                if len(batch) >= 1000:  # PostgreSQL allows 32,767 parameters per statement
                    await _insert_scans(ctx, scan, scan_entity, batch)
                    batch = []
    if batch:
        await _insert_scans(ctx, scan, scan_entity, batch)


async def _insert_scans(ctx, scan, entity, batch: list[dict]) -> None:
    await scan.insert(*[scan(**ctx.sensitive.encode(entity, v)) for v in batch])
