"""Import keys are matched inside the importer's scope (issue 10 item 3), on SQLite and PostgreSQL.

Xicheng with one change: street users may import 接诉即办工单 (key ticket_no, scope: own street).
A street user's file naming another street's ticket number is a row error that says only 无权修改,
in every mode: upsert never moves or rewrites the other street's row, and skip_bad_rows does not
tell it apart from any other refusal (no 与已有数据重复 for keys the user cannot see).
"""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from conftest import BACKENDS, api_login, copy_app, start_app
from openpyxl import load_workbook
from xicheng_data import PASSWORD, load_core

pytestmark = pytest.mark.asyncio(loop_scope="session")


def street_users_import_tickets(target):
    from specadmin.generator.writer import generate

    app_dir = copy_app("xicheng", target)
    roles = app_dir / "modules" / "roles.yaml"
    text = roles.read_text(encoding="utf-8")
    line = "      hotline_ticket_query: {actions: [list, read, export]}\n"
    assert text.count(line) == 1
    roles.write_text(text.replace(line, "      hotline_ticket_query: {actions: [list, read, export, import]}\n"),
                     encoding="utf-8")
    generate(app_dir)
    return app_dir


@pytest.fixture(scope="module", params=BACKENDS)
async def xc(request, tmp_path_factory):
    app, _ = await start_app(street_users_import_tickets(tmp_path_factory.mktemp(f"xc-scope-{request.param}")),
                             request.param)
    try:
        ctx = app.state.ctx
        orgs = await load_core(ctx)
        ticket = ctx.table("hotline_ticket")
        for no, street in (("OWN-1", "XC-S01"), ("OTHER-1", "XC-S02"), ("OTHER-2", "XC-S02")):
            await ticket.insert(ticket(ticket_no=no, content="原始诉求", received_at=dt.datetime(2026, 11, 1, 9),
                                       street=orgs[street]))
        yield {"app": app, "ctx": ctx, "orgs": orgs}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


def tickets_csv(rows: list[tuple[str, int, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["工单编号", "接诉时间", "所属街道", "诉求内容"])
    for no, street, content in rows:
        writer.writerow([no, "2026-11-02 10:00", street, content])
    return buffer.getvalue().encode("utf-8")


async def import_tickets(client, data: bytes, name: str, mode: str) -> dict:
    r = await client.post("/api/hotline_ticket/import", params={"screen": "hotline_ticket_query", "mode": mode},
                          files={"file": (name, data)})
    assert r.status_code == 200, r.text
    return r.json()


async def report_rows(client, result: dict) -> set:
    r = await client.get(result["error_file"])
    assert r.status_code == 200
    header, *rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    found = set()
    for row in rows:  # 原行号, 错误原因 (“列：原因”), then the row's cells under the template's headers
        for problem in row[1].split("；"):
            column, reason = problem.split("：", 1)
            found.add((row[0], column, row[header.index(column)], reason))
    return found


async def stored(ctx) -> dict[str, tuple[int, str]]:
    ticket = ctx.table("hotline_ticket")
    return {r["ticket_no"]: (r["street"], r["content"])
            for r in await ticket.select(ticket.ticket_no, ticket.street, ticket.content)}


async def test_upsert_of_another_streets_key_is_refused_as_no_right_and_changes_nothing(xc):
    street1, own = await api_login(xc["app"], "street1", PASSWORD), xc["orgs"]["XC-S01"]
    before = await stored(xc["ctx"])
    data = tickets_csv([("OWN-1", own, "本街道更新"), ("OTHER-1", own, "抢过来"), ("NEW-1", own, "新工单")])
    result = await import_tickets(street1, data, "upsert.csv", "upsert")
    assert (result["status"], result["ok"], result["bad"]) == ("done", 2, 1), result
    assert await report_rows(street1, result) == {(3, "工单编号", "OTHER-1", "无权修改")}
    after = await stored(xc["ctx"])
    assert after["OTHER-1"] == before["OTHER-1"]  # still the other street's, with its own content
    assert after["OWN-1"] == (own, "本街道更新") and after["NEW-1"] == (own, "新工单")


async def test_skip_bad_rows_reports_keys_outside_the_scope_as_no_right_not_as_duplicates(xc):
    street1, own = await api_login(xc["app"], "street1", PASSWORD), xc["orgs"]["XC-S01"]
    data = tickets_csv([("OWN-1", own, "重复"), ("OTHER-2", own, "探测"), ("NEW-2", own, "新工单二")])
    result = await import_tickets(street1, data, "skip.csv", "skip_bad_rows")
    assert (result["ok"], result["bad"]) == (1, 2), result
    assert await report_rows(street1, result) == {(2, "工单编号", "OWN-1", "与已有数据重复"),
                                                  (3, "工单编号", "OTHER-2", "无权修改")}
    assert (await stored(xc["ctx"]))["OTHER-2"] == (xc["orgs"]["XC-S02"], "原始诉求")
    district = await api_login(xc["app"], "district", PASSWORD)  # scope all: the same key is an update
    result = await import_tickets(district, tickets_csv([("OTHER-2", xc["orgs"]["XC-S02"], "区里更新")]),
                                  "district.csv", "upsert")
    assert (result["ok"], result["bad"]) == (1, 0), result
    assert (await stored(xc["ctx"]))["OTHER-2"] == (xc["orgs"]["XC-S02"], "区里更新")
