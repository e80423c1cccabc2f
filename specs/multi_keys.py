"""Multi-valued dictionary fields (`type: dict, multi: true`): how their keys are stored and written.

Storage: one text column holding the keys between commas, `,close,second,` (None when there is no
key), in the dictionary's order. "Has key a" is then `column LIKE '%,a,%' ESCAPE '\\'` with the
pattern bound as a parameter (runtime/data/multi_dict.py), the same SQL on SQLite and PostgreSQL;
"all of a, b" is one such condition per key, "any of" their OR. A join table (as multi_ref has)
would cost a second table, a second write and a join per filter for a handful of short codes; JSON
would need different operators per database. Keys never contain a separator (MULTI_SEPARATORS).

People type several values as `密接、次密接` (the labels joined with 、, as lists and exports show
them), or with , ， ; ； between them; keys work as well as labels.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

SEPARATOR = "、"  # how labels are joined in lists, details and exports
MULTI_SEPARATORS = re.compile(r"[、,，;；]")
MULTI_TYPES = ("dict",)  # field types that may be `multi: true` (action parameters: generator/action_checks.py)


def is_multi_dict(field: Any) -> bool:
    """True for a stored multi-valued dictionary field (not an action parameter, which has no column)."""
    return getattr(field, "type", None) == "dict" and bool(getattr(field, "multi", False))


def split(text: Any) -> list[str]:
    """The items of a value typed as text (`密接、次密接`, `a,b`), trimmed, empty ones dropped."""
    if isinstance(text, (list, tuple)):
        items: Iterable[Any] = text
    else:
        items = MULTI_SEPARATORS.split(str(text))
    return [str(i).strip() for i in items if i is not None and str(i).strip()]


def encode(keys: Iterable[str] | None) -> str | None:
    """The stored text of a list of keys: `,a,b,`; None for no key."""
    keys = list(keys or [])
    return f",{','.join(keys)}," if keys else None


def decode(stored: Any) -> list[str]:
    """The keys of a stored value (`,a,b,` -> [a, b]); a list passes through."""
    if stored is None:
        return []
    if isinstance(stored, (list, tuple)):
        return [str(k) for k in stored]
    return [k for k in str(stored).split(",") if k]


def like_pattern(key: str) -> str:
    """The LIKE pattern of "holds key" with `\\` escaping LIKE's wildcards in the key."""
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%,{escaped},%"
