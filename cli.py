"""The specadmin command line: new, check, generate, migrate, serve, createuser, demo, rotate-key."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib.util
import os
import sys
from pathlib import Path

SCAFFOLD_APP = """# {name}: a new specadmin app. Reference of every key: specs/REFERENCE.md
app: {name}
label: {name}
modules: [main]
"""
SCAFFOLD_MODULE = """entities:
  item:
    label: 事项
    fields:
      name: {type: string, label: 名称, required: true}
screens:
  item_admin:
    entity: item
    label: 事项管理
    actions: [create, update, delete]
"""


def cmd_new(args) -> int:
    target = Path(args.dir)
    if target.exists() and any(target.iterdir()):
        print(f"{target} exists and is not empty", file=sys.stderr)
        return 1
    name = target.name.replace("-", "_").lower()
    (target / "modules").mkdir(parents=True, exist_ok=True)
    (target / "app.yaml").write_text(SCAFFOLD_APP.format(name=name), encoding="utf-8")
    (target / "modules" / "main.yaml").write_text(SCAFFOLD_MODULE, encoding="utf-8")
    print(f"created {target}; next: specadmin generate {target}")
    return 0


def _report(exc) -> int:
    for error in exc.errors:
        print(error, file=sys.stderr)
    print(f"{len(exc.errors)} error(s)", file=sys.stderr)
    return 1


def cmd_check(args) -> int:
    from specadmin.generator.build import load_app
    from specadmin.generator.errors import SpecInvalid

    try:
        app = load_app(Path(args.dir))
    except SpecInvalid as exc:
        return _report(exc)
    print(f"{app.name}: {len(app.entities)} entities, {len(app.screens)} screens, {len(app.roles)} roles: OK")
    return 0


def cmd_generate(args) -> int:
    from specadmin.generator.errors import SpecInvalid
    from specadmin.generator.writer import generate

    try:
        changed = generate(Path(args.dir), check=args.check)
    except SpecInvalid as exc:
        return _report(exc)
    if args.check:
        if changed:
            print("generated code is stale; run `specadmin generate`:", file=sys.stderr)
            for path in changed:
                print(f"  {path}", file=sys.stderr)
            return 1
        print("generated code is current")
        return 0
    for path in changed:
        print(f"wrote generated/{path}")
    if not changed:
        print("generated code is current")
    return 0


async def _migrate(app_dir: Path, allow_destructive: bool) -> list[str]:
    from specadmin.migrations.apply import apply_migrations
    from specadmin.runtime.data import db
    from specadmin.runtime.console.mount import AdminSession
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.identity.seed import sync_roles

    ctx = AppContext.open(app_dir)
    await db.start(ctx.engine)
    try:
        applied = await apply_migrations(ctx, allow_destructive)
        db.bind_tables([AdminSession], ctx.engine)
        await AdminSession.create_table(if_not_exists=True)
        await sync_roles(ctx)
        return applied
    finally:
        await db.stop(ctx.engine)


def cmd_migrate(args) -> int:
    from specadmin.migrations.apply import DestructiveRefused

    try:
        applied = asyncio.run(_migrate(Path(args.dir), args.allow_destructive))
    except DestructiveRefused as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    app_dir = Path(args.dir).resolve()
    os.environ["SPECADMIN_APP_DIR"] = str(app_dir)
    # The embedded job scheduler; with several workers one holds var/jobs.lock (runtime/jobs/embedded.py).
    os.environ.setdefault("SPECADMIN_RUN_JOBS", "1")
    if asyncio.run(_pending(app_dir)):
        print("database is behind the spec: run `specadmin migrate` first", file=sys.stderr)
        return 1
    print(f"serving {app_dir.name} at http://{args.host}:{args.port}/ (API docs: /schema, ops console: /admin/)")
    uvicorn.run("specadmin.runtime.app.asgi:app", host=args.host, port=args.port, workers=args.workers,
                log_level="warning", proxy_headers=False, server_header=False, access_log=False)
    return 0


async def _pending(app_dir: Path) -> bool:
    from specadmin.migrations.apply import pending
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.data import db

    ctx = AppContext.open(app_dir)
    await db.start(ctx.engine)
    try:
        return bool(await pending(ctx))
    finally:
        await db.stop(ctx.engine)


async def _with_ctx(app_dir: Path, fn):
    from specadmin.runtime.data import db
    from specadmin.runtime.app.context import AppContext

    ctx = AppContext.open(app_dir)
    await db.start(ctx.engine)
    try:
        await ctx.refresh_caches()
        return await fn(ctx)
    finally:
        await db.stop(ctx.engine)


def cmd_createuser(args) -> int:
    from specadmin.runtime.identity.users import UserError, ensure_user

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("密码: ")
    try:
        user_id = asyncio.run(_with_ctx(Path(args.dir), lambda ctx: ensure_user(
            ctx, args.user, password, name=args.name, org_code=args.org, roles=tuple(args.role or ()),
            superuser=args.superuser)))
    except (UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"user {args.user} ready (id {user_id})")
    return 0


def cmd_rotate_key(args) -> int:
    """Re-encrypt every sensitive column under a new SM4 key (protocol: runtime/key_rotation.py)."""
    from specadmin.runtime.crypto import CryptoError
    from specadmin.runtime.keyring.rotation import RotationError, rotate_key
    from specadmin.runtime.keyring.keys import ENV_NEW, ENV_PREVIOUS, parse_key

    try:
        if args.new_key_file:
            new_key = parse_key(Path(args.new_key_file).read_text())
        elif os.environ.get(ENV_NEW, "").strip():
            new_key = parse_key(os.environ[ENV_NEW])
        else:
            new_key = None  # finish an interrupted rotation to the current key
        report = asyncio.run(_with_ctx(Path(args.dir), lambda ctx: rotate_key(
            ctx, new_key, batch_size=args.batch_size, reindex=args.reindex)))
    except (CryptoError, RotationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    if report.complete and os.environ.get(ENV_PREVIOUS):
        print(f"旧密钥已不再需要：可从应用环境中删除 {ENV_PREVIOUS}")
    return 0 if report.complete else 1


def cmd_divisions(args) -> int:
    """Load an administrative-division file (code,name CSV) idempotently: upsert by code."""
    from specadmin.runtime.identity.divisions import DivisionFileError, import_divisions

    try:
        report = asyncio.run(_with_ctx(Path(args.dir), lambda ctx: import_divisions(ctx, Path(args.file))))
    except (DivisionFileError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"divisions: {report['rows']} rows, {report['added']} added, {report['updated']} updated")
    return 0


def cmd_import(args) -> int:
    """Import an .xlsx/.csv into ENTITY through its screen's import spec (runtime/imports)."""
    from specadmin.runtime.imports.command import run_cli

    return asyncio.run(_with_ctx(Path(args.dir), lambda ctx: run_cli(
        ctx, args.entity, Path(args.file), screen=args.screen, mode=args.mode, force=args.force,
        username=args.user)))


def cmd_export(args) -> int:
    """Export ENTITY as seen on SCREEN by USER (scope and masking apply) to .xlsx or .csv."""
    from specadmin.runtime.exports.background import run_cli

    return asyncio.run(_with_ctx(Path(args.dir), lambda ctx: run_cli(
        ctx, args.entity, Path(args.out), screen=args.screen, username=args.user)))


def cmd_demo(args) -> int:
    app_dir = Path(args.dir).resolve()
    script = app_dir / "demo.py"
    if not script.exists():
        print(f"{app_dir.name} has no demo.py", file=sys.stderr)
        return 1
    spec = importlib.util.spec_from_file_location(f"specadmin_demo_{app_dir.name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = asyncio.run(_with_ctx(app_dir, lambda ctx: module.load(ctx, args.size)))
    print(summary)
    return 0


def cmd_keys(args) -> int:
    """keys new: SM2 key pair for an API caller; keys token: a bearer token. Printed once, never stored."""
    from specadmin.runtime.api_callers.keys import CallerError, issue_token, register_key

    try:
        if args.keys_command == "new":
            private_hex, public_hex = asyncio.run(_with_ctx(Path(args.dir), lambda ctx: register_key(
                ctx, args.caller, role=args.role, name=args.name)))
        else:
            token = asyncio.run(_with_ctx(Path(args.dir), lambda ctx: issue_token(ctx, args.caller)))
    except CallerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("警告：以下密钥只显示这一次，系统不保存；请立即交给调用方并妥善保管，切勿写入代码库。", file=sys.stderr)
    print(f"caller: {args.caller}")
    if args.keys_command == "new":
        print(f"public_key: {public_hex}")
        print(f"private_key: {private_hex}")
    else:
        print(f"token: {token}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="specadmin", description="specadmin: YAML specs to a running admin app")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("new", help="scaffold an app spec")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_new)
    p = sub.add_parser("check", help="validate the specs; prints file:line errors")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("generate", help="emit generated/ code")
    p.add_argument("dir")
    p.add_argument("--check", action="store_true", help="exit 1 if generated/ is stale")
    p.set_defaults(fn=cmd_generate)
    p = sub.add_parser("migrate", help="apply generated migrations to the database")
    p.add_argument("dir")
    p.add_argument("--allow-destructive", action="store_true")
    p.set_defaults(fn=cmd_migrate)
    p = sub.add_parser("serve", help="run the app (SQLite in DIR/var/ unless DATABASE_URL)")
    p.add_argument("dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.set_defaults(fn=cmd_serve)
    p = sub.add_parser("createuser", help="create or update a user")
    p.add_argument("dir")
    p.add_argument("user")
    p.add_argument("--org", help="org code")
    p.add_argument("--role", action="append", help="role code (repeatable)")
    p.add_argument("--name")
    p.add_argument("--superuser", action="store_true")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(fn=cmd_createuser)
    p = sub.add_parser("divisions", help="import administrative divisions (CSV with code,name; upsert by code)")
    p.add_argument("dir")
    p.add_argument("file", help="e.g. specs/system/data/divisions_sample.csv")
    p.set_defaults(fn=cmd_divisions)
    p = sub.add_parser("import", help="import an .xlsx/.csv file (streaming, one transaction per file)")
    p.add_argument("dir")
    p.add_argument("entity")
    p.add_argument("file")
    p.add_argument("--screen")
    p.add_argument("--mode", choices=["all_or_nothing", "skip_bad_rows", "upsert"])
    p.add_argument("--force", action="store_true", help="import a file already imported before")
    p.add_argument("--user", help="importer (grants and scope apply); default: the first superuser")
    p.set_defaults(fn=cmd_import)
    p = sub.add_parser("export", help="export an entity's rows to .xlsx or .csv")
    p.add_argument("dir")
    p.add_argument("entity")
    p.add_argument("out", help="output file, .xlsx or .csv")
    p.add_argument("--screen")
    p.add_argument("--user", help="whose scope and masking apply; default: the first superuser")
    p.set_defaults(fn=cmd_export)
    from specadmin.runtime.jobs.cli import add_parsers as add_job_parsers

    add_job_parsers(sub, _with_ctx)  # jobs, worker
    p = sub.add_parser("demo", help="load demo data and demo users")
    p.add_argument("dir")
    p.add_argument("--size", choices=["small", "large"], default="small")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("keys", help="API caller credentials: SM2 key pair or bearer token (printed once)")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    k = keys_sub.add_parser("new", help="new SM2 key pair; registers or updates the caller")
    k.add_argument("dir")
    k.add_argument("caller", help="caller code")
    k.add_argument("--role", help="role code whose grants the caller gets")
    k.add_argument("--name", help="caller name")
    k.set_defaults(fn=cmd_keys)
    k = keys_sub.add_parser("token", help="new bearer token for a registered caller")
    k.add_argument("dir")
    k.add_argument("caller", help="caller code")
    k.set_defaults(fn=cmd_keys)
    p = sub.add_parser("rotate-key", help="re-encrypt sensitive fields under a new SM4 key (stop the app first)")
    p.add_argument("dir")
    p.add_argument("--new-key-file", help="file with the new key (hex or base64, 16/32 bytes); "
                   "else env SPECADMIN_SM4_NEW_KEY; neither: finish an interrupted rotation")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--reindex", action="store_true", help="also recompute every blind index")
    p.set_defaults(fn=cmd_rotate_key)
    _add_plugin_commands(sub)
    args = parser.parse_args(argv)
    return args.fn(args)


def _add_plugin_commands(sub) -> None:
    """Subcommands contributed by installed plugins (`Plugin.commands`)."""
    from specadmin.runtime.plugin import installed

    taken = set(sub.choices)
    for plugin in installed().values():
        for command in plugin.commands:
            if command.name in taken:
                raise SystemExit(f"plugin {plugin.name}: command '{command.name}' is already taken")
            taken.add(command.name)
            p = sub.add_parser(command.name, help=command.help)
            command.add_arguments(p)
            p.set_defaults(fn=command.run)


if __name__ == "__main__":
    sys.exit(main())
