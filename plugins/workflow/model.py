"""A `workflow:` section read into a `Flow`: entities, states, task aggregation and versioned actions.

The YAML (see specs/REFERENCE.md "workflow") names the workflow entity and its state field, the task
entity (a ref to the row, an org, a role, a state), the log entity, how the row's state follows its
tasks (`derive`), effects on entering a state (`enter`), and the actions of the base version; later
versions (`versions:`) inherit the one they name and override actions (`null` removes one). Exactly
one version is `published`: new runs start on it, running ones keep theirs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BASE_VERSION = "1"


@dataclass(frozen=True)
class Tasks:
    entity: str
    ref: str
    org: str = "org"
    role: str = "role"
    state: str = "state"
    initial: str = "todo"
    open: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    parent: str | None = None
    dispatcher: str | None = None


@dataclass(frozen=True)
class Log:
    entity: str
    ref: str
    fields: dict[str, str]  # what -> field: at, operator, operator_name, org, action, label, opinion, channel


@dataclass(frozen=True)
class Derive:
    states: tuple[str, ...]  # the row's states in which its state follows its tasks
    roles: tuple[str, ...]  # the task roles that count
    none: str | None
    outstanding: str | None
    all_done: str | None


@dataclass(frozen=True)
class Flow:
    name: str
    module: str
    label: str
    entity: str
    state: str
    tasks: Tasks | None
    log: Log | None
    derive: Derive | None
    enter: dict[str, list]
    final: tuple[str, ...]
    guarded: tuple[tuple[str, str], ...]  # (entity, field) written only by actions, beside the two state fields
    boxes: dict[str, dict]
    escalation: dict
    base: str
    published: str
    versions: dict[str, dict[str, dict]] = field(default_factory=dict)  # version -> action -> spec
    recommend: dict = field(default_factory=dict)  # {entity, match, orgs, requirement}: 推荐单位 of the org picker

    def actions(self, version: str | None) -> dict[str, dict]:
        return self.versions.get(version or self.published) or self.versions[self.published]

    def all_action_names(self) -> set[str]:
        return {name for acts in self.versions.values() for name in acts}

    def state_columns(self) -> dict[str, set[str]]:
        """entity -> fields only the flow's actions write."""
        out: dict[str, set[str]] = {self.entity: {self.state}}
        if self.tasks:
            out.setdefault(self.tasks.entity, set()).add(self.tasks.state)
        for entity, name in self.guarded:
            out.setdefault(entity, set()).add(name)
        return out


def resolve_versions(value: dict) -> tuple[str, str, dict[str, dict[str, dict]], list[str]]:
    """(base, published, version -> actions, problems) of a section: each later version is the one it
    inherits (default: the one before it) with its own actions replacing, and `null` removing, actions."""
    base = str(value.get("version", BASE_VERSION))
    versions = {base: dict(value.get("actions") or {})}
    problems: list[str] = []
    previous = base
    for name, spec in (value.get("versions") or {}).items():
        name, spec = str(name), spec or {}
        parent = str(spec.get("inherits", previous))
        if parent not in versions:
            problems.append(f"版本 {name} 继承的版本 {parent} 不存在（须在它之前声明）")
            parent = base
        actions = dict(versions[parent])
        for action, body in (spec.get("actions") or {}).items():
            if body is None:
                actions.pop(action, None)
            else:
                actions[action] = body
        versions[name] = actions
        previous = name
    published = str(value.get("published", base))
    if published not in versions:
        problems.append(f"发布的版本 {published} 不存在")
        published = base
    return base, published, versions, problems


def flow_of(name: str, module: str, value: dict) -> Flow:
    t = value.get("tasks")
    tasks = None if not t else Tasks(
        entity=t["entity"], ref=t["ref"], org=t.get("org", "org"), role=t.get("role", "role"),
        state=t.get("state", "state"), initial=t.get("initial", "todo"), open=tuple(t.get("open", ())),
        done=tuple(t.get("done", ())), parent=t.get("parent"), dispatcher=t.get("dispatcher"))
    lg = value.get("log")
    log = None if not lg else Log(entity=lg["entity"], ref=lg["ref"],
                                  fields={k: v for k, v in lg.items() if k not in ("entity", "ref")})
    d = value.get("derive")
    derive = None if not d else Derive(states=tuple(d.get("states", ())), roles=tuple(d.get("roles", ())),
                                       none=d.get("none"), outstanding=d.get("outstanding"),
                                       all_done=d.get("all_done"))
    base, published, versions, _ = resolve_versions(value)
    return Flow(name=name, module=module, label=value.get("label", name), entity=value["entity"],
                state=value["state"], tasks=tasks, log=log, derive=derive, enter=dict(value.get("enter") or {}),
                final=tuple(value.get("final", ())),
                guarded=tuple((g["entity"], g["field"]) for g in value.get("guarded", ())),
                boxes=dict(value.get("boxes") or {}), escalation=dict(value.get("escalation") or {}), base=base, published=published, versions=versions,
                recommend=dict(value.get("recommend") or {}))


def flows(app: Any) -> list[Flow]:
    """Every flow the app's modules declare."""
    out = []
    for module, section in app.section("workflow").items():
        for name, value in (section or {}).items():
            out.append(flow_of(name, module, value))
    return out


def flow_for_entity(app: Any, entity: str) -> Flow | None:
    return next((f for f in flows(app) if f.entity == entity), None)
