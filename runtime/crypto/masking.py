"""Display masking of sensitive values (ID numbers, phones, addresses, names).

``mask(value, kind)`` keeps a few characters and replaces the rest with ``*``; ``None``
passes through.  Characters are Unicode code points, so ``"张三丰"`` masks to ``"张**"``.
At least one character of a non-empty value is always replaced: when a value is too
short for its kind's rule (e.g. a 5-character "phone") the default rule applies, and a
single character becomes ``"*"``.
"""

from __future__ import annotations

# kind -> (characters kept at the front, characters kept at the end)
_KEEP = {
    "id_number": (3, 4),  # 110***********1234
    "phone": (3, 4),  # 138****5678
}
_ADDRESS_KEEP = 6
KINDS = ("id_number", "phone", "address", "name", "default")


def _default(value: str) -> str:
    n = len(value)
    if n <= 1:
        return "*" * n
    if n == 2:
        return value[0] + "*"
    return value[0] + "*" * (n - 2) + value[-1]


def mask(value: str | None, kind: str = "default") -> str | None:
    """Mask ``value`` for display according to ``kind`` (see :data:`KINDS`).

    - ``id_number``/``phone``: first 3 and last 4 kept, e.g. ``"138****5678"``.
    - ``address``: first 6 characters then ``"****"`` (hides the length too).
    - ``name``: first character then one ``*`` per remaining character.
    - anything else: first and last character kept.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"can only mask str, not {type(value).__name__}")
    n = len(value)
    keep = _KEEP.get(kind)
    if keep is not None:
        front, back = keep
        if n > front + back:
            return value[:front] + "*" * (n - front - back) + value[-back:]
        return _default(value)
    if kind == "address":
        return value[:_ADDRESS_KEEP] + "****" if n > _ADDRESS_KEEP else _default(value)
    if kind == "name":
        return value[0] + "*" * (n - 1) if n > 1 else "*" * n
    return _default(value)
