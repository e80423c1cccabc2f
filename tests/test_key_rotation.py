"""`specadmin rotate-key`: every sensitive value moves from key A to key B, safely, on SQLite and PostgreSQL.

Rows are written under key A by the Kaiping fixture (org phones, place addresses, scan ID
numbers and phones); after rotation only key B opens them, blind-index search still finds
them, and a crash after the first batch leaves every row readable and a re-run finishes.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from conftest import BACKENDS, copy_app, postgres_url, reset_postgres
from kaiping_fixture import build

from specadmin.runtime.crypto import CryptoError, FieldCipher

pytestmark = pytest.mark.asyncio(loop_scope="session")
ID_NUMBER = "440783199001011234"  # every fixture scan row carries it


def new_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture(params=BACKENDS)
async def make_env(request, tmp_path, monkeypatch):
    """Factory: a migrated Kaiping copy whose rows are encrypted under key A (optionally a pinned index key)."""
    from specadmin.cli import _migrate
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext

    from specadmin.runtime.keyring.keys import ENV_INDEX, ENV_KEY, ENV_NEW, ENV_PREVIOUS

    for name in (ENV_KEY, ENV_PREVIOUS, ENV_INDEX, ENV_NEW):
        monkeypatch.delenv(name, raising=False)
    url = None
    if request.param == "postgres":
        url = postgres_url()
        await reset_postgres(url)
        monkeypatch.setenv("DATABASE_URL", url)
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    opened = []

    async def make(index_key: bytes | None = None) -> dict:
        app_dir = copy_app("kaiping", tmp_path / "app")
        keys = app_dir / "var" / "keys"
        keys.mkdir(parents=True)
        key_a = new_key()
        (keys / "sm4.key").write_text(key_a.hex())
        if index_key:
            (keys / "sm4.index.key").write_text(index_key.hex())
        await _migrate(app_dir, False)
        ctx = AppContext.open(app_dir, url)
        await db.start(ctx.engine)
        opened.append(ctx)
        await build(ctx)
        return {"ctx": ctx, "dir": app_dir, "keys": keys, "a": key_a, "url": url}

    yield make
    for ctx in opened:
        await db.stop(ctx.engine)


async def values(ctx) -> dict[tuple[str, int, str], tuple[str, str]]:
    """(entity, id, field) -> (token, blind index) of every non-empty sensitive value."""
    from specadmin.specs.physical import blind_index_column
    from specadmin.runtime.keyring.rotation import sensitive_columns

    out = {}
    for entity, names in sensitive_columns(ctx):
        table = ctx.table(entity)
        for row in await table.select():
            for name in names:
                if row[name] is not None:
                    out[(entity, row["id"], name)] = (row[name], row[blind_index_column(name)])
    return out


def opens(key: bytes, token: str) -> bool:
    try:
        FieldCipher(key).decrypt(token)
        return True
    except CryptoError:
        return False


async def test_rotation_re_encrypts_every_sensitive_value_for_the_new_key_only(make_env):
    from specadmin.runtime.keyring.rotation import rotate_key

    env = await make_env()
    ctx, key_a, key_b = env["ctx"], env["a"], new_key()
    before = await values(ctx)
    plain = {k: FieldCipher(key_a).decrypt(token) for k, (token, _) in before.items()}
    assert {e for e, _, _ in before} == {"org", "place", "scan_record"} and len(before) >= 20
    report = await rotate_key(ctx, key_b, batch_size=2)
    assert report.complete and report.switched and report.index_recomputed
    assert sum(report.rotated.values()) == len({(e, i) for e, i, _ in before})
    after = await values(ctx)
    assert after.keys() == before.keys()
    only_b = FieldCipher(key_b)
    for k, (token, bidx) in after.items():
        assert only_b.decrypt(token) == plain[k]
        assert not opens(key_a, token)
        assert bidx == only_b.blind_index(plain[k]) != before[k][1]
    assert bytes.fromhex((env["keys"] / "sm4.key").read_text()) == key_b
    assert not (env["keys"] / "sm4.key.previous").exists()
    # Idempotent: a second run finds nothing to do and changes nothing.
    again = await rotate_key(ctx, key_b, batch_size=2)
    assert again.complete and not again.switched and sum(again.rotated.values()) == 0
    assert await values(ctx) == after


async def test_blind_index_search_finds_rows_after_rotation(make_env):
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.keyring.rotation import rotate_key
    from specadmin.runtime.data.queries import filter_conditions
    from specadmin.runtime.data.where import combine_and

    env = await make_env()
    assert (await rotate_key(env["ctx"], new_key(), batch_size=3)).complete
    fresh = AppContext.open(env["dir"], env["url"])  # a restarted app reads the new key from var/keys
    db.bind_tables(fresh.package.tables.TABLES, env["ctx"].engine)  # on the fixture's started engine
    entity, table = fresh.app.entity("scan_record"), fresh.table("scan_record")
    search = filter_conditions(fresh, entity, table, {"subject_id_number": ID_NUMBER})
    hits = await table.count().where(combine_and(search))
    assert hits == await table.count() == 9
    misses = await table.count().where(combine_and(filter_conditions(
        fresh, entity, table, {"subject_id_number": "440783199001019999"})))
    assert misses == 0
    assert fresh.sensitive.decode((await table.select(table.phone).limit(1))[0]["phone"]) == "13812345678"


async def test_crash_after_first_batch_leaves_rows_readable_and_rerun_completes(make_env):
    from specadmin.runtime.keyring.rotation import rotate_key
    from specadmin.runtime.keyring.keys import load_field_keys

    env = await make_env()
    ctx, key_a, key_b = env["ctx"], env["a"], new_key()
    plain = {k: FieldCipher(key_a).decrypt(t) for k, (t, _) in (await values(ctx)).items()}

    def crash(entity: str, batch: int) -> None:
        if entity == "scan_record":
            raise RuntimeError("simulated crash after the first scan batch")

    with pytest.raises(RuntimeError, match="simulated crash"):
        await rotate_key(ctx, key_b, batch_size=2, after_batch=crash)
    midway = await values(ctx)
    under_b = [k for k, (t, _) in midway.items() if opens(key_b, t)]
    under_a = [k for k, (t, _) in midway.items() if opens(key_a, t)]
    assert under_a and under_b and len(under_a) + len(under_b) == len(midway)  # really stopped midway
    assert bytes.fromhex((env["keys"] / "sm4.key").read_text()) == key_b
    assert (env["keys"] / "sm4.key.previous").read_text().split() == [key_a.hex()]
    keyring = load_field_keys(ctx.app_dir / "var").cipher()  # what a restarted app would use: B + A
    assert {k: keyring.decrypt(t) for k, (t, _) in midway.items()} == plain
    report = await rotate_key(ctx, None, batch_size=2)  # re-run: finish to the (already current) key B
    assert report.complete and not report.switched
    assert 0 < sum(report.rotated.values()) < len({(e, i) for e, i, _ in plain})  # resumed, did not redo
    final = await values(ctx)
    assert {k: FieldCipher(key_b).decrypt(t) for k, (t, _) in final.items()} == plain
    assert not any(opens(key_a, t) for t, _ in final.values())
    assert not (env["keys"] / "sm4.key.previous").exists()


async def test_pinned_index_key_keeps_blind_indexes_unchanged(make_env):
    from specadmin.runtime.keyring.rotation import rotate_key

    env = await make_env(index_key=new_key())
    before = await values(env["ctx"])
    report = await rotate_key(env["ctx"], new_key(), batch_size=4)
    assert report.complete and not report.index_recomputed
    after = await values(env["ctx"])
    assert {k: b for k, (_, b) in after.items()} == {k: b for k, (_, b) in before.items()}
    assert all(after[k][0] != before[k][0] for k in before)


async def test_reindex_recomputes_blind_indexes_once_an_index_key_is_configured(make_env):
    from specadmin.runtime.keyring.rotation import rotate_key

    env = await make_env()
    before = await values(env["ctx"])
    index_key = new_key()
    (env["keys"] / "sm4.index.key").write_text(index_key.hex())  # indexes were derived from key A until now
    report = await rotate_key(env["ctx"], None, reindex=True, batch_size=4)
    assert report.complete and report.index_recomputed
    pinned = FieldCipher(env["a"], index_key=index_key)
    after = await values(env["ctx"])
    for k, (token, bidx) in after.items():
        assert token == before[k][0]  # still under the current key: only the index changes
        assert bidx == pinned.blind_index(pinned.decrypt(token)) != before[k][1]


async def test_env_configured_key_is_not_rewritten_but_rotates_with_env_keyring(make_env, monkeypatch):
    from specadmin.runtime.keyring.rotation import RotationError, rotate_key

    env = await make_env()
    key_a, key_b = env["a"], new_key()
    (env["keys"] / "sm4.key").unlink()
    monkeypatch.setenv("SPECADMIN_SM4_KEY", key_a.hex())
    with pytest.raises(RotationError, match="SPECADMIN_SM4_KEY"):
        await rotate_key(env["ctx"], key_b)
    assert not (env["keys"] / "sm4.key").exists()
    monkeypatch.setenv("SPECADMIN_SM4_KEY", key_b.hex())
    monkeypatch.setenv("SPECADMIN_SM4_PREVIOUS_KEYS", key_a.hex())
    report = await rotate_key(env["ctx"], None, batch_size=5)
    assert report.complete
    assert all(opens(key_b, t) for t, _ in (await values(env["ctx"])).values())


async def test_cli_rotate_key_takes_the_new_key_from_a_file_or_the_environment(make_env, tmp_path):
    from specadmin.runtime.data import db

    env = await make_env()
    await db.stop(env["ctx"].engine)  # the command runs as its own process, like in production
    key_b, key_c = new_key(), new_key()
    key_file = tmp_path / "new.key"
    key_file.write_text(key_b.hex() + "\n")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SPECADMIN_SM4")}
    run = [sys.executable, "-m", "specadmin.cli", "rotate-key", str(env["dir"]), "--batch-size", "3"]
    done = subprocess.run(run + ["--new-key-file", str(key_file)], env=base_env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "完成" in done.stdout and "重新加密" in done.stdout and key_b.hex() not in done.stdout
    assert bytes.fromhex((env["keys"] / "sm4.key").read_text()) == key_b
    done = subprocess.run(run, env={**base_env, "SPECADMIN_SM4_NEW_KEY": key_c.hex()}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    await db.start(env["ctx"].engine)
    assert all(opens(key_c, t) for t, _ in (await values(env["ctx"])).values())
    bad = subprocess.run(run, env={**base_env, "SPECADMIN_SM4_NEW_KEY": "00" * 32}, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1 and "placeholder" in bad.stderr
    assert bytes.fromhex((env["keys"] / "sm4.key").read_text()) == key_c
