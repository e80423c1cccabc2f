"""How YAML names Python: `plugin.handler` (custom actions, custom rules, jobs), checked against the plugins in use."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from specadmin.runtime.plugin import PluginSet


def handler_problem(ref: str, plugins: "PluginSet") -> str | None:
    """A handler is written `plugin.handler`: a plugin the app uses and one of its async handlers."""
    import inspect

    from specadmin.runtime.plugin import installed

    plugin_name, _, name = str(ref).partition(".")
    if "." in name or not name:
        old = next((f"{p.name}.{n}" for p in installed().values() for n, fn in p.handlers.items()
                    if f"{fn.__module__}.{fn.__name__}" == ref), None)
        hint = f"; write '{old}'" + ("" if plugins.get(old.split(".")[0]) else f" and list '{old.split('.')[0]}' "
                                     "under plugins: in app.yaml") if old else ""
        return f"handler '{ref}' must be written plugin.handler (an import path is no longer accepted){hint}"
    plugin = plugins.get(plugin_name)
    if plugin is None:
        listed = "is installed: list it under plugins: in app.yaml" if plugin_name in installed() else "is not installed"
        return f"handler '{ref}': plugin '{plugin_name}' {listed}"
    if name not in plugin.handlers:
        known = ", ".join(sorted(plugin.handlers)) or "none"
        return f"handler '{ref}': plugin '{plugin_name}' has no handler '{name}' (it has: {known})"
    if not inspect.iscoroutinefunction(plugin.handlers[name]):
        return f"handler '{ref}' is not an async function"
    return None
