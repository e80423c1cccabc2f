"""One generation number for what every worker caches (org tree, dictionaries, principals,
function rules): bumped in the same transaction as any write to those entities, compared on
every request, so a change made through one worker is seen by all of them at once."""
from __future__ import annotations

from typing import TYPE_CHECKING

from piccolo.columns import BigInt
from piccolo.table import Table

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TABLE = "sys_cache_state"
ROW = 1


def cache_state_table() -> type[Table]:
    class CacheState(Table, tablename=TABLE):
        generation = BigInt(default=0)

    return CacheState


async def _generation(ctx: "AppContext") -> int:
    t = ctx.runtime_table(TABLE)
    rows = await t.select(t.generation).where(t.id == ROW)
    return rows[0]["generation"] if rows else 0


async def bump(ctx: "AppContext") -> None:
    """Inside the writer's transaction: a new generation, and this worker's caches re-read."""
    t = ctx.runtime_table(TABLE)
    await t.update({t.generation: t.generation + 1}).where(t.id == ROW)
    if not await t.exists().where(t.id == ROW):
        await t.insert(t(id=ROW, generation=1))
    await ctx.refresh_caches()
    ctx.cache_generation = await _generation(ctx)


async def sync(ctx: "AppContext") -> None:
    """Re-read this worker's caches if another worker (or a rolled-back write) changed the generation."""
    generation = await _generation(ctx)
    if generation != ctx.cache_generation:
        await ctx.refresh_caches()
        ctx.cache_generation = generation
