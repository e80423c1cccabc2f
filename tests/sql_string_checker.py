"""Find SQL built from strings in Python source (used by tests/test_no_string_sql.py).

Three rules, read from the syntax tree (comments and docstrings never count):
1. A string put together at run time (f-string, str.format, %, +) whose literal text looks like SQL.
2. A raw-SQL entry point (QueryString, WhereRaw, .raw, a driver's execute/fetch) given such a
   put-together string, whatever it says: values must travel as parameters.
3. A constant template given to Piccolo's raw-SQL constructors (QueryString, WhereRaw, .raw) must be
   on the reviewed allow-list: new raw SQL gets a human look before it lands.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# SQL by its shape, in any case (prose seldom has "select ... from" or "where x ="),
SQL_SHAPE = re.compile(r"""(?isx)
    \bselect\b.*?\bfrom\b
  | \binsert\s+into\b
  | \bdelete\s+from\b
  | \bupdate\s+[\w".]+\s+set\b
  | \b(?:drop|create|alter|truncate)\s+(?:table|index|view|schema|database)\b
  | \bwhere\s+[\w".()]+\s*(?:=|<>|!=|<|>|\blike\b|\bin\b|\bis\b)
  | \bunion(?:\s+all)?\s+select\b
  | \border\s+by\b
  | \bvalues\s*\(
""")
# ... and by its upper-case keywords (the UI text is Chinese; upper-case English words are SQL).
SQL_KEYWORDS = re.compile(r"\b(?:SELECT|INSERT|UPDATE|DELETE|WHERE|FROM|DROP|CREATE|ALTER|UNION|JOIN)\b")
RAW_CONSTRUCTORS = {"QueryString", "WhereRaw"}
RAW_METHODS = {"raw", "execute", "executemany", "executescript", "fetch", "fetchrow", "fetchval",
               "run_querystring"}
PLACEHOLDER = "{}"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.text!r}"


def looks_like_sql(text: str) -> bool:
    return bool(SQL_SHAPE.search(text) or SQL_KEYWORDS.search(text))


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _flatten_add(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _flatten_add(node.left) + _flatten_add(node.right)
    return [node]


def built_template(node: ast.AST) -> str | None:
    """The literal text of a string put together at run time, with {} where values go; else None."""
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if _is_str(v) else PLACEHOLDER for v in node.values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format" \
            and _is_str(node.func.value) and (node.args or node.keywords):
        return node.func.value.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_str(node.left):
        return node.left.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = _flatten_add(node)
        if any(_is_str(p) for p in parts) and not all(_is_str(p) for p in parts):
            return "".join(p.value if _is_str(p) else (built_template(p) or PLACEHOLDER) for p in parts)
    return None


def _raw_call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name) and node.func.id in RAW_CONSTRUCTORS:
        return node.func.id
    if isinstance(node.func, ast.Attribute) and (node.func.attr in RAW_METHODS or node.func.attr in RAW_CONSTRUCTORS):
        return node.func.attr
    return None


def check_source(source: str, path: str, allowed_templates: set[tuple[str, str]] = frozenset()) -> list[Finding]:
    tree = ast.parse(source, filename=path)
    found: dict[tuple[int, str], Finding] = {}
    inner: set[int] = set()  # BinOps inside a reported chain: one finding per expression
    for node in ast.walk(tree):
        if id(node) in inner:
            continue
        template = built_template(node)
        if template is not None:
            if isinstance(node, ast.BinOp):
                inner.update(id(n) for n in ast.walk(node) if n is not node)
            if looks_like_sql(template):
                found[(node.lineno, "built")] = Finding(path, node.lineno, "SQL built from a string", template)
        if isinstance(node, ast.Call) and node.args:
            name = _raw_call_name(node)
            if name is None:
                continue
            first = node.args[0]
            dynamic = built_template(first)
            if dynamic is not None:
                found[(node.lineno, "raw")] = Finding(path, node.lineno, f"{name}() given a built string", dynamic)
            elif _is_str(first) and (name in RAW_CONSTRUCTORS or name == "raw") \
                    and (path, first.value) not in allowed_templates:
                found[(node.lineno, "review")] = Finding(path, node.lineno, f"{name}() template not on the reviewed "
                                                         "allow-list", first.value)
    return sorted(found.values(), key=lambda f: (f.path, f.line))
