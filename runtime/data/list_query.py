"""One parser for list requests: filters, keyword, sort, tab and paging.

The JSON API (/api/<entity>, typed by the generated controllers), the caller API (/ext/api),
the export endpoints and the list and statistics pages all read a list request here. This is
the one place that knows which query parameters an entity's screens filter on, how they are
named (a date or datetime field, and a computed number such as an age, is a range, `<field>_from`
and `<field>_to`; a filter whose
name is a reserved parameter such as `page` is sent as `filter_page`), and how each is typed.
A datetime field's range takes a day (`2026-11-01`: from its start, to its end) or a moment
(`2026-11-01T08:30`, `2026-11-01 08:30:15`: from / up to and including it).
A geo field is filtered by `<field>_near=lng,lat,meters` and `<field>_within=lng,lat;...` (specs/geo.py):
checked here, never cut short (a polygon is longer than TEXT_MAX), a malformed one is a 400.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from specadmin.specs import geo
from specadmin.runtime.data.values import DATE_RANGE_PROBLEM, date_in_range
from specadmin.runtime.errors import BadRequest
from specadmin.specs.model import Entity, Screen

# Parameters of the list and export endpoints and handler arguments a filter must not shadow.
LIST_PARAMS = ("screen", "tab", "q", "sort", "page", "page_size", "scope_level", "tree")
# List parameters, the handlers' own arguments and the names Litestar reserves for its injected values
# (a filter on a field named `state`, e.g. a task's state, would otherwise stop the app from starting).
RESERVED = frozenset({*LIST_PARAMS, "request", "data", "row_id", "action", "self", "r", "background",
                      "state", "headers", "cookies", "query", "scope", "socket", "body"})
KEYWORD_MAX = 100
TEXT_MAX = 200
MAX_PAGE_SIZE = 500
MAX_PAGE = 10**9  # far beyond any table; page x page size stays well inside the databases' 64-bit OFFSET

# Field type -> the Python type of its query parameter (a ref by id is an int, by business key a str).
# A datetime field's range bound is a day or a moment (typed_value); the JSON API takes it as text.
FIELD_TYPES: dict[str, type] = {"integer": int, "decimal": float, "boolean": bool, "date": dt.date,
                                "datetime": dt.datetime, "string": str, "text": str, "dict": str, "ref": int}
MOMENT = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?))?")
MOMENT_PROBLEM = "日期时间格式应为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM[:SS]"
TRUE_WORDS = ("true", "1", "on", "yes", "是")
FALSE_WORDS = ("false", "0", "off", "no", "否")


@dataclass(frozen=True)
class FilterParam:
    """One filter query parameter: its name, Python type and label; `key` is what the service takes."""

    name: str
    type: type
    label: str
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.name)

    @property
    def type_name(self) -> str:
        """The type as generated code spells it."""
        if self.type in (dt.date, dt.datetime):
            return f"datetime.{self.type.__name__}"
        return self.type.__name__

    @property
    def api_type(self) -> type:
        """The type the JSON API declares for it: a datetime bound is text (a day or a moment),
        typed by typed_value like every other list request."""
        return str if self.type is dt.datetime else self.type


def param_name(key: str) -> str:
    """The query parameter of a filter key: `filter_<key>` when the key is a reserved name."""
    return f"filter_{key}" if key in RESERVED else key


def filter_params(entity: Entity, screens: Iterable[Screen]) -> list[FilterParam]:
    """The filter parameters of the entity's screens, in declaration order, each once."""
    names: list[str] = []
    for screen in screens:
        names += [n for n in screen.filters if n not in names]
    params = []
    for n in names:
        f = entity.field(n)
        ptype = str if f.type == "ref" and f.key else FIELD_TYPES.get(f.value_type, str)
        if f.value_type in ("date", "datetime") or f.type == "computed" and f.value_type in ("integer", "decimal"):
            keys = [(f"{n}_from", f"{f.label}（起）"), (f"{n}_to", f"{f.label}（止）")]
            if f.lights:  # `<field>_light=green|yellow|red` (specs/lights.py)
                keys.append((f"{n}_light", f"{f.label}（状态）"))
        elif f.multi:  # `tags=a,b` (any of them), `tags_match=all` (all of them): runtime/data/multi_dict.py
            keys = [(n, f.label), (f"{n}_match", f"{f.label}（匹配方式）")]
        elif f.type == "geo":  # specs/geo.py
            params += [FilterParam(param_name(f"{n}_near"), str, f"{f.label}（附近：经度,纬度,米）", f"{n}_near"),
                       FilterParam(param_name(f"{n}_within"), str, f"{f.label}（多边形：经度,纬度;...）", f"{n}_within")]
            continue
        else:
            keys = [(n, f.label)]
        for key, label in keys:
            params.append(FilterParam(param_name(key), str if key == f"{n}_light" else ptype, label, key))
    return params


def typed_value(param: FilterParam, raw: str) -> Any:
    """The value of one filter from its query-string text; ValueError with the problem (Chinese)."""
    text = raw.strip()
    if param.type is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("应为数字") from None
    if param.type is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("应为数字") from None
    if param.type is bool:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValueError("应为是或否")
    if param.type is dt.datetime:
        return _moment(text)
    if param.type is dt.date:
        try:
            day = dt.date.fromisoformat(text[:10])
        except ValueError:
            raise ValueError("日期格式应为 YYYY-MM-DD") from None
        if not date_in_range(day):
            raise ValueError(DATE_RANGE_PROBLEM)
        return day
    return text[:TEXT_MAX]


def _moment(text: str) -> dt.date:
    """A datetime range bound: a day (dt.date, the whole day) or a moment (dt.datetime)."""
    match = MOMENT.fullmatch(text)
    if not match:
        raise ValueError(MOMENT_PROBLEM)
    try:
        value = dt.datetime.fromisoformat(f"{match[1]} {match[2]}") if match[2] else dt.date.fromisoformat(match[1])
    except ValueError:
        raise ValueError(MOMENT_PROBLEM) from None
    if not date_in_range(value):
        raise ValueError(DATE_RANGE_PROBLEM)
    return value


def echo_text(value: Any) -> str:
    """A typed filter value as it is written back into links and inputs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):  # as a datetime-local input writes it
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@dataclass
class ListQuery:
    """A parsed list request, with what was wrong in it."""

    screen: str | None = None
    tab: str | None = None
    level: str | None = None  # 本级 self / 下级 sub / 本级及下级 all (runtime/security/levels.py)
    tree: str | None = None  # `1`: one level of a tree entity (runtime/data/tree_view.py)
    q: str | None = None
    sort: str | None = None
    page: int = 1
    page_size: int = 20
    filters: dict[str, Any] = field(default_factory=dict)  # filter key -> typed value
    echo: list[tuple[str, str]] = field(default_factory=list)  # (parameter, text) of the given filters
    invalid: dict[str, str] = field(default_factory=dict)  # parameter -> "<label>：<problem>"
    unknown: list[str] = field(default_factory=list)  # parameters that are neither list parameters nor filters

    @property
    def problems(self) -> list[str]:
        return list(self.invalid.values())

    def check(self, *, allow_unknown: bool = True) -> ListQuery:
        """Raise BadRequest (400) for a value of the wrong type, or an unknown parameter when not allowed."""
        if not allow_unknown and self.unknown:
            raise BadRequest(f"未知的查询参数 {self.unknown[0]}")
        if self.invalid:
            raise BadRequest("；".join(f"查询参数 {k} 的值不正确（{v}）" for k, v in self.invalid.items()))
        return self

    def list_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of EntityService.list_page."""
        return {"screen": self.screen, "tab": self.tab, "q": self.q, "sort": self.sort, "page": self.page,
                "page_size": self.page_size, "filters": self.filters, "level": self.level, "tree": self.tree}

    def export_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of EntityService.export_csv/export_rows (no paging)."""
        return {"screen": self.screen, "tab": self.tab, "q": self.q, "sort": self.sort, "filters": self.filters,
                "level": self.level}


def typed_filters(params: Iterable[FilterParam], values: Mapping[str, Any]) -> dict[str, Any]:
    """Filters for the service from values Litestar has already typed, keyed by parameter name
    (a datetime bound, declared as text, is typed here; a wrong one is a 400)."""
    out = {}
    for p in params:
        value = values.get(p.name)
        if value is None:
            continue
        if p.type is dt.datetime and isinstance(value, str):
            if not value.strip():
                continue
            try:
                value = typed_value(p, value)
            except ValueError as exc:
                raise BadRequest(f"查询参数 {p.name} 的值不正确（{p.label}：{exc}）") from None
        out[p.key] = value
    return out


def paging(text: str | None, default: Any, high: int, name: str, invalid: dict[str, str]) -> Any:
    """A page number or size from its query-string text: `default` when absent; out of 1..high (or not
    an integer: 1e20, abc) it is recorded in `invalid` under `name` and `default` is used."""
    if text is None or not text.strip():
        return default
    try:
        number = int(text.strip())
    except ValueError:
        number = 0
    if not 1 <= number <= high:
        invalid[name] = f"{name}：应为 1 到 {high} 之间的整数"
        return default
    return number


def parse(entity: Entity, screens: Iterable[Screen], params: Mapping[str, str], *, page_size: int = 20,
          max_page: int = MAX_PAGE) -> ListQuery:
    """Read a list request's query parameters; the filters are those of `screens` (of `entity`)."""
    screens = list(screens)
    query = ListQuery(screen=params.get("screen") or None, tab=params.get("tab") or None,
                      level=(params.get("scope_level") or "").strip()[:8] or None,
                      tree=(params.get("tree") or "").strip()[:8] or None,
                      q=(params.get("q") or "").strip()[:KEYWORD_MAX] or None,
                      sort=(params.get("sort") or "").strip()[:64] or None)
    query.page = paging(params.get("page"), 1, max_page, "page", query.invalid)
    query.page_size = paging(params.get("page_size"), page_size, MAX_PAGE_SIZE, "page_size", query.invalid)
    known = set(LIST_PARAMS)
    for p in filter_params(entity, screens):
        known.add(p.name)
        raw = params.get(p.name)
        if raw is None or not raw.strip():
            continue
        spot = geo.geo_filter(entity, p.key)
        try:
            value = geo.check(spot[1], raw) if spot else typed_value(p, raw)
        except ValueError as exc:
            query.invalid[p.name] = f"{p.label}：{exc}"
            continue
        query.filters[p.key] = value
        query.echo.append((p.name, echo_text(value)))
    query.unknown = [name for name in params if name not in known]
    return query
