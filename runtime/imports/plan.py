"""What one import of one screen writes: columns, converters, key, allowed scope values."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specadmin.specs import multi_keys
from specadmin.specs.model import Entity, ImportSpec, Scope, Screen
from specadmin.specs.paths import resolve
from specadmin.specs.physical import blind_index_column

from specadmin.runtime.errors import Denied, NotFound
from specadmin.runtime.security.scope import scope_condition, scope_path
from specadmin.runtime.imports.cells import converter

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.security.principal import Principal

MODES = ("all_or_nothing", "skip_bad_rows", "upsert")
MODE_DICT = "import_mode"  # the dictionary of their labels (runtime/imports/imports.yaml): 跳过错误行, ...


def import_screen(ctx: AppContext, entity_name: str, screen_name: str | None) -> tuple[Screen, ImportSpec]:
    """The screen whose import spec applies (the named one, or the entity's only import screen)."""
    screens = [s for s in ctx.app.screens_of(entity_name) if s.import_spec is not None]
    if screen_name:
        screens = [s for s in screens if s.name == screen_name]
    if not screens:
        raise NotFound("该页面没有开放导入")
    screen = screens[0]
    if not screen.import_spec.enabled:
        raise Denied("导入已关闭（数据由接口同步）")
    return screen, screen.import_spec


@dataclass
class Plan:
    entity: Entity
    screen: Screen
    spec: ImportSpec
    mode: str
    columns: list[str]
    headers: dict[str, str]  # field -> header text shown in the template / error report
    converters: dict[str, Callable[[Any], Any]]
    defaults: dict[str, Any]
    allowed: tuple[str, set] | None = None  # (field, values the importer's scope permits)
    names: dict[str, str] = field(default_factory=dict)  # normalised header text -> field
    ref_keys: dict[str, str] = field(default_factory=dict)  # ref column -> target field its cells name

    def key_of(self, values: dict[str, Any]) -> tuple | None:
        if not self.spec.key:
            return None
        return tuple(values.get(k) for k in self.spec.key)

    def key_column(self, name: str) -> str:
        """Keys on sensitive fields compare by blind index (the stored token is randomised)."""
        return blind_index_column(name) if self.entity.field(name).sensitive else name


def make_plan(ctx: AppContext, entity_name: str, screen_name: str | None, mode: str | None) -> Plan:
    screen, spec = import_screen(ctx, entity_name, screen_name)
    return plan_for(ctx, screen, spec, mode)


def plan_for(ctx: AppContext, screen: Screen, spec: ImportSpec, mode: str | None) -> Plan:
    """The plan of an import into `screen`'s entity by `spec` (a screen's own, or a pull's: runtime/pulls)."""
    entity = ctx.app.entity(screen.entity)
    mode = mode or spec.mode
    if mode not in MODES:
        raise ValueError(f"未知的导入方式 {mode}")
    if mode not in spec.choices:
        raise ValueError(f"“{screen.label}”不允许以 {mode} 方式导入（可选：{'、'.join(spec.choices)}）")
    if mode == "upsert" and not spec.key:
        raise ValueError("按键更新（upsert）需要在规格中声明 import.key")
    columns = list(spec.columns)
    headers = {n: entity.field(n).label for n in columns}
    refs = ref_keys(entity, spec, columns)
    converters = {n: converter(entity.field(n), ctx.dict_labels.get(entity.field(n).dict or "", None)
                               if entity.field(n).type == "dict" else None) for n in columns}
    for n, target_field in refs.items():  # the cell holds the target's business key (runtime/imports/refs.py)
        one = converter(ctx.app.entity(entity.field(n).to).field(target_field), None)
        converters[n] = several(one) if entity.field(n).type == "multi_ref" else one
    defaults = {f.name: f.default for f in entity.fields if f.default is not None and f.stored}
    names = {}
    for n in columns:
        names[n.lower()] = n
        names[headers[n].replace(" ", "").lower()] = n
    return Plan(entity, screen, spec, mode, columns, headers, converters, defaults, names=names, ref_keys=refs)


def several(one: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A multi_ref cell (`A01、A02,A03`: specs/multi_keys.py's separators) -> its keys, each
    converted as a single ref's cell is, in order, without repeats; None when empty."""
    def convert(cell: Any) -> tuple | None:
        items = multi_keys.split(cell) if isinstance(cell, str) else [] if cell is None else [cell]
        keys = [one(item) for item in items]
        keys = [k for k in dict.fromkeys(keys) if k is not None]
        return tuple(keys) or None

    return convert


def ref_keys(entity: Entity, spec: ImportSpec, columns: list[str]) -> dict[str, str]:
    """The ref and multi_ref columns whose cells name the target by a business key: the field's
    `by`, or the import's `ref_keys` (which wins)."""
    out = {n: entity.field(n).by for n in columns
           if entity.field(n).type in ("ref", "multi_ref") and entity.field(n).by}
    out.update({n: t for n, t in (spec.ref_keys or {}).items() if n in columns})
    return out


async def allowed_values(ctx: AppContext, plan: Plan, principal: Principal, scopes: tuple[Scope, ...]):
    """The values of the scope's first field that keep a row inside the importer's scope.

    Each grant's scope path (e.g. place_code.supervisor) is resolved on the ref's target, so
    the check is one query per import instead of one per row. None: unrestricted. A `participated`
    scope in a union adds nothing here (conservative: a handled row keeps its cells only inside the others)."""
    if principal.superuser:
        return None
    first_field, values = None, set()
    for scope in scopes:
        if scope.mode == "all":
            return None
        if scope.mode == "participated":
            # It tests other rows (tasks), not a cell, and a new row is inside it never: beside other
            # scopes (a union) their cells decide; alone, there is no pre-check.
            continue
        path = resolve(ctx.app, plan.entity, scope_path(scope))
        f = path.first
        if first_field not in (None, f.name):
            return None  # mixed scope fields: fall back to no pre-check (rare; spec-level roles)
        first_field = f.name
        if f.type != "ref":
            value = principal.attrs.get(scope.user_attr or "")
            if value is not None:
                values.add(str(value))
            continue
        target = ctx.table(f.to)
        rest = path.rest() or target._meta.primary_key._meta.name
        cond = scope_condition(ctx, f.to, Scope(mode=scope.mode, field=rest, user_attr=scope.user_attr), principal)
        by = f.key or plan.ref_keys.get(f.name)  # the value a converted cell holds
        key = getattr(target, by) if by else target._meta.primary_key
        query = target.select(key)
        if cond is not None:
            query = query.where(cond)
        values |= {str(r[key._meta.name]) for r in await query}
    return None if first_field is None else (first_field, values)
