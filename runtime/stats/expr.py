"""Derived statistics measures in SQL and on totals: a parsed `expr:` tree (specs/measure_expr.py)
becomes bracketed QueryString arithmetic (`a - (b - c)` stays `(a - (b - c))`), integers travel as
parameters; nothing from YAML ever becomes SQL text.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from specadmin.specs.measure_expr import ExprError, names, parse, tokenize

__all__ = ["ExprError", "build", "evaluate", "names", "parse", "tokenize"]


def build(tree: Any, operand: Callable[[str], Any]) -> Any:
    """A QueryString for the tree; `operand(name)` gives a fresh QueryString for a measure."""
    from piccolo.querystring import QueryString

    kind = tree[0]
    if kind == "name":
        return operand(tree[1])
    if kind == "int":
        return QueryString("{}", tree[1])
    left, right = build(tree[1], operand), build(tree[2], operand)
    if kind == "+":
        return QueryString("({} + {})", left, right)
    if kind == "-":
        return QueryString("({} - {})", left, right)
    return QueryString("({} * {})", left, right)


def evaluate(tree: Any, values: dict[str, Any]) -> Any:
    """The same expression in Python (for the totals row); None when an operand is missing."""
    kind = tree[0]
    if kind == "name":
        return values.get(tree[1])
    if kind == "int":
        return tree[1]
    left, right = evaluate(tree[1], values), evaluate(tree[2], values)
    if left is None or right is None:
        return None
    return left + right if kind == "+" else left - right if kind == "-" else left * right
