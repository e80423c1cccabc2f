"""本级 / 下级 / 本级及下级: the `level` list parameter of a screen whose scope is a tree mode.

A screen scoped own_and_sub (or with `levels: true`) takes `scope_level=self|sub|all` (not `level`,
which orgs and divisions already filter on) on its list, count,
export and statistic: `self` keeps the rows whose scope field is the user's own org (本级), `sub`
those of the orgs below it (下级), `all` (the default) both. The narrowing is ANDed with the data
scope the grants give, so it never widens what a user sees.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from specadmin.runtime.data.where import combine_or
from specadmin.runtime.errors import BadRequest
from specadmin.runtime.security.scope import scope_condition, scope_path
from specadmin.specs.model import Scope, Screen

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

LEVEL_PARAM = "scope_level"  # the query parameter
LEVEL_HELP = "本级及下级 all（默认）、本级 self、下级 sub：仅用于数据范围为本级及下级的页面"
ALL = "all"
LEVELS = (("all", "本级及下级"), ("self", "本级"), ("sub", "下级"))  # value, button label; the first is the default
NARROWING = {"self": "own_unit", "sub": "sub_only"}  # the org scope mode each narrower level means


def chosen(level: str | None) -> str:
    """The level a request asks for (`all` when absent); 400 for anything else."""
    text = (level or "").strip() or ALL
    if text != ALL and text not in NARROWING:
        raise BadRequest(f"查询参数 {LEVEL_PARAM} 的值不正确（应为 {'、'.join(v for v, _ in LEVELS)}，"
                         f"即{'、'.join(label for _, label in LEVELS)}）")
    return text


def level_condition(ctx: "AppContext", entity_name: str, screens: Iterable[Screen], level: str | None,
                    principal: "Principal") -> Any:
    """The narrowing a level means on these screens' rows (None for 本级及下级); 400 when the level
    narrows and none of the screens has the switch."""
    wanted = chosen(level)
    if wanted == ALL:
        return None
    paths = sorted({scope_path(s.scope) for s in screens if s.level_switch})
    if not paths:
        raise BadRequest(f"该页面不分本级、下级，不能使用查询参数 {LEVEL_PARAM}")
    return combine_or([scope_condition(ctx, entity_name, Scope(mode=NARROWING[wanted], field=p), principal)
                       for p in paths])


def page_level(screen: Screen, raw: str | None) -> str | None:
    """The level a list page shows: None when the screen has no switch, else the asked one (an
    unknown value reads as the default 本级及下级, as an unknown tab reads as the first)."""
    if not screen.level_switch:
        return None
    text = (raw or "").strip()
    return text if text in NARROWING else ALL
