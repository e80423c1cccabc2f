"""Built-in plugin `pulls`: scheduled pulls from external databases (app.yaml `external_databases:`,
module key `pulls:`); a job runs one with `function: pulls.run, args: {pull: NAME}`; `specadmin pull
DIR [NAME]` runs them now. While a pull's database is configured, the screens it `owns` lose import
and delete (the source owns that data)."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from specadmin.runtime.plugin import Command, Plugin
from specadmin.runtime.pulls.checks import CHECKS
from specadmin.runtime.pulls.spec import APP_KEY, DATABASES_SCHEMA, MODULE_KEY, PULLS_SCHEMA, pulls, withheld


async def run(call) -> dict:
    """Job handler: the pull named by `args.pull`, else every pull of the app in turn."""
    from specadmin.runtime.pulls.run import run_pull

    name = (call.job.args or {}).get("pull")
    names = [name] if name else list(pulls(call.ctx.app))
    results = [await run_pull(call.ctx, n) for n in names]
    if len(results) == 1:
        return results[0]
    return {"created": sum(r["created"] for r in results), "pulls": results}


def _arguments(p) -> None:
    p.add_argument("dir")
    p.add_argument("name", nargs="?", help="one pull (default: every pull)")


def _command(args) -> int:
    from specadmin.runtime.pulls.run import run_pull
    from specadmin.runtime.pulls.source import SourceError

    async def go(ctx):
        names = [args.name] if args.name else list(pulls(ctx.app))
        unknown = [n for n in names if n not in pulls(ctx.app)]
        if unknown:
            raise SourceError(f"没有拉取 {unknown[0]}（已声明：{'、'.join(pulls(ctx.app)) or '无'}）")
        return [await run_pull(ctx, n) for n in names]

    try:
        results = asyncio.run(args.with_app(Path(args.dir), go))
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for result in results:
        print(json.dumps(result, ensure_ascii=False, default=str))
    return 1 if any(r.get("status") == "error" for r in results) else 0


PULL = Command("pull", "pull new rows from the external databases now (history in 导入批次)", _arguments, _command)

plugin = Plugin(name="pulls", label="外部数据库拉取", builtin=True, order=55,
                app_keys={APP_KEY: DATABASES_SCHEMA}, module_keys={MODULE_KEY: PULLS_SCHEMA}, checks=CHECKS,
                handlers={"run": run}, commands=(PULL,), withheld_actions=withheld)
