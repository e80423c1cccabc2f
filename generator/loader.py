"""Load YAML spec files keeping the line of every key and value.

PyYAML silently keeps the last of two equal keys; a spec language must not, so the
composed node tree is walked by hand and duplicates are reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from specadmin.generator.errors import SpecError

Path_ = tuple  # a path of keys/indexes into the document


@dataclass
class Document:
    """One loaded YAML file: its data and the line of every path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """Line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.errors: list[SpecError] = []
        self._loader = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._loader.construct_object(key_node, deep=True)
                if isinstance(key, (list, dict)):
                    key = str(key)
                if key in result:
                    self.errors.append(
                        SpecError(self.file, key_node.start_mark.line + 1, "SA002", f"duplicate key '{key}'")
                    )
                result[key] = self.build(value_node, path + (key,))
                # The key's own line is more useful than the value's for block values.
                self.lines[path + (key,)] = key_node.start_mark.line + 1
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        return self._loader.construct_object(node, deep=True)


def load_yaml(path: Path, display_name: str | None = None) -> tuple[Document | None, list[SpecError]]:
    """Parse one file; returns the document (None on a syntax error) and the errors found."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [SpecError(name, 1, "SA003", "file not found")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return None, [SpecError(name, line, "SA001", f"YAML syntax error: {exc.problem or exc}")]
    if node is None:
        return Document(name, {}, {(): 1}), []
    builder = _Builder(name)
    try:
        data = builder.build(node, ())
    except yaml.YAMLError as exc:  # bad tags, bad timestamps
        mark = getattr(exc, "problem_mark", None)
        return None, [SpecError(name, (mark.line + 1) if mark else 1, "SA001", f"YAML error: {exc}")]
    return Document(name, data, builder.lines), builder.errors
