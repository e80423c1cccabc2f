"""Demo data for the Xicheng app: 西城区 and its 15 streets, testing sites, scan counts, check-ins,
sampling, transport and video ledgers. Other modules add their data from `demo_<module>.py` files
beside this one (each an `async def load(ctx, rng, orgs) -> str`), loaded in name order.

Idempotent: users are brought in line on every run; data is loaded once.
Demo-only credentials: admin, district, street1, street2 / Xicheng@2026.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import random
from pathlib import Path

PASSWORD = "Xicheng@2026"
STREETS = ["西长安街街道", "新街口街道", "月坛街道", "展览路街道", "德胜街道", "金融街街道", "什刹海街道", "大栅栏街道",
           "天桥街道", "椿树街道", "陶然亭街道", "广安门内街道", "牛街街道", "白纸坊街道", "广安门外街道"]
SITE_WORDS = ["社区卫生服务中心", "便民核酸采样点", "体育场", "小学", "文化中心", "广场"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚"


def street_code(i: int) -> str:
    return f"XC-S{i + 1:02d}"


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def id_number(rng: random.Random, area: str = "110102") -> str:
    body = area + f"{rng.randint(1940, 2018)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


async def _orgs(ctx) -> dict[str, int]:
    from specadmin.runtime.identity.seed import ensure_org

    ids = {"XC": await ensure_org(ctx, "XC", "西城区", "district", None, "government", "西城区人民政府")}
    ids["XC-YQB"] = await ensure_org(ctx, "XC-YQB", "西城区疫情防控工作领导小组办公室", "district", ids["XC"],
                                     "department", "赵振国", "13800100001")
    for i, name in enumerate(STREETS):
        ids[street_code(i)] = await ensure_org(ctx, street_code(i), name, "street", ids["XC"], "government",
                                               f"{name[:-2]}街道办事处", f"1380010{i + 10:04d}")
    return ids


async def load(ctx, size: str = "small") -> str:
    from specadmin.runtime.calendar.days import load_known_years
    from specadmin.runtime.identity.seed import fill_initials
    from specadmin.runtime.identity.users import ensure_user

    rng = random.Random(2020)
    orgs = await _orgs(ctx)
    await fill_initials(ctx)
    await ctx.refresh_caches()
    await ensure_user(ctx, "admin", PASSWORD, name="系统管理员", org_code="XC-YQB", roles=("sysadmin",), superuser=True)
    await ensure_user(ctx, "district", PASSWORD, name="区级管理员", org_code="XC-YQB", roles=("district_admin",))
    await ensure_user(ctx, "street1", PASSWORD, name="西长安街街道用户", org_code=street_code(0), roles=("street_user",))
    await ensure_user(ctx, "street2", PASSWORD, name="新街口街道用户", org_code=street_code(1), roles=("street_user",))
    # 工作日历: this year's and next year's holidays and adjusted working days (as far as chinesecalendar knows them)
    await load_known_years(ctx, (dt.date.today().year, dt.date.today().year + 1))
    lines = []
    if not await ctx.table("testing_site").count():
        await _load_sites(ctx, rng, orgs)
    if not await ctx.table("hotline_ticket").count():
        await load_hotline(ctx, rng, orgs)
    for path in sorted(Path(__file__).parent.glob("demo_*.py")):
        spec = importlib.util.spec_from_file_location(f"xicheng_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        lines.append(await module.load(ctx, random.Random(path.stem), orgs))
    counts = {name: await ctx.table(name).count() for name in ("testing_site", "site_scan_stat", "check_in")}
    head = ["西城 demo data: " + ", ".join(f"{k}={v}" for k, v in counts.items()), *[x for x in lines if x],
            "Demo-only logins (password Xicheng@2026):",
            "  district  区级管理员 (all streets)",
            f"  street1   街道用户 {STREETS[0]}",
            f"  street2   街道用户 {STREETS[1]}",
            "  admin     系统管理员 (superuser, /admin/)"]
    return "\n".join(head)


async def _load_sites(ctx, rng: random.Random, orgs: dict[str, int]) -> None:
    site, stat, checkin = ctx.table("testing_site"), ctx.table("site_scan_stat"), ctx.table("check_in")
    sampling, transport = ctx.table("sampling"), ctx.table("transport")
    place, camera = ctx.table("ledger_place"), ctx.table("camera")
    today = dt.date.today()
    sites = []
    for i, street in enumerate(STREETS):
        for j in range(4):
            lng, lat = 116.36 + rng.random() * 0.05, 39.88 + rng.random() * 0.06
            sites.append(dict(site_code=f"XC{i + 1:02d}{j + 1:03d}", name=f"{street[:-2]}{rng.choice(SITE_WORDS)}{j + 1}号点",
                              street=orgs[street_code(i)], address=f"北京市西城区{street[:-2]}{rng.randint(1, 99)}号",
                              location_lng=lng, location_lat=lat, site_kind="nat", active=True))
    await site.insert(*[site(**s) for s in sites])
    stats, checkins, samples, transports = [], [], [], []
    for s in sites:
        for d in range(14, 0, -1):
            day = today - dt.timedelta(days=d)
            stats.append(stat(site=s["site_code"], stat_date=day, scan_count=rng.randint(50, 900)))
            for _ in range(rng.randint(1, 3)):
                checkins.append(checkin(site=s["site_code"], street=s["street"], reporter=person_name(rng),
                                        checkin_time=dt.datetime.combine(day, dt.time(rng.randint(6, 20), rng.randint(0, 59))),
                                        location_lng=s["location_lng"], location_lat=s["location_lat"]))
            at = dt.datetime.combine(day, dt.time(rng.randint(7, 18), rng.randint(0, 59)))
            samples.append(sampling(sample_no=f"QY{s['site_code']}{day:%m%d}", site=s["site_code"], sample_time=at,
                                    tube_no=f"T{rng.randint(10 ** 7, 10 ** 8 - 1)}", person_count=rng.choice([1, 10, 20])))
            transports.append(transport(batch_no=f"ZY{s['site_code']}{day:%m%d}", from_site=s["site_code"],
                                        transfer_time=at + dt.timedelta(hours=2), tube_count=rng.randint(5, 60),
                                        lab=rng.choice(["北京市疾控中心实验室", "西城区疾控中心实验室", "第三方检测机构"])))
    for rows, table in ((stats, stat), (checkins, checkin), (samples, sampling), (transports, transport)):
        for start in range(0, len(rows), 500):
            await table.insert(*rows[start:start + 500])
    for i, street in enumerate(STREETS[:5]):
        for j in range(3):
            await place.insert(place(name=f"{street[:-2]}公共厕所{j + 1}", kind="public_toilet",
                                                 street=orgs[street_code(i)], address=f"北京市西城区{street[:-2]}胡同{j + 1}号",
                                                 provider="线下摸排"))
            network_id = f"110102{i:02d}{j:04d}"
            await camera.insert(camera(code=f"CAM{i + 1:02d}{j + 1:02d}", name=f"{street[:-2]}公厕{j + 1}周边摄像头",
                                       street=orgs[street_code(i)], network_id=network_id,
                                       source="offline_survey", playable=False, reconciled=False))
            if j < 2:  # the video network knows the first two cameras; the second is offline in odd streets
                await camera.insert(camera(code=f"VN{network_id}", name=f"{street[:-2]}专网摄像头{network_id}", street=orgs[street_code(i)],
                                           network_id=network_id, source="video_net", online=j == 0 or i % 2 == 0))
    binding = ctx.table("camera_binding")
    places = {r["name"]: r["id"] for r in await place.select(place.id, place.name)}
    cameras = {r["code"]: r["id"] for r in await camera.select(camera.id, camera.code)}
    for i, street in enumerate(STREETS[:5]):
        for j in range(2):  # the third camera of each street is unknown to the video network: left unbound
            await binding.insert(binding(place=places[f"{street[:-2]}公共厕所{j + 1}"], camera=cameras[f"CAM{i + 1:02d}{j + 1:02d}"],
                                         bound_at=dt.datetime.now().replace(microsecond=0)))


HOTLINE_CATEGORIES = [("核酸检测", "核酸、采样、检测点、检测结果"), ("隔离管控", "隔离、封控、管控区、弹窗"),
                      ("健康码", "健康码、黄码、红码、行程码"), ("疫苗接种", "疫苗、接种、加强针")]
HOTLINE_TEXTS = ["{w}排队时间太长，希望增加{w}点", "小区{w}后买菜困难", "{w}一直不变绿，影响上班", "老人{w}预约不上",
                 "楼道灯坏了请物业维修", "路边违章停车无人管理"]


async def load_hotline(ctx, rng: random.Random, orgs: dict[str, int]) -> None:
    """12345 categories, two weeks of tickets (some not about the epidemic), the city↔district site
    matches, then the nightly extraction over those days."""
    from specadmin.runtime.jobs.runner import run_job, yesterday

    category, ticket, match = ctx.table("hotline_category"), ctx.table("hotline_ticket"), ctx.table("site_match")
    for i, (name, words) in enumerate(HOTLINE_CATEGORIES):
        await category.insert(category(name=name, keywords=words, sort=i + 1, active=True))
    words = [w for _, ws in HOTLINE_CATEGORIES for w in ws.split("、")]
    today = dt.date.today()
    rows = []
    for n in range(300):
        text = rng.choice(HOTLINE_TEXTS).format(w=rng.choice(words))
        at = dt.datetime.combine(today - dt.timedelta(days=rng.randint(1, 14)), dt.time(rng.randint(7, 22), rng.randint(0, 59)))
        rows.append(ticket(**ctx.sensitive.encode(ctx.app.entity("hotline_ticket"), {
            "ticket_no": f"12345-{at:%Y%m%d}-{n:04d}", "received_at": at, "street": orgs[street_code(n % len(STREETS))],
            "caller_phone": f"139{rng.randint(10000000, 99999999)}", "content": text})))
    await ticket.insert(*rows)
    site = ctx.table("testing_site")
    sites = await site.select(site.id, site.site_code, site.name).order_by(site.site_code).limit(20)
    for i, row in enumerate(sites):
        await match.insert(match(city_site_id=f"BJ-NS-{i + 1:05d}", city_site_name=f"{row['name']}（市级）",
                                 site=row["id"] if i % 4 else None, matched_at=dt.datetime.now().replace(microsecond=0)))
    await run_job(ctx, "hotline_extract", date_from=today - dt.timedelta(days=14), date_to=yesterday())
