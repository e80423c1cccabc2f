"""What a plugin's spec check sees: the validated model, its own sections with their lines, and an error maker."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from specadmin.specs.model import App


@dataclass(frozen=True)
class Section:
    """A plugin key as written in one module file: its value and where each part of it stands."""

    key: str
    module: str
    file: str
    value: Any
    line_of: Callable[[tuple], int]

    def line(self, *path: Any) -> int:
        """Line of `value[path...]` (the key's own line for no path)."""
        return self.line_of((self.key, *path))


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str


class SpecView:
    """Given to every `Check`: `app` (the model), `sections(key)` and `error(section, path, message)`."""

    def __init__(self, app: "App", sections: dict[str, list[Section]], app_file: str, app_line: Callable[[tuple], int]):
        self.app = app
        self._sections = sections
        self.app_file = app_file
        self._app_line = app_line

    def sections(self, key: str) -> list[Section]:
        return list(self._sections.get(key, ()))

    def error(self, section: Section | None, path: tuple, message: str) -> Problem:
        if section is None:  # a key of app.yaml
            return Problem(self.app_file, self._app_line(tuple(path)), message)
        return Problem(section.file, section.line(*path), message)
