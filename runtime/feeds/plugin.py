"""Built-in plugin `feeds`: inbound push APIs, outbound deliveries recorded in the writer's
transaction (an entity hook on every entity) and sent after commit by the dispatcher."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.feeds.dispatcher import FeedDispatcher, dispatch_job
from specadmin.runtime.feeds.outbox import record_change
from specadmin.runtime.feeds.routes import feeds_router
from specadmin.runtime.plugin import EntityHooks, Plugin, WriteEvent
from specadmin.runtime.plugin.background import background_service


async def _created(event: WriteEvent) -> None:
    await record_change(event.service, "create", event.row_id)


async def _updated(event: WriteEvent) -> None:
    await record_change(event.service, "update", event.row_id)


async def _deleting(event: WriteEvent) -> None:
    await record_change(event.service, "delete", event.row_id)  # before the row goes: its values are the payload


configure, dispatcher = background_service("feed_dispatcher", FeedDispatcher)


plugin = Plugin(name="feeds", label="数据推送", builtin=True, order=70,
                modules=(Path(__file__).with_name("feeds.yaml"),),
                hooks={"*": EntityHooks(after_create=_created, after_update=_updated, before_delete=_deleting)},
                handlers={"dispatch": dispatch_job}, routes=lambda ctx, options: [feeds_router()],
                configure=configure, lifespan=(dispatcher,))
