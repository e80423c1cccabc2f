"""Code lists: the names a spec declares, with their labels, for fields that store such names.

Some columns keep the name of something the spec declares: the operation log's 对象类型 is an
entity name ("user"), a job run's 任务 a job name, an SMS record's 通知 a notification name
("unreceived_scan_alerts"). A string field says so with `codes: <list>` (or `codes: <dictionary>`
for a fixed set of keys) and every page, export and API answer shows the label beside the code,
like a dictionary field's (`<field>_label`), and its filter becomes a drop-down. The value stays a
string column of its own length: no dictionary key limit, no migration.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from specadmin.specs.unmask import LABEL as UNMASK_LABEL, UNMASK

if TYPE_CHECKING:
    from specadmin.specs.model import App


def _targets(app: "App") -> dict[str, str]:
    return {name: str((t or {}).get("label") or name) for name, t in dict(app.feed_targets).items()}


# What a grant's actions are called on the pages (the built-in ones; custom actions have their labels).
ACTION_LABELS = {"list": "列表", "read": "查看", "create": "新增", "update": "修改", "delete": "删除",
                 "export": "导出", "import": "导入"}


def _actions(app: "App") -> dict[str, str]:
    """Every action a grant may name: the built-in ones, then each custom action (labels joined by
    “/” where screens give one name different labels)."""
    out = dict(ACTION_LABELS)
    custom: dict[str, list[str]] = {}
    for screen in app.screens:
        for action in screen.custom_actions:
            labels = custom.setdefault(action.name, [])
            if action.label not in labels:
                labels.append(action.label)
    for name, labels in custom.items():
        out.setdefault(name, "/".join(labels))
    if any(UNMASK in screen.offered_actions for screen in app.screens):
        out.setdefault(UNMASK, UNMASK_LABEL)
    return out


CODE_LISTS: dict[str, Callable[["App"], dict[str, str]]] = {
    "actions": _actions,
    "entities": lambda app: {e.name: e.label for e in app.entities},
    "screens": lambda app: {s.name: s.label for s in app.screens},
    "jobs": lambda app: {j.name: j.label for j in app.jobs},
    "notifications": lambda app: {n.name: n.label for n in app.notifications},
    "feeds": lambda app: {f.name: f.label for f in app.feeds},
    "feed_targets": _targets,
}


def _subjects(app: "App") -> dict[str, str]:
    """What an operation-log entry can be about: an entity, else a screen, job, notification or feed."""
    out: dict[str, str] = {}
    for name in ("feeds", "notifications", "jobs", "screens", "entities"):  # later lists win a shared name
        out.update(CODE_LISTS[name](app))
    return out


CODE_LISTS["subjects"] = _subjects


def code_lists(app: "App") -> dict[str, dict[str, str]]:
    """Every code list of the app: list name → {code: label}."""
    return {name: build(app) for name, build in CODE_LISTS.items()}
