"""The specadmin command line: new, check, generate, migrate, serve, createuser, demo, import, export (and plugin commands)."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import importlib.util
import os
import re
import sys
from pathlib import Path

SCAFFOLD_APP = """# {name}: a new specadmin app. Reference of every key: specs/REFERENCE.md
app: {name}
label: {name}
modules: [main]
"""
NEXT_STEPS = """created {dir}: specs in app.yaml and modules/, generated code in generated/. Next:
  specadmin check {dir}                         # validate the specs
  specadmin migrate {dir}                       # create the tables (SQLite in {dir}/var/ unless DATABASE_URL)
  specadmin createuser {dir} admin --superuser  # asks for a password
  specadmin serve {dir}                         # http://127.0.0.1:8000/
After changing a spec: specadmin generate {dir}, then specadmin migrate {dir}."""
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


def app_name(folder: Path) -> str:
    """A machine name from the folder's name (`My-App` -> `my_app`), as app.yaml's `app` requires."""
    name = re.sub(r"[^a-z0-9_]+", "_", folder.name.lower()).strip("_")
    if not re.match(r"^[a-z][a-z0-9_]{1,39}$", name[:40]):
        name = f"app_{name}"
    return name[:40]


def cmd_new(args) -> int:
    """Scaffold an app and generate its code, so the next commands (check, migrate, createuser,
    serve) run as they are printed."""
    from specadmin.generator.writer import generate

    target = Path(args.dir)
    if target.exists() and any(target.iterdir()):
        print(f"{target} exists and is not empty", file=sys.stderr)
        return 1
    name = app_name(target.resolve())
    (target / "modules").mkdir(parents=True, exist_ok=True)
    (target / "app.yaml").write_text(SCAFFOLD_APP.format(name=name), encoding="utf-8")
    (target / "modules" / "main.yaml").write_text(SCAFFOLD_MODULE, encoding="utf-8")
    generate(target)
    print(NEXT_STEPS.format(dir=target))
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
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.console.mount import AdminSession
    from specadmin.runtime.data import db
    from specadmin.runtime.identity.seed import sync_roles

    ctx = AppContext.open(app_dir)
    await db.start(ctx.engine)
    try:
        applied = await apply_migrations(ctx, allow_destructive)
        for table in ctx.runtime_tables.values():  # the plugins' own tables outside the spec
            await table.create_table(if_not_exists=True)
        db.bind_tables([AdminSession], ctx.engine)
        await AdminSession.create_table(if_not_exists=True)
        await sync_roles(ctx)
        return applied
    finally:
        await db.stop(ctx.engine)


def generated_problem(app_dir: Path) -> str | None:
    """Why the app's generated code cannot be migrated or served as it is, or None."""
    from specadmin.generator.errors import SpecInvalid
    from specadmin.generator.writer import generate

    if not (app_dir / "generated" / "__init__.py").is_file():
        return f"{app_dir}/generated/ is missing: run `specadmin generate {app_dir}` first"
    if (app_dir / "app.yaml").is_file():
        try:
            stale = generate(app_dir, check=True)
        except SpecInvalid as exc:
            return "\n".join(map(str, exc.errors)) + f"\nthe specs have errors: fix them, then `specadmin generate {app_dir}`"
        if stale:
            return f"generated code is older than the specs: run `specadmin generate {app_dir}` first"
    return None


def cmd_migrate(args) -> int:
    from specadmin.migrations.apply import DestructiveRefused

    problem = generated_problem(Path(args.dir))
    if problem:
        print(problem, file=sys.stderr)
        return 1
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
    if not (app_dir / "generated" / "__init__.py").is_file():
        print(f"{app_dir}/generated/ is missing: run `specadmin generate {app_dir}` first", file=sys.stderr)
        return 1
    if asyncio.run(_pending(app_dir)):
        print(f"database is behind the spec: run `specadmin migrate {args.dir}` first", file=sys.stderr)
        return 1
    if args.sms_sink:
        from specadmin.runtime.notify.sink import SmsSink

        sink = SmsSink(app_dir).start()
        print(f"SMS go to the demo gateway {sink.url} (recorded in {sink.path}), never to a real one")
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
    """Run `await fn(ctx)` on the app in `app_dir` with its database open."""
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.data import db

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
    """Load the app's demo data (its demo.py), migrating the database first when it is behind; with
    --sms-sink, today's SMS notifications then go through the loop-back gateway (runtime/notify/sink.py)."""
    from specadmin.migrations.apply import DestructiveRefused

    app_dir = Path(args.dir).resolve()
    script = app_dir / "demo.py"
    if not script.exists():
        print(f"{app_dir.name} has no demo.py", file=sys.stderr)
        return 1
    problem = generated_problem(app_dir)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if asyncio.run(_pending(app_dir)):
        try:
            applied = asyncio.run(_migrate(app_dir, False))
        except DestructiveRefused as exc:
            print(f"{exc}\nthe demo needs a migrated database: run `specadmin migrate {args.dir}` "
                  "(with --allow-destructive if you mean it) first", file=sys.stderr)
            return 1
        print(f"the database was behind the spec: applied {len(applied)} migration(s) first")
    spec = importlib.util.spec_from_file_location(f"specadmin_demo_{app_dir.name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    async def load(ctx):
        summary = await module.load(ctx, args.size)
        if args.sms_sink:
            summary += "\n" + await _demo_sms(ctx)
        return summary

    if args.sms_sink:
        from specadmin.runtime.notify.sink import SmsSink

        with SmsSink(app_dir):
            summary = asyncio.run(_with_ctx(app_dir, load))
    else:
        summary = asyncio.run(_with_ctx(app_dir, load))
    print(summary)
    return 0


async def _demo_sms(ctx) -> str:
    """Run the jobs that send SMS notifications once (today's messages; once a day per group)."""
    from specadmin.runtime.jobs.runner import run_job

    jobs = [job for job in ctx.app.jobs if job.notification and ctx.app.notification(job.notification).channel == "sms"]
    for job in jobs:
        await run_job(ctx, job.name)
    if not jobs:
        return "SMS: the app has no SMS notification jobs"
    box = ctx.table("notification_outbox")
    statuses = [r["status"] for r in await box.select(box.status).where(box.day == dt.date.today())]
    return (f"SMS through the demo gateway today: {statuses.count('sent')} sent, {statuses.count('failed')} failed "
            f"(系统管理 › 短信发送记录; messages in var/sms_sink.jsonl)")


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
    p.add_argument("--sms-sink", action="store_true",
                   help="demo: SMS go to a loop-back gateway that records them in DIR/var/sms_sink.jsonl")
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
    p = sub.add_parser("demo", help="load demo data and demo users")
    p.add_argument("dir")
    p.add_argument("--size", choices=["small", "large"], default="small")
    p.add_argument("--sms-sink", action="store_true",
                   help="send today's SMS notifications through the loop-back gateway (see serve --sms-sink)")
    p.set_defaults(fn=cmd_demo)
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
            p.set_defaults(fn=command.run, with_app=_with_ctx)  # `args.with_app(dir, fn)` runs fn(ctx)


if __name__ == "__main__":
    sys.exit(main())
