"""One generation number for what every worker caches (org tree, dictionaries, principals,
function rules): bumped in the same transaction as any write to those entities, compared on
every request, so a change made through one worker is seen by all of them at once."""
from __future__ import annotations

from typing import TYPE_CHECKING

from piccolo.columns import BigInt
from piccolo.querystring import QueryString
from piccolo.table import Table

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TABLE = "sys_cache_state"
ROW = 1


def cache_state_table() -> type[Table]:
    class CacheState(Table, tablename=TABLE):
        generation = BigInt(default=0)

    return CacheState


GENERATION = "cache_generation"  # alias of the generation read beside another query's columns
_COLUMN = "cache_state.generation_column"  # where the built column is kept (ctx.extensions)


def generation_column(ctx: "AppContext") -> QueryString:
    """The shared generation as a scalar subquery aliased GENERATION, for a request's first read to
    carry (revocation.session_check): the generation costs no round trip of its own. NULL (no row
    yet) counts as 0, as in `_generation`."""
    found = ctx.extensions.get(_COLUMN)
    if found is None:  # the same text and value every time: built once per app
        t = ctx.runtime_table(TABLE)
        found = ctx.extensions[_COLUMN] = QueryString("({})", t.select(t.generation).where(t.id == ROW)
                                                      .querystrings[0]).as_alias(GENERATION)
    return found


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


async def sync(ctx: "AppContext", generation: int | None = None) -> None:
    """Re-read this worker's caches if another worker (or a rolled-back write) changed the generation:
    `generation` as just read with another query (generation_column), else read here."""
    if generation is None:
        generation = await _generation(ctx)
    if generation != ctx.cache_generation:
        await ctx.refresh_caches()
        ctx.cache_generation = generation
