"""12345 接诉即办 extraction (Xicheng, custom rule + plugin) on SQLite and PostgreSQL: tickets get the
first category whose keyword they contain, others are marked 未匹配, re-runs change nothing."""
from __future__ import annotations

import datetime as dt

import pytest
from test_xicheng_app import login, xicheng  # noqa: F401,F811  (the module-scoped app fixture)

from specadmin.plugins.hotline.extract import classify, keywords_of
from specadmin.runtime.jobs.runner import run_job

ASYNC = pytest.mark.asyncio(loop_scope="session")


def test_keywords_split_on_lines_commas_and_enumeration_marks():
    assert keywords_of("核酸、采样\n检测点，结果;弹窗") == ["核酸", "采样", "检测点", "结果", "弹窗"]


def test_first_category_in_order_wins_and_no_match_is_marked():
    cats = [(1, ["核酸", "采样"]), (2, ["隔离", "核酸"])]
    assert classify("小区隔离后要做核酸", cats) == (1, "核酸")
    assert classify("隔离期间买菜难", cats) == (2, "隔离")
    assert classify("路灯坏了", cats) == (None, "未匹配")


@ASYNC
async def test_extraction_classifies_the_days_tickets_once(xicheng):
    ctx = xicheng["ctx"]
    category, ticket = ctx.table("hotline_category"), ctx.table("hotline_ticket")
    ids = {}
    for i, (name, words) in enumerate([("核酸检测", "核酸、采样"), ("隔离管控", "隔离，封控")]):
        ids[name] = (await category.insert(category(name=name, keywords=words, sort=i, active=True))
                     .returning(category.id))[0]["id"]
    day = dt.date(2026, 11, 10)
    texts = {"T1": "封控小区需要做核酸", "T2": "封控区买菜难", "T3": "路灯坏了", "T4": "明天采样点在哪"}
    for no, text in texts.items():
        await ticket.insert(ticket(ticket_no=no, content=text, received_at=dt.datetime.combine(day, dt.time(9)),
                                   street=xicheng["orgs"]["XC-S01"]))
    await ticket.insert(ticket(ticket_no="T5", content="核酸结果查询", received_at=dt.datetime(2026, 11, 12, 9),
                               street=xicheng["orgs"]["XC-S01"]))
    run = await run_job(ctx, "hotline_extract", date_from=day, date_to=day)
    assert run["status"] == "succeeded", run
    got = {r["ticket_no"]: (r["category"], r["matched_keyword"])
           for r in await ticket.select(ticket.ticket_no, ticket.category, ticket.matched_keyword)}
    assert got == {"T1": (ids["核酸检测"], "核酸"), "T2": (ids["隔离管控"], "封控"), "T3": (None, "未匹配"),
                   "T4": (ids["核酸检测"], "采样"), "T5": (None, None)}  # T5 lies outside the day
    await category.update({category.keywords: "路灯"}).where(category.id == ids["隔离管控"])
    await run_job(ctx, "hotline_extract", date_from=day, date_to=day, trigger="retry")
    again = {r["ticket_no"]: (r["category"], r["matched_keyword"])
             for r in await ticket.select(ticket.ticket_no, ticket.category, ticket.matched_keyword)}
    assert again == got  # classified tickets are not read again


@ASYNC
async def test_street_user_lists_only_its_streets_tickets(xicheng):
    ctx = xicheng["ctx"]
    ticket = ctx.table("hotline_ticket")
    await ticket.insert(ticket(ticket_no="OTHER-1", content="核酸", received_at=dt.datetime(2026, 11, 10, 10),
                               street=xicheng["orgs"]["XC-S03"]))
    street1 = await login(xicheng, "street1")
    r = await street1.get("/api/hotline_ticket", params={"screen": "hotline_ticket_query", "page_size": 100})
    assert r.status_code == 200, r.text
    numbers = {i["ticket_no"] for i in r.json()["items"]}
    assert "OTHER-1" not in numbers and {"T1", "T2"} <= numbers
