"""What plugin code is called with: a write event for entity hooks, and one call object per handler kind."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext
    from specadmin.runtime.entities.service import EntityService
    from specadmin.runtime.security.principal import Principal
    from specadmin.specs.model import Entity, Job, Rule


@dataclass
class WriteEvent:
    """One row being created, updated (also by a custom action) or deleted.

    `data` is what the writer sent, `clean` the validated values, `columns` what goes into the
    table (hooks may add to it in `before_*`), `before` the stored row (sensitive values decoded)
    for updates and deletes, `row_id` the row (known in `after_create`).
    """

    kind: str
    service: "EntityService"
    principal: "Principal | None"
    row_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    clean: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] | None = None
    action: str | None = None

    @property
    def ctx(self) -> "AppContext":
        return self.service.ctx

    @property
    def entity(self) -> "Entity":
        return self.service.entity

    def changes(self, *names: str) -> bool:
        """True when this write sets any of the named fields."""
        return any(n in self.clean or n in self.columns for n in names)


class Call:
    """Base of what a named handler gets: the app (`ctx`) and a transaction on its database."""

    ctx: "AppContext"

    def transaction(self):
        return self.ctx.engine.transaction()

    def table(self, entity: str):
        return self.ctx.table(entity)


@dataclass
class RuleCall(Call):
    """A custom rule (`kind: custom`, `function: plugin.handler`) evaluated for the windows
    ending on `first`..`last`. The handler returns a summary dict (at least `created`)."""

    ctx: "AppContext"
    rule: "Rule"
    first: dt.date
    last: dt.date


@dataclass
class JobCall(Call):
    """A job (`function: plugin.handler`) run for `first`..`last`. Returns a summary dict."""

    ctx: "AppContext"
    job: "Job"
    first: dt.date
    last: dt.date
