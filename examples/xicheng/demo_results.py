"""Demo data of 模块D 核酸数据查询服务: test results across the streets and a few query batches.

Results: ~1,200 people tested 1-4 times in the last 10 days, sampled in every street. Batches:
two for 西长安街街道 (XC-S01, street1) and two for 新街口街道 (XC-S02, street2) — one queried, one
not — and one for 月坛街道 (XC-S03), queried; each mixes people with and without results.
Loaded once (skipped when test results exist).
"""
from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

INSTITUTIONS = ["北京市西城区疾病预防控制中心", "北京华大医学检验所", "北京金域医学检验实验室", "北京迪安医学检验实验室",
                "首都医科大学附属复兴医院"]


def _demo():
    spec = importlib.util.spec_from_file_location("xicheng_demo_helpers", Path(__file__).parent / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def load(ctx, rng, orgs) -> str:
    from specadmin.runtime.bulk_query.engine import run_query
    from specadmin.runtime.identity.sessions import load_principal
    from specadmin.runtime.bulk_query.upload import _write
    from specadmin.runtime.security.principal import Principal

    results = ctx.table("test_result")
    if await results.count():
        return ""
    demo = _demo()
    streets = [demo.street_code(i) for i in range(len(demo.STREETS))]
    now = dt.datetime.now().replace(microsecond=0)
    people = []
    for _ in range(1200):
        people.append((demo.id_number(rng), demo.person_name(rng), rng.choice(streets[:3] * 3 + streets)))
    entity = ctx.app.entity("test_result")
    rows = []
    for number, name, street in people:
        for _ in range(rng.choice([1, 1, 2, 3, 4])):
            rows.append(ctx.sensitive.encode(entity, {
                "id_number": number, "name": name, "institution": rng.choice(INSTITUTIONS),
                "tested_at": now - dt.timedelta(days=rng.randint(0, 9), hours=rng.randint(0, 23)),
                "result": "negative" if rng.random() > 0.01 else "pending", "street": orgs[street],
                "created_at": now, "updated_at": now}))
    for start in range(0, len(rows), 500):
        await results.insert(*[results(_ignore_missing=True, **v) for v in rows[start:start + 500]])

    user = ctx.table("user")
    ids = {r["username"]: r["id"] for r in await user.select(user.id, user.username)}
    spec = ctx.app.screen("batch_admin").bulk_query
    batches = 0
    for username, street, size, queried in (("street1", "XC-S01", 40, True), ("street1", "XC-S01", 25, False),
                                           ("street2", "XC-S02", 30, True), ("street2", "XC-S02", 20, False),
                                           ("district", "XC-S03", 20, True)):
        principal = Principal(user_id=ids[username], username=username, name=username, org_id=orgs[street],
                              org_name="", superuser=False, roles=())
        hits = rng.sample(people, size * 3 // 4)
        good = [{"id_number": p[0], "name": p[1]} for p in hits]
        good += [{"id_number": demo.id_number(rng, "110105"), "name": demo.person_name(rng)}
                 for _ in range(size - len(hits))]
        rng.shuffle(good)
        batch_id = await _write(ctx, principal, "query_batch", spec, good, f"{street}核酸核查名单.xlsx")
        if queried:  # as the uploader would click 查询: the look-up reaches what they may look up
            await run_query(ctx, "batch_admin", batch_id, only_pending=True,
                            principal=await load_principal(ctx, ids[username]))
        batches += 1
    return f"核酸检测结果 {len(rows)} 条（{len(people)} 人），批量查询批次 {batches} 个"
