"""Who is asking, and what the grants say they may do: screens, actions, fields, scopes.

Grants come from spec roles, from grants stored at run time (per role, role group or person,
each with an optional expiry), and from function security policies (登录均可访问 opens a
screen's list and read to every logged-in user). Grants from an org-admin source on the entities
plugins name in `org_admin_scopes` (the identity plugin: orgs, people, roles, role groups,
grants) are confined to the holder's org subtree.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
import datetime as dt
from typing import Iterable, Mapping

from specadmin.specs.model import UNMASK, App, Grant, Scope, Screen

OPEN_ACTIONS = frozenset(("list", "read"))


@dataclass(frozen=True)
class EffectiveGrant:
    screen: str
    actions: frozenset[str]
    fields: frozenset[str] | None  # None: every form field of the screen
    scopes: tuple[Scope, ...]
    valid_until: dt.date | None = None  # the last day the holder has it; None: no end

    @property
    def clear_view(self) -> bool:
        """Sensitive values in clear: the `unmask` action (runtime/security/unmask.py decides)."""
        return UNMASK in self.actions


@dataclass(frozen=True)
class StoredGrant:
    """A grant stored at run time; org_scoped when it came from an org-admin source. `scope` is a
    data-scope choice (`GRANT_SCOPES`): `default` keeps the screen's own."""
    screen: str
    actions: str
    org_scoped: bool = False
    valid_until: dt.date | None = None
    scope: str = "default"


ORG_SCOPE_MODES = ("own_unit", "own_and_sub", "sub_only")
GRANT_SCOPES = ("default", "all", *ORG_SCOPE_MODES, "own_records")  # the choices of a stored grant


def grant_scopes(screen: Screen) -> tuple[str, ...]:
    """The data-scope choices a stored grant on this screen can make: the org ones only where the
    screen's own scope names the path to an org (they are measured along it)."""
    by_org = screen.scope.mode in (*ORG_SCOPE_MODES, "self_only") and screen.scope.field is not None
    return tuple(m for m in GRANT_SCOPES if by_org or m not in ORG_SCOPE_MODES)


def stored_scope(screen: Screen, choice: str | None) -> Scope:
    """The Scope a stored grant's choice means on this screen."""
    if not choice or choice == "default" or choice not in grant_scopes(screen):
        return screen.scope
    if choice in ORG_SCOPE_MODES:
        return Scope(choice, screen.scope.field)
    return Scope(choice)


@dataclass(frozen=True)
class FunctionRule:
    """The security policy of one function (menu) resource, keyed by screen name."""
    policy: str = "authorized"  # anonymous | logged_in | authorized
    level: int = 1
    active: bool = True


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
    auth_level: int = 1  # 1: password login; functions of a higher level stay closed
    org_admin: bool = False  # some identity grant is confined to the org subtree
    anonymous: bool = False

    def grant(self, screen: str) -> EffectiveGrant | None:
        return self.grants.get(screen)

    def can(self, screen: str, action: str) -> bool:
        g = self.grants.get(screen)
        return bool(g and action in g.actions)


def _later(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    return None if a is None or b is None else max(a, b)


def _merge(a: EffectiveGrant | None, b: EffectiveGrant) -> EffectiveGrant:
    if a is None:
        return b
    fields = None if a.fields is None or b.fields is None else a.fields | b.fields
    scopes = tuple(dict.fromkeys(a.scopes + b.scopes))
    return EffectiveGrant(a.screen, a.actions | b.actions, fields, scopes, _later(a.valid_until, b.valid_until))


def _from_spec(screen: Screen, grant: Grant, valid_until: dt.date | None) -> EffectiveGrant:
    actions = frozenset(grant.actions) | ({UNMASK} if grant.clear_view and screen.unmaskable else set())
    return EffectiveGrant(screen.name, actions,
                          frozenset(grant.fields) if grant.fields is not None else None,
                          grant.declared_scopes or (screen.scope,), valid_until)


def confine(app: App, screen: Screen, grant: EffectiveGrant,
            confined: Mapping[str, tuple[str, ...]]) -> EffectiveGrant:
    """An org admin's grant on an entity in `confined` (entity → org paths): its scope becomes the
    holder's subtree along those paths, and it cannot make superusers."""
    paths = confined.get(screen.entity)
    if not paths:
        return grant
    fields = grant.fields if grant.fields is not None else frozenset(screen.form)
    scopes = tuple(Scope("own_and_sub", path) for path in paths)
    return EffectiveGrant(grant.screen, grant.actions, fields - {"superuser"}, scopes, grant.valid_until)


def _stored(item) -> StoredGrant:
    return item if isinstance(item, StoredGrant) else StoredGrant(item[0], item[1])


def effective_grants(app: App, role_codes: tuple[str, ...], superuser: bool,
                     stored: Iterable[tuple[str, str] | StoredGrant], *, scoped_codes: Iterable[str] = (),
                     functions: Mapping[str, FunctionRule] | None = None, auth_level: int = 1,
                     confined: Mapping[str, tuple[str, ...]] | None = None,
                     role_ends: Mapping[str, dt.date | None] | None = None,
                     withheld: Mapping[str, frozenset[str]] | None = None) -> dict[str, EffectiveGrant]:
    """Spec role grants plus grants stored at run time (screen, comma-separated actions).

    Stored grants (menu authorisation per role, group or person) take the screen's form fields and
    the data scope they chose (`stored_scope`: the screen's own by default). Spec grants
    of roles in `scoped_codes` and org-scoped stored grants are confined (see `confine`) on the
    entities in `confined`. Function rules then close invalid functions and those above
    `auth_level`, and open list/read of 登录均可访问 functions to everyone. `role_ends` (role code →
    its last valid day) gives each grant its end (`valid_until`). `withheld` (screen → actions)
    takes actions away from everyone, superusers included (`Plugin.withheld_actions`).
    """
    return _without(_effective(app, role_codes, superuser, stored, scoped_codes, functions, auth_level, confined,
                               role_ends), withheld or {})


def _without(grants: dict[str, EffectiveGrant], withheld: Mapping[str, frozenset[str]]) -> dict[str, EffectiveGrant]:
    for name, actions in withheld.items():
        if name in grants:
            grants[name] = replace(grants[name], actions=grants[name].actions - actions)
    return grants


def _effective(app: App, role_codes, superuser, stored, scoped_codes, functions, auth_level, confined,
               role_ends) -> dict[str, EffectiveGrant]:
    screens = {s.name: s for s in app.screens}
    confined = confined or {}
    ends = role_ends or {}
    result: dict[str, EffectiveGrant] = {}
    if superuser or any(r.superuser for r in app.roles if r.name in role_codes):
        for s in app.screens:
            result[s.name] = EffectiveGrant(s.name, frozenset(s.offered_actions), None, (Scope("all"),))
        return result
    scoped = set(scoped_codes)
    for role in app.roles:
        if role.name in role_codes:
            for g in role.grants:
                screen = screens[g.screen]
                grant = _from_spec(screen, g, ends.get(role.name))
                if role.name in scoped:
                    grant = confine(app, screen, grant, confined)
                result[g.screen] = _merge(result.get(g.screen), grant)
    for item in map(_stored, stored):
        screen = screens.get(item.screen)
        if screen is None:
            continue
        allowed = frozenset(a.strip() for a in item.actions.split(",") if a.strip()) & frozenset(screen.offered_actions)
        if allowed:
            grant = EffectiveGrant(item.screen, allowed, None, (stored_scope(screen, item.scope),),
                                   valid_until=item.valid_until)
            if item.org_scoped:
                grant = confine(app, screen, grant, confined)
            result[item.screen] = _merge(result.get(item.screen), grant)
    for name, rule in (functions or {}).items():
        screen = screens.get(name)
        if screen is None:
            continue
        if not rule.active or rule.level > auth_level:
            result.pop(name, None)
        elif rule.policy in ("logged_in", "anonymous"):
            result[name] = _merge(result.get(name), EffectiveGrant(name, OPEN_ACTIONS, frozenset(), (screen.scope,)))
    return result


def anonymous_grants(app: App, functions: Mapping[str, FunctionRule]) -> dict[str, EffectiveGrant]:
    """What a visitor without a session may do: list and read the 无需登录可访问 functions."""
    screens = {s.name: s for s in app.screens}
    return {name: EffectiveGrant(name, OPEN_ACTIONS, frozenset(), (screens[name].scope,))
            for name, rule in functions.items()
            if name in screens and rule.active and rule.policy == "anonymous" and rule.level <= 1}
