"""Demo data for the Chongzhou event hub (seed 003): the org tree 崇州市 → 崇州市城运中心 → city departments
(with 部门科室) and 镇街 (each with its 镇街城运中心 tagged 镇街城运中心, a 镇街科室, 村社 and 网格), the divisions
of 崇州市, the event-type tree with 处置时限, the responsibility list, the department-type config, plans, system
parameters, event forms, this year's and next year's working-day calendar, and events in every state with
their tasks, handling logs, reviews, instructions and supervisions, written directly (the workflow plugin's
actions own the transitions once it is in the app).

Idempotent: users are brought in line on every run; data is loaded once.
Demo-only credentials (password Chongzhou@2026): admin, city, town, town2, dept1, dept2, community, grid,
leader, config.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import tempfile
from pathlib import Path

PASSWORD = "Chongzhou@2026"
# 崇州市 and the towns, villages and communities of the demo (national codes: 6, 9 and 12 digits)
DIVISIONS = [("510000", "四川省"), ("510100", "成都市"), ("510184", "崇州市"), ("510184001", "崇阳街道"), ("510184002", "羊马街道"),
             ("510184003", "三江街道"), ("510184001001", "永康社区"), ("510184001002", "蜀州社区"),
             ("510184002001", "羊马社区"), ("510184002002", "金桥村"), ("510184003001", "三江社区"),
             ("510184003002", "桤泉村")]

DEPARTMENTS = [("CZ-ZJJ", "崇州市住房和城乡建设局", "建筑市场监管科"), ("CZ-CGJ", "崇州市城市管理局", "市容环卫科"),
               ("CZ-STJ", "成都市崇州生态环境局", "环境监察科")]
# code, name, division, 镇街科室, [(村社 code suffix, name, division)]
TOWNS = [("CZ-CY", "崇阳街道", "510184001", "社会事务办", [("C01", "永康社区", "510184001001"), ("C02", "蜀州社区", "510184001002")]),
         ("CZ-YM", "羊马街道", "510184002", "综合执法办", [("C01", "羊马社区", "510184002001"), ("C02", "金桥村", "510184002002")]),
         ("CZ-SJ", "三江街道", "510184003", "社会治理办", [("C01", "三江社区", "510184003001"), ("C02", "桤泉村", "510184003002")])]
# §4.3 "Event-list curation": 大类 (line) → 小类 → 子类 with 处置时限 / 办结时限 in working days
EVENT_TYPES = [
    ("01", "住房城乡建设", "住建", [("0101", "建筑施工", [("010101", "违规夜间施工", 3), ("010102", "施工扬尘", 2)]),
                                   ("0102", "房屋安全", [("010201", "危房隐患", 1)])]),
    ("02", "市容环境", "城管", [("0201", "市容秩序", [("020101", "占道经营", 2), ("020102", "乱堆乱放", 3)]),
                               ("0202", "环境卫生", [("020201", "垃圾清运不及时", 1)])]),
    ("03", "生态环境", "生态环境", [("0301", "大气污染", [("030101", "露天焚烧", 1)]),
                                   ("0302", "水污染", [("030201", "河道排污", 3)])]),
    ("04", "社会治理", "社会治理", [("0401", "矛盾纠纷", [("040101", "邻里纠纷", 5)])]),
]
TYPE_DEPT = {"01": "CZ-ZJJ", "02": "CZ-CGJ", "03": "CZ-STJ"}
TITLES = {"010101": "{place}工地夜间施工噪音扰民", "010102": "{place}工地扬尘未覆盖", "010201": "{place}老旧房屋墙体开裂",
          "020101": "{place}路口流动摊贩占道经营", "020102": "{place}小区门口建筑垃圾乱堆", "020201": "{place}垃圾桶满溢未清运",
          "030101": "{place}农田秸秆露天焚烧", "030201": "{place}河段疑似排污", "040101": "{place}邻里噪音纠纷"}
USERS = [  # username, name, org code, roles
    ("city", "市城运中心值班员", "CZ-CYZX", ("city_center", "event_handler", "event_overseer")),
    ("town", "崇阳街道城运中心值班员", "CZ-CY-ZX", ("town_center", "event_handler", "event_overseer")),
    ("town2", "羊马街道城运中心值班员", "CZ-YM-ZX", ("town_center", "event_handler", "event_overseer")),
    ("dept1", "住建局办件员", "CZ-ZJJ", ("department", "event_handler")),
    ("dept2", "城管局办件员", "CZ-CGJ", ("department", "event_handler")),
    ("community", "永康社区办件员", "CZ-CY-C01", ("community", "event_handler")),
    ("grid", "永康社区第一网格员", "CZ-CY-C01-G01", ("grid", "event_handler")),
    ("leader", "市城运中心领导", "CZ-CYZX", ("leader", "event_overseer")),
    ("config", "配置管理员", "CZ-CYZX", ("config_admin",)),
]


async def _orgs(ctx) -> dict[str, int]:
    from specadmin.runtime.identity.divisions import import_divisions
    from specadmin.runtime.identity.seed import ensure_org

    with tempfile.TemporaryDirectory() as folder:  # the `specadmin divisions` loader: upsert by code, parents by prefix
        path = Path(folder) / "divisions.csv"
        path.write_text("code,name\n" + "".join(f"{c},{n}\n" for c, n in DIVISIONS), encoding="utf-8")
        await import_divisions(ctx, path)
    division = ctx.table("division")
    divisions = {r["code"]: r["id"] for r in await division.select(division.id, division.code)}
    ids: dict[str, int] = {}

    async def ensure(code, name, level, parent, org_type, div=None, tags=None):
        ids[code] = await ensure_org(ctx, code, name, level, ids.get(parent), org_type)
        if div or tags:
            org = ctx.table("org")
            await org.update({org.division: divisions.get(div), org.tags: tags}).where(org.id == ids[code])
        return ids[code]

    await ensure("CZ", "崇州市", "city", None, "government", "510184")
    await ensure("CZ-CYZX", "崇州市城运中心", "city", "CZ", "ops_center", "510184", "市城运中心")
    for code, name, section in DEPARTMENTS:
        await ensure(code, name, "city", "CZ-CYZX", "department", "510184")
        await ensure(f"{code}-K1", section, "city", code, "section", "510184")
    for code, name, div, section, villages in TOWNS:
        await ensure(code, name, "street", "CZ-CYZX", "government", div)
        await ensure(f"{code}-ZX", f"{name}城运中心", "street", code, "ops_center", div, "镇街城运中心")
        await ensure(f"{code}-K1", f"{name}{section}", "street", f"{code}-ZX", "section", div)
        for suffix, vname, vdiv in villages:
            await ensure(f"{code}-{suffix}", vname, "community", f"{code}-ZX", "government", vdiv)
            for g in (1, 2):
                await ensure(f"{code}-{suffix}-G0{g}", f"{vname}第{'一二'[g - 1]}网格", "grid", f"{code}-{suffix}", "unit", vdiv)
    return ids


async def load(ctx, size: str = "small") -> str:
    from specadmin.runtime.calendar.days import load_known_years
    from specadmin.runtime.identity.seed import fill_initials
    from specadmin.runtime.identity.users import ensure_user

    orgs = await _orgs(ctx)
    await fill_initials(ctx)
    await ctx.refresh_caches()
    await ensure_user(ctx, "admin", PASSWORD, name="系统管理员", org_code="CZ-CYZX", superuser=True)
    for username, name, org_code, roles in USERS:
        await ensure_user(ctx, username, PASSWORD, name=name, org_code=org_code, roles=roles)
    # 工作日历: this year's and next year's holidays and adjusted working days (as far as chinesecalendar knows them)
    today = dt.date.today()
    await load_known_years(ctx, (today.year - 1, today.year, today.year + 1))
    if not await ctx.table("event_type").count():
        await _load_config(ctx, orgs)
        await _load_events(ctx, random.Random(2026), orgs, 60 if size == "small" else 2000)
    counts = {name: await ctx.table(name).count() for name in ("event", "event_task", "event_log", "event_review")}
    return "\n".join(["崇州 demo data: " + ", ".join(f"{k}={v}" for k, v in counts.items()),
                      f"Demo-only logins (password {PASSWORD}):",
                      "  city       市城运中心 (all events of the city, 本级及下级)",
                      "  town/town2 崇阳街道/羊马街道城运中心",
                      "  dept1/dept2 住建局/城管局",
                      "  community  永康社区    grid  永康社区第一网格",
                      "  leader     批示/督办    config  配置中心",
                      "  admin      系统管理员 (superuser, /admin/)"])


async def _load_config(ctx, orgs: dict[str, int]) -> None:
    et = ctx.table("event_type")
    ids: dict[str, int] = {}

    async def add(code, name, level, parent, line, limit, sort):
        row = (await et.insert(et(code=code, name=name, level=level, parent=ids.get(parent), line=line,
                                   limit_days=limit, close_days=(limit or 0) + 2, sort=sort, kind="normal",
                                   active=True)).returning(et.id))[0]["id"]
        ids[code] = row
        parent_path = (await et.select(et.path).where(et.id == ids[parent]))[0]["path"] if parent else "/"
        await et.update({et.path: f"{parent_path}{row}/"}).where(et.id == row)

    for i, (code, name, line, minors) in enumerate(EVENT_TYPES):
        await add(code, name, "major", None, line, None, i + 1)
        for j, (mcode, mname, subs) in enumerate(minors):
            await add(mcode, mname, "minor", code, line, max(d for _, _, d in subs), j + 1)
            for k, (scode, sname, days) in enumerate(subs):
                await add(scode, sname, "sub", mcode, line, days, k + 1)
    resp, resp_orgs = ctx.table("responsibility"), ctx.join_table("responsibility", "orgs")
    for major, dept in TYPE_DEPT.items():
        for code in [c for c in ids if c.startswith(major) and len(c) == 6]:
            rid = (await resp.insert(resp(event_type=ids[code], requirement=f"按职责及时处置并反馈，{TITLES[code].replace('{place}', '')}类事件由牵头部门主办"))
                   .returning(resp.id))[0]["id"]
            await resp_orgs.insert(resp_orgs(owner=rid, target=orgs[dept]))
    dept_types, dept_types_join = ctx.table("dept_event_type"), ctx.join_table("dept_event_type", "event_types")
    allowed = {dept: [c for c in ids if c.startswith(major)] for major, dept in TYPE_DEPT.items()}
    for code, *_ in TOWNS:
        allowed[f"{code}-ZX"] = list(ids)
    for org_code, codes in allowed.items():
        did = (await dept_types.insert(dept_types(org=orgs[org_code])).returning(dept_types.id))[0]["id"]
        await dept_types_join.insert(*[dept_types_join(owner=did, target=ids[c]) for c in codes])
    plan = ctx.table("plan")
    pid = (await plan.insert(plan(name="崇阳街道秸秆焚烧处置预案", event_type=ids["030101"], source="iot_alarm",
                                  applicable_org=orgs["CZ-CY-ZX"], conditions="物联告警发现的露天焚烧", warn_days=1,
                                  active=True, published=True)).returning(plan.id))[0]["id"]
    pjoin, cjoin = ctx.join_table("plan", "dispatch_orgs"), ctx.join_table("plan", "cc_orgs")
    await pjoin.insert(pjoin(owner=pid, target=orgs["CZ-STJ"]))
    await cjoin.insert(cjoin(owner=pid, target=orgs["CZ-CGJ"]))
    await plan.insert(plan(name="占道经营联合整治预案", event_type=ids["020101"], applicable_org=orgs["CZ-CGJ"],
                           active=False, published=False))
    param = ctx.table("system_param")
    await param.insert(
        param(code="near_due_working_days", value="1", default_value="1", description="临期阈值：剩余工作日不超过该值视为临期"),
        param(code="event_number_prefix", value="CZ", default_value="CZ", description="事件编号前缀"),
        param(code="max_attachment_mb", value="7", default_value="7", description="单个附件大小上限（MB）"))
    form = ctx.table("event_form")
    schema = {"type": "object", "required": ["stall_count"],
              "properties": {"stall_count": {"type": "integer", "title": "摊位数量", "minimum": 1},
                             "goods": {"type": "string", "title": "经营品类", "maxLength": 50}}}
    now = dt.datetime.now().replace(microsecond=0)
    await form.insert(form(name="占道经营事件表单", event_type=ids["020101"], form_version=1, form_schema=json.dumps(schema, ensure_ascii=False),
                           status="published", published_at=now - dt.timedelta(days=90)))
    schema["properties"]["photo_taken"] = {"type": "boolean", "title": "是否已拍照取证"}
    await form.insert(form(name="占道经营事件表单", event_type=ids["020101"], form_version=2, form_schema=json.dumps(schema, ensure_ascii=False),
                           status="draft"))


STATES = ["draft", "open", "in_process", "in_process", "handled", "closed", "closed", "closed", "force_closed", "voided"]


async def _load_events(ctx, rng: random.Random, orgs: dict[str, int], count: int) -> None:
    """`count` events over the last 13 months (so 环比 and 同比 have data), in every state; city-dispatched ones
    start at the city ops centre and go to a town centre, the others start at a town's centre, community or grid
    and go to the department of their type's line."""
    from specadmin.runtime.calendar.deadlines import fill_missing

    et, division = ctx.table("event_type"), ctx.table("division")
    types = {r["code"]: r["id"] for r in await et.select(et.id, et.code) if len(r["code"]) == 6}
    divisions = {r["code"]: r["id"] for r in await division.select(division.id, division.code)}
    user = ctx.table("user")
    users = {r["username"]: r for r in await user.select(user.id, user.username, user.name, user.org)}
    event, task, log, review = ctx.table("event"), ctx.table("event_task"), ctx.table("event_log"), ctx.table("event_review")
    instruction, supervision = ctx.table("event_instruction"), ctx.table("event_supervision")
    now = dt.datetime.now().replace(microsecond=0)
    city = orgs["CZ-CYZX"]
    for n in range(count):
        code = rng.choice(sorted(types))
        town = TOWNS[(n // 2) % len(TOWNS)]
        village = town[4][(n // 6) % 2]
        state = "in_process" if n < 4 else STATES[n % len(STATES)]
        city_dispatched = n % 5 == 0 and state != "draft"
        if city_dispatched:
            owner, initiator = city, users["city"]
        elif n % 4 == 0 and town[0] == "CZ-CY":
            owner, initiator = orgs[f"CZ-CY-{village[0]}-G01"], users["grid"]
        elif n % 4 == 1 and town[0] == "CZ-CY":
            owner, initiator = orgs[f"CZ-CY-{village[0]}"], users["community"]
        else:
            owner, initiator = orgs[f"{town[0]}-ZX"], users["town" if town[0] == "CZ-CY" else "town2"]
        days_ago = 0 if n < 6 else (n * 397 // count)
        launched = now - dt.timedelta(days=days_ago, hours=rng.randint(1, 8))
        place = village[1] if not city_dispatched else town[1]
        values = dict(title=TITLES[code].format(place=place), source=rng.choice(["grand_linkage", "city_mgmt", "online_gov", "iot_alarm", "wechat"]),
                      event_type=types[code], area=divisions[village[2]], address=f"四川省成都市崇州市{town[1]}{place}{rng.randint(1, 99)}号",
                      location_lng=103.65 + rng.random() * 0.06, location_lat=30.60 + rng.random() * 0.06,
                      occurred_at=launched - dt.timedelta(hours=1), level="general" if n % 7 else "major",
                      is_key=n % 6 == 0, key_locked=city_dispatched and n % 6 == 0, status=state, owner_org=owner,
                      initiator=initiator["id"], closing_org=owner, created_at=launched, updated_at=launched,
                      form_data=json.dumps({"stall_count": 2}) if code == "020101" else None)
        if state != "draft":
            values.update(number=f"CZ{launched:%Y%m%d}{n + 1:04d}", launched_at=launched)
        if city_dispatched:
            values.update(city_dispatched_at=launched)
        if state in ("closed", "force_closed"):
            values.update(closed_at=launched + dt.timedelta(days=2), updated_at=launched + dt.timedelta(days=2))
        eid = (await event.insert(event(**values)).returning(event.id))[0]["id"]
        if state == "draft":
            continue
        actor_org = initiator["org"]
        logs = [dict(action="launch", action_label="发起", org=actor_org, operator=initiator["id"],
                     operator_name=initiator["name"], at=launched, opinion="发起事件")]
        limit = 3
        owner_task = (await task.insert(task(event=eid, org=owner, role="owner", state="todo" if state in ("open", "in_process", "handled") else "submitted",
                                             requirement="发起单位跟踪办理", limit_days=limit, created_at=launched,
                                             handler=initiator["id"])).returning(task.id))[0]["id"]
        if state in ("open", "voided"):
            if state == "voided":
                logs.append(dict(action="void", action_label="作废", org=actor_org, operator=initiator["id"],
                                 operator_name=initiator["name"], at=launched + dt.timedelta(hours=2), opinion="重复上报，作废"))
        else:
            target = orgs[f"{town[0]}-ZX"] if city_dispatched else orgs[TYPE_DEPT.get(code[:2], f"{town[0]}-ZX")]
            if target == owner:
                target = orgs[f"{town[0]}-K1"]
            dispatched = launched + dt.timedelta(hours=1)
            done = state in ("handled", "closed")
            lead_state = "submitted" if done else ("cancelled" if state == "force_closed" else "todo")
            lead = (await task.insert(task(event=eid, org=target, role="lead", state=lead_state, requirement="请按职责核实处置并反馈结果",
                                           limit_days=limit, created_at=dispatched, dispatcher_org=owner, parent=owner_task,
                                           submitted_at=dispatched + dt.timedelta(days=1) if done else None,
                                           opinion="已现场处置完毕" if done else None)).returning(task.id))[0]["id"]
            logs.append(dict(action="dispatch", action_label="交办", org=actor_org, operator=initiator["id"],
                             operator_name=initiator["name"], at=dispatched, opinion="请相关单位处置",
                             channel="city" if city_dispatched else "local"))
            if n % 4 == 1:
                await task.insert(task(event=eid, org=orgs[f"{town[0]}-K1"] if target != orgs[f"{town[0]}-K1"] else orgs["CZ-CGJ"],
                                       role="cc", state="todo", requirement="抄送知悉", created_at=dispatched, dispatcher_org=owner))
            if done:
                logs.append(dict(action="handle", action_label="处置", org=target, operator_name="办件员",
                                 at=dispatched + dt.timedelta(days=1), opinion="已现场处置完毕"))
                await task.insert(task(event=eid, org=owner, role="closing", state="submitted" if state == "closed" else "todo",
                                       requirement="核验并结案", limit_days=1, created_at=dispatched + dt.timedelta(days=1),
                                       parent=owner_task))
            if state == "closed":
                logs.append(dict(action="close", action_label="结案", org=actor_org, operator=initiator["id"],
                                 operator_name=initiator["name"], at=launched + dt.timedelta(days=2), opinion="处置到位，同意结案"))
            if state == "force_closed":
                logs.append(dict(action="force_close", action_label="强制办结", org=actor_org, operator=initiator["id"],
                                 operator_name=initiator["name"], at=launched + dt.timedelta(days=2), opinion="事件已自然消除"))
            if state == "in_process" and n % 2 == 1:
                await review.insert(review(event=eid, task=lead, kind="return", applicant_org=target, reviewer_org=owner,
                                           applied_at=dispatched + dt.timedelta(hours=3), reason="不属于本单位职责，申请退回",
                                           status="pending"))
                await task.update({task.state: "return_pending"}).where(task.id == lead)
            if state == "in_process" and n % 2 == 0:
                await review.insert(review(event=eid, task=lead, kind="extension", applicant_org=target, reviewer_org=owner,
                                           applied_at=dispatched + dt.timedelta(hours=5), reason="需协调第三方，申请延期",
                                           original_deadline=dispatched + dt.timedelta(days=3),
                                           requested_deadline=dispatched + dt.timedelta(days=6), status="approved",
                                           reviewed_at=dispatched + dt.timedelta(hours=8), review_opinion="同意延期"))
        await log.insert(*[log(event=eid, channel=x.pop("channel", "local"), **x) for x in logs])
        if n % 6 == 0:
            await instruction.insert(instruction(event=eid, instructor=users["leader"]["id"], dept=city, position="主任",
                                                 at=launched + dt.timedelta(hours=4), content="请加快处置，确保群众满意"))
        if state == "in_process" and n % 4 == 0:
            await supervision.insert(supervision(event=eid, supervisor=users["leader"]["id"], dept=city, position="主任",
                                                 at=launched + dt.timedelta(hours=6), content="限期办结，及时反馈"))
    await fill_missing(ctx)  # 办结期限 and 办理期限 on the working-day calendar, as the create hooks would
    track, group, members = ctx.table("event_track"), ctx.table("dispatch_group"), ctx.join_table("dispatch_group", "orgs")
    doing = [r["id"] for r in await event.select(event.id).where(event.status == "in_process").order_by(event.id)]
    for i, (username, org_code) in enumerate((("dept1", "CZ-ZJJ"), ("dept2", "CZ-CGJ"), ("town", "CZ-CY-ZX"),
                                                ("community", "CZ-CY-C01"))):
        await track.insert(track(event=doing[i % len(doing)], org=orgs[org_code], author=users[username]["id"],
                                 at=now - dt.timedelta(hours=i + 1), content="已安排人员现场核实，正在处置"))
    for username, name, codes in (("town", "崇阳街道常用承办单位", ("CZ-CY-K1", "CZ-CY-C01", "CZ-CY-C02")),
                                  ("city", "市级执法部门", ("CZ-ZJJ", "CZ-CGJ", "CZ-STJ")),
                                  ("dept1", "住建局科室", ("CZ-ZJJ-K1",))):
        gid = (await group.insert(group(owner=users[username]["id"], name=name)).returning(group.id))[0]["id"]
        await members.insert(*[members(owner=gid, target=orgs[c]) for c in codes])
