"""multi_ref columns imported by the targets' business key (spec-language issue item 4): a cell names
several skills by code (、 , ， ; ；), unknown ones are a row error naming them, the join rows commit
with the rows (numbered ahead on PostgreSQL, at publish on SQLite), an upsert replaces them, and an
export writes the codes so it imports again. The app is REFERENCE's "modules/crews.yaml" example,
on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from conftest import BACKENDS, reference_blocks, spec_app, write_spec_app

from specadmin.generator.build import load_app
from specadmin.generator.errors import SpecInvalid

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Crews@2026x"
APP = "app: demo\nlabel: 示例\nmodules: [crews]\n"
MODULE = reference_blocks()["modules/crews.yaml"]


def write_app(app_dir: Path, module: str = MODULE) -> Path:
    return write_spec_app(app_dir, APP, {"crews": module})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    app_dir = write_app(tmp_path_factory.mktemp(f"multiref-{request.param}"))
    async with spec_app(app_dir, request.param, PASSWORD) as (app, client, _):
        ctx = app.state.ctx
        skill = ctx.table("skill")
        for i in range(1, 6):
            await skill.insert(skill(code=f"K0{i}", name=f"技能{i}"))
        yield {"ctx": ctx, "client": client}


def sheet(rows, header=("工号", "姓名", "技能")) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def upload(client, data: bytes, mode: str, name: str) -> dict:
    r = await client.post("/api/worker/import", params={"screen": "worker_admin", "mode": mode, "force": "true"},
                          files={"file": (f"{name}.csv", data)})
    assert r.status_code == 200, r.text
    return r.json()


async def links(env) -> dict[str, list[str]]:
    """Every worker's skill codes, from the rows and the join table."""
    ctx = env["ctx"]
    worker, skill, join = ctx.table("worker"), ctx.table("skill"), ctx.join_table("worker", "skills")
    codes = {r["id"]: r["code"] for r in await worker.select(worker.id, worker.code)}
    skills = {r["id"]: r["code"] for r in await skill.select(skill.id, skill.code)}
    out: dict[str, list[str]] = {code: [] for code in codes.values()}
    for r in await join.select(join.owner, join.target):
        out[codes[r["owner"]]].append(skills[r["target"]])
    return {k: sorted(v) for k, v in out.items()}


async def test_a_multi_ref_cell_names_several_targets_by_code_with_any_separator(env):
    result = await upload(env["client"], sheet([
        ("A1", "甲", ""),                        # no skill
        ("A2", "乙", "K01"),                     # one
        ("A3", "丙", "K01、K02, K03"),           # three, 、 and a half-width comma
        ("A4", "丁", "K02；K07，K09"),           # unknown codes: the row is rejected, naming both
        ("A5", "戊", "Ｋ04;K05；"),              # full-width letters fold, a trailing separator is nothing
    ]), "skip_bad_rows", "first")
    assert (result["status"], result["ok"], result["bad"]) == ("done", 4, 1), result
    assert [(p["row"], p["column"], p["reason"]) for p in result["problems"]] == [(5, "技能", "“K07”、“K09”不存在")]
    assert await links(env) == {"A1": [], "A2": ["K01"], "A3": ["K01", "K02", "K03"], "A5": ["K04", "K05"]}


async def test_all_or_nothing_with_an_unknown_code_writes_no_row_and_no_join_row(env):
    before = await links(env)
    result = await upload(env["client"], sheet([("B1", "己", "K01、K02"), ("B2", "庚", "K08")]),
                          "all_or_nothing", "bad")
    assert (result["status"], result["bad"]) == ("failed", 1), result
    assert [(p["row"], p["reason"]) for p in result["problems"]] == [(3, "“K08”不存在")]
    assert await links(env) == before


async def test_an_upsert_replaces_the_join_rows_of_updated_rows(env):
    result = await upload(env["client"], sheet([
        ("A2", "乙", "K04;K05"),   # K01 -> K04, K05
        ("A3", "丙", ""),          # all three dropped
        ("C1", "辛", "K03"),       # a new row beside the updates
    ]), "upsert", "upsert")
    assert (result["status"], result["ok"], result["bad"]) == ("done", 3, 0), result["message"]
    got = await links(env)
    assert (got["A2"], got["A3"], got["C1"], got["A5"]) == (["K04", "K05"], [], ["K03"], ["K04", "K05"])


async def test_an_import_without_the_column_leaves_the_join_rows_alone(env):
    before = await links(env)
    result = await upload(env["client"], sheet([("A5", "戊二", )], header=("工号", "姓名")), "upsert", "names")
    assert (result["status"], result["ok"]) == ("done", 1), result
    assert await links(env) == before


async def test_an_export_writes_the_codes_and_imports_again(env):
    ctx, client = env["ctx"], env["client"]
    r = await client.get("/api/worker/export.csv", params={"screen": "worker_admin"})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["工号", "姓名", "技能"]
    assert {row[0]: row[2] for row in rows[1:]}["A2"] == "K04、K05"
    before = await links(env)
    join = ctx.join_table("worker", "skills")
    await join.delete(force=True)
    result = await upload(client, r.content, "upsert", "again")
    assert (result["status"], result["ok"], result["bad"]) == ("done", len(rows) - 1, 0), result
    assert await links(env) == before


async def test_the_template_says_how_to_separate_several_codes(env):
    import openpyxl

    r = await env["client"].get("/api/worker/import/template", params={"screen": "worker_admin"})
    assert r.status_code == 200
    sheet_ = openpyxl.load_workbook(io.BytesIO(r.content)).active
    notes = {c.value: c.comment.text if c.comment else "" for c in sheet_[1]}
    assert "填写技能编码，多个用、或逗号分号隔开" in notes["技能"]


@pytest.mark.parametrize("old,new,code,needle", [
    ("skills: {type: multi_ref, to: skill, by: code,", "skills: {type: multi_ref, to: skill,", "SA220", "import: {"),
    ("by: code, label: 技能", "by: name, label: 技能", "SA039", "skills: {type"),
])
async def test_a_multi_ref_import_column_without_a_business_key_is_reported(tmp_path, old, new, code, needle):
    assert old in MODULE
    module = MODULE.replace(old, new)
    with pytest.raises(SpecInvalid) as info:
        load_app(write_app(tmp_path, module))
    line = next(i for i, text in enumerate(module.splitlines(), 1) if needle in text)
    assert [(e.code, Path(e.file).name, e.line) for e in info.value.errors] == [(code, "crews.yaml", line)]
