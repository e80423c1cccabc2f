"""Login: lockout per account and address (atomic under parallel guesses), address throttles and
unlock, password policy, idle timeout; on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BACKENDS
from identity_fixture import address_of, add_user, client, identity_env, login, try_login
from kaiping_fixture import PASSWORD

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    async with identity_env(request.param, tmp_path_factory) as e:
        yield e


async def test_five_failures_lock_the_account_even_for_the_right_password(env):
    await add_user(env, "lockme", "S1")
    for attempt in range(4):
        r = await try_login(env, "lockme", "Wrong@2026x")
        assert (r.status_code, r.json()["detail"]) == (401, "用户名或密码错误"), attempt
    r = await try_login(env, "lockme", "Wrong@2026x")
    assert r.status_code == 401 and r.json()["detail"].startswith("账号已锁定")
    r = await try_login(env, "lockme", PASSWORD)
    assert r.status_code == 401 and r.json()["detail"].startswith("账号已锁定")
    user = env["ctx"].table("user")
    row = (await user.select(user.locked_until).where(user.username == "lockme"))[0]
    assert row["locked_until"] is not None


async def test_a_cross_site_login_post_is_refused_and_a_same_origin_one_accepted(env):
    await add_user(env, "crosssite", "S1")
    browser = client(env)
    body = '{"username": "crosssite", "password": "%s"}' % PASSWORD
    for headers in ({"origin": "http://evil.example", "content-type": "text/plain"},
                    {"sec-fetch-site": "cross-site", "content-type": "text/plain"}):
        r = await browser.post("/api/auth/login", content=body, headers=headers)
        assert r.status_code == 403, r.text
        assert "specadmin_session" not in r.cookies
    r = await browser.post("/api/auth/login", content=body,
                           headers={"origin": "http://testserver", "sec-fetch-site": "same-origin",
                                    "content-type": "application/json"})
    assert r.status_code == 200, r.text
    await browser.aclose()


async def test_unlock_action_restores_login(env):
    user_id = await add_user(env, "unlockme", "S1")
    for _ in range(5):
        await try_login(env, "unlockme", "Wrong@2026x")
    assert (await try_login(env, "unlockme", PASSWORD)).json()["detail"].startswith("账号已锁定")
    root = await login(env, "root")
    locked = (await root.get("/api/user", params={"screen": "user_admin", "tab": "locked"})).json()
    assert "unlockme" in {i["username"] for i in locked["items"]}
    r = await root.post("/api/user/actions/unlock", json={"ids": [user_id]}, params={"screen": "user_admin"})
    assert r.status_code == 200 and r.json()["done"] == [user_id]
    assert (await try_login(env, "unlockme", PASSWORD)).status_code == 200


async def test_lock_expires_after_the_lock_period(env, monkeypatch):
    from specadmin.runtime.identity import sessions as auth

    await add_user(env, "waitme", "S1")
    for _ in range(5):
        await try_login(env, "waitme", "Wrong@2026x")
    assert (await try_login(env, "waitme", PASSWORD)).status_code == 401
    start = auth.clock()
    monkeypatch.setattr(auth, "clock", lambda: start + 31 * 60)
    assert (await try_login(env, "waitme", PASSWORD)).status_code == 200


async def test_success_resets_the_failure_count(env):
    await add_user(env, "resetme", "S1")
    for _ in range(4):
        await try_login(env, "resetme", "Wrong@2026x")
    assert (await try_login(env, "resetme", PASSWORD)).status_code == 200
    for _ in range(4):
        await try_login(env, "resetme", "Wrong@2026x")
    assert (await try_login(env, "resetme", PASSWORD)).status_code == 200


async def test_login_page_says_the_account_is_locked(env):
    await add_user(env, "pagelock", "S1")
    for _ in range(5):
        await try_login(env, "pagelock", "Wrong@2026x")
    c = client(env, address_of("pagelock"))  # locked for the address the failures came from
    await c.get("/login")
    r = await c.post("/login", data={"username": "pagelock", "password": PASSWORD},
                     headers={"x-csrftoken": c.cookies.get("csrftoken", "")})
    assert r.status_code == 200 and "账号已锁定" in r.text


async def test_disabled_user_cannot_log_in_and_enabling_restores_it(env):
    user_id = await add_user(env, "offme", "S1")
    root = await login(env, "root")
    r = await root.post("/api/user/actions/disable", json={"ids": [user_id]}, params={"screen": "user_admin"})
    assert r.json()["done"] == [user_id]
    r = await try_login(env, "offme", PASSWORD)
    assert (r.status_code, r.json()["detail"]) == (401, "账号已停用")
    await root.post("/api/user/actions/enable", json={"ids": [user_id]}, params={"screen": "user_admin"})
    assert (await try_login(env, "offme", PASSWORD)).status_code == 200


@pytest.mark.parametrize("weak,message", [
    ("Ab1!", "密码长度不能少于 8 位"),
    ("abcdefgh1", "密码须包含大写字母、小写字母、数字、特殊符号中的至少三类"),
    ("ABCDEFGH!", "密码须包含大写字母、小写字母、数字、特殊符号中的至少三类"),
])
async def test_creating_a_user_with_a_weak_password_is_refused(env, weak, message):
    root = await login(env, "root")
    r = await root.post("/api/user", params={"screen": "user_admin"},
                        json={"username": f"weak{len(weak)}{weak[0]}", "name": "弱口令", "password": weak})
    assert r.status_code == 422 and r.json()["errors"] == {"password": message}


async def test_creating_a_user_with_a_strong_password_lets_them_log_in(env):
    root = await login(env, "root")
    r = await root.post("/api/user", params={"screen": "user_admin"},
                        json={"username": "strong", "name": "强口令", "password": "Strong#Pass9", "org": env["ids"]["S1"]})
    assert r.status_code == 201, r.text
    assert (await try_login(env, "strong", "Strong#Pass9")).status_code == 200


async def test_reset_password_checks_the_policy_and_generates_a_strong_one(env):
    from specadmin.runtime.identity.passwords import problem

    user_id = await add_user(env, "resetpw", "S1")
    root = await login(env, "root")
    r = await root.post("/api/user/actions/reset_password", params={"screen": "user_admin"},
                        json={"ids": [user_id], "params": {"password": "password"}})
    assert r.status_code == 422 and "至少三类" in r.json()["errors"]["password"]
    assert (await try_login(env, "resetpw", PASSWORD)).status_code == 200
    r = await root.post("/api/user/actions/reset_password", params={"screen": "user_admin"}, json={"ids": [user_id]})
    generated = r.json()["results"][str(user_id)]["password"]
    assert problem(generated) is None
    assert (await try_login(env, "resetpw", PASSWORD)).status_code == 401
    assert (await try_login(env, "resetpw", generated)).status_code == 200
    oplog = env["ctx"].table("oplog")
    logged = await oplog.select(oplog.after).where(oplog.subject_type == "user", oplog.subject_id == str(user_id))
    assert logged and all(generated not in (row["after"] or "") for row in logged)


async def test_createuser_command_refuses_a_weak_password(env):
    environment = dict(os.environ)
    if env["url"]:
        environment["DATABASE_URL"] = env["url"]
    command = [sys.executable, "-m", "specadmin.cli", "createuser", str(env["dir"]), "cliuser", "--org", "S1",
               "--password-stdin"]
    weak = subprocess.run(command, input="password1\n", capture_output=True, text=True, env=environment, timeout=120)
    assert weak.returncode == 1 and "至少三类" in weak.stderr
    strong = subprocess.run(command, input="Cli@User2026\n", capture_output=True, text=True, env=environment,
                            timeout=120)
    assert strong.returncode == 0, strong.stderr
    assert (await try_login(env, "cliuser", "Cli@User2026")).status_code == 200


async def test_idle_session_is_logged_out(env, monkeypatch):
    from specadmin.runtime.identity import sessions as auth

    c = await login(env, "s1clerk")
    assert (await c.get("/api/auth/me")).status_code == 200
    start = auth.clock()
    monkeypatch.setattr(auth, "clock", lambda: start + 29 * 60)
    assert (await c.get("/api/auth/me")).status_code == 200
    monkeypatch.setattr(auth, "clock", lambda: start + 29 * 60 + 31 * 60)
    r = await c.get("/api/auth/me")
    assert (r.status_code, r.json()["detail"]) == (401, "登录已超时，请重新登录")
    monkeypatch.setattr(auth, "clock", lambda: start + 29 * 60 + 31 * 60 + 1)
    assert (await c.get("/api/auth/me")).status_code == 401


async def test_parallel_guesses_get_no_more_password_checks_than_the_lockout_allows(env):
    await add_user(env, "racelock", "S1")
    address = address_of("racelock")
    answers = await asyncio.gather(*[try_login(env, "racelock", f"Wrong@2026x{i}", address) for i in range(30)])
    details = [r.json()["detail"] for r in answers]
    # Each attempt claims its slot before the password is checked: 4 plain failures, then locked.
    assert details.count("用户名或密码错误") == 4, details
    assert sum(d.startswith("账号已锁定") for d in details) == 26
    assert (await try_login(env, "racelock", PASSWORD, address)).json()["detail"].startswith("账号已锁定")


async def test_a_parallel_success_clearing_the_counter_does_not_read_as_a_lock(env):
    """Two windows (or an import and an export) log in at once from one office: one success
    clears the counter between the other's _ensure and its claim; that one must get its slot."""
    import datetime as dt

    from specadmin.runtime.identity.lockout import Throttle

    throttle = Throttle(env["ctx"], "account:999999@192.0.2.77", 5, 30, dt.datetime.now())
    ensure, calls = throttle._ensure, []

    async def cleared_meanwhile() -> None:
        await ensure()
        if not calls:
            await throttle.clear()  # the parallel login succeeded just now
        calls.append(1)

    throttle._ensure = cleared_meanwhile
    assert await throttle.claim() == 1
    await throttle.clear()


async def test_more_parallel_right_logins_than_checks_lock_nothing(env):
    """The window's checks all taken by logins still in flight: the next one is turned away, but
    the account is not locked for it (only a failed check writes a lock)."""
    from specadmin.runtime.identity.lockout import account_key

    user_id = await add_user(env, "twowindows", "S1")
    address = address_of("twowindows")
    t = env["ctx"].runtime_table("sys_login_throttle")
    await t.insert(t(key=account_key(user_id, address), failures=5))  # five logins of it in flight
    assert (await try_login(env, "twowindows", PASSWORD, address)).status_code == 401
    await t.update({t.failures: 0}).where(t.key == account_key(user_id, address))  # they finished
    assert (await try_login(env, "twowindows", PASSWORD, address)).status_code == 200


async def test_failures_from_one_address_do_not_lock_the_account_elsewhere(env):
    await add_user(env, "officeadmin", "S1")
    for _ in range(5):
        await try_login(env, "officeadmin", "Wrong@2026x", "203.0.113.9")
    assert (await try_login(env, "officeadmin", PASSWORD, "203.0.113.9")).json()["detail"].startswith("账号已锁定")
    assert (await try_login(env, "officeadmin", PASSWORD, "192.0.2.10")).status_code == 200


async def test_an_address_spraying_many_accounts_is_throttled(env):
    from specadmin.runtime.identity.lockout import DEFAULT_ADDRESS_ATTEMPTS

    await add_user(env, "sprayed", "S1")
    sprayer = "198.51.100.7"
    for i in range(DEFAULT_ADDRESS_ATTEMPTS):
        r = await try_login(env, f"nosuchuser{i}", "Wrong@2026x", sprayer)
        assert r.json()["detail"] == "用户名或密码错误"
    r = await try_login(env, "sprayed", PASSWORD, sprayer)
    assert (r.status_code, r.json()["detail"]) == (401, "登录失败次数过多，请稍后再试")
    assert (await try_login(env, "sprayed", PASSWORD, "198.51.100.8")).status_code == 200
