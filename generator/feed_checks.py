"""Meaning checks for `feeds:` (runtime/feeds), kept apart from semantics.py.

An inbound feed writes through EntityService, so its fields must be stored fields a caller can
send (not lookups, system-filled values or pinyin initials), its key must identify one row
(one unique field, or several fields together) and it needs a grant source: a screen of the
same entity (the caller needs the op's grant there) or a role (`caller_role`). An outbound
feed may only push to targets declared in app.yaml `feed_targets`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from specadmin.runtime.feeds.formats import TOKENS, tokens_in as _tokens

if TYPE_CHECKING:
    from specadmin.generator.build import Located
    from specadmin.generator.semantics import Checker

UNSENDABLE = ("lookup", "multi_ref", "computed")
FEED_FILE_MAX_MB = 7  # one feed call's JSON body is at most 10 MB (Litestar's limit); Base64 adds a third
KEY_TYPES = ("string", "integer", "ref", "date")


def check_feeds(ck: "Checker") -> None:
    _check_targets(ck)
    for loc in ck.reg.feeds.values():
        raw = loc.raw
        entity = raw["entity"]
        if entity not in ck.reg.entities:
            ck.err(loc, ("entity",), "SA140", f"feed '{loc.name}': unknown entity '{entity}'")
            continue
        fields = ck.fields_of(entity)
        for i, name in enumerate(raw.get("fields") or []):
            f = fields.get(name)
            if f is None:
                ck.err(loc, ("fields", i), "SA140", f"feed '{loc.name}': '{name}' is not a field of '{entity}'")
            elif raw["kind"] == "inbound" and f.get("type") == "file" and not (
                    isinstance(f.get("max_mb"), (int, float)) and 0 < f["max_mb"] <= FEED_FILE_MAX_MB):
                ck.err(loc, ("fields", i), "SA226", f"feed '{loc.name}': file field '{name}' needs max_mb of at most "
                       f"{FEED_FILE_MAX_MB} to be carried in a feed record (larger files: /ext/api/<entity>/<id>/files/<field>)")
            elif raw["kind"] == "inbound" and (f.get("type") in UNSENDABLE or f.get("system") or f.get("initials_of")
                                              or name == "id"):
                ck.err(loc, ("fields", i), "SA140",
                       f"feed '{loc.name}': '{name}' is filled by the system and cannot be sent")
        if raw["kind"] == "inbound":
            _check_inbound(ck, loc, fields)
        else:
            _check_outbound(ck, loc, entity)
        _check_format(ck, loc, entity)


def _check_inbound(ck: "Checker", loc: "Located", fields: dict) -> None:
    raw = loc.raw
    ops = raw.get("ops") or []
    action = raw.get("action")
    if action:
        declared = {a for sloc in ck.reg.screens.values() if sloc.raw.get("entity") == raw["entity"]
                    for a in (sloc.raw.get("custom_actions") or {})}
        if action not in declared or set(ops) - {"create"}:
            ck.err(loc, ("action",), "SA141", f"inbound feed '{loc.name}': action '{action}' must be a custom action "
                                             f"of a screen of '{raw['entity']}', on a feed whose ops are [create]")
    if not ops:
        ck.err(loc, ("ops",), "SA141", f"inbound feed '{loc.name}' needs ops (create, update, delete, upsert)")
    key = raw.get("key")
    keys = [key] if isinstance(key, str) else list(key or [])
    if not keys and set(ops) - {"create"}:
        ck.err(loc, ("ops",), "SA141", f"inbound feed '{loc.name}': update, delete and upsert need a key")
    for name in keys:
        f = fields.get(name)
        if f is None or f.get("type") not in KEY_TYPES or f.get("sensitive"):
            ck.err(loc, ("key",), "SA141",
                   f"inbound feed '{loc.name}': key '{name}' must be a plain string, integer, date or ref field")
    if len(keys) == 1 and keys[0] in fields and not fields[keys[0]].get("unique"):
        ck.err(loc, ("key",), "SA141", f"inbound feed '{loc.name}': key '{keys[0]}' is not unique (mark it unique, "
                                        "or name several fields that identify a row together)")
    sent = set(raw.get("fields") or fields)
    for name in keys:
        if raw.get("fields") and name not in sent:
            ck.err(loc, ("key",), "SA141", f"inbound feed '{loc.name}': key '{name}' must be one of its fields")
    for name, target_field in (raw.get("ref_keys") or {}).items():
        f = fields.get(name)
        if f is None or f.get("type") != "ref" or f.get("key"):
            ck.err(loc, ("ref_keys", name), "SA141",
                   f"inbound feed '{loc.name}': '{name}' is not a ref by id (refs with `key:` take the key already)")
        elif target_field == "id" or ck.fields_of(f["to"]).get(target_field, {}).get("type") not in ("string", "integer"):
            ck.err(loc, ("ref_keys", name), "SA141", f"'{target_field}' is not a string or integer field of '{f['to']}'")
        elif ck.fields_of(f["to"])[target_field].get("sensitive"):
            ck.err(loc, ("ref_keys", name), "SA141", f"'{target_field}' of '{f['to']}' is encrypted and cannot be matched")
    screen, role = raw.get("screen"), raw.get("caller_role")
    if bool(screen) == bool(role):
        ck.err(loc, (), "SA142", f"inbound feed '{loc.name}' needs exactly one of `screen` (grant screen) and `caller_role`")
    if screen:
        sloc = ck.reg.screens.get(screen)
        if sloc is None or sloc.raw["entity"] != raw["entity"]:
            ck.err(loc, ("screen",), "SA142", f"inbound feed '{loc.name}': '{screen}' is not a screen of '{raw['entity']}'")
    if role and role not in ck.reg.roles:
        ck.err(loc, ("caller_role",), "SA142", f"inbound feed '{loc.name}': unknown role '{role}'")
    for key_name in ("events", "targets", "where"):
        if key_name in raw:
            ck.err(loc, (key_name,), "SA140", f"inbound feed '{loc.name}': '{key_name}' belongs to outbound feeds")


def _check_outbound(ck: "Checker", loc: "Located", entity: str) -> None:
    raw = loc.raw
    declared = ck.reg.app.raw.get("feed_targets") or {}
    if not raw.get("events") or not raw.get("targets"):
        ck.err(loc, (), "SA143", f"outbound feed '{loc.name}' needs `events` and `targets`")
    for i, target in enumerate(raw.get("targets") or []):
        if target not in declared:
            ck.err(loc, ("targets", i), "SA143", f"outbound feed '{loc.name}': target '{target}' is not in app.yaml "
                                                 f"feed_targets ({', '.join(sorted(declared)) or 'none declared'})")
    if raw.get("where"):
        ck.check_where(loc, ("where",), entity, raw["where"], lights_ok=False)
    for key_name in ("ops", "key", "screen", "caller_role", "ref_keys", "batch"):
        if key_name in raw:
            ck.err(loc, (key_name,), "SA140", f"outbound feed '{loc.name}': '{key_name}' belongs to inbound feeds")


def _check_targets(ck: "Checker") -> None:
    """SA238 an envelope token that is none of runtime/feeds/formats.py TOKENS; SA239 a `sign` secret written
    in the spec instead of read from the environment, or a `time_format` without a % directive."""
    for name, raw in (ck.reg.app.raw.get("feed_targets") or {}).items():
        if not isinstance(raw, dict):
            continue
        for token in _tokens(raw.get("envelope")):
            if token not in TOKENS:
                ck.err(ck.reg.app, ("feed_targets", name, "envelope"), "SA238",
                       f"feed target '{name}': envelope value '{token}' is not one of {', '.join(TOKENS)}")
        secret = (raw.get("sign") or {}).get("secret")
        if isinstance(secret, str) and secret and "${" not in secret:
            ck.err(ck.reg.app, ("feed_targets", name, "sign", "secret"), "SA239",
                   f"feed target '{name}': the sign secret must come from the environment (${{NAME}}), not the spec")
        time_format = raw.get("time_format")
        if isinstance(time_format, str) and "%" not in time_format:
            ck.err(ck.reg.app, ("feed_targets", name, "time_format"), "SA239",
                   f"feed target '{name}': time_format '{time_format}' has no % directive (e.g. %Y-%m-%d %H:%M:%S)")


def _check_format(ck: "Checker", loc: "Located", entity: str) -> None:
    """SA237 `message_type` / `map` on an inbound feed, or a map path that does not reach a stored field;
    SA238 an outbound feed whose target's envelope sends `$type` without the feed's `message_type`."""
    raw = loc.raw
    if raw["kind"] != "inbound" and "action" in raw:
        ck.err(loc, ("action",), "SA141", f"outbound feed '{loc.name}': 'action' belongs to inbound feeds")
    if raw["kind"] == "inbound":
        for key in ("message_type", "map"):
            if key in raw:
                ck.err(loc, (key,), "SA237", f"inbound feed '{loc.name}': '{key}' belongs to outbound feeds")
        return
    for key, path in (raw.get("map") or {}).items():
        f, problem = ck.resolve(entity, path)
        if f is None or f.get("type") in UNSENDABLE or f.get("type") == "file":
            ck.err(loc, ("map", key), "SA237", f"outbound feed '{loc.name}': map '{key}: {path}' "
                                               f"{problem or 'does not reach a stored field'}")
    declared = ck.reg.app.raw.get("feed_targets") or {}
    for i, target in enumerate(raw.get("targets") or []):
        envelope = (declared.get(target) or {}).get("envelope") if isinstance(declared.get(target), dict) else None
        if "$type" in _tokens(envelope) and not raw.get("message_type"):
            ck.err(loc, ("targets", i), "SA238", f"outbound feed '{loc.name}': target '{target}' sends $type; "
                                                 f"declare the feed's message_type")
