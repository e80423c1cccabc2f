"""The `unmask` grant action: sensitive values in clear (明文查看).

Masking is the default. A row screen (not a statistic) whose entity shows a sensitive value (a field
marked `sensitive`, or a lookup that ends at one) offers the action `unmask` besides its own: a spec role names it in
`actions:` (or says `clear_view: true`, its synonym), a grant stored at run time on 菜单授权管理 lists
it among its comma-separated actions. `grants: {screen: all}` gives every other offered action,
never `unmask`: clear view is always granted by name. The runtime checks it in one place
(runtime/security/unmask.py).
"""
from __future__ import annotations

from typing import Any

from specadmin.specs.model import UNMASK
from specadmin.specs.paths import Catalog, PathError, prop, resolve

__all__ = ["LABEL", "UNMASK", "offers_unmask", "shows_sensitive"]
LABEL = "明文查看"


def shows_sensitive(catalog: Catalog | Any, entity: str, fields: dict[str, Any]) -> bool:
    """Whether the entity (its `fields`: name → model Field or raw dict) holds or looks up a sensitive value."""
    for f in fields.values():
        if prop(f, "sensitive"):
            return True
        if prop(f, "type") == "lookup" and prop(f, "path"):
            try:
                if prop(resolve(catalog, entity, prop(f, "path"), lookups=True).field, "sensitive"):
                    return True
            except PathError:  # reported by the semantic checks
                continue
    return False


def offers_unmask(catalog: Catalog | Any, screen: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether a screen (its raw spec; `fields`: its entity's) offers `unmask`: a row screen over
    an entity that shows a sensitive value. A statistic shows counts, never a row's value."""
    return "stat" not in screen and shows_sensitive(catalog, screen["entity"], fields)
