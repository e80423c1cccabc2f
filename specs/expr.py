"""Cross-field check expressions: `min_daily <= max_daily`, `end >= start and end <= "2030-01-01"`.

A deliberately tiny language: comparisons between fields and literals joined by
`and`/`or`. A comparison with an empty side passes (emptiness is `required`'s job).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r'\s*(?:(<=|>=|==|!=|<|>)|(and|or)\b|([a-z][a-z0-9_]*)|(-?\d+(?:\.\d+)?)|"([^"]*)")')
OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "==": lambda a, b: a == b,
       "!=": lambda a, b: a != b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}


class ExprError(ValueError):
    pass


@dataclass(frozen=True)
class Comparison:
    left: tuple[str, Any]  # ("field", name) or ("literal", value)
    op: str
    right: tuple[str, Any]


@dataclass(frozen=True)
class Expr:
    """Disjunction of conjunctions: [[cmp, cmp], [cmp]] means (a and b) or c."""

    clauses: tuple[tuple[Comparison, ...], ...]

    @property
    def fields(self) -> set[str]:
        names = set()
        for clause in self.clauses:
            for cmp in clause:
                for kind, value in (cmp.left, cmp.right):
                    if kind == "field":
                        names.add(value)
        return names

    def holds(self, row: dict[str, Any]) -> bool:
        return any(all(_compare(c, row) for c in clause) for clause in self.clauses)


def _operand(kind_value: tuple[str, Any], row: dict[str, Any]) -> Any:
    kind, value = kind_value
    return row.get(value) if kind == "field" else value


def _compare(cmp: Comparison, row: dict[str, Any]) -> bool:
    left, right = _operand(cmp.left, row), _operand(cmp.right, row)
    if left is None or right is None:
        return True
    try:
        return OPS[cmp.op](left, right)
    except TypeError:
        return OPS[cmp.op](str(left), str(right))


def parse(text: str) -> Expr:
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot read '{text[pos:]}'")
        op, conj, name, number, string = m.groups()
        if op:
            tokens.append(("op", op))
        elif conj:
            tokens.append(("conj", conj))
        elif name:
            tokens.append(("field", name))
        elif number is not None:
            tokens.append(("literal", float(number) if "." in number else int(number)))
        else:
            tokens.append(("literal", string))
        pos = m.end()
    clauses: list[tuple[Comparison, ...]] = []
    current: list[Comparison] = []
    i = 0
    while True:
        if i + 3 > len(tokens):
            raise ExprError("expected `operand OP operand`")
        left, op, right = tokens[i : i + 3]
        if left[0] not in ("field", "literal") or op[0] != "op" or right[0] not in ("field", "literal"):
            raise ExprError("expected `operand OP operand`")
        current.append(Comparison(left, op[1], right))
        i += 3
        if i == len(tokens):
            break
        if tokens[i][0] != "conj":
            raise ExprError(f"expected 'and' or 'or' before {tokens[i][1]!r}")
        if tokens[i][1] == "or":
            clauses.append(tuple(current))
            current = []
        i += 1
    clauses.append(tuple(current))
    return Expr(tuple(clauses))
