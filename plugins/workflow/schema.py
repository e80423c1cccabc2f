"""JSON Schema of the module key `workflow:` (flow name → flow)."""
from __future__ import annotations

NAMES = {"type": "array", "items": {"type": ["string", "integer", "boolean"]}}
MAPPING = {"type": "object"}
RELATION = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "task": {"type": "object", "additionalProperties": False,
                 "properties": {"roles": NAMES, "states": NAMES}},
        "user": {"type": "string"}, "org": {"type": "string"}, "org_above": {"type": "string"},
        "org_tag": {"type": "string"}, "anyone": {"type": "boolean"}, "roles": NAMES,
    },
}
EFFECT = {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {
        "if": MAPPING, "unless": MAPPING, "if_params": MAPPING, "if_found": {"type": "boolean"},
        "set": MAPPING,
        "deadline": {"oneOf": [{"enum": ["recompute"]},
                               {"type": "object", "additionalProperties": False, "required": ["field", "value"],
                                "properties": {"field": {"type": "string"}, "value": {}}}]},
        "find": {"type": "object", "additionalProperties": False, "required": ["entity"],
                 "properties": {"entity": {"type": "string"}, "where": MAPPING, "missing": {"type": "string"}}},
        "refuse": {"type": "object", "additionalProperties": False, "required": ["message"],
                   "properties": {"message": {"type": "string"}, "field": {"type": "string"}}},
        "validate_json": {"type": "object", "additionalProperties": False, "required": ["field", "schema"],
                          "properties": {"field": {"type": "string"}, "schema": {}}},
        "create_tasks": {"type": "object", "additionalProperties": False, "properties": {
            "each": {}, "org": {}, "role": {}, "roles": NAMES, "state": {"type": "string"}, "set": MAPPING,
            "notify": {"type": "boolean"},
            "message": {"type": "object", "additionalProperties": False,
                        "properties": {"title": {"type": "string"}, "text": {"type": "string"}}}}},
        "tasks": {"type": "object", "additionalProperties": False, "properties": {
            "which": {"type": "string"}, "roles": NAMES, "states": NAMES, "to": {"type": "string"},
            "where": MAPPING, "set": MAPPING, "delete": {"type": "boolean"}}},
        "create": {"type": "object", "additionalProperties": False, "required": ["entity"],
                   "properties": {"entity": {"type": "string"}, "set": MAPPING}},
        "update": {"type": "object", "additionalProperties": False, "required": ["entity", "ref"],
                   "properties": {"entity": {"type": "string"}, "ref": {"type": "string"}, "where": MAPPING,
                                  "set": MAPPING}},
        "notify": {"type": "object", "additionalProperties": False, "required": ["orgs"],
                   "properties": {"orgs": {}, "title": {"type": "string"}, "text": {"type": "string"}}},
    },
}
ACTION = {
    "type": ["object", "null"], "additionalProperties": False,
    "properties": {
        "label": {"type": "string"},
        "from": NAMES,
        "to": {"type": "string"},
        "who": {"type": "array", "items": RELATION},
        "refuse": {"type": "string"},
        "where": MAPPING,
        "refuse_where": {"type": "string"},
        "effects": {"type": "array", "items": EFFECT},
        "log": {"type": "object", "additionalProperties": False,
                "properties": {"opinion": {}, "channel": {}}},
    },
}
ACTIONS = {"type": "object", "additionalProperties": ACTION}
FLOW = {
    "type": "object", "additionalProperties": False, "required": ["entity", "state", "actions"],
    "properties": {
        "label": {"type": "string"},
        "entity": {"type": "string"},
        "state": {"type": "string"},
        "final": NAMES,
        "tasks": {"type": "object", "additionalProperties": False, "required": ["entity", "ref"],
                  "properties": {"entity": {"type": "string"}, "ref": {"type": "string"}, "org": {"type": "string"},
                                 "role": {"type": "string"}, "state": {"type": "string"},
                                 "initial": {"type": "string"}, "open": NAMES, "done": NAMES,
                                 "parent": {"type": "string"}, "dispatcher": {"type": "string"}}},
        "log": {"type": "object", "additionalProperties": False, "required": ["entity", "ref"],
                "properties": {k: {"type": "string"} for k in (
                    "entity", "ref", "at", "operator", "operator_name", "org", "action", "label", "opinion",
                    "channel", "files")}},
        "derive": {"type": "object", "additionalProperties": False, "required": ["states", "roles"],
                   "properties": {"states": NAMES, "roles": NAMES, "none": {"type": "string"},
                                  "outstanding": {"type": "string"}, "all_done": {"type": "string"}}},
        "enter": {"type": "object", "additionalProperties": {"type": "array", "items": EFFECT}},
        "guarded": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                               "required": ["entity", "field"],
                                               "properties": {"entity": {"type": "string"},
                                                              "field": {"type": "string"}}}},
        "escalation": {"type": "object", "additionalProperties": False,
                       "properties": {"top_tag": {"type": "string"}, "top_from": NAMES, "skip_types": NAMES}},
        "boxes": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {"label": {"type": "string"}, "roles": NAMES, "states": NAMES}}},
        "sms": {"type": "object", "additionalProperties": False, "required": ["rules", "actions", "text"],
                "properties": {"rules": {"type": "string"}, "actions": {"type": "string"}, "text": {"type": "string"},
                               "active": {"type": "string"}, "recipients": {"type": "string"},
                               "match": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "plan_warnings": {"type": "object", "additionalProperties": False, "required": ["plan"], "properties": {
            **{k: {"type": "string"} for k in ("plan", "warn_days", "due", "content", "org", "owner")},
            "roles": NAMES, "states": NAMES}},  # plan_warnings.py
        "recommend": {"type": "object", "additionalProperties": False, "required": ["entity", "match", "orgs"],
                      "properties": {"entity": {"type": "string"}, "orgs": {"type": "string"},
                                     "requirement": {"type": "string"},
                                     "match": {"type": "object", "minProperties": 1,
                                               "additionalProperties": {"type": "string"}}}},
        "version": {"type": ["string", "integer"]},
        "published": {"type": ["string", "integer"]},
        "actions": ACTIONS,
        "versions": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {"inherits": {"type": ["string", "integer"]}, "actions": ACTIONS}}},
    },
}
SCHEMA = {"type": "object", "additionalProperties": FLOW}
