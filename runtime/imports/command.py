"""`specadmin import DIR ENTITY FILE`: the same import as the page, with a progress line on stderr.

Exit status: 0 when the file was imported, 1 when rows were rejected under all_or_nothing
(nothing written) or the file was refused (already imported, bad header, no grant).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from specadmin.runtime.errors import Conflict, Denied, NotFound


async def run_cli(ctx, entity: str, file: Path, *, screen: str | None, mode: str | None, force: bool,
                  username: str | None) -> int:
    from specadmin.runtime.identity.sessions import cli_principal

    principal = await cli_principal(ctx, username)
    if principal is None:
        print(f"error: 没有用户 {username or '（超级管理员）'}", file=sys.stderr)
        return 1
    from specadmin.runtime.imports.engine import execute, finish, prepare

    started = time.monotonic()

    def progress(total: int, bad: int) -> None:
        rate = total / max(time.monotonic() - started, 1e-6)
        print(f"\r已处理 {total} 行，错误 {bad} 行，{rate:,.0f} 行/秒", end="", file=sys.stderr, flush=True)

    try:
        job = await prepare(ctx, principal, entity, Path(file), screen=screen, mode=mode, force=force)
        job.progress = progress
        await execute(job)
    except (Conflict, Denied, NotFound, ValueError) as exc:
        print(f"\nerror: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    await finish(job)
    print(f"批次 {job.batch_id}：共 {job.total} 行，导入 {job.ok} 行，错误 {job.bad} 行（{job.status}）")
    if job.error_file:
        print(f"错误报告：{job.error_file}")
    return 1 if job.status == "failed" else 0
