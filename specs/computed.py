"""Computed fields (`type: computed`, `expr:`): the expression language, its type check and band labels.

    expr   := or
    or     := and ("or" and)*
    and    := cmp ("and" cmp)*
    cmp    := add (("<" | "<=" | ">" | ">=" | "==" | "!=") add)?
    add    := mul (("+" | "-") mul)*
    mul    := unary (("*" | "/") unary)*
    unary  := "-" unary | atom
    atom   := NUMBER | "text" | PATH | NAME "(" args ")" | "(" expr ")" | "[" NUMBER, ... "]"

PATH is a field of the entity or a path through refs (`place.street`). Functions: age(date),
band(number, [b1, b2, ...]) (labels `0-17`, `18-59`, `60+` unless `labels:` gives them), year(d),
month(d), day(d), coalesce(a, b, ...), if(cond, a, b). `/` is safe: a zero divisor gives null.
Never evaluated by Python: runtime/data/computed.py compiles the checked tree to parameterised SQL.
A tree is nested tuples: ("num", v) | ("str", s) | ("path", "a.b") | ("list", (v, ...)) |
("call", name, (args...)) | ("neg", x) | (op, left, right).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TOKEN = re.compile(r'\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>"[^"]*")|(?P<name>[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)'
                   r'|(?P<op><=|>=|==|!=|[-+*/()<>,\[\]]))')
COMPARE = ("<", "<=", ">", ">=", "==", "!=")
FUNCTIONS = {"age": 1, "band": 2, "year": 1, "month": 1, "day": 1, "coalesce": None, "if": 3}
NUMERIC = ("integer", "decimal")
DATES = ("date", "datetime")
# Field types as a computed expression sees them (a dict or a string code is its key, text).
AS_VALUE = {"string": "string", "text": "string", "dict": "string", "integer": "integer", "decimal": "decimal",
            "date": "date", "datetime": "datetime", "boolean": "boolean"}


class ComputedError(ValueError):
    """A problem with an expression; `code` is its SA code (SA175 syntax, SA176 field, SA177 type, SA178 band)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ComputedError("SA175", f"cannot read '{text[pos:pos + 12]}'")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "name" and value in ("and", "or"):
            kind = "op"
        out.append((kind, value))
        pos = m.end()
    return out


def parse(text: str) -> Any:
    tokens = tokenize(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise ComputedError("SA175", "the expression ends too early")
        pos += 1
        return tokens[pos - 1]

    def expect(op: str) -> None:
        got = take()
        if got != ("op", op):
            raise ComputedError("SA175", f"expected '{op}', found '{got[1]}'")

    def binary(ops: tuple[str, ...], inner: Callable[[], Any]) -> Any:
        node = inner()
        while (t := peek()) is not None and t[0] == "op" and t[1] in ops:
            take()
            node = (t[1], node, inner())
        return node

    def or_() -> Any:
        return binary(("or",), and_)

    def and_() -> Any:
        return binary(("and",), cmp)

    def cmp() -> Any:
        node = add()
        t = peek()
        if t is not None and t[0] == "op" and t[1] in COMPARE:
            take()
            node = (t[1], node, add())
        return node

    def add() -> Any:
        return binary(("+", "-"), mul)

    def mul() -> Any:
        return binary(("*", "/"), unary)

    def unary() -> Any:
        if peek() == ("op", "-"):
            take()
            return ("neg", unary())
        return atom()

    def number(text: str) -> Any:
        return float(text) if "." in text else int(text)

    def atom() -> Any:
        kind, value = take()
        if kind == "num":
            return ("num", number(value))
        if kind == "str":
            return ("str", value[1:-1])
        if kind == "name":
            if peek() == ("op", "("):
                if value not in FUNCTIONS:
                    raise ComputedError("SA175", f"unknown function '{value}' (known: {', '.join(FUNCTIONS)})")
                take()
                args = []
                if peek() != ("op", ")"):
                    args.append(or_())
                    while peek() == ("op", ","):
                        take()
                        args.append(or_())
                expect(")")
                arity = FUNCTIONS[value]
                if arity is not None and len(args) != arity or arity is None and len(args) < 2:
                    raise ComputedError("SA175", f"{value}() takes {arity or 'at least 2'} arguments, not {len(args)}")
                return ("call", value, tuple(args))
            return ("path", value)
        if value == "(":
            inner = or_()
            expect(")")
            return inner
        if value == "[":
            items = []
            while True:
                sign = -1 if peek() == ("op", "-") and take() else 1
                k, v = take()
                if k != "num":
                    raise ComputedError("SA178", f"a list holds numbers only, not '{v}'")
                items.append(sign * number(v))
                if peek() == ("op", ","):
                    take()
                    continue
                expect("]")
                return ("list", tuple(items))
        raise ComputedError("SA175", f"unexpected '{value}'")

    tree = or_()
    if pos != len(tokens):
        raise ComputedError("SA175", f"unexpected '{tokens[pos][1]}'")
    return tree


def paths(tree: Any) -> list[str]:
    """The field paths the expression reads, in order."""
    kind = tree[0]
    if kind == "path":
        return [tree[1]]
    if kind in ("num", "str", "list"):
        return []
    if kind == "call":
        return [p for a in tree[2] for p in paths(a)]
    if kind == "neg":
        return paths(tree[1])
    return paths(tree[1]) + paths(tree[2])


def default_labels(bounds: tuple) -> tuple[str, ...]:
    """`[18, 60]` → ('0-17', '18-59', '60+'): integer bands, the last open."""
    labels, low = [], 0
    for b in bounds:
        labels.append(f"{low}-{b - 1}" if low <= b - 1 else f"<{b}")
        low = b
    return tuple(labels) + (f"{low}+",)


def type_of(tree: Any, field_type: Callable[[str], str]) -> str:
    """The result type (integer, decimal, string, date, datetime, boolean) of a checked tree;
    `field_type(path)` gives a path's value type or raises ComputedError SA176."""
    kind = tree[0]
    if kind == "num":
        return "decimal" if isinstance(tree[1], float) else "integer"
    if kind == "str":
        return "string"
    if kind == "path":
        return field_type(tree[1])
    if kind == "list":
        raise ComputedError("SA178", "a list of bounds belongs in band(value, [b1, b2])")
    if kind == "neg":
        inner = type_of(tree[1], field_type)
        _need(inner, NUMERIC, "-")
        return inner
    if kind == "call":
        return _call_type(tree[1], tree[2], field_type)
    left, right = type_of(tree[1], field_type), type_of(tree[2], field_type)
    if kind in ("and", "or"):
        _need(left, ("boolean",), kind)
        _need(right, ("boolean",), kind)
        return "boolean"
    if kind in COMPARE:
        if left != right and not (left in NUMERIC and right in NUMERIC) and not (left in DATES and right in DATES):
            raise ComputedError("SA177", f"'{kind}' compares a {left} with a {right}")
        return "boolean"
    _need(left, NUMERIC, kind)
    _need(right, NUMERIC, kind)
    return "decimal" if kind == "/" or "decimal" in (left, right) else "integer"


def _need(actual: str, allowed: tuple[str, ...], what: str) -> None:
    if actual not in allowed:
        raise ComputedError("SA177", f"'{what}' needs {' or '.join(allowed)}, not {actual}")


def _call_type(name: str, args: tuple, field_type: Callable[[str], str]) -> str:
    if name == "band":
        _need(type_of(args[0], field_type), NUMERIC, "band()")
        bounds = args[1]
        if bounds[0] != "list" or not bounds[1]:
            raise ComputedError("SA178", "band() needs a list of bounds, e.g. band(age(birth_date), [18, 60])")
        values = bounds[1]
        if any(not isinstance(v, int) for v in values) or list(values) != sorted(set(values)):
            raise ComputedError("SA178", f"band bounds {list(values)} must be whole numbers in ascending order, each once")
        return "string"
    types_ = [type_of(a, field_type) for a in args]
    if name in ("age", "year", "month", "day"):
        _need(types_[0], DATES, f"{name}()")
        return "integer"
    if name == "if":
        _need(types_[0], ("boolean",), "if()")
        then, other = types_[1], types_[2]
        if then != other and not (then in NUMERIC and other in NUMERIC):
            raise ComputedError("SA177", f"if() gives a {then} or a {other}: both branches need one type")
        return "decimal" if "decimal" in (then, other) else then
    first = types_[0]  # coalesce
    for t in types_[1:]:
        if t != first and not (t in NUMERIC and first in NUMERIC):
            raise ComputedError("SA177", f"coalesce() mixes {first} and {t}")
    return "decimal" if "decimal" in types_ else first


def band_of(tree: Any) -> tuple | None:
    """The bounds of a top-level band() (its labels are the values), else None."""
    return tree[2][1][1] if tree[0] == "call" and tree[1] == "band" else None


def labels_of(tree: Any, given: tuple = ()) -> tuple[str, ...]:
    """The labels of a top-level band(): those `labels:` gives, or the generated ones."""
    bounds = band_of(tree)
    return tuple(given) if given else default_labels(bounds) if bounds else ()


def result_type(tree: Any, field_type: Callable[[str], str]) -> str:
    return type_of(tree, field_type)


def field_typer(catalog: Any, entity: str) -> Callable[[str], str]:
    """`path -> value type` for `type_of`, reading fields through a specs.paths Catalog; a path that
    does not resolve, or ends at a field with no comparable value, is a ComputedError SA176."""
    from specadmin.specs.paths import PathError, prop, resolve

    def typed(path: str) -> str:
        try:
            found = resolve(catalog, entity, path, lookups=True)
        except PathError as exc:
            raise ComputedError("SA176", str(exc)) from None
        ftype = prop(found.field, "type")
        if ftype == "ref" and found.names[-1] == "id" or found.name == "id":
            return "integer"
        if ftype not in AS_VALUE or prop(found.field, "sensitive"):
            why = "sensitive" if prop(found.field, "sensitive") else f"a {ftype} field"
            raise ComputedError("SA176", f"'{path}' is {why}, which an expression cannot read")
        return AS_VALUE[ftype]
    return typed
