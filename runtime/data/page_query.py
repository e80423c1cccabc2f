"""A list page's statement: built and compiled by Piccolo once per shape, bound per request.

What a list selects (the columns a user may see, their joins, the total's subquery, the ordering)
depends on the grants' visible fields and the sort, not on the request's values; building and
compiling it through Piccolo costs ~0.3 ms a request (a ForeignKey's attribute look-ups call dir()).
`PageStatements` keeps, per (columns, ordering, with or without a condition), Piccolo's own compiled
template of that statement, with a slot `{}` wherever the condition goes (the page's WHERE and the
total's). Each request still builds its condition (data scope, tab, keyword, filters) as Piccolo
`Where` objects: it is never cached (the data scope depends on the principal), and it goes into the
slots as a nested QueryString, so every value stays a bound parameter (LIMIT and OFFSET are written
by Piccolo's own Limit and Offset, as its select writes them).
A condition on a joined column (Piccolo would add its join), or a select list holding values of its
own, is run the ordinary way, built and compiled by Piccolo each time.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from piccolo.columns.combination import WhereRaw
from piccolo.query.methods.raw import Raw
from piccolo.query.mixins import Limit, Offset, WhereDelegate
from piccolo.querystring import QueryString

MAX_STATEMENTS = 256  # per entity; keys come from the spec's screens and sorts, so a handful in practice


class _Slot:
    """Where the request's condition goes in a cached template."""

    def __repr__(self) -> str:
        return "<condition>"


SLOT = _Slot()


def needs_joins(where: Any) -> bool:
    """Whether Piccolo would join tables for this condition (a column reached through a ref)."""
    delegate = WhereDelegate()
    delegate._where = where
    return any(column._meta.call_chain for column in delegate.get_where_columns())


def flat_template(querystring: QueryString) -> tuple[str, int]:
    """Piccolo's compiled text of `querystring` as a template: `{}` for each of its arguments, which
    must all be SLOT (the frame holds no value of its own); (template, number of slots)."""
    _, fragments, args = querystring.bundle(start_index=1, bundled=[], combined_args=[])
    if any(a is not SLOT for a in args):
        raise ValueError("a page frame holds values of its own")
    template = "".join(f.prefix.replace("{", "{{").replace("}", "}}") + ("" if f.no_arg else "{}")
                       for f in fragments)
    return template, len(args)


class PageStatements:
    """The compiled page statements of one table, by key."""

    def __init__(self, table) -> None:
        self.table = table
        self._frames: dict[Hashable, tuple[str, int] | None] = {}

    def page(self, key: Hashable, build: Callable[[Any], Any], where: Any, limit: int, offset: int) -> Any:
        """The page query for `where` (the request's condition, or None), LIMIT and OFFSET. `key` names
        what the page selects and its ordering; `build(condition)` returns the page query (with its total
        column) for a condition: run once per key with the slot, or every time for a condition on a
        joined column."""
        frame = None if where is not None and needs_joins(where) else self._frame((key, where is not None), build)
        if frame is None:
            return build(where).limit(limit).offset(offset)
        template, slots = frame
        # the condition built once (a ForeignKey's look-ups call dir()), read in each slot
        body = QueryString(template, *([where.querystring] * slots if slots else []))
        # LIMIT and OFFSET as Piccolo writes them (checked integers in the text): bound as parameters they
        # made PostgreSQL plan each execution anew (its generic plan's LIMIT estimate is worse), 0.64 ms
        # a page against 0.39 ms.
        paging = QueryString("{}{}{}", body, Limit(limit).querystring, Offset(offset).querystring)
        return Raw(self.table, querystring=paging)

    def _frame(self, key: Hashable, build: Callable[[Any], Any]) -> tuple[str, int] | None:
        """The template of `key` (None: its statement holds values of its own, so it is built each time)."""
        if key not in self._frames:
            try:
                found = flat_template(build(WhereRaw("{}", SLOT) if key[1] else None).querystrings[0])
            except ValueError:
                found = None
            if len(self._frames) >= MAX_STATEMENTS:
                self._frames.clear()
            self._frames[key] = found
        return self._frames[key]
