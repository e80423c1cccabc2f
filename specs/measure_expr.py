"""The grammar of derived statistics measures (`expr:`), shared by the spec checks and the runtime.

    expr   := term (("+" | "-") term)*
    term   := factor ("*" factor)*
    factor := NAME | INTEGER | "(" expr ")"

NAME is another measure of the same stat (declared before this one). Division is left out on
purpose (a zero plan would make the whole statistic fail on PostgreSQL): a `ratio: [a, b]` measure
divides safely (NULL on a zero denominator, runtime/stats/query.py). runtime/stats/expr.py
turns a parsed tree into SQL arithmetic and evaluates it on totals.
"""
from __future__ import annotations

import re
from typing import Any

TOKEN = re.compile(r"\s*(?:(?P<name>[a-z][a-z0-9_]*)|(?P<int>\d{1,9})|(?P<op>[-+*()]))")


class ExprError(ValueError):
    pass


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"表达式无法识别：{text[pos:pos + 10]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse(text: str) -> Any:
    """The expression as a tree: ('name', n) | ('int', i) | (op, left, right)."""
    tokens = tokenize(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise ExprError("表达式不完整")
        pos += 1
        return tokens[pos - 1]

    def factor() -> Any:
        kind, value = take()
        if kind == "name":
            return ("name", value)
        if kind == "int":
            return ("int", int(value))
        if value == "(":
            inner = expr()
            if take() != ("op", ")"):
                raise ExprError("缺少右括号")
            return inner
        raise ExprError(f"表达式中不应出现 {value!r}")

    def term() -> Any:
        node = factor()
        while peek() == ("op", "*"):
            take()
            node = ("*", node, factor())
        return node

    def expr() -> Any:
        node = term()
        while peek() in (("op", "+"), ("op", "-")):
            op = take()[1]
            node = (op, node, term())
        return node

    tree = expr()
    if pos != len(tokens):
        raise ExprError(f"表达式多余的部分：{tokens[pos][1]!r}")
    return tree


def names(tree: Any) -> set[str]:
    if tree[0] == "name":
        return {tree[1]}
    if tree[0] == "int":
        return set()
    return names(tree[1]) | names(tree[2])
