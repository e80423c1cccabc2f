"""Attachments in an S3-compatible store (runtime/attachments/s3.py): the SigV4 signature agrees with
botocore's for the same request and moment, and against a real local S3 peer (moto's standalone
server) a file uploaded through the API is stored in the bucket (ciphertext when sensitive), served
back, and deleted with its row. SQLite: the store does not depend on the database."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from browser_support import free_port
from conftest import api_login, reference_blocks, start_app

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "Attach@2026x"
PDF = b"%PDF-1.7\n" + b"s3-secret-basis" * 50
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"s3-photo" * 50
KEYS = {"access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "region": "us-east-1"}


async def test_the_sigv4_signature_agrees_with_botocore():
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from specadmin.runtime.attachments.s3 import sign

    body = b"hello attachments"
    payload = hashlib.sha256(body).hexdigest()
    for method, url in (("PUT", "http://127.0.0.1:9000/case-files/attachments/ab12cd"),
                        ("GET", "http://127.0.0.1:9000/case-files?list-type=2&prefix=attachments%2F")):
        request = AWSRequest(method=method, url=url, data=body, headers={"x-amz-content-sha256": payload})
        S3SigV4Auth(Credentials(KEYS["access_key"], KEYS["secret_key"]), "s3", KEYS["region"]).add_auth(request)
        moment = dt.datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        ours = sign(method, url, payload, now=moment, **KEYS)
        assert ours["authorization"] == request.headers["Authorization"], method


@pytest.fixture(scope="module")
def s3_server():
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
async def env(s3_server, tmp_path_factory):
    from specadmin.generator.writer import generate
    from specadmin.runtime.attachments.s3 import S3Storage
    from specadmin.runtime.identity.users import ensure_user

    settings = {"SPECADMIN_S3_ENDPOINT": s3_server, "SPECADMIN_S3_BUCKET": "case-files",
                "SPECADMIN_S3_ACCESS_KEY": KEYS["access_key"], "SPECADMIN_S3_SECRET_KEY": KEYS["secret_key"]}
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    store = S3Storage.from_env()
    r = await store._send("PUT", f"{s3_server}/case-files")  # the bucket exists before the app runs
    assert r.status_code == 200, r.text
    app_dir = tmp_path_factory.mktemp("attach-s3")
    (app_dir / "modules").mkdir()
    (app_dir / "app.yaml").write_text("app: demo\nlabel: 示例\nmodules: [cases]\n", encoding="utf-8")
    (app_dir / "modules" / "cases.yaml").write_text(reference_blocks()["modules/cases.yaml"], encoding="utf-8")
    generate(app_dir)
    app, _ = await start_app(app_dir, "sqlite")
    ctx = app.state.ctx
    org = ctx.table("org")
    oid = (await org.insert(org(code="HQ", name="总部", level="city", org_type="department", active=True))
           .returning(org.id))[0]["id"]
    await org.update({org.path: f"/{oid}/"}).where(org.id == oid)
    await ensure_user(ctx, "root", PASSWORD, name="管理员", org_code="HQ", superuser=True)
    client = await api_login(app, "root", PASSWORD)
    yield {"app": app, "ctx": ctx, "dir": app_dir, "client": client, "store": store, "org": oid}
    await client.aclose()
    for hook in app.on_shutdown:
        await hook(app)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


async def test_files_go_to_the_bucket_come_back_and_leave_with_their_row(env):
    client, store = env["client"], env["store"]
    case_id = (await client.post("/api/case", json={"title": "桶中文件", "unit": env["org"]})).json()["id"]
    photo = (await client.post(f"/api/case/{case_id}/files/photos", files={"file": ("现场.jpg", JPG)})).json()
    basis = (await client.post(f"/api/case/{case_id}/files/basis", files={"file": ("依据.pdf", PDF)})).json()
    t = env["ctx"].runtime_table("specadmin_attachment")
    keys = {r["id"]: r["storage_key"] for r in await t.select(t.id, t.storage_key).where(t.row_id == case_id)}
    assert await store.read(keys[photo["id"]]) == JPG  # in the bucket as sent
    sealed = await store.read(keys[basis["id"]])
    assert b"s3-secret-basis" not in sealed and b"%PDF" not in sealed  # a sensitive file: ciphertext only
    assert set(keys.values()) <= {k async for k in store.keys()}
    assert not (env["dir"] / "var" / "attachments" / "files").exists() or \
        not any(p.is_file() for p in (env["dir"] / "var" / "attachments" / "files").rglob("*"))
    assert (await client.get(f"/api/case/{case_id}/files/basis/{basis['id']}")).content == PDF
    assert (await client.delete(f"/api/case/{case_id}")).status_code == 204
    left = {k async for k in store.keys()}
    assert not set(keys.values()) & left
    with pytest.raises(FileNotFoundError):
        await store.read(keys[photo["id"]])
