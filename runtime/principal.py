"""Who is asking, and what the grants say they may do: screens, actions, fields, scopes."""
from __future__ import annotations

from dataclasses import dataclass, field

from specadmin.generator.model import App, Grant, Scope, Screen


@dataclass(frozen=True)
class EffectiveGrant:
    screen: str
    actions: frozenset[str]
    fields: frozenset[str] | None  # None: every form field of the screen
    scopes: tuple[Scope, ...]
    clear_view: bool = False


@dataclass
class Principal:
    user_id: int
    username: str
    name: str
    org_id: int | None
    org_name: str
    superuser: bool
    roles: tuple[str, ...]
    grants: dict[str, EffectiveGrant] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def grant(self, screen: str) -> EffectiveGrant | None:
        return self.grants.get(screen)

    def can(self, screen: str, action: str) -> bool:
        g = self.grants.get(screen)
        return bool(g and action in g.actions)


def _merge(a: EffectiveGrant | None, b: EffectiveGrant) -> EffectiveGrant:
    if a is None:
        return b
    fields = None if a.fields is None or b.fields is None else a.fields | b.fields
    scopes = tuple(dict.fromkeys(a.scopes + b.scopes))
    return EffectiveGrant(a.screen, a.actions | b.actions, fields, scopes, a.clear_view or b.clear_view)


def _from_spec(screen: Screen, grant: Grant) -> EffectiveGrant:
    return EffectiveGrant(screen.name, frozenset(grant.actions),
                          frozenset(grant.fields) if grant.fields is not None else None,
                          (grant.scope or screen.scope,), grant.clear_view)


def effective_grants(app: App, role_codes: tuple[str, ...], superuser: bool,
                     stored: list[tuple[str, str]]) -> dict[str, EffectiveGrant]:
    """Spec role grants plus grants stored at run time (screen, comma-separated actions).

    Stored grants (menu authorisation per role or per person) take the screen's own
    default scope and form fields: they open a menu, they do not widen a scope.
    """
    screens = {s.name: s for s in app.screens}
    result: dict[str, EffectiveGrant] = {}
    if superuser or any(r.superuser for r in app.roles if r.name in role_codes):
        for s in app.screens:
            result[s.name] = EffectiveGrant(s.name, frozenset(s.offered_actions), None, (Scope("all"),), True)
        return result
    for role in app.roles:
        if role.name in role_codes:
            for g in role.grants:
                result[g.screen] = _merge(result.get(g.screen), _from_spec(screens[g.screen], g))
    for screen_name, actions in stored:
        screen = screens.get(screen_name)
        if screen is None:
            continue
        allowed = frozenset(a.strip() for a in actions.split(",") if a.strip()) & frozenset(screen.offered_actions)
        if allowed:
            result[screen_name] = _merge(result.get(screen_name),
                                         EffectiveGrant(screen_name, allowed, None, (screen.scope,)))
    return result
