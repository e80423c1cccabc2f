"""Built-in plugin `identity`: who is logged in (login, logout, the session auth middleware), orgs,
people, roles, grants and dictionaries (system.yaml), their screens' actions, the guards that keep
people from raising their own power, and the caches of the org tree, dictionaries and principals
kept fresh after every write to them."""
from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from litestar.middleware import DefineMiddleware

from specadmin.runtime.data.values import Invalid
from specadmin.runtime.identity import actions, cache_state, guards, power, revocation
from specadmin.runtime.identity.api import IDENTITY_HANDLERS
from specadmin.runtime.identity.cache_state import cache_state_table
from specadmin.runtime.identity.commands import DIVISIONS
from specadmin.runtime.identity.lockout import clear_account, throttle_table
from specadmin.runtime.identity.passwords import problem as password_problem
from specadmin.runtime.identity.pinyin import initials
from specadmin.runtime.identity.session_cookie import STORE, RevocableSessionConfig
from specadmin.runtime.identity.session_store import make_store, session_table
from specadmin.runtime.identity.sessions import AUTH_HANDLERS, PUBLIC_PATHS, SessionAuthMiddleware
from specadmin.runtime.plugin import EntityHooks, Plugin, WriteEvent

SESSION_HOURS = 8
# A change to these fields of a person ends all of that person's sessions (revocation).
REVOKING_FIELDS = ("active", "superuser", "roles", "org")

# Writes to these change what AppContext caches: dictionary labels, the org tree, principals.
CACHED_ENTITIES = ("org", "dict_item", "grant", "role", "user", "role_group", "function", "api_resource")


async def check_user(event: WriteEvent) -> None:
    if event.before is not None:  # an update, delete or custom action on an existing person
        await power.check_may_act_on_user(event.ctx, event.principal, event.before)
    if event.kind != "delete":
        await guards.check_user_write(event.service, event.principal, event.clean, event.before)


async def check_role(event: WriteEvent) -> None:
    """Nobody changes or deletes a role that confers more than they hold, nor makes it confer more."""
    if event.before is not None:
        await power.check_may_act_on_role(event.ctx, event.principal, event.before)
        if event.clean:
            await power.check_may_act_on_role(event.ctx, event.principal, {**event.before, **event.clean})


async def check_role_group(event: WriteEvent) -> None:
    await guards.check_role_group_write(event.service, event.principal, event.clean, event.before)


async def check_grant(event: WriteEvent) -> None:
    merged = {**(event.before or {}), **event.clean}
    guards.check_grant(event.ctx, event.principal, merged.get("screen") or "", merged.get("actions") or "",
                       merged.get("valid_until"), await guards.grant_is_confined(event.ctx, merged),
                       merged.get("scope"))


async def password_policy(event: WriteEvent) -> None:
    """An initial password set with a new account must meet the app's password policy."""
    password = event.data.get("password") if event.entity.auth_user else None
    if password is not None:
        problem = password_problem(str(password), event.ctx.app.security, event.clean.get("username"))
        if problem:
            raise Invalid({"password": problem})


async def pinyin_initials(event: WriteEvent) -> None:
    """`initials_of: name` fields follow their source field (拼音首字母, for searching orgs by initials)."""
    for f in event.entity.fields:
        if f.initials_of and (f.initials_of in event.clean or event.kind == "create"):
            source = event.clean.get(f.initials_of, event.columns.get(f.initials_of))
            event.columns[f.name] = initials(source, f.max_length)


async def refresh_caches(event: WriteEvent) -> None:
    await cache_state.bump(event.ctx)


async def revoke_sessions(event: WriteEvent) -> None:
    """Disabling a person, or changing their roles, org or superuser flag, ends their sessions."""
    if event.entity.auth_user and any(name in event.clean for name in REVOKING_FIELDS):
        await revocation.revoke(event.ctx, [event.row_id])


async def _before_create(event: WriteEvent) -> None:
    await password_policy(event)
    await pinyin_initials(event)


def _hooks() -> dict[str, EntityHooks]:
    guarded = {"role_group": check_role_group, "grant": check_grant}
    hooks = {"*": EntityHooks(before_create=_before_create, before_update=pinyin_initials)}
    for name in CACHED_ENTITIES:
        guard = guarded.get(name)
        hooks[name] = EntityHooks(before_create=guard, before_update=guard, after_create=refresh_caches,
                                  after_update=refresh_caches, after_delete=refresh_caches)
    hooks["user"] = EntityHooks(before_create=check_user, before_update=check_user, before_delete=check_user,
                                after_create=refresh_caches, after_update=_after_user_update,
                                after_delete=refresh_caches)
    hooks["role"] = EntityHooks(before_update=check_role, before_delete=check_role, after_create=refresh_caches,
                                after_update=refresh_caches, after_delete=refresh_caches)
    return hooks


async def _after_user_update(event: WriteEvent) -> None:
    await revoke_sessions(event)
    if "locked_until" in event.clean and event.clean["locked_until"] is None:  # 解锁: from every address
        await clear_account(event.ctx, event.row_id)
    await refresh_caches(event)


def _middleware(ctx, options) -> list:
    # /ext/: API callers authenticate per request (api_callers), never with a session or CSRF token.
    session = RevocableSessionConfig(max_age=SESSION_HOURS * 3600, httponly=True, samesite="lax",
                                     secure=options.secure_cookies, exclude=["^/static/", "^/ext/"])
    return [session.middleware, DefineMiddleware(SessionAuthMiddleware, exclude=[*PUBLIC_PATHS, "^/ext/"])]


def _configure(config, ctx, options) -> None:
    stores = dict(config.stores or {})
    stores[STORE] = ctx.extensions[STORE] = make_store(ctx)
    config.stores = stores


@asynccontextmanager
async def _close_store(ctx, options):
    store = ctx.extensions[STORE]
    try:
        yield
    finally:
        await store.__aexit__(None, None, None)  # RedisStore closes its client (bound to this app's loop)


plugin = Plugin(
    name="identity", label="组织、人员与权限", builtin=True, order=20,
    modules=(Path(__file__).with_name("system.yaml"),),
    hooks=_hooks(),
    handlers={"reset_password": actions.reset_password, "change_org": actions.change_org,
              "assign_roles": actions.assign_roles, "assign_users": actions.assign_users,
              "copy_role": actions.copy_role, "grant_screens": actions.grant_screens,
              "revoke_screens": actions.revoke_screens},
    ref_scopes={"assignable_roles": guards.assignable_condition},
    routes=lambda ctx, options: [*AUTH_HANDLERS, *IDENTITY_HANDLERS],
    commands=(DIVISIONS,),
    tables=(session_table, cache_state_table, throttle_table),
    configure=_configure,
    lifespan=(_close_store,),
    # an org admin manages these only inside its own org subtree, reached along these paths
    org_admin_scopes={"org": ("id",), "user": ("org",), "role": ("org",), "role_group": ("org",),
                      "grant": ("role.org", "user.org", "role_group.org")},
    middleware=_middleware,
)
