"""The tree view of a tree entity (`tree: parent`): a list request with `tree=1` shows one level.

Without a value for the tree field's filter (`parent=<id>`) the level is the tops of what the user
may see: rows whose parent is empty or outside their data scope (a street user's tree starts at
their street). With it, the children of that row. Each row carries `children`, how many rows
directly below it the user may see, so a page can offer to open it (children load on demand).
All of it is Piccolo conditions on the same data scope as the list.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piccolo.query.functions.aggregate import Count

from specadmin.runtime.data.where import combine_and
from specadmin.runtime.errors import BadRequest
from specadmin.specs.model import Entity

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TREE_PARAM = "tree"
TRUE_WORDS = ("1", "true", "on", "yes")
TREE_HELP = "树形查看（树形数据）：1 只列本级最上层，配合上级字段的筛选（如 parent=<id>）列出某行的下级；每行带 children（下级数）"


def wanted(raw: Any) -> bool:
    """Whether a list request asks for the tree view (`tree=1`)."""
    if raw in (None, "", False):
        return False
    if raw is True or str(raw).strip().lower() in TRUE_WORDS:
        return True
    if str(raw).strip().lower() in ("0", "false", "off", "no"):
        return False
    raise BadRequest(f"查询参数 {TREE_PARAM} 的值不正确（应为 1 或 0）")


def tree_field(entity: Entity) -> str:
    if not entity.tree:
        raise BadRequest(f"“{entity.label}”不是树形数据，不能按树形查看（查询参数 {TREE_PARAM}）")
    return entity.tree


def level_condition(entity: Entity, table, scope: Any, filters: dict[str, Any] | None) -> Any:
    """The rows of the level shown: the children of the filtered parent, or the visible tops."""
    field = tree_field(entity)
    if (filters or {}).get(field) not in (None, ""):
        return None  # the tree field's filter already picks the children of one row
    parent = getattr(table, field)
    if scope is None:
        return parent.is_null()
    visible = table.select(table._meta.primary_key).where(scope)
    return parent.is_null() | parent.not_in(visible)


async def with_children(ctx: "AppContext", entity: Entity, table, scope: Any, items: list[dict]) -> list[dict]:
    """Each item with `children`: the rows directly below it inside `scope` (one grouped COUNT)."""
    ids = [item["id"] for item in items]
    counts: dict[int, int] = {}
    if ids:
        parent = getattr(table, tree_field(entity))
        query = table.select(parent.as_alias("node"), Count().as_alias("n")).where(
            combine_and([parent.is_in(ids), scope])).group_by(parent)
        counts = {row["node"]: row["n"] for row in await query}
    for item in items:
        item["children"] = counts.get(item["id"], 0)
    return items
