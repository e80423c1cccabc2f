"""Multi-valued dictionary fields (`type: dict, multi: true`, spec-language issue item 4): stored as
`,a,b,`, filtered in SQL with any/all and in tab where clauses, shown as labels joined with 、, exported
as `密接、次密接` and imported from labels or keys between 、 , ， ; ；, every write path naming a bad key,
on SQLite and PostgreSQL. The app is the example of specs/REFERENCE.md: the test runs the docs."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from conftest import BACKENDS, reference_blocks, spec_app, write_spec_app

ASYNC = pytest.mark.asyncio(loop_scope="session")
MODULE = reference_blocks()["modules/contacts.yaml"]
APP = "app: contacts\nlabel: 人员\nmodules: [contacts]\n"
PASSWORD = "Contacts@2026x"


# Beside the documented example: an inbound feed, another write path that checks each key.
FEED = """\
roles:
  data_feed: {label: 数据接口接入, grants: {}}
feeds:
  person_push:
    kind: inbound
    label: 人员数据接收
    entity: person
    ops: [create]
    fields: [name, tags]
    caller_role: data_feed
"""


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    return write_spec_app(app_dir, APP, {"contacts": module})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    from specadmin.runtime.api_callers.keys import issue_token, register_key

    app_dir = write_app(tmp_path_factory.mktemp(f"multi-dict-{request.param}"), MODULE + FEED)
    async with spec_app(app_dir, request.param, PASSWORD) as (app, client, unit):
        ctx = app.state.ctx
        await register_key(ctx, "hub", role="data_feed", name="人员数据中心")
        yield {"app": app, "ctx": ctx, "client": client, "token": await issue_token(ctx, "hub")}


@pytest.fixture
async def people(env) -> dict[str, int]:
    """甲 密接+次密接, 乙 密接+发热, 丙 发热, 丁 none; alone in the table; {name: id}."""
    person = env["ctx"].table("person")
    await person.delete(force=True)
    ids = {}
    for name, tags in (("甲", ["second", "close"]), ("乙", "close,fever"), ("丙", ["fever"]), ("丁", [])):
        r = await env["client"].post("/api/person", json={"name": name, "tags": tags})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    return ids


async def names(env, **params) -> list[str]:
    r = await env["client"].get("/api/person", params={"sort": "name", **params})
    assert r.status_code == 200, r.text
    return sorted(i["name"] for i in r.json()["items"])


@ASYNC
async def test_api_stores_the_keys_in_dictionary_order_and_gives_labels_joined(env, people):
    item = (await env["client"].get(f"/api/person/{people['甲']}")).json()
    assert (item["tags"], item["tags_label"]) == (["close", "second"], "密接、次密接")
    empty = (await env["client"].get(f"/api/person/{people['丁']}")).json()
    assert (empty["tags"], empty["tags_label"]) == ([], None)
    stored = env["ctx"].table("person")
    row = (await stored.select(stored.tags).where(stored.id == people["乙"]))[0]
    assert row["tags"] == ",close,fever,"  # the stored form the LIKE filters read
    r = await env["client"].patch(f"/api/person/{people['丙']}", json={"tags": ["travel", "fever", "travel"]})
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["fever", "travel"]


@ASYNC
async def test_an_unknown_key_is_a_422_naming_it_and_writes_nothing(env, people):
    r = await env["client"].post("/api/person", json={"name": "戊", "tags": ["close", "mystery"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == {"tags": "“mystery”不是有效的选项"}
    r = await env["client"].patch(f"/api/person/{people['甲']}", json={"tags": {"close": 1}})
    assert r.status_code in (400, 422), r.text
    assert await names(env) == ["丁", "丙", "乙", "甲"]


@ASYNC
async def test_an_inbound_feed_checks_every_key_and_stores_the_good_records(env, people):
    batch = [{"name": "子", "tags": "fever、close"}, {"name": "丑", "tags": ["close", "zzz"]}]
    r = await env["client"].post("/ext/feeds/person_push", json=batch,
                                 headers={"Authorization": f"Bearer {env['token']}"})
    assert r.status_code == 422, r.text
    results = r.json()["results"]
    assert (results[1]["status"], results[1]["errors"]) == ("error", {"tags": "“zzz”不是有效的选项"}), results
    r = await env["client"].post("/ext/feeds/person_push", json=batch[:1],
                                 headers={"Authorization": f"Bearer {env['token']}"})
    assert r.status_code == 200, r.text
    stored = (await env["client"].get("/api/person", params={"tags": "fever,close", "tags_match": "all"})).json()
    assert sorted((i["name"], i["tags_label"]) for i in stored["items"]) == [("乙", "密接、发热"), ("子", "密接、发热")]


@ASYNC
async def test_list_filters_any_by_default_and_all_on_request(env, people):
    assert await names(env, tags="close") == ["乙", "甲"]
    assert await names(env, tags="second,fever") == ["丙", "乙", "甲"]
    assert await names(env, tags="close,fever", tags_match="all") == ["乙"]
    assert await names(env, tags="close,second", tags_match="any") == ["乙", "甲"]
    r = await env["client"].get("/api/person", params={"tags": "close,nope"})
    assert r.status_code == 400 and "“nope”" in r.text and "tags" in r.text, r.text
    r = await env["client"].get("/api/person", params={"tags": "close", "tags_match": "most"})
    assert r.status_code == 400 and "tags_match" in r.text, r.text


@ASYNC
async def test_a_key_with_like_wildcards_matches_itself_only(env, people):
    """`_` and `%` in a key are escaped: `c_ose` is no pattern for `close`."""
    from specadmin.runtime.data.multi_dict import holds

    person = env["ctx"].table("person")
    assert await person.count().where(holds(person.tags, "c_ose")) == 0
    assert await person.count().where(holds(person.tags, "%")) == 0
    assert await person.count().where(holds(person.tags, "close")) == 2


@ASYNC
async def test_tabs_hold_a_key_any_of_keys_or_none(env, people):
    assert await names(env, screen="person_admin", tab="close") == ["乙", "甲"]
    assert await names(env, screen="person_admin", tab="either") == ["丙", "乙", "甲"]
    assert await names(env, screen="person_admin", tab="untagged") == ["丁"]


@ASYNC
async def test_export_writes_the_labels_joined(env, people):
    r = await env["client"].get("/api/person/export", params={"sort": "name"})
    assert r.status_code == 200, r.text
    rows = {row["姓名"]: row["人员类别"] for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}
    assert rows == {"甲": "密接、次密接", "乙": "密接、发热", "丙": "发热", "丁": ""}


@ASYNC
async def test_import_takes_labels_or_keys_between_any_separator_and_names_unknown_ones(env, people):
    data = "姓名,人员类别\n" + "\n".join([
        "戊,密接、次密接",        # row 2: labels, 、
        "己,close；fever",       # row 3: keys, full-width ；
        '庚,"发热，travel"',     # row 4: a label and a key, full-width ，
        "辛,密接;隔离;无",        # row 5: two unknown ones
        "壬,",                   # row 6: none
    ]) + "\n"
    r = await env["client"].post("/api/person/import", params={"screen": "person_admin", "mode": "skip_bad_rows"},
                                 files={"file": ("people.csv", data.encode("utf-8"))})
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["status"], result["ok"], result["bad"]) == ("done", 4, 1), result
    assert [(p["row"], p["column"], p["reason"]) for p in result["problems"]] == [
        (5, "人员类别", "“隔离”、“无”不是有效的选项")]
    items = {i["name"]: i["tags"] for i in (await env["client"].get("/api/person")).json()["items"]}
    assert (items["戊"], items["己"], items["庚"], items["壬"]) == (
        ["close", "second"], ["close", "fever"], ["fever", "travel"], [])
    assert await names(env, tags="fever", tags_match="all") == ["丙", "乙", "己", "庚"]


@ASYNC
async def test_pages_show_labels_and_the_form_writes_checked_boxes(env, people):
    client = env["client"]
    listing = await client.get("/s/person_admin")
    assert listing.status_code == 200 and "密接、次密接" in listing.text
    filtered = await client.get("/s/person_admin", params={"tags": "second"})
    assert filtered.status_code == 200 and "密接、次密接" in filtered.text and "密接、发热" not in filtered.text
    form = await client.get(f"/s/person_admin/{people['甲']}/edit")
    assert form.status_code == 200
    assert 'type="checkbox"' in form.text and 'value="travel"' in form.text
    r = await client.post(f"/s/person_admin/{people['甲']}/edit",
                          data={"name": "甲", "tags": ["travel", "close"], "version": form.text.split(
                              'name="version" value="')[1].split('"')[0]})
    assert r.status_code in (200, 303), r.text[:500]
    item = (await client.get(f"/api/person/{people['甲']}")).json()
    assert item["tags"] == ["close", "travel"]
    bad = await client.post("/s/person_admin/new", data={"name": "癸", "tags": ["close", "bogus"]})
    assert bad.status_code == 422 and "“bogus”不是有效的选项" in bad.text


def test_check_names_misuse_of_multi_with_its_code_file_and_line(tmp_path, capsys):
    from specadmin.cli import main

    broken = (MODULE
              .replace("name: {type: string, label: 姓名, required: true, max_length: 50}",
                       "name: {type: string, label: 姓名, required: true, max_length: 50, multi: true}")
              .replace("tags: {type: dict, dict: contact_kind, multi: true, label: 人员类别}",
                       "tags: {type: dict, dict: contact_kind, multi: true, label: 人员类别, unique: true}")
              .replace("where: {tags: {in: [close, fever]}}", "where: {tags: {gte: close}}")
              .replace("import: {columns: [name, tags]}", "import: {columns: [name, tags], key: [tags]}"))
    write_app(tmp_path, broken)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    lines = broken.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if text in line)

    found = {e.removeprefix(f"{tmp_path.name}/") for e in err.splitlines() if "[SA21" in e}
    assert found == {
        f"modules/contacts.yaml:{line_of('max_length: 50, multi: true')}: [SA210] field 'name': multi needs a dict or file "
        "field (several records: multi_ref), not string",
        f"modules/contacts.yaml:{line_of('人员类别, unique: true')}: [SA211] field 'tags': a multi-valued dict "
        "cannot have unique",
        f"modules/contacts.yaml:{line_of('{gte: close}')}: [SA213] where: 'tags' holds several keys; use eq or "
        "contains (holds the key), in (holds any of them) or not, not 'gte'",
        f"modules/contacts.yaml:{line_of('key: [tags]')}: [SA214] import key 'tags' is a multi-valued dict; one "
        "value per row is needed there",
    }, err


def test_a_statistic_cannot_group_by_a_multi_valued_dict(tmp_path, capsys):
    from specadmin.cli import main

    stat = ("  person_stat:\n    entity: person\n    label: 人员统计\n"
            "    stat: {group_by: [tags], measures: {n: {agg: count, label: 人数}}}\n")
    module = MODULE.replace("roles:", stat + "roles:") if "roles:" in MODULE else MODULE + stat
    write_app(tmp_path, module)
    assert main(["check", str(tmp_path)]) == 1
    err = [e for e in capsys.readouterr().err.splitlines() if "[SA" in e]
    line = next(i for i, text in enumerate(module.splitlines(), 1) if "group_by: [tags]" in text)
    assert [e.removeprefix(f"{tmp_path.name}/") for e in err] == [
        f"modules/contacts.yaml:{line}: [SA212] stat group 'tags' holds several keys per row; a statistic cannot "
        "group by it (filter by it, or group by a single-valued field)"]
