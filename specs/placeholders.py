"""Placeholders of notification texts (`{count}`, `{place.name}`): what a template may use.

A digest (sent by a job) knows its group: {count}, {group}, {group_id}, {day}. An event-driven
notification (`trigger:`) knows the row written: any field or path of refs from it ({status},
{place.name}; a dict field reads as its label, a ref as its target's display), {id}, {day},
{entity} (the entity's label) and {action} (the custom action's label, empty otherwise).
`specadmin check` reports any other name (SA124); runtime/notify renders them.
"""
from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\}")
DIGEST = ("count", "group", "group_id", "day")
EVENT = ("id", "day", "entity", "action")
TEMPLATE_KEYS = ("title", "text", "link")


def names(template: str | None) -> list[str]:
    """The placeholder names of a template, in order, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(template or "")))


def render(template: str | None, values: dict[str, str]) -> str:
    """Each known placeholder replaced by its value; anything else left as written."""
    return PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template or "")
