"""List and statistics pages (GET /s/{screen}): tabs, filter bar, keyword, table, paging, 合计 row."""
from __future__ import annotations

import math
from typing import Any

from litestar import Request, Response, get
from litestar.response import Template

from specadmin.runtime.errors import BadRequest, Conflict
from specadmin.runtime.pages.action_forms import action_dialogs
from specadmin.runtime.pages.common import PAGE_ERRORS, applies, can, custom_actions, grant_for, quote_qs, screen_of, service_for
from specadmin.runtime.pages.sorting import chosen_sort, column_heads
from specadmin.runtime.pages.support import SEARCH_MIN, Options, cell_text, ctx_of, layout, light_of, read_filters, with_params
from specadmin.runtime.data.list_query import param_name
from specadmin.specs.lights import LABELS as LIGHT_LABELS
from specadmin.runtime.data.values import Invalid
from specadmin.runtime.data.tree_view import TREE_PARAM
from specadmin.runtime.security.levels import ALL, LEVEL_PARAM, LEVELS, page_level


def _filter_widgets(options: Options, options_by_name: dict[str, Any], columns,
                    echo: dict[str, str], lit: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    out = []
    for col in columns:
        name, ftype = col["name"], col.get("type")
        if ftype in ("date", "datetime"):
            out.append({"name": name, "label": col["label"], "kind": "datetimerange" if ftype == "datetime" else "daterange",
                        "from": _moment_input(echo.get(f"{name}_from", ""), ftype, False),
                        "to": _moment_input(echo.get(f"{name}_to", ""), ftype, True)})
            if name in lit:  # a deadline with lights: 正常 / 临期 / 超期 (`<field>_light`, specs/lights.py)
                key = param_name(f"{name}_light")
                out.append({"name": key, "label": f"{col['label']}（状态）", "kind": "select",
                            "options": list(LIGHT_LABELS.items()), "value": echo.get(key, ""), "details": {},
                            "searchable": False})
            continue
        if ftype == "geo":  # near a point, inside a polygon (specs/geo.py); the map page draws the polygon
            for kind, label in (("near", "附近（经度,纬度,米）"), ("within", "多边形内（经度,纬度;...）")):
                key = param_name(f"{name}_{kind}")
                out.append({"name": key, "label": f"{col['label']}{label}", "kind": "text", "options": [],
                            "value": echo.get(key, ""), "details": {}, "searchable": False})
            continue
        if col.get("computed") and ftype in ("integer", "decimal"):  # a computed number (an age) is a range
            out.append({"name": name, "label": col["label"], "kind": "numberrange",
                        "from": echo.get(f"{name}_from", ""), "to": echo.get(f"{name}_to", "")})
            continue
        opts = options_by_name.get(name)
        details = options.details_of(col)
        name = param_name(name)  # the query parameter (filter_<name> for a reserved name such as page)
        if ftype == "boolean":
            kind, opts = "select", [("true", "是"), ("false", "否")]
        elif opts is not None:
            kind = "select"
        else:
            kind = "number" if ftype == "integer" or (ftype == "ref" and not col.get("key")) else "text"
        out.append({"name": name, "label": col["label"], "kind": kind, "options": opts or [],
                    "value": echo.get(name, ""), "details": details,
                    "searchable": kind == "select" and bool(details) and (
                        len(opts or []) >= SEARCH_MIN or any(d for d, _ in details.values()))})
    return out


def _moment_input(text: str, ftype: str, end: bool) -> str:
    """A range bound as its input shows it: a datetime-local input needs a time (a day given in the
    address reads as the day's start, or as its last second for the end)."""
    if ftype != "datetime" or not text or "T" in text:
        return text
    return f"{text}T23:59:59" if end else f"{text}T00:00"


async def _filter_bar(request: Request, name: str, screen: dict[str, Any], params) -> dict[str, Any]:
    filters, echo_pairs, problems = read_filters(ctx_of(request), name, params)
    options = Options(ctx_of(request), request.user, name)
    entity = ctx_of(request).app.entity(screen["entity"])
    lit = frozenset(c["name"] for c in screen.get("filters", [])
                    if entity.has_field(c["name"]) and entity.field(c["name"]).lights)
    by_name = {c["name"]: await options.for_column(c) for c in screen.get("filters", [])
               if c.get("type") in ("dict", "ref") or c.get("codes") or c.get("choices")}
    return {"filters": filters, "echo": echo_pairs, "problems": problems,
            "widgets": _filter_widgets(options, by_name, screen.get("filters", []), dict(echo_pairs), lit)}


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 100000))
    except ValueError:
        return 1


PAGE_SIZES = (10, 20, 50, 100)  # what a list page offers (the API allows up to MAX_PAGE_SIZE)


def page_sizes(default: int) -> list[int]:
    return sorted({*PAGE_SIZES, default})


def chosen_page_size(raw: str | None, default: int) -> int:
    """The page size a person picked, if it is one the page offers; else the screen's own."""
    text = (raw or "").strip()
    return int(text) if text.isdigit() and int(text) in page_sizes(default) else default


def pager(name: str, base: list[tuple[str, str]], page: int, page_size: int, default_size: int,
          total: int) -> dict[str, Any]:
    """Paging of a list page: previous/next links, the page-size choice and the jump-to-page form
    (its hidden inputs carry the rest of the query)."""
    pages = max(1, math.ceil(total / page_size))
    sized = base + ([("page_size", str(page_size))] if page_size != default_size else [])
    url = f"/s/{name}?"
    return {"page": page, "pages": pages, "total": total, "page_size": page_size, "page_sizes": page_sizes(default_size),
            "hidden": base, "action": f"/s/{name}",
            "prev_url": url + with_params(sized, page=page - 1 if page > 2 else None) if page > 1 else None,
            "next_url": url + with_params(sized, page=page + 1) if page < pages else None}


async def tab_counts(request: Request, name: str, screen: dict[str, Any], current: str | None, total: int,
                     q: str | None, filters: dict[str, Any], level: str | None = None) -> dict[str, int]:
    """Rows under each tab with the same scope, filters and keyword (one COUNT per other tab)."""
    out: dict[str, int] = {}
    service = service_for(request, screen)
    for t in screen.get("tabs", []):
        if t["name"] == current:
            out[t["name"]] = total
            continue
        try:
            out[t["name"]] = await service.count(request, screen=name, tab=t["name"], q=q, filters=filters, level=level)
        except (BadRequest, Conflict, Invalid):
            return {}
    return out


@get("/s/{name:str}", name="page_list", exception_handlers=PAGE_ERRORS)
async def list_page(request: Request, name: str) -> Response:
    screen = screen_of(request, name)
    grant = grant_for(request, name, "list")
    if screen.get("kind") == "stat":  # runtime/pages/stat_page.py: chart, SQL paging, totals, export
        from specadmin.runtime.pages.stat_page import stat_page

        bar = await _filter_bar(request, name, screen, request.query_params)
        return await stat_page(request, name, screen, bar, grant)
    ctx, params = ctx_of(request), request.query_params
    tabs = screen.get("tabs", [])
    tab = params.get("tab") or (tabs[0]["name"] if tabs else None)
    if tabs and tab not in {t["name"] for t in tabs}:
        tab = tabs[0]["name"]
    q = (params.get("q") or "").strip()[:100]
    spec = ctx.app.screen(name)
    level = page_level(spec, params.get(LEVEL_PARAM))
    tree_field = _tree_field(ctx, spec)  # a tree entity whose screen filters on its tree field
    as_tree = tree_field is not None and (params.get(TREE_PARAM) or "").strip() in ("1", "true")
    page = _page_number(params.get("page"))
    bar = await _filter_bar(request, name, screen, params)
    problems = list(bar["problems"])
    default_size = _page_size(request, name)
    page_size = chosen_page_size(params.get("page_size"), default_size)
    entity = ctx.app.entity(spec.entity)
    sort = chosen_sort(entity, params.get("sort"))  # a column header clicked (runtime/pages/sorting.py)
    kept = ([("tab", tab)] if tab else []) + ([(LEVEL_PARAM, level)] if level not in (None, ALL) else []) \
        + ([(TREE_PARAM, "1")] if as_tree else []) + ([("sort", sort)] if sort else [])
    base = kept + ([("q", q)] if q else []) + bar["echo"]
    given = {k for k, _ in base}  # a plugin's narrowing (a stat's drill-down) stays on every link
    base += [(k, v) for k, v in ctx.plugins.list_kept(request) if k not in given]
    result: dict[str, Any] = {"items": [], "total": 0}
    listed = False
    try:
        result = await service_for(request, screen).list_page(
            request, screen=name, tab=tab, q=q or None, sort=sort, page=page, page_size=page_size, filters=bar["filters"],
            level=level, tree="1" if as_tree else None)
        listed = True
    except (BadRequest, Conflict) as exc:
        problems.append(exc.message)
    except Invalid as exc:
        problems += list(exc.errors.values())
    total = int(result.get("total") or 0)
    counts = await tab_counts(request, name, screen, tab, total, q or None, bar["filters"], level) if tabs and listed else {}
    sized = base + ([("page_size", str(page_size))] if page_size != default_size else [])
    paging = pager(name, base, page, page_size, default_size, total)
    here = with_params(sized, page=page if page > 1 else None)
    actions = custom_actions(request, name, screen, grant)
    rows = []
    parent_param = param_name(tree_field) if tree_field else None
    for item in result["items"]:
        rows.append({"id": item["id"],
                     "cells": [cell_text(item, c, key_label=True) for c in screen["list"]],
                     "lights": [light_of(item, c) for c in screen["list"]],
                     "actions": [a for a in actions if applies(a, item)],
                     "children": item.get("children", 0),
                     "open_url": f"/s/{name}?" + with_params(sized, page=None, **{parent_param: item["id"]})
                     if as_tree else None})
    export_url = None
    if can(grant, "export") and "export" in screen.get("actions", []):
        # .xlsx named after the screen (场所信息管理-2026-12-02.xlsx), as the statistics pages export
        export_url = f"/api/{screen['entity']}/export.xlsx?" + with_params(base, screen=name)
    context = layout(
        request, name, title=screen["label"], screen=screen, screen_name=name, tab=tab,
        tabs=[{**t, "url": f"/s/{name}?" + with_params(sized, tab=t["name"]), "active": t["name"] == tab,
               "count": counts.get(t["name"])} for t in tabs],
        q=q, has_search=bool(screen.get("search")), filter_widgets=bar["widgets"],
        columns=column_heads(entity, name, screen["list"], sized, sort), sort=sort, rows=rows, total=total, page=page, pages=paging["pages"], pager_info=paging,
        prev_url=paging["prev_url"], next_url=paging["next_url"],
        reset_url=f"/s/{name}" + (f"?{with_params(kept)}" if kept else ""),
        level=level if level not in (None, ALL) else None, level_param=LEVEL_PARAM,
        levels=[{"value": v, "label": label, "active": v == level,
                 "url": f"/s/{name}?" + with_params(sized, **{LEVEL_PARAM: None if v == ALL else v})}
                for v, label in LEVELS] if level else [],
        here_qs=here, r_param=(f"?r={quote_qs(here)}" if here else ""), page_size=page_size,
        page_size_param=str(page_size) if page_size != default_size else "",
        search_hint=_search_hint(ctx, screen), can_read=can(grant, "read"), can_create=can(grant, "create"),
        can_update=can(grant, "update"), can_delete=can(grant, "delete"), export_url=export_url,
        delete_range_url=(f"/s/{name}/delete-range" if spec.delete_by_range and can(grant, "delete")
                          and (spec.import_spec is None or spec.import_spec.enabled) else None),
        tree_view=as_tree,
        views=[{"label": "列表", "active": not as_tree,
                "url": f"/s/{name}?" + with_params(sized, page=None, **{TREE_PARAM: None, parent_param: None})},
               {"label": "树形", "active": as_tree, "url": f"/s/{name}?" + with_params(
                   sized, page=None, **{TREE_PARAM: "1", parent_param: None})}] if tree_field else [],
        tree_top_url=(f"/s/{name}?" + with_params(sized, page=None, **{parent_param: None})
                      if as_tree and bar["filters"].get(tree_field) not in (None, "") else None),
        row_actions=actions, batch_actions=[a for a in actions if a.get("batch")], problems=problems,
        action_dialogs=await action_dialogs(request, name, actions))
    from specadmin.runtime.imports.page import list_extras

    context["transfer"] = await list_extras(request, name, grant)  # 导入 form, newest 采集时间
    return Template(template_name="list.html", context=context)


def _tree_field(ctx, spec) -> str | None:
    """The tree field of the screen's entity when the screen filters on it (the tree view opens a
    row's children through that filter); None when the screen has no tree view."""
    entity = ctx.app.entity(spec.entity)
    return entity.tree if entity.tree and entity.tree in spec.filters else None


def _search_hint(ctx, screen: dict[str, Any]) -> str:
    entity = ctx.app.entity(screen["entity"])
    labels = [entity.field(n).label if entity.has_field(n) else n for n in screen.get("search", [])]
    return "/".join(labels)


def _page_size(request: Request, name: str) -> int:
    try:
        return max(1, min(int(ctx_of(request).app.screen(name).page_size or 20), 500))
    except (KeyError, TypeError, ValueError):
        return 20
