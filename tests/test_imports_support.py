"""Shared by the import/export tests: a Kaiping copy with import on place_admin and a scoped
scan clerk role, migrated on SQLite or PostgreSQL; ID numbers with known checksums."""
from __future__ import annotations


import httpx
import pytest
from conftest import start_app, BACKENDS, copy_app
from kaiping_fixture import PASSWORD, build

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_check(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


ID_OK = with_check("44078319900101123")
ID_OK2 = with_check("44078319851231002")
ID_OK3 = with_check("44078320000229555")
ID_BAD = ID_OK[:17] + ("0" if ID_OK[17] != "0" else "1")


def wide(text: str) -> str:
    """Full-width digits and letters, as some provincial exports carry them."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() and c.isascii() else c for c in text)


EXTRA_ROLE = """
  scan_clerk:
    label: 扫码数据录入员
    grants:
      scan_admin: {actions: [list, read, import, delete, export], scope: {mode: own_unit, field: place_code.supervisor}}
"""


def prepare_app(target):
    """The Kaiping spec plus: import on place_admin (dictionary columns), a scoped clerk role."""
    from specadmin.generator.writer import generate

    app_dir = copy_app("kaiping", target)
    places = app_dir / "modules" / "places.yaml"
    text = places.read_text(encoding="utf-8")
    marker = "    filters: [category, street, supervisor]\n"
    assert marker in text
    places.write_text(text.replace(marker, marker + "    import: {key: [place_code]}\n", 1), encoding="utf-8")
    text = places.read_text(encoding="utf-8")
    start = text.index("  place_admin:")
    actions_at = text.index("    actions: [", start)
    text = text[:actions_at] + text[actions_at:].replace("    actions: [", "    actions: [import, ", 1)
    places.write_text(text, encoding="utf-8")
    roles = app_dir / "modules" / "roles.yaml"
    text = roles.read_text(encoding="utf-8")
    assert "place_admin: {actions: [" in text  # the ops unit's grant names its actions (unmask among them)
    text = text.replace("place_admin: {actions: [", "place_admin: {actions: [import, ", 1)
    roles.write_text(text.replace("  supervisor:\n", EXTRA_ROLE.lstrip("\n") + "  supervisor:\n", 1), encoding="utf-8")
    generate(app_dir)
    return app_dir


@pytest.fixture(scope="module", params=BACKENDS)
async def kaiping(request, tmp_path_factory):
    from specadmin.runtime.identity.users import ensure_user

    app_dir = prepare_app(tmp_path_factory.mktemp(f"kaiping-import-{request.param}"))
    app, url = await start_app(app_dir, request.param)
    try:
        ctx = app.state.ctx
        ids = await build(ctx)
        ids["user_clerk1"] = await ensure_user(ctx, "clerk1", PASSWORD, name="录入一", org_code="U1",
                                               roles=("scan_clerk",))
        yield {"app": app, "ids": ids, "ctx": ctx, "dir": app_dir, "url": url}
    finally:
        for hook in app.on_shutdown:
            await hook(app)


async def login(env, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=env["app"]), base_url="http://testserver",
                               timeout=120)
    r = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert (await client.get("/api/auth/me")).status_code == 200  # sets the csrftoken cookie
    client.headers["x-csrftoken"] = client.cookies["csrftoken"]
    return client


async def scan_count(env) -> int:
    return await env["ctx"].table("scan_record").count()
