"""The outbox writer: EntityService calls `record_change` inside the transaction of each write.

For every outbound feed of the entity that listens to the op (and whose `where` the row
matches), one `feed_delivery` row per target is inserted on the same connection, in the same
transaction, as the change itself: if the write rolls back, so does the delivery, and the
dispatcher (another connection) cannot see it before the commit. Deletes are recorded before
the row goes, so the payload still carries its values.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import TYPE_CHECKING, Any

from specadmin.runtime.data.rows import RowShape
from specadmin.runtime.feeds.formats import body_of, mapped
from specadmin.runtime.data.where import matches

if TYPE_CHECKING:
    from specadmin.specs.model import App, Feed

    from specadmin.runtime.app.context import AppContext

DELIVERY = "feed_delivery"
_INDEX: dict[int, dict[tuple[str, str], tuple["Feed", ...]]] = {}


def outbound(app: "App", entity: str, op: str) -> tuple["Feed", ...]:
    """The outbound feeds of (entity, op); indexed once per model because every write asks."""
    index = _INDEX.get(id(app))
    if index is None:
        index = {}
        for feed in app.feeds:
            if feed.kind == "outbound":
                for event in feed.events:
                    index[(feed.entity, event)] = index.get((feed.entity, event), ()) + (feed,)
        _INDEX[id(app)] = index
    return index.get((entity, op), ())


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def payload_of(feed: "Feed", item: dict[str, Any]) -> dict[str, Any]:
    """The feed's fields of one converted row, with the labels of refs and dictionaries."""
    data: dict[str, Any] = {"id": item["id"]}
    for name in feed.fields:
        data[name] = _plain(item.get(name))
        if f"{name}_label" in item:
            data[f"{name}_label"] = _plain(item[f"{name}_label"])
    return data


async def record_change(service, op: str, row_id: int) -> int:
    """Write the delivery rows for one changed row; returns how many were written."""
    ctx: "AppContext" = service.ctx
    feeds = outbound(ctx.app, service.entity.name, op)
    if not feeds:
        return 0
    table, pk = service.table, service.table._meta.primary_key
    raw_rows = await table.select().where(pk == row_id)
    if not raw_rows:
        return 0
    item: dict[str, Any] = {}
    wanted = {name for feed in feeds if not feed.map for name in feed.fields}  # a feed's map reads its own paths
    if wanted:
        shape = RowShape(ctx, service.entity, wanted)
        # Masked like any list (clear_view False): sensitive values never leave in clear.
        item = (await shape.convert(await table.select(*shape.columns).where(pk == row_id), False))[0]
    plain = service._plain(raw_rows[0])
    deliveries = ctx.table(DELIVERY)
    now = dt.datetime.now().replace(microsecond=0)
    rows = []
    for feed in feeds:
        if feed.where and not matches(plain, feed.where):
            continue
        data = await mapped(ctx, feed, table, row_id) if feed.map else payload_of(feed, item)
        body = json.dumps({"feed": feed.name, "entity": feed.entity, "op": op, "row_id": row_id,
                           "changed_at": now.isoformat(), "data": data}, ensure_ascii=False, default=str)
        for target in feed.targets:
            shaped = body_of(ctx.app, feed, target, op, row_id, now, data)  # the target's own format, if any
            rows.append(deliveries(feed=feed.name, target=target, entity_name=feed.entity, row_id=row_id, op=op,
                                   payload=body if shaped is None else json.dumps(shaped, ensure_ascii=False, default=str),
                                   status="pending", attempts=0, next_try_at=now, created_at=now, updated_at=now))
    if rows:
        await deliveries.insert(*rows)
    return len(rows)


DELIVERY_COLUMNS = ["feed", "target", "entity_name", "row_id", "op", "payload", "status", "attempts",
                    "next_try_at", "created_at", "updated_at"]


def import_deliveries(ctx: "AppContext", entity_name: str, columns: list[str], rows: list[tuple],
                      op: str = "create") -> tuple[list[tuple], Any, list[str]]:
    """Delivery rows for rows the bulk import path writes (runtime/imports), as arguments of its
    writer's `insert_rows(rows, table, columns)`, so they commit in the import's own transaction.

    The bulk path does not read rows back (COPY returns no ids), so the payload is built from
    the written values: `row_id` is empty, refs carry their stored value without a label, and
    sensitive fields (encrypted in `rows`) are left out rather than sent.
    """
    table = ctx.table(DELIVERY)
    feeds = outbound(ctx.app, entity_name, op)
    if not feeds or not rows:
        return [], table, DELIVERY_COLUMNS
    entity = ctx.app.entity(entity_name)
    at = {name: i for i, name in enumerate(columns)}
    now = dt.datetime.now().replace(microsecond=0)
    out = []
    for row in rows:
        for feed in feeds:
            data: dict[str, Any] = {"id": None}
            for name in feed.fields:
                f = entity.field(name)
                if f.type == "geo" and f"{name}_lng" in at:
                    lng = row[at[f"{name}_lng"]]
                    data[name] = None if lng is None else {"lng": lng, "lat": row[at[f"{name}_lat"]]}
                elif name in at and not f.sensitive:
                    data[name] = _plain(row[at[name]])
            if feed.where and not matches(data, feed.where):
                continue
            body = json.dumps({"feed": feed.name, "entity": feed.entity, "op": op, "row_id": None, "source": "import",
                               "changed_at": now.isoformat(), "data": data}, ensure_ascii=False, default=str)
            for target in feed.targets:
                shaped = body_of(ctx.app, feed, target, op, None, now, data)
                payload = body if shaped is None else json.dumps(shaped, ensure_ascii=False, default=str)
                out.append((feed.name, target, entity_name, None, op, payload, "pending", 0, now, now, now))
    return out, table, DELIVERY_COLUMNS
