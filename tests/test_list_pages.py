"""List pages on SQLite and PostgreSQL, read as HTML beside the JSON API: tab counts inside the
user's scope with filters and keyword, date-time ranges (a day or a moment) on 采集时间, drop-downs
of `choices`, a street user's 街道 options, org options as a tree with pinyin initials, page size,
and 按时间范围删除 with its confirmed count. The same behaviours are clicked through in Chromium in
test_pages_kaiping_browser.py and test_pages_xicheng_browser.py."""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from conftest import BACKENDS, api_login, running_app
from kaiping_fixture import PASSWORD as KAIPING_PASSWORD, build
from xicheng_data import PASSWORD as XICHENG_PASSWORD, load_core

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Page(HTMLParser):
    """The parts of a page these tests read: each <select>'s options, each tab's count."""

    def __init__(self, text: str):
        super().__init__()
        self.selects: dict[str, list[dict]] = {}
        self.tabs: dict[str, int] = {}
        self._select: str | None = None
        self._option: dict | None = None
        self._tab: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "select":
            self._select = a.get("name")
            self.selects.setdefault(self._select, [])
        elif tag == "option" and self._select:
            self._option = {**a, "text": ""}
            self.selects[self._select].append(self._option)
        elif tag == "a" and "tab" in (a.get("class") or "").split():
            self._tab = a.get("data-tab")
        elif tag == "span" and a.get("class") == "tab-count" and self._tab:
            self.tabs[self._tab] = int(a["data-count"])

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "option":
            self._option = None
        elif tag == "a":
            self._tab = None

    def handle_data(self, data):
        if self._option is not None:
            self._option["text"] += data

    def options(self, name: str) -> list[str]:
        return [o["text"].strip() for o in self.selects[name] if o.get("value")]


@pytest.fixture(scope="module", params=BACKENDS)
async def kaiping(request, tmp_path_factory):
    async with running_app("kaiping", tmp_path_factory, request.param, "list-pages") as app:
        ctx = app.state.ctx
        await build(ctx)
        scan, entity = ctx.table("scan_record"), ctx.app.entity("scan_record")
        await scan.insert(*[scan(**ctx.sensitive.encode(entity, {
            "place_code": "P1", "place_name": "一号酒家", "subject_id_number": "440783199001011234",
            "scanned_at": dt.datetime(2026, 11, 3, 8, 0) + dt.timedelta(minutes=15 * i),
            "imported_at": dt.datetime(2026, 11, 4, 10, 0), "health_code": ("绿码", "黄码")[i % 2]})) for i in range(12)])
        yield app


@pytest.fixture(scope="module", params=BACKENDS)
async def xicheng(request, tmp_path_factory):
    async with running_app("xicheng", tmp_path_factory, request.param, "list-pages-xc") as app:
        await load_core(app.state.ctx)
        yield app


async def _page(client, url: str, **params) -> tuple[Page, str]:
    r = await client.get(url, params=params) if params else await client.get(url)
    assert r.status_code == 200, r.text[:500]
    return Page(r.text), r.text


async def test_tab_counts_follow_scope_filters_and_keyword(kaiping):
    ops, unit1 = await api_login(kaiping, "ops", KAIPING_PASSWORD), await api_login(kaiping, "unit1", KAIPING_PASSWORD)
    for client, screen, params in ((ops, "place_admin", {}), (ops, "place_admin", {"q": "P3"}),
                                   (unit1, "threshold_admin", {}), (unit1, "threshold_admin", {"q": "二号"})):
        page, _ = await _page(client, f"/s/{screen}", **params)
        assert set(page.tabs) == {"unset", "set"}
        for tab, count in page.tabs.items():
            api = (await client.get("/api/place", params={"screen": screen, "tab": tab, **params})).json()
            assert count == api["total"], (screen, tab, params)
    everyone, _ = await _page(ops, "/s/place_admin")
    assert everyone.tabs == {"unset": 1, "set": 2}  # P3 has no unit; P1, P2 have theirs
    own, _ = await _page(unit1, "/s/threshold_admin")
    assert own.tabs == {"unset": 0, "set": 1}  # only P1 is 开平市教育局's
    searched, _ = await _page(unit1, "/s/threshold_admin", q="二号")
    assert searched.tabs == {"unset": 0, "set": 0}  # P2 is not unit1's


async def test_datetime_range_filters_take_a_day_or_a_moment(kaiping):
    unit1 = await api_login(kaiping, "unit1", KAIPING_PASSWORD)

    async def total(**params) -> int:
        r = await unit1.get("/api/scan_record", params={"screen": "scan_query", **params})
        assert r.status_code == 200, r.text
        return r.json()["total"]

    assert await total(scanned_at_from="2026-11-03T09:00", scanned_at_to="2026-11-03 10:00:00") == 5  # ends included
    assert await total(scanned_at_from="2026-11-03T09:00:01", scanned_at_to="2026-11-03T10:00") == 4
    assert await total(scanned_at_from="2026-11-03", scanned_at_to="2026-11-03") == 12  # a day: all of it
    assert await total(scanned_at_to="2026-11-03T07:59:59") == 3  # P1's rows of 11-01/02 only
    bad = await unit1.get("/api/scan_record", params={"screen": "scan_query", "scanned_at_to": "2026-11-03T25:00"})
    assert bad.status_code == 400 and "scanned_at_to" in bad.json()["detail"]
    export = await unit1.get("/api/scan_record/export.csv", params={
        "screen": "scan_query", "scanned_at_from": "2026-11-03T09:00", "scanned_at_to": "2026-11-03T10:00"})
    assert export.status_code == 200 and len(export.content.decode("utf-8-sig").strip().splitlines()) == 1 + 5
    page, text = await _page(unit1, "/s/scan_query", scanned_at_from="2026-11-03T09:00", scanned_at_to="2026-11-03T10:00")
    assert re.search(r'type="datetime-local"[^>]*name="scanned_at_from" value="2026-11-03T09:00"', text)
    assert "共 5 条" in text
    assert page.options("health_code") == ["绿码", "黄码", "红码"] and page.options("nat_result") == ["阴性", "阳性", "未出结果"]
    _, yellow = await _page(unit1, "/s/scan_query", scanned_at_from="2026-11-03T09:00", health_code="黄码")
    assert "共 4 条" in yellow  # 09:15, 09:45, 10:15, 10:45 (every other row is 黄码)


async def test_page_size_is_a_choice_up_to_a_safe_maximum(kaiping):
    unit1 = await api_login(kaiping, "unit1", KAIPING_PASSWORD)
    page, text = await _page(unit1, "/s/scan_query", page_size="10")
    assert text.count('<tr class="row"') == 10 and "（共 2 页）" in text
    assert [o["value"] for o in page.selects["page_size"]] == ["10", "20", "50", "100"]
    _, text = await _page(unit1, "/s/scan_query", page_size="500")
    assert text.count('<tr class="row"') == 15 and "（共 1 页）" in text  # 500 is not offered: the screen's 20


async def test_delete_range_page_previews_then_deletes_the_confirmed_count(kaiping):
    ops = await api_login(kaiping, "ops", KAIPING_PASSWORD)
    rows = {"field": "imported_at", "start": "2026-11-04T10:00", "end": "2026-11-04T10:00:01"}
    _, text = await _page(ops, "/s/scan_admin/delete-range", **rows)
    assert 'data-count="12"' in text and "确认删除 12 条" in text
    stale = await ops.post("/s/scan_admin/delete-range", data={**rows, "expected": "11"})
    assert stale.status_code == 303 and "/s/scan_admin/delete-range?" in stale.headers["location"]
    _, again = await _page(ops, stale.headers["location"])
    assert "范围内的记录数已变为 12" in again and 'data-count="12"' in again
    done = await ops.post("/s/scan_admin/delete-range", data={**rows, "expected": "12"})
    assert done.status_code == 303 and done.headers["location"] == "/s/scan_admin"
    _, listed = await _page(ops, "/s/scan_admin")
    assert "已删除 12 条记录" in listed
    assert (await ops.get("/api/scan_record/delete-range", params={**rows, "screen": "scan_admin"})).json()["count"] == 0
    unit1 = await api_login(kaiping, "unit1", KAIPING_PASSWORD)  # no delete grant on scan_admin
    assert (await unit1.get("/s/scan_admin/delete-range")).status_code == 403
    assert (await ops.get("/s/place_admin/delete-range")).status_code == 404  # no delete_by_range there
    _, places = await _page(ops, "/s/place_admin")
    assert "btn-delete-range" not in places


async def test_street_drop_downs_offer_only_streets_in_scope_and_orgs_as_a_tree(xicheng):
    street1 = await api_login(xicheng, "street1", XICHENG_PASSWORD)
    for screen in ("batch_admin", "mass_actual_query", "camera_admin"):
        page, _ = await _page(street1, f"/s/{screen}")
        assert page.options("street") == ["西长安街街道"], screen
    form, _ = await _page(street1, "/s/ledger_admin/new")
    assert form.options("street") == ["西长安街街道"]
    district = await api_login(xicheng, "district", XICHENG_PASSWORD)
    page, _ = await _page(district, "/s/mass_actual_query")
    options = [o for o in page.selects["street"] if o.get("value")]
    assert [(o["text"].strip(), o["data-depth"]) for o in options[:3]] == [
        ("西城区", "0"), ("西长安街街道", "1"), ("新街口街道", "1")]
    assert len(options) == 17 and {o["data-initials"] for o in options[1:3]} == {"xcajjd", "xjkjd"}
    _, text = await _page(district, "/s/mass_actual_query")
    assert re.search(r'<select name="street" data-search=', text)  # 17 options: searchable
