"""Built-in plugin `notify`: SMS outbox and in-app messages (messages.yaml), the 站内消息 pages
and the unread badge in the page header; event-driven notifications (`trigger:`) through entity hooks
on every entity, their SMS sent from the outbox by a background loop or the job `notify.dispatch`."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.notify.dispatch import SmsDispatcher, dispatch_job
from specadmin.runtime.notify.events import notify_written
from specadmin.runtime.notify.inapp_delete import DELETE_HANDLERS
from specadmin.runtime.notify.inapp_routes import INAPP_HANDLERS, unread_badge
from specadmin.runtime.notify.notice_routes import NOTICE_HANDLERS
from specadmin.runtime.notify.notices import keep_sent, send_notice
from specadmin.runtime.plugin import EntityHooks, Plugin
from specadmin.runtime.plugin.background import background_service

configure, dispatcher = background_service("sms_dispatcher", SmsDispatcher)

plugin = Plugin(name="notify", label="消息通知", builtin=True, order=80,
                modules=(Path(__file__).with_name("messages.yaml"),),
                hooks={"*": EntityHooks(after_create=notify_written, after_update=notify_written),
                       "notice": EntityHooks(before_update=keep_sent)},
                handlers={"dispatch": dispatch_job, "send_notice": send_notice}, configure=configure, lifespan=(dispatcher,),
                routes=lambda ctx, options: INAPP_HANDLERS + DELETE_HANDLERS + NOTICE_HANDLERS, request_hooks=(unread_badge,))
