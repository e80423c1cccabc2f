"""Helpers shared by the end-user pages: theme folders, layout, flash messages, cells, filters.

Rows are turned into display strings here so the Jinja templates stay dumb: a cell shows
the `<field>_label` companion when the service sent one, else the value; None is empty and
booleans read 是/否.
"""
from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import specadmin.themes

from specadmin.runtime.data.list_query import parse
from specadmin.runtime.data.where import combine_and
from specadmin.runtime.identity.pinyin import initials
from specadmin.runtime.security.ref_scope import offered_condition, ref_condition, target_condition
from specadmin.runtime.security.ref_options import options_condition

if TYPE_CHECKING:
    from litestar import Request

    from specadmin.runtime.app.context import AppContext

THEMES_DIR = Path(specadmin.themes.__file__).resolve().parent
DEFAULT_THEME = "default"
STATIC_URL = "/static"  # where the app mounts STATIC_DIRS(theme)
REF_OPTIONS_LIMIT = 500  # above this many target rows a ref is typed in, not picked
RESERVED_PARAMS = ("tab", "q", "page", "sort", "r")


# -- theme folders ----------------------------------------------------------
def _theme_dir(theme: str | None) -> Path:
    name = theme or DEFAULT_THEME
    path = THEMES_DIR / name
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_dir():
        return THEMES_DIR / DEFAULT_THEME
    return path


def TEMPLATE_DIRS(theme: str | None = None) -> list[Path]:  # noqa: N802 (public contract name)
    """Template folders to search, the theme's own first, then the default theme's."""
    own = _theme_dir(theme) / "templates"
    default = THEMES_DIR / DEFAULT_THEME / "templates"
    return [own] if own == default else [own, default]


def STATIC_DIRS(theme: str | None = None) -> list[Path]:  # noqa: N802
    """Static folders to serve at STATIC_URL, the theme's own first (app.js lives in default)."""
    own = _theme_dir(theme) / "static"
    default = THEMES_DIR / DEFAULT_THEME / "static"
    return [own] if own == default else [p for p in (own, default) if p.is_dir()]


def STATIC_DIR(theme: str | None = None) -> Path:  # noqa: N802
    """The theme's own static folder (prefer STATIC_DIRS: other themes reuse default's app.js)."""
    return STATIC_DIRS(theme)[0]


# -- session and flash --------------------------------------------------------
ECHARTS = "vendor/echarts.min.js"  # installed by scripts/setup.sh; pages fall back to tables without it


def chart_assets(ctx: "AppContext") -> dict[str, Any]:
    """Template values for pages with charts: whether the ECharts file is served, and its path."""
    return {"has_echarts": any((folder / ECHARTS).is_file() for folder in STATIC_DIRS(ctx.app.theme)),
            "echarts_path": ECHARTS}


def session_of(request: "Request") -> dict[str, Any]:
    session = request.scope.get("session")
    if not isinstance(session, dict):
        session = {}
        request.set_session(session)
    return session


def flash(request: "Request", text: str, kind: str = "success") -> None:
    session = session_of(request)
    messages = list(session.get("flash") or [])
    messages.append({"kind": kind, "text": text})
    session["flash"] = messages[-5:]


def pop_flash(request: "Request") -> list[dict[str, str]]:
    session = request.scope.get("session")
    if not isinstance(session, dict) or not session.get("flash"):
        return []
    messages = session.pop("flash")
    return [m for m in messages if isinstance(m, dict) and "text" in m]


# -- layout -------------------------------------------------------------------
def add_screen_tool(engine: Any, screen: str, label: str, url: str, tool_id: str, keep_query: bool = False) -> None:
    """A plugin's link among a screen's list page tools (list.html reads the `screen_tools` global),
    e.g. 统计图表 on the log lists, 菜单权限 on 菜单授权管理; from a plugin's `template_globals`.
    `keep_query`: the link carries the list's tab and filters (地图 on a screen with `map:`)."""
    tools = engine.engine.globals.setdefault("screen_tools", {})
    tools.setdefault(screen, []).append({"label": label, "url": url, "id": tool_id, "keep_query": keep_query})



def ctx_of(request: "Request") -> "AppContext":
    return request.app.state.ctx


def menu_groups(request: "Request", current: str | None = None) -> list[dict[str, Any]]:
    """The menu groups the user sees: the screens they may list, the plugins' pages (menu_extras.py),
    each with its badge count when a plugin gives one."""
    ctx, principal = ctx_of(request), request.user
    state = getattr(request, "state", None)
    badges = getattr(state, "menu_badges", None) or {}
    extras = list(getattr(state, "menu_entries", None) or ())
    path = request.url.path if hasattr(request, "url") else ""
    groups = []
    menus = list(ctx.menus) + [{"name": e["menu"], "label": e["menu"], "screens": []} for e in extras
                               if e["menu"] not in {m["name"] for m in ctx.menus}]
    seen = set()
    for menu in menus:
        if menu["name"] in seen:
            continue
        seen.add(menu["name"])
        items = [{"name": s, "label": ctx.screens[s]["label"], "url": f"/s/{s}", "active": s == current}
                 for s in menu["screens"] if s in ctx.screens and principal.can(s, "list")]
        items += [{"name": e["name"], "label": e["label"], "url": e["url"], "active": path == e["url"]}
                  for e in extras if e["menu"] == menu["name"]]
        for item in items:
            item["badge"] = badges.get(item["name"]) or 0
        if items:
            groups.append({"name": menu["name"], "label": menu["label"], "entries": items,
                           "active": any(i["active"] for i in items), "badge": sum(i["badge"] for i in items)})
    return groups


def breadcrumb(request: "Request", menus: list[dict[str, Any]], current: str | None, record: str | None = None,
               record_url: str | None = None, step: str | None = None,
               screen_url: str | None = None) -> list[dict[str, Any]]:
    """The trail of a screen's page after 首页: menu group › screen (› record) (› step); the last has
    no link; the screen's link goes back to the list as it was left (`screen_url`)."""
    ctx = ctx_of(request)
    screen = ctx.screens.get(current) if current else None
    if screen is None:
        return []
    group = next((g["label"] for g in menus if any(e["name"] == current for e in g["entries"])), None) \
        or next((m["label"] for m in ctx.menus if current in m["screens"]), None)
    crumbs: list[dict[str, Any]] = [{"label": group}] if group else []
    crumbs.append({"label": screen["label"], "url": screen_url or f"/s/{current}"})
    if record:
        crumbs.append({"label": record, "url": record_url})
    if step:
        crumbs.append({"label": step})
    crumbs[-1] = {"label": crumbs[-1]["label"]}
    return crumbs


def record_label(ctx: "AppContext", screen: dict[str, Any], item: dict[str, Any]) -> str:
    """How a record is named in the breadcrumb: its entity's display field, else the first list column."""
    entity = ctx.app.entity(screen["entity"])
    columns = [c for c in screen.get("detail") or screen["list"] if c["name"] == entity.display] \
        or [{"name": entity.display}] if entity.has_field(entity.display) else []
    text = cell_text(item, columns[0]) if columns else ""
    if not text and screen["list"]:
        text = cell_text(item, screen["list"][0])
    return text or f"#{item.get('id')}"


def layout(request: "Request", current: str | None = None, *, record: str | None = None,
           record_url: str | None = None, step: str | None = None, screen_url: str | None = None,
           **extra: Any) -> dict[str, Any]:
    """Context every logged-in page needs: titles, user, menu, breadcrumb, flash messages."""
    ctx, principal = ctx_of(request), request.user
    menus = menu_groups(request, current)
    context = {
        "app_title": ctx.app.label,
        "short_title": ctx.app.short_label or ctx.app.label,
        "user_name": principal.name or principal.username,
        "org_name": principal.org_name or "",
        "menus": menus,
        "crumbs": breadcrumb(request, menus, current, record, record_url, step, screen_url),
        "current": current,
        "flashes": pop_flash(request),
        "static": STATIC_URL,
    }
    context.update(extra)
    return context


# -- cells --------------------------------------------------------------------
def cell_text(item: dict[str, Any], column: dict[str, Any], key_label: bool = False) -> str:
    """key_label (list and detail pages): a business key shows its target's label beside it, `KP001（一号酒家）`."""
    name = column["name"]
    label = None if column.get("key") else item.get(f"{name}_label")  # a business key reads as itself
    value = label if label is not None else item.get(name)
    if key_label and column.get("key") and value is not None and item.get(f"{name}_label") is not None:
        return f"{value}（{item[f'{name}_label']}）"
    if value is None:
        return column.get("empty_label") or ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return "，".join(str(v) for v in value)
    if isinstance(value, dict) and "lng" in value:
        return f"{value.get('lng')}, {value.get('lat')}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def light_of(item: dict[str, Any], column: dict[str, Any]) -> tuple[str, str] | None:
    """A deadline column's light (specs/lights.py) as (colour, 正常/临期/超期), shown as a dot beside it."""
    color = item.get(f"{column['name']}_light")
    return (color, item.get(f"{column['name']}_light_label") or "") if color else None


# -- list query strings ---------------------------------------------------------
def clean_qs(raw: str | None) -> str:
    """A list page query string carried through forms, rebuilt so it cannot smuggle anything."""
    if not raw:
        return ""
    pairs = [(k, v) for k, v in parse_qsl(raw, keep_blank_values=False)[:50] if len(k) <= 64 and len(v) <= 200]
    return urlencode(pairs)


def list_url(screen: str, qs: str = "") -> str:
    qs = clean_qs(qs)
    return f"/s/{screen}" + (f"?{qs}" if qs else "")


def with_params(params: list[tuple[str, str]], **changes: Any) -> str:
    """Query string of `params` with some keys replaced (None drops the key)."""
    out = [(k, v) for k, v in params if k not in changes]
    out += [(k, str(v)) for k, v in changes.items() if v is not None and v != ""]
    return urlencode(out)


# -- filters --------------------------------------------------------------------
def read_filters(ctx: "AppContext", screen_name: str,
                 params) -> tuple[dict[str, Any], list[tuple[str, str]], list[str]]:
    """Filter values of the screen from query params, read by runtime/data/list_query.py.

    Returns (filters for the service, (param, text) pairs to echo into links and inputs,
    problems to show).
    """
    screen = ctx.app.screen(screen_name)
    given = {k: params.get(k) for k in params if k not in ("page", "page_size")}  # the pages page themselves
    query = parse(ctx.app.entity(screen.entity), [screen], given)
    return query.filters, query.echo, query.problems


# -- ref and dict options --------------------------------------------------------
SEARCH_MIN = 12  # a drop-down of this many options or more gets a search box (static/widgets.js)


@functools.lru_cache(maxsize=8192)
def _label_initials(text: str) -> str:
    return initials(text) or ""


class Options:
    """Choices for dict and ref widgets, loaded once per request.

    Ref options of a tree entity (orgs) come in tree order, each with its depth; every ref option
    carries the pinyin initials of its label (the target's `initials_of` field when it has one),
    which the searchable drop-down (static/widgets.js) matches as well as the label. With a
    `screen`, a ref field's options are those its grant's scope allows (runtime/security/ref_scope.py).
    """

    def __init__(self, ctx: "AppContext", principal: Any = None, screen: str | None = None, writing: bool = False):
        self.ctx = ctx
        self.writing = writing  # a form: ref fields declaring `options:` offer only those (runtime/security/ref_options.py)
        self.principal = principal  # options of refs are limited to the rows this user may reference
        self.screen = screen
        self._refs: dict[tuple, list[tuple[str, str]] | None] = {}
        self.details: dict[str, dict[str, tuple[int, str]]] = {}  # column -> value -> (depth, initials)

    def dict_options(self, dict_name: str | None) -> list[tuple[str, str]]:
        return list(self.ctx.dict_labels.get(dict_name or "", {}).items())

    async def ref_options(self, to: str, key: str | None = None, ref_scope: str | None = None,
                          field: str | None = None) -> list[tuple[str, str]] | None:
        """(value, label) pairs of the target rows (those in the user's view, those a declared
        `ref_scope` allows, or those the screen's own scope offers for `field`), or None when there
        are too many to list."""
        memo = (to, key, ref_scope, field)
        if memo not in self._refs:
            self._refs[memo] = await self._load(to, key, ref_scope, field)
        return self._refs[memo]

    def _visible(self, to: str, ref_scope: str | None, field: str | None) -> Any:
        if ref_scope:
            return ref_condition(self.ctx, self.principal, to, ref_scope)
        if field and self.screen:
            try:
                entity = self.ctx.app.entity(self.ctx.app.screen(self.screen).entity)
            except KeyError:
                entity = None
            if entity is not None and entity.has_field(field) and entity.field(field).to == to:
                return offered_condition(self.ctx, self.principal, self.screen, entity, field)
        return target_condition(self.ctx, self.principal, to)

    def _narrowing(self, to: str, field: str | None) -> Any:
        """The screen entity's field whose `options:` narrow this form's drop-down, or None."""
        if not (self.writing and field and self.screen):
            return None
        try:
            entity = self.ctx.app.entity(self.ctx.app.screen(self.screen).entity)
        except KeyError:
            return None
        if not entity.has_field(field) or entity.field(field).to != to or not entity.field(field).options:
            return None
        return entity.field(field)

    async def _load(self, to: str, key: str | None, ref_scope: str | None = None,
                    field: str | None = None) -> list[tuple[str, str]] | None:
        ctx = self.ctx
        try:
            target = ctx.app.entity(to)
            table = ctx.table(to)
        except KeyError:
            return None
        pk = table._meta.primary_key
        value_col = getattr(table, key) if key else pk

        def plain(name: str | None) -> str | None:
            return name if name and target.has_field(name) and target.field(name).stored \
                and not target.field(name).sensitive else None

        label_name = plain(target.display)
        order_name = plain("code" if to == "org" and target.has_field("code") else target.order_by.lstrip("-"))
        initials_name = next((f.name for f in target.fields if f.initials_of and f.initials_of == label_name), None)
        tree = bool(target.tree) and plain("path") is not None
        columns = [value_col.as_alias("v"), pk.as_alias("pk")]
        if label_name:
            columns.append(getattr(table, label_name).as_alias("l"))
        if initials_name:
            columns.append(getattr(table, initials_name).as_alias("i"))
        if tree:
            columns.append(table.path.as_alias("p"))
        query = table.select(*columns).order_by(getattr(table, order_name) if order_name else pk)
        visible = self._visible(to, ref_scope, field)
        narrowing = self._narrowing(to, field)
        if narrowing is not None:
            visible = combine_and([visible, await options_condition(ctx, self.principal, narrowing)])
        if visible is not None:
            query = query.where(visible)
        rows = await query.limit(REF_OPTIONS_LIMIT + 1)
        if len(rows) > REF_OPTIONS_LIMIT:
            return None
        depths = _tree_order(rows) if tree else None
        if depths is not None:
            rows = [r for r, _ in depths]
        out, details = [], {}
        for n, r in enumerate(rows):
            value, label = r["v"], r.get("l")
            if value is None:
                continue
            text = str(label) if label not in (None, "") else str(value)
            if key and label not in (None, "") and str(label) != str(value):
                text = f"{label}（{value}）"
            out.append((str(value), text))
            details[str(value)] = (depths[n][1] if depths else 0,
                                   str(r.get("i") or "") or _label_initials(str(label or "")))
        self.details[_detail_key(to, key, field)] = details
        return out

    async def for_column(self, col: dict[str, Any]) -> list[tuple[str, str]] | None:
        """Options of a select for this column, or None when it is typed in."""
        ftype = col.get("type")
        if ftype == "dict":
            return self.dict_options(col.get("dict"))
        if col.get("codes"):
            return self.dict_options(col["codes"])
        if col.get("choices"):
            return [(str(c), str(c)) for c in col["choices"]]
        if ftype in ("ref", "multi_ref") and col.get("to"):
            field = col["name"] if "." not in col["name"] else None
            return await self.ref_options(col["to"], col.get("key"), col.get("ref_scope"), field)
        return None

    def details_of(self, col: dict[str, Any]) -> dict[str, tuple[int, str]]:
        """value -> (tree depth, pinyin initials) of a ref column's loaded options ({} for others)."""
        if col.get("type") not in ("ref", "multi_ref") or not col.get("to"):
            return {}
        field = col["name"] if "." not in col["name"] else None
        return self.details.get(_detail_key(col["to"], col.get("key"), field), {})


def _detail_key(to: str, key: str | None, field: str | None) -> str:
    return f"{to}|{key or ''}|{field or ''}"


def _tree_order(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Rows of a tree (each with its `path` "/1/5/9/") depth first, siblings in their given order,
    each with its depth below the shallowest row listed (a street user's own street is depth 0)."""
    by_pk = {str(r["pk"]): r for r in rows}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        ids = [p for p in str(r.get("p") or "").split("/") if p]
        parent = next((i for i in reversed(ids[:-1]) if i in by_pk), None)
        children.setdefault(parent, []).append(r)
    out: list[tuple[dict[str, Any], int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            out.append((r, depth))
            walk(str(r["pk"]), depth + 1)

    walk(None, 0)
    return out
