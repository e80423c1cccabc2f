"""SMS by configuration (短信配置): a flow's `sms:` names an entity of rules the ops centre edits on a screen.

```yaml
workflow:
  event_flow:
    sms:
      rules: sms_rule               # the rule entity
      actions: actions              # its multi dict of the flow's action names (上报/交办/审核 …)
      match: {event_type: event_type, levels: level}   # rule field: row field; an empty rule field matches all
      text: text                    # the template; placeholders are the row's fields, {action} and {org}
      active: active                # optional boolean
      recipients: recipients        # optional multi dict: users (the orgs' active users) and/or head (负责人)
```
When an action completes, every active rule whose actions hold it and whose match fields fit the row
writes one pending `notification_outbox` row (channel sms, notification `workflow_sms`) per recipient of
the orgs the action notified (the orgs it gave a todo), in the action's own transaction: a refused or
rolled-back action sends nothing. A match field that refers to a tree entity (`tree:`) also fits the
rows of its descendants. The SMS leave after commit through the notify plugin's sender
(runtime/notify/dispatch.py `run_once`, the gateway and retries of app.yaml `sms:`): a loop in
`specadmin serve` and the job handler `workflow.sms_dispatch`. Templates are checked when a rule is saved
(422 naming the unknown placeholder) and the section by WF020–WF022.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Iterator

from specadmin.runtime.data.values import Invalid
from specadmin.runtime.notify.dispatch import run_once
from specadmin.runtime.plugin import Check, WriteEvent
from specadmin.runtime.plugin.background import BackgroundLoop
from specadmin.specs.multi_keys import decode
from specadmin.specs.placeholders import names, render

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

log = logging.getLogger("specadmin.workflow")
SOURCE = "workflow_sms"  # the outbox rows' `notification`
RECIPIENTS = ("users", "head")
EXTRA = ("action", "org")  # placeholders beside the row's fields
USER_MOBILE, ORG_PHONE = "mobile", "head_phone"


def config_of(app: Any, module: str, flow: str) -> dict | None:
    section = app.section("workflow").get(module) or {}
    return (section.get(flow) or {}).get("sms") or None


def configs(app: Any) -> Iterator[tuple[str, dict]]:
    """(flow entity, sms config) of every flow that declares one."""
    for section in app.section("workflow").values():
        for value in (section or {}).values():
            if isinstance(value, Mapping) and value.get("sms"):
                yield value["entity"], value["sms"]


def _keys(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return decode(value)


def allowed_placeholders(app: Any, entity: str) -> list[str]:
    e = app.entity(entity)
    return [f.name for f in e.fields if not f.sensitive] + list(EXTRA)


# -- sending ------------------------------------------------------------------
async def _fits(ctx: "AppContext", rule_entity: Any, rule_field: str, rule_value: Any, row_value: Any) -> bool:
    f = rule_entity.field(rule_field)
    if rule_value is None or rule_value == "" or getattr(f, "multi", False) and not _keys(rule_value):
        return True  # empty: every row
    if f.type == "dict" and getattr(f, "multi", False):
        return str(row_value) in _keys(rule_value)
    if f.type == "ref" and row_value is not None:
        target = ctx.app.entity(f.to)
        if target.tree and target.has_field("path"):  # a parent type's rule applies to its children
            t = ctx.table(target.name)
            found = await t.select(t.path).where(t._meta.primary_key == row_value).first()
            return bool(found and f"/{rule_value}/" in (found["path"] or ""))
    return rule_value == row_value


async def _labels(ctx: "AppContext", entity: Any, row: dict, wanted: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in wanted:
        if not entity.has_field(name):
            continue
        f, value = entity.field(name), row.get(name)
        if value is None:
            out[name] = ""
        elif f.type == "dict":
            labels = ctx.dict_labels.get(f.dict or "", {})
            out[name] = "、".join(labels.get(k, k) for k in _keys(value)) if getattr(f, "multi", False) \
                else labels.get(str(value), str(value))
        elif f.type == "ref":
            target = ctx.app.entity(f.to)
            t = ctx.table(target.name)
            found = await t.select(getattr(t, target.display).as_alias("d")).where(t._meta.primary_key == value).first()
            out[name] = str(found["d"]) if found and found["d"] is not None else str(value)
        else:
            out[name] = str(value)
    return out


async def _phones(ctx: "AppContext", orgs: list[int], kinds: list[str]) -> list[tuple[int, str, str]]:
    """(org id, org name, mobile) of each recipient, each mobile once per org."""
    org, user = ctx.table("org"), ctx.table("user")
    names_ = {r["id"]: r["name"] for r in await org.select(org.id, org.name).where(org.id.is_in(orgs))}
    out: list[tuple[int, str, str]] = []
    if "head" in kinds:
        for r in await org.select(org.id, getattr(org, ORG_PHONE).as_alias("p")).where(org.id.is_in(orgs)):
            if r["p"]:
                out.append((r["id"], names_.get(r["id"], ""), ctx.sensitive.decode(r["p"])))
    if "users" in kinds:
        people = await user.select(user.org, getattr(user, USER_MOBILE).as_alias("p")).where(
            user.org.is_in(orgs), user.active == True).order_by(user.id)  # noqa: E712
        for r in people:
            if r["p"]:
                out.append((r["org"], names_.get(r["org"], ""), ctx.sensitive.decode(r["p"])))
    seen, unique = set(), []
    for item in out:
        if (item[0], item[2]) not in seen:
            seen.add((item[0], item[2]))
            unique.append(item)
    return unique


async def send(run: Any, row: dict) -> int:
    """Called by the engine after a transition (inside its transaction): the pending SMS of the rules
    that match this action on this row, one per recipient of the orgs the action notified."""
    orgs = sorted(getattr(run, "notified", ()) or ())
    cfg = config_of(run.ctx.app, run.flow.module, run.flow.name)
    if not cfg or not orgs:
        return 0
    ctx = run.ctx
    rule_entity = ctx.app.entity(cfg["rules"])
    rt = ctx.table(rule_entity.name)
    query = rt.select()
    if cfg.get("active"):
        query = query.where(getattr(rt, cfg["active"]) == True)  # noqa: E712
    entity = run.service.entity
    box = ctx.table("notification_outbox")
    outbox = ctx.app.entity("notification_outbox")
    written = 0
    for rule in await query.order_by(rt._meta.primary_key):
        if run.action not in _keys(rule.get(cfg["actions"])):
            continue
        fits = [await _fits(ctx, rule_entity, rf, rule.get(rf), row.get(field))
                for rf, field in (cfg.get("match") or {}).items()]
        if not all(fits):
            continue
        template = rule.get(cfg["text"]) or ""
        values = await _labels(ctx, entity, row, [n for n in names(template) if n not in EXTRA])
        kinds = _keys(rule.get(cfg["recipients"])) if cfg.get("recipients") else ["users"]
        for org_id, org_name, phone in await _phones(ctx, orgs, kinds or ["users"]):
            text = render(template, values | {"action": run.label, "org": org_name})
            key = f"{SOURCE}:{entity.name}:{row['id']}:{run.action}:{rule['id']}:{org_id}:{secrets.token_hex(8)}"
            await box.insert(box(**ctx.sensitive.encode(outbox, {
                "notification": SOURCE, "channel": "sms", "dedupe_key": key[:200], "group_id": org_id,
                "group_label": org_name[:200], "recipient": phone, "body": text, "day": run.at.date(),
                "status": "pending", "attempts": 0})))
            written += 1
    return written


async def dispatch_job(call) -> dict[str, Any]:
    """Job handler `workflow.sms_dispatch`: send the pending workflow SMS now."""
    return {"created": 0, **await run_once(call.ctx, names=[SOURCE])}


class SmsRuleDispatcher(BackgroundLoop):
    """The loop of `specadmin serve` that sends the workflow SMS (every SPECADMIN_SMS_POLL seconds, default 5)."""

    def __init__(self, ctx: "AppContext"):
        self.ctx = ctx
        self.poll = float(os.environ.get("SPECADMIN_SMS_POLL") or 5)

    def start(self) -> None:
        if any(True for _ in configs(self.ctx.app)):
            self.launch(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await run_once(self.ctx, names=[SOURCE])
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop the SMS
                log.exception("workflow SMS dispatch failed")
            await asyncio.sleep(self.poll)


# -- saving a rule: its template's placeholders ---------------------------------
async def check_rule_text(event: WriteEvent) -> None:
    """before_create/before_update on every entity: a rule's text may only name known placeholders."""
    for entity, cfg in configs(event.ctx.app):
        if cfg.get("rules") != event.entity.name:
            continue
        text = (event.clean or {}).get(cfg["text"])
        if not isinstance(text, str):
            continue
        allowed = allowed_placeholders(event.ctx.app, entity)
        bad = [n for n in names(text) if n not in allowed]
        if bad:
            label = event.entity.field(cfg["text"]).label
            raise Invalid({cfg["text"]: f"{label}：占位符 {{{bad[0]}}} 不可用（可用：" +
                           "、".join("{" + n + "}" for n in allowed) + "）"})


# -- spec checks -------------------------------------------------------------------
def _sms_sections(spec: Any) -> Iterator[tuple[Any, str, dict, dict]]:
    for section in spec.sections("workflow"):
        for name, value in (section.value or {}).items():
            if isinstance(value, Mapping) and isinstance(value.get("sms"), Mapping):
                yield section, name, value, value["sms"]


def bad_rule_fields(spec: Any) -> Iterator[Any]:
    """WF020: the rule entity or one of its named fields is unknown or of the wrong kind."""
    app = spec.app
    entities = {e.name for e in app.entities}
    for section, name, value, cfg in _sms_sections(spec):
        rules = cfg.get("rules")
        if rules not in entities:
            yield spec.error(section, (name, "sms", "rules"), f"流程 {name}：短信配置实体 {rules} 不存在")
            continue
        e = app.entity(rules)
        kinds = {"actions": ("dict",), "text": ("string", "text"), "active": ("boolean",), "recipients": ("dict",)}
        for key, types in kinds.items():
            field = cfg.get(key)
            if field is None:
                if key in ("actions", "text"):
                    yield spec.error(section, (name, "sms"), f"流程 {name}：短信配置须指明 {key} 字段")
                continue
            if not e.has_field(field):
                yield spec.error(section, (name, "sms", key), f"流程 {name}：实体 {rules} 没有字段 {field}")
            elif e.field(field).type not in types or key in ("actions", "recipients") and not e.field(field).multi:
                yield spec.error(section, (name, "sms", key),
                                 f"流程 {name}：短信配置的 {key} 字段 {field} 应为{'多选字典' if types == ('dict',) else '/'.join(types)}")


def _dict_keys(app: Any, entity: str, field: str) -> set[str] | None:
    e = app.entity(entity)
    if not e.has_field(field) or not e.field(field).dict:
        return None
    d = next((d for d in app.dictionaries if d.name == e.field(field).dict), None)
    return None if d is None else {str(k) for k, _ in d.items}


def bad_rule_keys(spec: Any) -> Iterator[Any]:
    """WF021: the actions dictionary holds a key that is no action of the flow, or the recipients one a
    key other than users/head."""
    app = spec.app
    entities = {e.name for e in app.entities}
    for section, name, value, cfg in _sms_sections(spec):
        if cfg.get("rules") not in entities:
            continue
        actions = set(value.get("actions") or {}) | {a for v in (value.get("versions") or {}).values()
                                                    for a in ((v or {}).get("actions") or {})}
        keys = _dict_keys(app, cfg["rules"], cfg.get("actions") or "")
        for key in sorted((keys or set()) - actions):
            yield spec.error(section, (name, "sms", "actions"), f"流程 {name}：短信动作类型 {key} 不是流程的动作")
        keys = _dict_keys(app, cfg["rules"], cfg.get("recipients") or "") if cfg.get("recipients") else None
        for key in sorted((keys or set()) - set(RECIPIENTS)):
            yield spec.error(section, (name, "sms", "recipients"),
                             f"流程 {name}：短信接收人 {key} 不可用（可用：{'、'.join(RECIPIENTS)}）")


def bad_matches(spec: Any) -> Iterator[Any]:
    """WF022: a `match` pair whose fields are unknown or do not compare (a ref to another entity, a
    multi dict of another dictionary)."""
    app = spec.app
    entities = {e.name for e in app.entities}
    for section, name, value, cfg in _sms_sections(spec):
        if cfg.get("rules") not in entities or value.get("entity") not in entities:
            continue
        rule, row = app.entity(cfg["rules"]), app.entity(value["entity"])
        for rf, field in (cfg.get("match") or {}).items():
            path = (name, "sms", "match", rf)
            if not rule.has_field(rf) or not row.has_field(field):
                yield spec.error(section, path, f"流程 {name}：短信匹配字段 {rf}: {field} 不存在")
                continue
            a, b = rule.field(rf), row.field(field)
            same = (a.type == b.type == "ref" and a.to == b.to) or (
                a.type == b.type == "dict" and a.dict == b.dict and not b.multi)
            if not same:
                yield spec.error(section, path, f"流程 {name}：短信匹配字段 {rf} 与 {field} 不可比较"
                                                "（须同为指向同一实体的引用，或同一字典）")


SMS_CHECKS = (Check("WF020", bad_rule_fields, "短信配置字段"), Check("WF021", bad_rule_keys, "短信动作与接收人"),
              Check("WF022", bad_matches, "短信匹配字段"))

