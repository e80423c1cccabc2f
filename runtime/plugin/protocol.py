"""The plugin protocol: one small declaration through which a package contributes to an app.

A `Plugin` says what it adds; nothing here runs it. The spec loader reads its schema keys,
checks and YAML modules; the app factory binds it to a running app (`bound.BoundPlugin`, a
Litestar `InitPluginProtocol`) for routes, middleware, lifespan tasks and Litestar settings;
`EntityService` calls its entity hooks inside the writer's transaction; the job runner, rules and
custom actions call its named handlers. Built-in capabilities and third-party plugins use the
same declaration; the only difference is `builtin=True` (every app gets it) versus being listed
under `plugins:` in app.yaml.
"""
from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.plugin.events import WriteEvent
    from specadmin.runtime.plugin.spec_view import SpecView

Hook = Callable[["WriteEvent"], Awaitable[None]]
Handler = Callable[[Any], Awaitable[Any]]

HOOK_NAMES = ("before_create", "after_create", "before_update", "after_update", "before_delete", "after_delete")
EVERY_ENTITY = "*"


def _empty() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class EntityHooks:
    """Functions called around a write of one row, inside the writer's transaction.

    `before_*` run after validation and before the row is written (raise `Invalid`/`Denied` to refuse,
    or change `event.columns`); `after_*` run after the write, still inside the transaction, so
    whatever they write commits or rolls back with the row. Custom actions count as updates.
    """

    before_create: Hook | None = None
    after_create: Hook | None = None
    before_update: Hook | None = None
    after_update: Hook | None = None
    before_delete: Hook | None = None
    after_delete: Hook | None = None

    @classmethod
    def on_write(cls, before: Hook | None = None, after: Hook | None = None) -> "EntityHooks":
        """The same functions for create and update (the event says which)."""
        return cls(before_create=before, before_update=before, after_create=after, after_update=after)


@dataclass(frozen=True)
class Check:
    """A spec check with a stable code (Django's check registry is the model).

    `function(spec)` gets a `SpecView` of the whole validated app and yields `spec.error(...)`
    results; each becomes `file:line: [code] message` from `specadmin check`.
    """

    code: str
    function: Callable[["SpecView"], Iterable[Any]]
    label: str = ""


@dataclass(frozen=True)
class Command:
    """A CLI subcommand: `specadmin <name> ...`. `add_arguments` fills its parser; `run(args)`
    returns the exit code, and `await args.with_app(app_dir, fn)` runs `fn(ctx)` on an open app."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class AppOptions:
    """How `create_app` was asked to build this app."""

    with_admin: bool = True
    run_jobs: bool = False
    secure_cookies: bool = False


@dataclass(frozen=True)
class Plugin:
    """What one package adds to an app. Every field is optional but the name.

    - `app_keys` / `module_keys`: JSON Schema fragments for new top-level keys of app.yaml and of
      module files; the values are in the model as `app.sections[key][module]` (module `"app.yaml"`
      for an app.yaml key).
    - `checks`: spec checks with their own codes.
    - `modules`: YAML module files (entities, screens, menus, roles) every app using the plugin gets.
    - `hooks`: entity name (or `"*"` for every entity) → `EntityHooks`.
    - `handlers`: name → async function of one argument (an `ActionCall`, `RuleCall` or `JobCall`);
      YAML names them `<plugin>.<handler>`.
    - `routes(ctx, options)`: Litestar route handlers; `middleware(ctx, options)`: middleware, outermost first.
    - `lifespan`: `(ctx, options) -> async context manager`, entered after the database is up.
    - `configure(config, ctx, options)`: any other Litestar setting (CSRF, exception handlers, state).
    - `request_hooks`: `before_request` functions, run in plugin order.
    - `scope_modes`: data-scope mode name → `(ctx, column, scope, principal) -> condition`.
    - `templates` / `static`: folders searched before the theme's; `template_globals(env)` (or `(env, ctx)`) adds to Jinja.
    - `commands`: extra `specadmin` subcommands.
    - `tables`: factories of Piccolo tables the plugin keeps outside the spec (a session store, login
      throttles): no API, screen or admin page. Each app makes its own classes, bound to its
      database (`ctx.runtime_table(name)`); `specadmin migrate` creates them.
    - `org_admin_scopes`: entity → paths from it to an org field. On these entities a grant held
      through an org-admin role is confined to the holder's org subtree along those paths (any of them).
    - `ref_scopes`: name → `(ctx, principal) -> condition | None` on a target table: the rows a ref
      parameter of a custom action declaring `ref_scope: <plugin>.<name>` may point at (and its
      drop-down lists), instead of the actor's grants on the target's screens; None: no limit.
    - `withheld_actions(ctx)`: screen → actions nobody may use while the app runs as configured (an
      external source that owns a screen's data switches off its import and delete), superusers included.
    - `row_views`: `async (ctx, entity, item, clear) -> None` functions that add keys to one row as
      `GET /api/<entity>/<id>` (and a write's answer) shows it (e.g. `<field>_files`); `clear`: the reader
      sees sensitive values in clear. Lists and exports do not call them.
    - `key_holders`: `async (ctx, cipher) -> int` functions that re-encrypt, during `specadmin rotate-key`,
      what the plugin keeps under the SM4 keyring outside sensitive columns (encrypted files), returning
      how many items are still under an old key or unreadable (the old key is kept until none is).
    - `list_narrowing(ctx, request, entity)`: a condition the plugin reads from its own query
      parameters of a list request (page, API, tab counts) on `entity`, ANDed with everything else
      (the stats plugin's drill-down `?stat=…&measure=…`); None when they are absent; a bad value
      raises BadRequest / Denied. `list_kept(request)`: the (parameter, value) pairs of such a request
      a list page keeps in its paging, tab and size links, so every page stays narrowed.
    - `detail_panels`: `async (ctx, request, screen, row) -> [(template name, context)]` functions: what a
      detail page shows beyond the row's fields (related lists, a workflow's state, actions, handling tree
      and timeline), rendered below the fields in plugin order; `screen` is the screen's name, `row` the
      item as the page read it (grant and scope already applied). The template gets its context as `panel`.
    - `field_views`: `async (ctx, screen, entity, row_id, names, writable) -> {field: (template name, context)}`
      functions: fields among `names` a plugin shows itself on the detail page (`writable=False`) and, with
      its own controls, below the edit form (`writable=True`), e.g. a file field's files with preview and
      upload; the template reads its context as `p`.
    - `panel_actions`: `(ctx, screen) -> names` functions: the custom actions of a screen that a plugin's detail
      panel offers itself (the workflow: its actions, as the row's state allows); the detail page's toolbar
      leaves them out, their parameter dialogs stay on the page.
    - `action_conditions`: `(ctx, screen, action) -> where clause or None` functions: when a custom action
      shows as a row's button on list pages, beside its own `when:` (the workflow: the action's from-states);
      the action itself still judges the row when it runs.
    - `menu_entries`: `(ctx, principal) -> [{menu, name, label, url}]` functions: pages of the plugin shown in
      the menu group `menu` (a group of app.yaml `menus:`; a new group of that name when absent).
    - `menu_badges`: `async (ctx, principal) -> {screen or menu entry name: count}` functions: a red count
      beside the entry (待办数角标), read once per page request.
    - `order`: where the plugin sits among others (middleware nesting, module order, route order).
    """

    name: str
    label: str = ""
    builtin: bool = False
    order: int = 100
    app_keys: Mapping[str, dict] = field(default_factory=_empty)
    module_keys: Mapping[str, dict] = field(default_factory=_empty)
    checks: Sequence[Check] = ()
    modules: Sequence[Path] = ()
    hooks: Mapping[str, EntityHooks] = field(default_factory=_empty)
    handlers: Mapping[str, Handler] = field(default_factory=_empty)
    routes: Callable[["AppContext", AppOptions], Sequence[Any]] | None = None
    middleware: Callable[["AppContext", AppOptions], Sequence[Any]] | None = None
    lifespan: Sequence[Callable[["AppContext", AppOptions], AbstractAsyncContextManager]] = ()
    configure: Callable[["AppConfig", "AppContext", AppOptions], None] | None = None
    request_hooks: Sequence[Callable[[Any], Awaitable[Any]]] = ()
    scope_modes: Mapping[str, Callable[..., Any]] = field(default_factory=_empty)
    templates: Path | None = None
    static: Path | None = None
    template_globals: Callable[[Any], None] | None = None
    commands: Sequence[Command] = ()
    tables: Sequence[Callable[[], Any]] = ()
    org_admin_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    ref_scopes: Mapping[str, Callable[..., Any]] = field(default_factory=_empty)
    withheld_actions: Callable[["AppContext"], Mapping[str, Iterable[str]]] | None = None
    row_views: Sequence[Callable[..., Awaitable[None]]] = ()
    key_holders: Sequence[Callable[..., Awaitable[int]]] = ()
    list_narrowing: Callable[["AppContext", Any, str], Any] | None = None
    list_kept: Callable[[Any], Sequence[tuple[str, str]]] | None = None
    detail_panels: Sequence[Callable[..., Awaitable[list]]] = ()
    field_views: Sequence[Callable[..., Awaitable[dict]]] = ()
    panel_actions: Sequence[Callable[..., Iterable[str]]] = ()
    action_conditions: Sequence[Callable[..., Any]] = ()
    menu_entries: Sequence[Callable[..., list]] = ()
    menu_badges: Sequence[Callable[..., Awaitable[dict]]] = ()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"plugin name {self.name!r} must be an identifier (YAML writes `{self.name}.handler`)")
        for entity, hooks in self.hooks.items():
            if not isinstance(hooks, EntityHooks):
                raise TypeError(f"plugin {self.name}: hooks[{entity!r}] must be an EntityHooks")
