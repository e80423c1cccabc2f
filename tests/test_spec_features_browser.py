"""The spec-language features that have a page, in headless Chromium (spec-language issue "Tests"),
over one small app: a deadline's lights on a list (the dot with 正常/临期/超期, the light filter, the
超期 tab count) and an adjusted working Saturday added on the 工作日历 page moving a deadline; a
multi-valued dict's check boxes saved and shown as labels joined with 、 and its list filter; a
computed band's drop-down filter, a child aggregate's column sorted by clicking its header and its
'has none' tab; a pull's owned screen without 导入/删除 while the external database is configured.
No page may report a Content-Security-Policy violation."""
from __future__ import annotations

import datetime as dt

import pytest
from browser_support import csp_violations, login, row_links, serve, submit_filters, watch_csp
from conftest import write_spec_app

pytestmark = pytest.mark.browser
PASSWORD = "Features@2026x"
NOW = dt.datetime.now().replace(microsecond=0)
FRIDAY = dt.datetime(2027, 1, 8, 10, 0)  # the Saturday after it, 2027-01-09, is an ordinary day off

APP = """\
app: features
label: 功能验收
modules: [features]
external_databases:
  station_db: {label: 监测站前置库, url: "${STATION_DB_URL:-}"}
"""
MODULE = """\
label: 功能验收
dictionaries:
  case_status: {label: 事件状态, items: {open: 办理中, closed: 已办结}}
  task_state: {label: 任务状态, items: {open: 未完成, done: 已完成}}
  contact_kind: {label: 人员类别, items: {close: 密接, second: 次密接, fever: 发热}}
entities:
  case:
    label: 事件
    display: title
    fields:
      title: {type: string, label: 标题, required: true, max_length: 50}
      reported_at: {type: datetime, label: 上报时间, required: true}
      limit_days: {type: integer, label: 时限天数, min: 0, max: 60}
      status: {type: dict, dict: case_status, label: 状态, default: open}
      due_at:
        type: datetime
        label: 办结时限
        deadline: {from: reported_at, days: limit_days}
        lights: {yellow: {days: 3}, done: {status: [closed]}}
      reply_by:
        type: datetime
        label: 签收时限
        deadline: {from: reported_at, working_days: 1}
      open_tasks: {type: computed, label: 未完成任务数, aggregate: {of: task, via: case, agg: count, where: {state: open}}}
  task:
    label: 任务
    display: title
    fields:
      title: {type: string, label: 任务, required: true, max_length: 50}
      case: {type: ref, to: case, label: 事件, required: true}
      state: {type: dict, dict: task_state, label: 状态, required: true}
  person:
    label: 人员
    display: name
    fields:
      name: {type: string, label: 姓名, required: true, max_length: 50}
      birth_date: {type: date, label: 出生日期}
      tags: {type: dict, dict: contact_kind, multi: true, label: 人员类别}
      age_band: {type: computed, expr: "band(age(birth_date), [18, 60])", label: 年龄段}
  reading:
    label: 监测记录
    fields:
      code: {type: string, label: 记录编号, required: true, unique: true, max_length: 40}
      value: {type: integer, label: 读数, min: 0}
screens:
  case_admin:
    entity: case
    label: 事件管理
    list: [title, reported_at, due_at, reply_by, open_tasks, status]
    form: [title, reported_at, limit_days, status]
    filters: [due_at]
    sort: reported_at
    actions: [create, update]
    tabs:
      open: {label: 办理中, where: {status: open}}
      overdue: {label: 超期, where: {due_at_light: red}}
      no_open: {label: 无未完成任务, where: {open_tasks: 0}}
  person_admin:
    entity: person
    label: 人员管理
    list: [name, tags, birth_date, age_band]
    filters: [tags, age_band]
    sort: name
    actions: [create, update]
  reading_admin:
    entity: reading
    label: 监测记录管理
    list: [code, value]
    actions: [export, import, delete]
    import: {key: [code]}
pulls:
  station_readings:
    label: 监测站读数
    database: station_db
    table: t_reading
    entity: reading
    fields: {code: BH, value: DS}
    watermark: GXSJ
    owns: [reading_admin]
"""


async def _load(ctx) -> None:
    from specadmin.runtime.calendar.deadlines import fill_missing
    from specadmin.runtime.identity.users import ensure_user

    org = ctx.table("org")
    oid = (await org.insert(org(code="HQ", name="总部", level="city", org_type="department", active=True))
           .returning(org.id))[0]["id"]
    await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
    await ensure_user(ctx, "admin", PASSWORD, name="管理员", org_code="HQ", superuser=True)
    case, task = ctx.table("case"), ctx.table("task")
    ids = {}
    for title, reported, days, status in (("甲", NOW - dt.timedelta(days=10), 1, "open"),  # overdue
                                          ("乙", NOW - dt.timedelta(days=1), 2, "open"),   # due in a day: 临期
                                          ("丙", NOW, 30, "open"),                          # 正常
                                          ("丁", NOW - dt.timedelta(days=10), 1, "closed"),  # done: no light
                                          ("周五事件", FRIDAY, 30, "open")):
        ids[title] = (await case.insert(case(title=title, reported_at=reported, limit_days=days, status=status))
                      .returning(case.id))[0]["id"]
    assert await fill_missing(ctx) == 5  # rows written in bulk: their deadlines computed as a job would
    for title, state in (("甲", "open"), ("甲", "open"), ("乙", "open"), ("丁", "done")):
        await task.insert(task(title=f"{title}的任务", case=ids[title], state=state))
    person = ctx.table("person")
    for name, born, tags in (("老张", dt.date(1950, 3, 1), ",second,"), ("小李", dt.date(2000, 5, 1), None),
                             ("小王", dt.date(2015, 7, 1), ",fever,")):
        await person.insert(person(name=name, birth_date=born, tags=tags))
    reading = ctx.table("reading")
    await reading.insert(reading(code="R001", value=12))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from specadmin.generator.writer import generate

    app_dir = write_spec_app(tmp_path_factory.mktemp("features-browser"), APP, {"features": MODULE})
    generate(app_dir)
    source = app_dir / "station.db"  # configured, so the pull owns its screen (nothing is pulled here)
    with serve(app_dir, _load, {"STATION_DB_URL": f"sqlite:///{source}"}) as base:
        yield base


PROBLEMS: list[str] = []  # CSP violations and script errors of every document the page loaded


@pytest.fixture(scope="module")
def page(server, browser):
    page = login(browser, server, "admin", PASSWORD)
    watch_csp(page)  # the current document's violations, as the browser reports them to the page
    page.on("console", lambda m: PROBLEMS.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text else None)  # every earlier one
    page.on("pageerror", lambda e: PROBLEMS.append(str(e)))
    yield page
    page.context.close()


@pytest.fixture(autouse=True)
def no_page_problems(page):
    """Each test ends with no CSP violation and no script error on any page it opened."""
    yield
    assert csp_violations(page) == [] and PROBLEMS == [], PROBLEMS


def cells(page, column: str) -> dict[str, str]:
    """{first column's text: the text of the cell under the header labelled `column`} of the list shown."""
    return page.evaluate("""label => {
        const heads = [...document.querySelectorAll("table.list[data-screen] thead th")];
        const i = heads.findIndex(th => th.innerText.replace(/[▲▼]/g, "").trim() === label);
        const first = heads.findIndex(th => th.dataset.col);  // the first list column names the row
        return Object.fromEntries([...document.querySelectorAll("table.list[data-screen] tr.row")].map(
            tr => [tr.children[first].innerText.trim(), tr.children[i].innerText.trim()]));
    }""", column)


def order(page) -> list[str]:
    return [t.strip() for t in page.locator("table.list tr.row a.row-link").all_inner_texts()]


def tab_count(page, tab: str) -> int:
    return int(page.locator(f".tabs a[data-tab={tab}] .tab-count").get_attribute("data-count"))


def test_lights_show_as_dots_filter_the_list_and_count_the_overdue_tab(server, page):
    page.goto(f"{server}/s/case_admin")
    lights = cells(page, "办结时限")
    assert lights["甲"].endswith("超期") and lights["乙"].endswith("临期") and lights["丙"].endswith("正常"), lights
    assert page.locator("tr.row:has(a.row-link:text-is('甲')) .light.light-red").inner_text() == "超期"
    assert tab_count(page, "overdue") == 1  # 丁 is overdue too, but closed
    page.select_option("select[name=due_at_light]", label="临期")
    submit_filters(page)
    assert row_links(page) == {"乙"}
    assert page.locator("select[name=due_at_light] option:checked").inner_text() == "临期"
    with page.expect_navigation():
        page.locator(".tabs a[data-tab=overdue]").click()
    assert row_links(page) == set()  # the filter stays through the tab: nothing is both 临期 and 超期
    page.goto(f"{server}/s/case_admin?tab=overdue")
    assert row_links(page) == {"甲"}


def test_an_aggregate_column_sorts_by_clicking_its_header_and_its_has_none_tab(server, page):
    page.goto(f"{server}/s/case_admin")
    assert order(page) == ["甲", "乙", "丙", "周五事件"]  # the screen's order: by 上报时间
    assert cells(page, "未完成任务数") == {"甲": "2", "乙": "1", "丙": "0", "周五事件": "0"}
    with page.expect_navigation():
        page.click("th[data-col=open_tasks] a.sort-link")
    assert order(page)[-1] == "甲" and order(page)[-2] == "乙"
    assert page.locator("th[data-col=open_tasks]").get_attribute("aria-sort") == "ascending"
    with page.expect_navigation():
        page.click("th[data-col=open_tasks] a.sort-link")
    assert order(page)[:2] == ["甲", "乙"]
    assert "▼" in page.locator("th[data-col=open_tasks]").inner_text()
    with page.expect_navigation():
        page.locator(".tabs a[data-tab=no_open]").click()
    assert row_links(page) == {"丙", "丁", "周五事件"}
    assert tab_count(page, "no_open") == 3
    assert page.locator("th[data-col=open_tasks]").get_attribute("aria-sort") == "descending"  # kept


def test_a_working_saturday_added_on_the_calendar_page_moves_a_deadline(server, page):
    page.goto(f"{server}/s/case_admin")
    assert cells(page, "签收时限")["周五事件"].startswith("2027-01-11 17:30")  # Friday → Monday's close
    page.goto(f"{server}/s/calendar_day_admin")
    with page.expect_navigation():
        page.click("#btn-new")
    page.fill("#f-day", "2027-01-09")
    page.select_option("#f-kind", label="调休上班")
    page.fill("#f-name", "调休上班")
    with page.expect_navigation():
        page.click("#btn-save")
    page.goto(f"{server}/s/calendar_day_admin")
    assert "2027-01-09" in cells(page, "类型") and cells(page, "类型")["2027-01-09"] == "调休上班"
    page.goto(f"{server}/s/case_admin")
    with page.expect_navigation():
        page.locator("tr.row:has(a.row-link:text-is('周五事件')) a.op-edit").click()
    page.fill("#f-reported_at", "2027-01-08T10:30:00")  # its start changed: the deadline is computed again
    with page.expect_navigation():
        page.click("#btn-save")
    page.goto(f"{server}/s/case_admin")
    assert cells(page, "签收时限")["周五事件"].startswith("2027-01-09 17:30")  # the worked Saturday


def test_multi_dict_check_boxes_are_saved_shown_joined_and_filtered(server, page):
    page.goto(f"{server}/s/person_admin/new")
    page.fill("#f-name", "小赵")
    page.check("#f-tags input[value=close]")
    page.check("#f-tags input[value=fever]")
    with page.expect_navigation():
        page.click("#btn-save")
    page.goto(f"{server}/s/person_admin")
    assert cells(page, "人员类别") == {"老张": "次密接", "小李": "", "小王": "发热", "小赵": "密接、发热"}
    page.select_option("select[name=tags]", label="发热")
    submit_filters(page)
    assert row_links(page) == {"小王", "小赵"}
    page.goto(f"{server}/s/person_admin")
    with page.expect_navigation():
        page.locator("tr.row:has(a.row-link:text-is('小赵')) a.op-edit").click()
    assert page.locator("#f-tags input:checked").evaluate_all("els => els.map(e => e.value)") == ["close", "fever"]


def test_a_band_filters_from_its_drop_down(server, page):
    page.goto(f"{server}/s/person_admin")
    options = page.locator("select[name=age_band] option").all_inner_texts()
    assert [o.strip() for o in options] == ["全部", "0-17", "18-59", "60+"]
    page.select_option("select[name=age_band]", label="60+")
    submit_filters(page)
    assert row_links(page) == {"老张"}
    assert cells(page, "年龄段") == {"老张": "60+"}


def test_the_screen_a_configured_pull_owns_offers_no_import_and_no_delete(server, page):
    page.goto(f"{server}/s/reading_admin")
    assert row_links(page) == {"R001"}
    assert page.locator("#btn-export").count() == 1  # its other actions stay
    assert page.locator("#import-form, #btn-import, #btn-import-template").count() == 0
    assert page.locator("a.op-delete, #btn-delete-range").count() == 0
    assert page.get_by_text("导入", exact=True).count() == 0 and page.get_by_text("删除", exact=True).count() == 0
