"""Semantic checks of `workflow:` sections (codes WF001–WF010), each `file:line: [WFxxx] message`.

WF001 unknown entity · WF002 unknown field · WF003 a state not in the state field's dictionary (or a
state field that is not a dictionary) · WF004 a task role or state not in its dictionary · WF005 a
version that inherits or publishes a version not declared · WF006 an action without its screen custom
action (`handler: workflow.act`) or such a custom action no version declares · WF007 an unknown `$`
value or a `$params.x` the action does not declare · WF008 a state column in an import or an inbound feed · WF009 two
flows on one entity · WF010 an effect `set` that writes a state column · WF030 a `recommend:` (推荐单位) whose
entity or field is unknown, whose `orgs` is no multi_ref to org or whose `match` pairs fields of different kinds.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from specadmin.plugins.workflow.model import flow_of, resolve_versions
from specadmin.runtime.plugin import Check

HANDLER = "workflow.act"
TOKENS = ("$user", "$user.org", "$now", "$today", "$item", "$superior", "$top")
PREFIXES = ("$params.", "$row.", "$task.", "$item.", "$found.")


def _entities(app: Any) -> set[str]:
    return {e.name for e in app.entities}


def _has(app: Any, entity: str, field: str) -> bool:
    return entity in _entities(app) and app.entity(entity).has_field(field)


def _dict_keys(app: Any, entity: str, field: str) -> set[str] | None:
    if not _has(app, entity, field):
        return None
    f = app.entity(entity).field(field)
    if f.type != "dict" or not f.dict:
        return None
    d = next((d for d in app.dictionaries if d.name == f.dict), None)
    return None if d is None else {str(k) for k, _ in d.items}


def _sections(spec: Any) -> Iterator[tuple[Any, str, dict]]:
    for section in spec.sections("workflow"):
        for name, value in (section.value or {}).items():
            if isinstance(value, Mapping) and "entity" in value and "state" in value and "actions" in value:
                yield section, name, value


def _effects(value: dict) -> Iterator[tuple[tuple, str, dict, str | None]]:
    """(path, action or None, effect) of every effect of every version and of `enter`."""
    for state, effects in (value.get("enter") or {}).items():
        for i, effect in enumerate(effects or ()):
            yield ("enter", state, i), None, effect, None
    for action, body in (value.get("actions") or {}).items():
        for i, effect in enumerate((body or {}).get("effects") or ()):
            yield ("actions", action, "effects", i), action, effect, None
    for version, vbody in (value.get("versions") or {}).items():
        for action, body in ((vbody or {}).get("actions") or {}).items():
            for i, effect in enumerate((body or {}).get("effects") or ()):
                yield ("versions", version, "actions", action, "effects", i), action, effect, version


def _kind(effect: dict) -> tuple[str, Any]:
    return next(((k, v) for k, v in effect.items() if k not in ("if", "unless", "if_params", "if_found")), ("", None))


def _actions(value: dict) -> Iterator[tuple[tuple, str, dict]]:
    for action, body in (value.get("actions") or {}).items():
        yield ("actions", action), action, body or {}
    for version, vbody in (value.get("versions") or {}).items():
        for action, body in ((vbody or {}).get("actions") or {}).items():
            if body is not None:
                yield ("versions", version, "actions", action), action, body


def unknown_entities(spec: Any) -> Iterator[Any]:
    app = spec.app
    names = _entities(app)
    for section, name, value in _sections(spec):
        wanted = [((name, "entity"), value["entity"])]
        for key in ("tasks", "log"):
            if value.get(key):
                wanted.append(((name, key, "entity"), value[key]["entity"]))
        for i, g in enumerate(value.get("guarded") or ()):
            wanted.append(((name, "guarded", i, "entity"), g["entity"]))
        for path, _, effect, _ in _effects(value):
            for kind in ("create", "update", "find"):
                if kind in effect:
                    wanted.append(((name, *path, kind, "entity"), effect[kind]["entity"]))
        for path, entity in wanted:
            if entity not in names:
                yield spec.error(section, path, f"流程 {name}：没有名为 {entity} 的实体")


def unknown_fields(spec: Any) -> Iterator[Any]:
    app = spec.app
    names = _entities(app)
    for section, name, value in _sections(spec):
        entity = value["entity"]
        if entity not in names:
            continue
        wanted = [((name, "state"), entity, value["state"])]
        for key in ("tasks", "log"):
            part = value.get(key) or {}
            if part and part["entity"] in names:
                defaults = {"org": "org", "role": "role", "state": "state"} if key == "tasks" else {}
                for k, field in ({**defaults, **part}).items():
                    if k in ("entity", "initial", "open", "done"):
                        continue
                    wanted.append(((name, key, k if k in part else "entity"), part["entity"], field))
        for i, g in enumerate(value.get("guarded") or ()):
            if g["entity"] in names:
                wanted.append(((name, "guarded", i, "field"), g["entity"], g["field"]))
        for path, _, body in _actions(value):
            for i, rel in enumerate(body.get("who") or ()):
                for k in ("user", "org", "org_above"):
                    if k in rel:
                        wanted.append(((name, *path, "who", i, k), entity, rel[k]))
            for k in (body.get("where") or {}):
                if k not in ("or", "and"):
                    wanted.append(((name, *path, "where"), entity, k))
        for path, _, effect, _ in _effects(value):
            kind, body = _kind(effect)
            target = {"set": entity, "create": (body or {}).get("entity") if isinstance(body, Mapping) else None,
                      "update": (body or {}).get("entity") if isinstance(body, Mapping) else None,
                      "create_tasks": (value.get("tasks") or {}).get("entity"),
                      "tasks": (value.get("tasks") or {}).get("entity")}.get(kind)
            values = body if kind == "set" else (body or {}).get("set") if isinstance(body, Mapping) else None
            if target in names:
                for k in values or {}:
                    wanted.append(((name, *path, kind), target, k))
                if kind == "update" and target in names:
                    wanted.append(((name, *path, kind, "ref"), target, body["ref"]))
            if kind in ("refuse", "validate_json") and isinstance(body, Mapping) and body.get("field"):
                wanted.append(((name, *path, kind, "field"), entity, body["field"]))
        for path, ent, field in wanted:
            if ent in names and not app.entity(ent).has_field(field):
                yield spec.error(section, path, f"流程 {name}：实体 {ent} 没有字段 {field}")


def unknown_states(spec: Any) -> Iterator[Any]:
    app = spec.app
    for section, name, value in _sections(spec):
        entity, state = value["entity"], value["state"]
        if not _has(app, entity, state):
            continue
        keys = _dict_keys(app, entity, state)
        if keys is None:
            yield spec.error(section, (name, "state"), f"流程 {name}：状态字段 {state} 应为字典字段（type: dict）")
            continue
        found = [((name, "final"), s) for s in value.get("final") or ()]
        d = value.get("derive") or {}
        found += [((name, "derive"), d[k]) for k in ("none", "outstanding", "all_done") if d.get(k)]
        found += [((name, "derive", "states"), s) for s in d.get("states") or ()]
        found += [((name, "enter", s), s) for s in value.get("enter") or {}]
        for path, _, body in _actions(value):
            found += [((name, *path, "from"), s) for s in body.get("from") or ()]
            if body.get("to") not in (None, "derive"):
                found.append(((name, *path, "to"), body["to"]))
        for path, s in found:
            if str(s) not in keys:
                yield spec.error(section, path, f"流程 {name}：状态 {s} 不在字段 {state} 的字典中（可选：{'、'.join(sorted(keys))}）")


def unknown_task_keys(spec: Any) -> Iterator[Any]:
    app = spec.app
    for section, name, value in _sections(spec):
        t = value.get("tasks")
        if not t:
            continue
        roles = _dict_keys(app, t["entity"], t.get("role", "role"))
        states = _dict_keys(app, t["entity"], t.get("state", "state"))
        found = []
        if states is not None:
            found += [((name, "tasks", k), s, states, "状态") for k in ("open", "done") for s in t.get(k) or ()]
            if t.get("initial"):
                found.append(((name, "tasks", "initial"), t["initial"], states, "状态"))
        if roles is not None:
            found += [((name, "derive", "roles"), r, roles, "角色") for r in (value.get("derive") or {}).get("roles") or ()]
            for box, b in (value.get("boxes") or {}).items():
                found += [((name, "boxes", box), r, roles, "角色") for r in (b or {}).get("roles") or ()]
                if states is not None:
                    found += [((name, "boxes", box), x, states, "状态") for x in (b or {}).get("states") or ()]
        for path, _, body in _actions(value):
            for i, rel in enumerate(body.get("who") or ()):
                task = rel.get("task") or {}
                if roles is not None:
                    found += [((name, *path, "who", i), r, roles, "角色") for r in task.get("roles") or ()]
                if states is not None:
                    found += [((name, *path, "who", i), s, states, "状态") for s in task.get("states") or ()]
        for path, _, effect, _ in _effects(value):
            kind, body = _kind(effect)
            if kind == "create_tasks" and roles is not None:
                role = body.get("role")
                if isinstance(role, str) and not role.startswith("$"):
                    found.append(((name, *path, kind, "role"), role, roles, "角色"))
                found += [((name, *path, kind, "roles"), r, roles, "角色") for r in body.get("roles") or ()]
            if kind == "tasks" and states is not None:
                if body.get("to"):
                    found.append(((name, *path, kind, "to"), body["to"], states, "状态"))
                found += [((name, *path, kind, "states"), s, states, "状态") for s in body.get("states") or ()]
            if kind == "tasks" and roles is not None:
                found += [((name, *path, kind, "roles"), r, roles, "角色") for r in body.get("roles") or ()]
        for path, key, keys, what in found:
            if str(key) not in keys:
                yield spec.error(section, path, f"流程 {name}：待办{what} {key} 不在字典中（可选：{'、'.join(sorted(keys))}）")


def bad_versions(spec: Any) -> Iterator[Any]:
    for section, name, value in _sections(spec):
        for problem in resolve_versions(value)[3]:
            where = "published" if "发布" in problem else "versions"
            yield spec.error(section, (name, where), f"流程 {name}：{problem}")


def _custom(app: Any, entity: str) -> dict[str, Any]:
    out = {}
    for s in app.screens:
        if s.entity == entity:
            for a in s.custom_actions:
                out.setdefault(a.name, a)
    return out


def unbound_actions(spec: Any) -> Iterator[Any]:
    app = spec.app
    for section, name, value in _sections(spec):
        if value["entity"] not in _entities(app):
            continue
        custom = _custom(app, value["entity"])
        declared = set()
        for path, action, _ in _actions(value):
            declared.add(action)
            a = custom.get(action)
            if a is None or a.handler != HANDLER:
                yield spec.error(section, (name, *path), f"流程 {name}：动作 {action} 需要实体 {value['entity']} 的页面上"
                                                         f"有同名自定义操作（handler: {HANDLER}）")
        for action, a in custom.items():
            if a.handler == HANDLER and action not in declared:
                yield spec.error(section, (name, "actions"), f"流程 {name}：页面操作 {action}（handler: {HANDLER}）"
                                                            f"没有在任何流程版本中声明")


def _tokens(body: Any) -> Iterator[str]:
    if isinstance(body, str):
        if body.startswith("$"):
            yield body
    elif isinstance(body, Mapping):
        for v in body.values():
            yield from _tokens(v)
    elif isinstance(body, list):
        for v in body:
            yield from _tokens(v)


def bad_tokens(spec: Any) -> Iterator[Any]:
    app = spec.app
    for section, name, value in _sections(spec):
        custom = _custom(app, value["entity"]) if value["entity"] in _entities(app) else {}
        places = [((name, *path), action, effect) for path, action, effect, _ in _effects(value)]
        places += [((name, *path, "log"), action, body.get("log")) for path, action, body in _actions(value)]
        for path, action, body in places:
            for token in _tokens(body):
                if token in TOKENS or token == "derive":
                    continue
                if not token.startswith(PREFIXES):
                    yield spec.error(section, path, f"流程 {name}：未知的取值 {token}（可用 $user、$user.org、$now、"
                                                    f"$today、$superior、$top、$params.<参数>、$row.<字段>、$task.<字段>、"
                                                    f"$item、$found.<字段>）")
                elif token.startswith("$params.") and action is not None:
                    a = custom.get(action)
                    param = token[len("$params."):]
                    if a is not None and param not in {p.name for p in a.params}:
                        yield spec.error(section, path, f"流程 {name}：动作 {action} 没有声明参数 {param}")


def imported_states(spec: Any) -> Iterator[Any]:
    app = spec.app
    for section, name, value in _sections(spec):
        flow = flow_of(name, section.module, value)
        columns = flow.state_columns()
        for s in app.screens:
            imp = getattr(s, "import_spec", None)
            hit = sorted(columns.get(s.entity, set()) & set(imp.columns if imp else ()))
            if hit:
                yield spec.error(section, (name, "state"), f"流程 {name}：页面 {s.name} 的导入列 {'、'.join(hit)} "
                                                           f"是流程状态，只能由流程动作改变")
        for feed in app.feeds:
            hit = sorted(columns.get(feed.entity, set()) & set(feed.fields)) if feed.kind == "inbound" else []
            if hit:
                yield spec.error(section, (name, "state"), f"流程 {name}：接收推送 {feed.name} 的字段 {'、'.join(hit)} "
                                                           f"是流程状态，只能由流程动作改变")


def two_flows(spec: Any) -> Iterator[Any]:
    seen: dict[str, str] = {}
    for section, name, value in _sections(spec):
        if value["entity"] in seen:
            yield spec.error(section, (name, "entity"), f"流程 {name}：实体 {value['entity']} 已有流程 {seen[value['entity']]}")
        seen.setdefault(value["entity"], name)


def state_sets(spec: Any) -> Iterator[Any]:
    for section, name, value in _sections(spec):
        for path, _, effect, _ in _effects(value):
            if "set" in effect and isinstance(effect["set"], Mapping) and value["state"] in effect["set"]:
                yield spec.error(section, (name, *path, "set"), f"流程 {name}：状态字段 {value['state']} 由 to/derive "
                                                               f"改变，不能在 set 中写")


def bad_recommend(spec: Any) -> Iterator[Any]:
    app = spec.app
    names = _entities(app)
    for section, name, value in _sections(spec):
        rec = value.get("recommend")
        if not isinstance(rec, Mapping) or value["entity"] not in names:
            continue
        entity = rec.get("entity")
        if entity not in names:
            yield spec.error(section, (name, "recommend", "entity"), f"流程 {name} 的推荐单位：没有名为 {entity} 的实体")
            continue
        target = app.entity(entity)
        orgs = rec.get("orgs")
        if not target.has_field(orgs) or target.field(orgs).type != "multi_ref" or target.field(orgs).to != "org":
            yield spec.error(section, (name, "recommend", "orgs"),
                             f"流程 {name} 的推荐单位：{entity}.{orgs} 应为指向 org 的多选引用（multi_ref）字段")
        requirement = rec.get("requirement")
        if requirement is not None and not target.has_field(requirement):
            yield spec.error(section, (name, "recommend", "requirement"),
                             f"流程 {name} 的推荐单位：{entity} 没有字段 {requirement}")
        for theirs, mine in (rec.get("match") or {}).items():
            if not target.has_field(theirs) or not app.entity(value["entity"]).has_field(mine):
                yield spec.error(section, (name, "recommend", "match"),
                                 f"流程 {name} 的推荐单位：match 的 {theirs}: {mine} 须为 {entity} 与 {value['entity']} 的字段")
                continue
            a, b = target.field(theirs), app.entity(value["entity"]).field(mine)
            if (a.type, getattr(a, "to", None), getattr(a, "dict", None)) != (b.type, getattr(b, "to", None),
                                                                               getattr(b, "dict", None)):
                yield spec.error(section, (name, "recommend", "match"),
                                 f"流程 {name} 的推荐单位：match 的 {theirs} 与 {mine} 类型不同（须指向同一实体或同一字典）")


CHECKS = (Check("WF001", unknown_entities, "流程实体"), Check("WF002", unknown_fields, "流程字段"),
          Check("WF003", unknown_states, "流程状态"), Check("WF004", unknown_task_keys, "待办角色与状态"),
          Check("WF005", bad_versions, "流程版本"), Check("WF006", unbound_actions, "流程动作与页面操作"),
          Check("WF007", bad_tokens, "流程取值"), Check("WF008", imported_states, "导入流程状态"),
          Check("WF009", two_flows, "一个实体一个流程"), Check("WF010", state_sets, "set 写状态"),
          Check("WF030", bad_recommend, "推荐单位"))
