"""Custom rule: classify 12345 tickets received in the date range by the keywords of each category.

Each active category lists keywords (one per line, or separated by commas/、/；). A ticket whose
content contains a keyword gets the first such category in `sort` order and the keyword that
matched; a ticket without a match is marked 未匹配 so it is not read again. Only tickets not yet
classified are read, so re-running a day changes nothing (the rule is idempotent).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specadmin.runtime.plugin import RuleCall

SEPARATORS = re.compile(r"[\s,，、;；]+")
UNMATCHED = "未匹配"
BATCH = 500


def keywords_of(text: str | None) -> list[str]:
    return [k for k in SEPARATORS.split(text or "") if k]


def classify(content: str, categories: list[tuple[int, list[str]]]) -> tuple[int | None, str]:
    """(category id, matched keyword) of the first category with a keyword in the content."""
    for category_id, words in categories:
        for word in words:
            if word in content:
                return category_id, word
    return None, UNMATCHED


async def extract(call: "RuleCall") -> dict[str, Any]:
    """Rule handler `hotline.extract` (`kind: custom`): classify the tickets of call.first..call.last."""
    category, ticket = call.table("hotline_category"), call.table("hotline_ticket")
    first, last = call.first, call.last
    rows = await category.select(category.id, category.keywords).where(category.active == True).order_by(  # noqa: E712
        category.sort).order_by(category.id)
    categories = [(r["id"], keywords_of(r["keywords"])) for r in rows]
    start = dt.datetime.combine(first, dt.time.min)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min)
    pending = await ticket.select(ticket.id, ticket.content).where(
        ticket.received_at >= start, ticket.received_at < end, ticket.matched_keyword.is_null())
    matched = 0
    for i in range(0, len(pending), BATCH):
        async with call.transaction():
            for row in pending[i:i + BATCH]:
                category_id, word = classify(row["content"] or "", categories)
                matched += category_id is not None
                await ticket.update({ticket.category: category_id, ticket.matched_keyword: word}).where(
                    ticket.id == row["id"])
    return {"created": matched, "read": len(pending), "unmatched": len(pending) - matched}
