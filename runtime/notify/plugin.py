"""Built-in plugin `notify`: SMS outbox and in-app messages (messages.yaml), the 站内消息 pages
and the unread badge in the page header."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.notify.inapp_routes import INAPP_HANDLERS, unread_badge
from specadmin.runtime.plugin import Plugin

plugin = Plugin(name="notify", label="消息通知", builtin=True, order=80,
                modules=(Path(__file__).with_name("messages.yaml"),),
                routes=lambda ctx, options: INAPP_HANDLERS, request_hooks=(unread_badge,))
