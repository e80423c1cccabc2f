"""API callers on /ext/api, on SQLite and PostgreSQL: SM2-signed requests, bearer tokens, refusals, CLI, docs.

The Kaiping copy gets one extra role, `partner`, whose grant names its own scope (本级 by
supervisor), so a caller's org narrows its rows; the built-in `supervisor` role names no
scope, so a caller with that role sees every place.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import os
import re
import secrets
import time
from pathlib import Path

import httpx
import pytest
from conftest import start_app, database_env, BACKENDS, ROOT, copy_app
from kaiping_fixture import PASSWORD, build
from specadmin.runtime.crypto import (
    canonical_query,
    generate_keypair,
    sign,
    signing_string,
    sm3_hex,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

PARTNER_MODULE = """roles:
  partner:
    label: 合作系统
    grants:
      threshold_admin: {actions: [list, read], scope: {mode: own_unit, field: supervisor}}
"""


def add_partner_role(app_dir: Path) -> None:
    from specadmin.generator.writer import generate

    (app_dir / "modules" / "partners.yaml").write_text(PARTNER_MODULE, encoding="utf-8")
    app_yaml = app_dir / "app.yaml"
    text = app_yaml.read_text(encoding="utf-8")
    app_yaml.write_text(re.sub(r"^modules: \[(.*)\]$", r"modules: [\1, partners]", text, flags=re.MULTILINE), encoding="utf-8")
    generate(app_dir)


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):

    app_dir = copy_app("kaiping", tmp_path_factory.mktemp(f"callers-{request.param}"))
    add_partner_role(app_dir)
    app, url = await start_app(app_dir, request.param)
    try:
        ids = await build(app.state.ctx)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        yield {"app": app, "ctx": app.state.ctx, "ids": ids, "client": client, "dir": app_dir, "url": url}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def add_caller(env, code: str, role: str | None = "supervisor", org: str | None = None, **values):
    """Register a caller with a fresh key pair; returns (private, public)."""
    from specadmin.runtime.api_callers.keys import register_key

    ctx = env["ctx"]
    private, public = await register_key(ctx, code, role=role)
    table = ctx.table("api_caller")
    if org:
        values["org"] = env["ids"][org]
    if values:
        await table.update(values).where(table.code == code)
    return private, public


def signed(code, private, public, method, path, params=(), body=b"", timestamp=None, nonce=None) -> dict:
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(12)
    message = signing_string(method, path, list(params), body, timestamp, nonce)
    return {"X-SA-Caller": code, "X-SA-Timestamp": timestamp, "X-SA-Nonce": nonce,
            "X-SA-Signature": sign(private, public, message)}


async def signed_get(env, code, keys, path, params=(), **kw) -> httpx.Response:
    return await env["client"].get(path, params=list(params), headers=signed(code, *keys, "GET", path, params, **kw))


def place_codes(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {row["place_code"] for row in response.json()["items"]}


def refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["detail"] == reason


# -- what a valid caller sees ---------------------------------------------------------

async def test_signed_caller_sees_only_rows_and_screens_its_role_grants(env):
    edu = await add_caller(env, "edu", role="partner", org="U1")
    hub = await add_caller(env, "hub", role="supervisor")
    orphan = await add_caller(env, "orphan", role="partner")  # explicit 本级 scope, but no org
    assert place_codes(await signed_get(env, "edu", edu, "/ext/api/place")) == {"P1"}
    assert place_codes(await signed_get(env, "hub", hub, "/ext/api/place")) == {"P1", "P2", "P3"}
    assert place_codes(await signed_get(env, "orphan", orphan, "/ext/api/place")) == set()
    ids = env["ids"]
    one = await signed_get(env, "edu", edu, f"/ext/api/place/{ids['P1']}")
    assert one.status_code == 200 and one.json()["place_code"] == "P1"
    assert "supervisor_phone" not in one.json()  # only threshold_admin's fields, not place_admin's
    assert (await signed_get(env, "edu", edu, f"/ext/api/place/{ids['P2']}")).status_code == 404
    assert (await signed_get(env, "edu", edu, "/ext/api/org")).status_code == 403
    assert (await signed_get(env, "edu", edu, "/ext/api/scan_record")).status_code == 403


async def test_signed_query_with_chinese_keyword_and_filter_passes(env):
    keys = await add_caller(env, "kw", role="supervisor")
    params = [("q", "酒家"), ("street", "changsha"), ("page_size", 50)]
    response = await signed_get(env, "kw", keys, "/ext/api/place", params)
    assert place_codes(response) == {"P1"} and response.json()["page_size"] == 50
    refused(await signed_get(env, "kw", keys, "/ext/api/place", [("no_such", "1")]), 400, "未知的查询参数 no_such")


async def test_sensitive_fields_stay_masked_for_callers(env):
    keys = await add_caller(env, "mask", role="supervisor")
    rows = (await signed_get(env, "mask", keys, "/ext/api/place")).json()["items"]
    assert rows and all("*" in row["location"] for row in rows)


async def test_caller_role_counts_only_while_active_in_force_and_its_stored_grants_unexpired(env):
    ctx = env["ctx"]
    role, grant = ctx.table("role"), ctx.table("grant")
    yesterday = dt.date.today() - dt.timedelta(days=1)
    role_id = (await role.insert(role(code="feed", label="数据交换", active=True, valid_to=yesterday))
               .returning(role.id))[0]["id"]
    grant_id = (await grant.insert(grant(role=role_id, screen="threshold_admin", actions="list,read"))
                .returning(grant.id))[0]["id"]
    keys = await add_caller(env, "feeder", role="feed")
    assert (await signed_get(env, "feeder", keys, "/ext/api/place")).status_code == 403  # role expired
    await role.update({role.valid_to: None}).where(role.id == role_id)
    # A stored grant takes the screen's default scope (本级); for a caller that becomes `all`.
    assert place_codes(await signed_get(env, "feeder", keys, "/ext/api/place")) == {"P1", "P2", "P3"}
    await grant.update({grant.valid_until: yesterday}).where(grant.id == grant_id)
    assert (await signed_get(env, "feeder", keys, "/ext/api/place")).status_code == 403  # grant expired
    await grant.update({grant.valid_until: None}).where(grant.id == grant_id)
    await role.update({role.active: False}).where(role.id == role_id)
    assert (await signed_get(env, "feeder", keys, "/ext/api/place")).status_code == 403  # role inactive


async def test_disabled_api_resource_refuses_callers_too(env):
    ctx = env["ctx"]
    keys = await add_caller(env, "blocked")
    resource = ctx.table("api_resource")
    await resource.insert(resource(name="场所接口", address="/ext/api/place", res_type="service", active=False))
    await ctx.refresh_caches()  # function rules are cached until the caches are refreshed
    try:
        refused(await signed_get(env, "blocked", keys, "/ext/api/place"), 403, "该地址已停用，禁止访问")
        assert (await signed_get(env, "blocked", keys, "/ext/api/scan_alert")).status_code == 200
    finally:
        await resource.delete().where(resource.address == "/ext/api/place")
        await ctx.refresh_caches()  # function rules are cached until the caches are refreshed
    assert (await signed_get(env, "blocked", keys, "/ext/api/place")).status_code == 200


# -- refusals -------------------------------------------------------------------------

async def test_tampered_body_is_refused_as_bad_signature(env):
    keys = await add_caller(env, "body")
    headers = signed("body", *keys, "GET", "/ext/api/place", body=b'{"page": 1}')
    ok = await env["client"].request("GET", "/ext/api/place", headers=headers, content=b'{"page": 1}')
    assert ok.status_code == 200, ok.text
    headers = signed("body", *keys, "GET", "/ext/api/place", body=b'{"page": 1}')
    refused(await env["client"].request("GET", "/ext/api/place", headers=headers, content=b'{"page": 2}'),
            401, "签名无效")


async def test_tampered_query_is_refused_as_bad_signature(env):
    keys = await add_caller(env, "query")
    headers = signed("query", *keys, "GET", "/ext/api/place", [("q", "一号")])
    refused(await env["client"].get("/ext/api/place", params={"q": "二号"}, headers=headers), 401, "签名无效")


async def test_tampered_path_is_refused_as_bad_signature(env):
    keys = await add_caller(env, "path", role="ops")
    headers = signed("path", *keys, "GET", "/ext/api/place")
    refused(await env["client"].get("/ext/api/scan_record", headers=headers), 401, "签名无效")


async def test_signature_with_another_key_is_refused(env):
    await add_caller(env, "wrongkey")
    other = generate_keypair()
    refused(await signed_get(env, "wrongkey", other, "/ext/api/place"), 401, "签名无效")


async def test_unknown_caller_is_refused_as_bad_signature(env):
    refused(await signed_get(env, "nobody-here", generate_keypair(), "/ext/api/place"), 401, "签名无效")


# Well outside the ±300 s window: a loaded machine can take a second or more between signing and checking.
@pytest.mark.parametrize("offset", [-330, 330])
async def test_timestamp_outside_300_seconds_is_refused(env, offset):
    code = "stale-early" if offset < 0 else "stale-late"
    keys = await add_caller(env, code)
    refused(await signed_get(env, code, keys, "/ext/api/place", timestamp=int(time.time()) + offset),
            401, "时间戳已过期")
    inside = -290 if offset < 0 else 290
    assert (await signed_get(env, code, keys, "/ext/api/place", timestamp=int(time.time()) + inside)).status_code == 200


async def test_replayed_nonce_is_refused_but_other_callers_may_use_it(env):
    first = await add_caller(env, "replay1")
    second = await add_caller(env, "replay2")
    headers = signed("replay1", *first, "GET", "/ext/api/place", nonce="same-nonce-0001")
    assert (await env["client"].get("/ext/api/place", headers=headers)).status_code == 200
    refused(await env["client"].get("/ext/api/place", headers=headers), 401, "重复的请求")
    assert (await signed_get(env, "replay2", second, "/ext/api/place", nonce="same-nonce-0001")).status_code == 200


async def test_nonces_older_than_the_replay_window_are_purged(env):
    from specadmin.runtime.api_callers.gate import CallerGate

    keys = await add_caller(env, "purge")
    ctx = env["ctx"]
    nonce = ctx.table("api_nonce")
    caller_id = (await ctx.table("api_caller").select().where(ctx.table("api_caller").code == "purge"))[0]["id"]
    await nonce.insert(nonce(caller=caller_id, nonce=f"{caller_id}:old-nonce-1",
                             seen_at=dt.datetime.now() - dt.timedelta(minutes=12)),
                       nonce(caller=caller_id, nonce=f"{caller_id}:recent-nonce-1",
                             seen_at=dt.datetime.now() - dt.timedelta(minutes=5)))
    CallerGate.of(env["app"])._purged_at = 0.0  # due for its once-a-minute purge
    assert (await signed_get(env, "purge", keys, "/ext/api/place")).status_code == 200
    left = {r["nonce"] for r in await nonce.select(nonce.nonce).where(nonce.caller == caller_id)}
    assert f"{caller_id}:old-nonce-1" not in left and f"{caller_id}:recent-nonce-1" in left


async def test_disabled_caller_is_refused_after_its_signature_checks_out(env):
    keys = await add_caller(env, "off", enabled=False)
    refused(await signed_get(env, "off", keys, "/ext/api/place"), 401, "调用方已停用")
    refused(await signed_get(env, "off", generate_keypair(), "/ext/api/place"), 401, "签名无效")


async def test_caller_outside_its_validity_period_is_refused(env):
    today = dt.date.today()
    expired = await add_caller(env, "old", valid_from=today - dt.timedelta(days=30), valid_to=today - dt.timedelta(days=1))
    future = await add_caller(env, "future", valid_from=today + dt.timedelta(days=1))
    current = await add_caller(env, "current", valid_from=today, valid_to=today)
    refused(await signed_get(env, "old", expired, "/ext/api/place"), 401, "调用方已过期")
    refused(await signed_get(env, "future", future, "/ext/api/place"), 401, "调用方尚未生效")
    assert (await signed_get(env, "current", current, "/ext/api/place")).status_code == 200


async def test_missing_or_partial_credentials_are_refused(env):
    keys = await add_caller(env, "partial")
    refused(await env["client"].get("/ext/api/place"), 401, "缺少认证信息（Authorization 令牌或 X-SA-* 签名头）")
    headers = signed("partial", *keys, "GET", "/ext/api/place")
    del headers["X-SA-Nonce"]
    refused(await env["client"].get("/ext/api/place", headers=headers), 401, "签名信息不完整")


async def test_rate_limit_answers_429_after_the_callers_calls_per_minute(env):
    keys = await add_caller(env, "busy", rate_limit_per_minute=3)
    if int(time.time()) % 60 > 55:  # keep all calls inside one counting minute
        await asyncio.sleep(6)
    for _ in range(3):
        assert (await signed_get(env, "busy", keys, "/ext/api/place")).status_code == 200
    response = await signed_get(env, "busy", keys, "/ext/api/place")
    refused(response, 429, "超出调用频率限制")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    unlimited = await add_caller(env, "free", rate_limit_per_minute=0)
    for _ in range(5):
        assert (await signed_get(env, "free", unlimited, "/ext/api/place")).status_code == 200


async def test_rate_limit_is_shared_through_redis_when_configured(env):
    from specadmin.runtime.api_callers.gate import CallerGate
    from specadmin.runtime.api_callers.limits import RedisLimiter, make_limiter

    url = os.environ.get("SPECADMIN_TEST_REDIS_URL")
    if not url:
        pytest.fail("SPECADMIN_TEST_REDIS_URL is not set: run the suite with `bash scripts/test.sh`")
    assert isinstance(make_limiter(url, "x"), RedisLimiter)
    keys = await add_caller(env, "shared", rate_limit_per_minute=2)
    app = env["app"]
    local = CallerGate.of(app)
    namespace = f"test-{secrets.token_hex(6)}"
    workers = [CallerGate(env["ctx"], RedisLimiter(url, namespace)) for _ in range(2)]  # two "processes"
    if int(time.time()) % 60 > 55:
        await asyncio.sleep(6)
    try:
        statuses = []
        for gate in workers + workers:
            app.state.api_caller_gate = gate
            statuses.append((await signed_get(env, "shared", keys, "/ext/api/place")).status_code)
        assert statuses == [200, 200, 429, 429]
    finally:
        app.state.api_caller_gate = local
        for gate in workers:
            await gate.limiter.close()


# -- bearer tokens, sessions ----------------------------------------------------------------

async def test_bearer_token_valid_passes_and_invalid_is_refused(env):
    from specadmin.runtime.api_callers.keys import issue_token

    await add_caller(env, "tok", role="partner", org="U2")
    token = await issue_token(env["ctx"], "tok")
    response = await env["client"].get("/ext/api/place", headers={"Authorization": f"Bearer {token}"})
    assert place_codes(response) == {"P2"}
    refused(await env["client"].get("/ext/api/place", headers={"Authorization": f"Bearer {token}x"}), 401, "令牌无效")
    table = env["ctx"].table("api_caller")
    stored = (await table.select(table.token_hash).where(table.code == "tok"))[0]["token_hash"]
    assert stored == sm3_hex(token.encode()) and token not in stored
    await issue_token(env["ctx"], "tok")  # a new token replaces the old one
    refused(await env["client"].get("/ext/api/place", headers={"Authorization": f"Bearer {token}"}), 401, "令牌无效")


async def test_browser_session_does_not_open_ext_and_caller_credentials_do_not_open_api(env):
    keys = await add_caller(env, "split", role="ops")
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver")
    assert (await browser.post("/api/auth/login", json={"username": "ops", "password": PASSWORD})).status_code == 200
    refused(await browser.get("/ext/api/place"), 401, "缺少认证信息（Authorization 令牌或 X-SA-* 签名头）")
    assert (await browser.get("/api/place")).status_code == 200
    assert (await signed_get(env, "split", keys, "/api/place")).status_code == 401
    response = await signed_get(env, "split", keys, "/ext/api/place")
    assert response.status_code == 200 and "set-cookie" not in response.headers  # no session, no CSRF cookie


async def test_every_caller_request_is_in_the_operation_log_with_its_reason(env):
    keys = await add_caller(env, "logged")
    assert (await signed_get(env, "logged", keys, "/ext/api/place")).status_code == 200
    await signed_get(env, "logged", generate_keypair(), "/ext/api/place")
    oplog = env["ctx"].table("oplog")
    rows = await oplog.select(oplog.op_type, oplog.after).where(
        oplog.subject_type == "api_caller", oplog.subject_name == "logged")
    afters = [r["after"] for r in rows]
    assert all(r["op_type"] == "action" for r in rows)
    assert any('"status": 200' in a and '"auth": "signature"' in a for a in afters)
    assert any('"reason": "签名无效"' in a and '"status": 401' in a for a in afters)


# -- CLI and docs -------------------------------------------------------------------------------

async def run_cli(env, *argv: str) -> str:
    """cli.main in a thread (it runs its own event loop), then give the tables back to the app's engine."""
    from specadmin import cli
    from specadmin.runtime.data import db

    out = io.StringIO()
    with database_env(env["url"]), contextlib.redirect_stdout(out):
        code = await asyncio.to_thread(cli.main, list(argv))
    ctx = env["ctx"]
    db.bind_tables(ctx.package.tables.TABLES, ctx.engine)  # AppContext.open rebinds the shared Table classes
    assert code == 0
    return out.getvalue()


async def test_cli_keys_new_prints_a_key_the_server_accepts_and_stores_only_the_public_key(env):
    out = await run_cli(env, "keys", "new", str(env["dir"]), "cli-partner", "--role", "partner", "--name", "命令行系统")
    private = re.search(r"^private_key: ([0-9a-f]{64})$", out, re.MULTILINE).group(1)
    public = re.search(r"^public_key: ([0-9a-f]{128})$", out, re.MULTILINE).group(1)
    table = env["ctx"].table("api_caller")
    await table.update({table.org: env["ids"]["U1"]}).where(table.code == "cli-partner")
    row = (await table.select().where(table.code == "cli-partner"))[0]
    assert row["public_key"] == public and row["name"] == "命令行系统"
    assert private not in str(row)
    assert place_codes(await signed_get(env, "cli-partner", (private, public), "/ext/api/place")) == {"P1"}
    token_out = await run_cli(env, "keys", "token", str(env["dir"]), "cli-partner")
    token = re.search(r"^token: (sa_\S+)$", token_out, re.MULTILINE).group(1)
    assert (await env["client"].get("/ext/api/place", headers={"Authorization": f"Bearer {token}"})).status_code == 200


def doc_example() -> dict:
    text = (ROOT / "docs" / "api-signing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1
    namespace: dict = {"__name__": "api_signing_example"}
    exec(compile(blocks[0], "docs/api-signing.md", "exec"), namespace)  # our own doc, run as a partner would
    return namespace


async def test_docs_client_example_signs_requests_the_server_accepts(env):
    example = doc_example()
    private, public = await add_caller(env, "docs", role="supervisor")
    page = await example["list_rows"](env["client"], "docs", private, public, "place", [("q", "酒家"), ("page_size", 50)])
    assert {row["place_code"] for row in page["items"]} == {"P1"}
    pairs = [("b", "x y"), ("a", "~é"), ("a", "1"), ("c", "")]
    assert example["canonical_query"](pairs) == canonical_query(pairs)
    with pytest.raises(httpx.HTTPStatusError) as failure:
        await example["list_rows"](env["client"], "docs", *generate_keypair(), "place")
    assert failure.value.response.json()["detail"] == "签名无效"


async def test_bogus_calls_from_one_address_cannot_fill_the_operation_log(env):
    from specadmin.runtime.api_callers.middleware import REFUSALS_LOGGED

    address = "203.0.113.50"
    transport = httpx.ASGITransport(app=env["app"], client=(address, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as flood:
        answers = [(await flood.get("/ext/api/place", headers={"X-SA-Caller": f"bogus{i}"})).status_code
                   for i in range(REFUSALS_LOGGED + 15)]
    assert answers[:REFUSALS_LOGGED] == [401] * REFUSALS_LOGGED and set(answers[REFUSALS_LOGGED:]) == {429}
    oplog = env["ctx"].table("oplog")
    rows = await oplog.select(oplog.after).where(oplog.subject_type == "api_caller")
    assert sum(address in (r["after"] or "") for r in rows) == REFUSALS_LOGGED + 1  # and one summary row
