"""Statements a request runs every time (its session, its user's row): built and compiled by Piccolo
once, their values bound per call.

Building a Piccolo select and compiling it costs ~30 µs, more than the rest of a one-row look-up's
Python; the text never changes, only the values. `Prepared(table, build)` calls `build` once with a
`Slot` per value, keeps Piccolo's compiled text as a template (a `{}` per argument) and, per call,
returns a Piccolo `Raw` query of that template with the values in the slots (a value may fill several):
each value is still a bound parameter, and constants the statement holds of its own stay the parameters Piccolo made them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from piccolo.query.methods.raw import Raw
from piccolo.querystring import QueryString


class Slot:
    """Where the value of one parameter goes (by position in the call)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<value {self.index}>"


class Prepared:
    """One select of `table`, compiled once: `prepared(*values)` is the query to await."""

    def __init__(self, table: Any, build: Callable[..., Any], values: int) -> None:
        self.table = table
        query = build(*[Slot(i) for i in range(values)])
        _, fragments, args = query.querystrings[0].bundle(start_index=1, bundled=[], combined_args=[])
        self.template = "".join(f.prefix.replace("{", "{{").replace("}", "}}") + ("" if f.no_arg else "{}")
                                for f in fragments)
        self.args = args  # Slot, or a constant of the statement's own
        found = sorted({a.index for a in args if isinstance(a, Slot)})
        if found != list(range(values)):
            raise ValueError(f"each of the {values} values must appear in the statement, found {found}")

    def __call__(self, *values: Any) -> Raw:
        bound = [values[a.index] if isinstance(a, Slot) else a for a in self.args]
        return Raw(self.table, querystring=QueryString(self.template, *bound))
