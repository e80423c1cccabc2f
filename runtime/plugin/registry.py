"""Finding plugins (the `specadmin.plugins` entry-point group) and the set one app uses.

Every `Plugin` is published as an entry point, the built-in ones in specadmin's own
pyproject.toml, so `pip install some-plugin` is all a third-party plugin needs. An app uses
every built-in plugin plus the ones its app.yaml lists under `plugins:`.
"""
from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from specadmin.runtime.plugin.protocol import (
    EVERY_ENTITY,
    HOOK_NAMES,
    Handler,
    Hook,
    Plugin,
)

ENTRY_POINT_GROUP = "specadmin.plugins"

_installed: dict[str, Plugin] | None = None


class PluginError(Exception):
    """A plugin that is not installed, or a handler name that names nothing."""


def installed(refresh: bool = False) -> dict[str, Plugin]:
    """Every plugin installed in this Python environment, by name."""
    global _installed
    if _installed is None or refresh:
        found: dict[str, Plugin] = {}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in found:
                continue  # the same distribution seen twice on sys.path
            plugin = ep.load()
            if callable(plugin) and not isinstance(plugin, Plugin):
                plugin = plugin()
            if not isinstance(plugin, Plugin) or plugin.name != ep.name:
                raise PluginError(f"entry point {ep.name} = {ep.value} is not a Plugin named {ep.name!r}")
            found[ep.name] = plugin
        if not any(p.builtin for p in found.values()):
            raise PluginError("specadmin's built-in plugins are not registered: reinstall it (pip install .)")
        stale = sorted(set(_declared()) - set(found))
        if stale:  # an install older than the source: its apps would silently lack these built-ins
            raise PluginError(f"this installation of specadmin predates its source (no plugin {', '.join(stale)}): "
                              "run `bash scripts/setup.sh` (or `pip install -e .`) again")
        _installed = found
    return _installed


def _declared() -> list[str]:
    """The plugins the source tree's pyproject.toml registers, when running from a checkout (an
    editable install reads its entry points from metadata written at install time)."""
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.is_file():
        return []
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    return list(project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}))


def split_ref(ref: str) -> tuple[str, str]:
    plugin, _, handler = ref.partition(".")
    return plugin, handler


@dataclass(frozen=True)
class PluginSet:
    """The plugins of one app, in order: built-ins and the listed ones, sorted by (order, name)."""

    plugins: tuple[Plugin, ...]

    @classmethod
    def of(cls, listed: Iterable[str] = ()) -> "PluginSet":
        available = installed()
        missing = [n for n in listed if n not in available]
        if missing:
            raise PluginError(f"plugin {', '.join(missing)} is not installed")
        chosen = {n: p for n, p in available.items() if p.builtin}
        chosen.update({n: available[n] for n in listed})
        return cls(tuple(sorted(chosen.values(), key=lambda p: (p.order, p.name))))

    def __iter__(self):
        return iter(self.plugins)

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.plugins)

    def get(self, name: str) -> Plugin | None:
        return next((p for p in self.plugins if p.name == name), None)

    # -- named handlers ---------------------------------------------------
    def handler(self, ref: str) -> Handler:
        """The function YAML names `plugin.handler`."""
        plugin_name, name = split_ref(ref)
        plugin = self.get(plugin_name)
        if plugin is None or name not in plugin.handlers:
            raise PluginError(f"no handler {ref!r} (plugins in use: {', '.join(self.names())})")
        return plugin.handlers[name]

    def ref_scope(self, ref: str):
        """The reference scope YAML names `plugin.name` (`ref_scope:` of an action parameter)."""
        plugin_name, name = split_ref(ref)
        plugin = self.get(plugin_name)
        if plugin is None or name not in plugin.ref_scopes:
            raise PluginError(f"no ref scope {ref!r} (plugins in use: {', '.join(self.names())})")
        return plugin.ref_scopes[name]

    def list_narrowing(self, ctx, request, entity: str) -> list:
        """The conditions plugins read from a list request's own parameters (`Plugin.list_narrowing`)."""
        found = (p.list_narrowing(ctx, request, entity) for p in self.plugins if p.list_narrowing is not None)
        return [c for c in found if c is not None]

    def list_kept(self, request) -> list[tuple[str, str]]:
        """The parameters list pages keep in their links for the plugins' narrowing (`Plugin.list_kept`)."""
        return [pair for p in self.plugins if p.list_kept is not None for pair in p.list_kept(request)]

    async def detail_panels(self, ctx, request, screen: str, row: dict) -> list[dict]:
        """`[{template, context}]` of every plugin's `detail_panels` for one detail page, in plugin order."""
        out = []
        for plugin in self.plugins:
            for panels in plugin.detail_panels:
                out.extend({"template": t, "context": c} for t, c in await panels(ctx, request, screen, row))
        return out

    async def field_views(self, ctx, screen: str, entity: str, row_id: int, names: list[str],
                          writable: bool) -> dict[str, dict]:
        """field -> {template, context}: the fields plugins show themselves (`Plugin.field_views`), first plugin wins."""
        out: dict[str, dict] = {}
        for plugin in self.plugins:
            for views in plugin.field_views:
                for name, (template, context) in (await views(ctx, screen, entity, row_id, names, writable)).items():
                    out.setdefault(name, {"template": template, "context": context})
        return out

    def panel_actions(self, ctx, screen: str) -> set[str]:
        """The custom actions of a screen the plugins' detail panels offer themselves (`Plugin.panel_actions`)."""
        return {name for p in self.plugins for fn in p.panel_actions for name in fn(ctx, screen)}

    def action_conditions(self, ctx, screen: str, action: str) -> list:
        """Where clauses plugins add to a custom action's row visibility (`Plugin.action_conditions`)."""
        found = (fn(ctx, screen, action) for p in self.plugins for fn in p.action_conditions)
        return [c for c in found if c]

    def menu_entries(self, ctx, principal) -> list[dict]:
        """The plugins' own pages in the menu (`Plugin.menu_entries`)."""
        return [e for p in self.plugins for fn in p.menu_entries for e in fn(ctx, principal)]

    async def menu_badges(self, ctx, principal) -> dict[str, int]:
        """Menu entry name -> count (`Plugin.menu_badges`), later plugins adding to earlier ones."""
        out: dict[str, int] = {}
        for plugin in self.plugins:
            for badges in plugin.menu_badges:
                for name, count in (await badges(ctx, principal)).items():
                    out[name] = out.get(name, 0) + int(count)
        return out

    # -- entity hooks -----------------------------------------------------
    @cached_property
    def _hooks(self) -> dict[tuple[str, str], tuple[Hook, ...]]:
        table: dict[tuple[str, str], list[Hook]] = {}
        for plugin in self.plugins:
            for entity, hooks in plugin.hooks.items():
                for name in HOOK_NAMES:
                    fn = getattr(hooks, name)
                    if fn is not None:
                        table.setdefault((entity, name), []).append(fn)
        return {k: tuple(v) for k, v in table.items()}

    def hooks(self, entity: str, name: str) -> tuple[Hook, ...]:
        """`"*"` hooks first, then the entity's own, each in plugin order."""
        return self._hooks.get((EVERY_ENTITY, name), ()) + self._hooks.get((entity, name), ())

    async def run_hooks(self, name: str, event: Any) -> None:
        for hook in self.hooks(event.entity.name, name):
            await hook(event)

    async def view_row(self, ctx: Any, entity: Any, item: dict, clear: bool) -> None:
        """Each plugin's `row_views` adds to one row the API shows, in plugin order."""
        for plugin in self.plugins:
            for view in plugin.row_views:
                await view(ctx, entity, item, clear)

    # -- the rest ---------------------------------------------------------
    def scope_mode(self, mode: str):
        for plugin in self.plugins:
            if mode in plugin.scope_modes:
                return plugin.scope_modes[mode]
        return None

    def scope_modes(self) -> tuple[str, ...]:
        return tuple(m for p in self.plugins for m in p.scope_modes)

    def org_admin_scopes(self) -> dict[str, tuple[str, ...]]:
        """entity → org paths confining org admins there (see `Plugin.org_admin_scopes`)."""
        out: dict[str, tuple[str, ...]] = {}
        for plugin in self.plugins:
            for entity, paths in plugin.org_admin_scopes.items():
                out[entity] = tuple(dict.fromkeys(out.get(entity, ()) + tuple(paths)))
        return out

    def withheld_actions(self, ctx: Any) -> dict[str, frozenset[str]]:
        """screen → actions switched off for everyone (see `Plugin.withheld_actions`)."""
        out: dict[str, frozenset[str]] = {}
        for plugin in self.plugins:
            for screen, actions in (plugin.withheld_actions(ctx) if plugin.withheld_actions else {}).items():
                out[screen] = out.get(screen, frozenset()) | frozenset(actions)
        return out

    def app_keys(self) -> dict[str, dict]:
        return {k: v for p in self.plugins for k, v in p.app_keys.items()}

    def module_keys(self) -> dict[str, tuple[str, dict]]:
        """key → (plugin name, schema)."""
        return {k: (p.name, v) for p in self.plugins for k, v in p.module_keys.items()}
