"""`closes: {field, value, at}`: a rule's open alerts whose condition no longer holds are closed.

An alert of the rule is a row of `creates.entity` with one of the rule's reason keys and the
literal values of `creates.fields`; it is open while `field` is empty or holds another value than
`value`. On a run, every open alert of an owner (bound row or key) the run evaluated, dated on or
before that owner's latest evaluated day, whose (owner, reason) no longer breaches there, gets
`field = value` and `at` = now; in the run's transaction, through the after_update hooks. A closed
alert stays closed: a later breach raises a new alert. Idempotent: a closed alert is not open.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from specadmin.runtime.rules import written
from specadmin.runtime.rules.common import as_date, row_builder, token_field

if TYPE_CHECKING:
    from specadmin.specs.model import Rule

    from specadmin.runtime.app.context import AppContext


async def close_stale(ctx: "AppContext", rule: "Rule", day_token: str, latest: dict[Any, dt.date],
                      still: set[tuple[Any, str]]) -> int:
    """Close the open alerts of owners in `latest` ({owner: its latest evaluated day}) dated (by the
    field mapped to `day_token`) on or before that day, unless (owner, reason key) is in `still`.
    Call inside the run's transaction; returns how many were closed."""
    closes = rule.closes
    if not closes or not latest:
        return 0
    fields = rule.creates["fields"]
    entity = ctx.app.entity(rule.creates["entity"])
    table = ctx.table(entity.name)
    pk = table._meta.primary_key
    owner_f = token_field(fields, "$bound") or token_field(fields, "$key")
    day_f, reason_f = token_field(fields, day_token), token_field(fields, "$reason")
    status = getattr(table, closes["field"])
    conditions = [getattr(table, reason_f).is_in(sorted(set((rule.reasons or {}).values()))),
                  getattr(table, day_f) <= max(latest.values()),
                  status.is_null() | (status != closes["value"])]
    literals = {name: value for name, value in fields.items()
                if not (isinstance(value, str) and value.startswith("$")) and not entity.field(name).sensitive}
    for name, value in row_builder(ctx, entity, literals)({}).items():
        conditions.append(getattr(table, name) == value)
    rows = await table.select(pk.as_alias("id"), getattr(table, owner_f).as_alias("o"), getattr(table, day_f).as_alias("d"),
                              getattr(table, reason_f).as_alias("r"), status.as_alias("s")).where(*conditions)
    stale = [r for r in rows if r["o"] in latest and as_date(r["d"]) <= latest[r["o"]] and (r["o"], r["r"]) not in still]
    if not stale:
        return 0
    values: dict[str, Any] = {closes["field"]: closes["value"]}
    if closes.get("at"):
        at_type = entity.field(closes["at"]).type
        now = dt.datetime.now().replace(microsecond=0)
        values[closes["at"]] = now if at_type == "datetime" else now.date()
    ids = [r["id"] for r in stale]
    await table.update({getattr(table, k): v for k, v in values.items()}).where(pk.is_in(ids))
    await written.updated(ctx, entity.name, [(r["id"], {closes["field"]: r["s"]}, values) for r in stale])
    return len(stale)
