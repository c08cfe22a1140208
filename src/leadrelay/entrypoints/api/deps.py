"""Request dependencies: the runtime, and who is calling (a source or a partner by its API key, a staff
member by admin token, anyone by the console's session cookie) and whether its role may (``Require``).

Every route declares the permission it needs (``leadrelay.domain.access``) with one of the aliases at
the bottom (``ViewDep``, ``ActDep`` …, ``SourceDep``, ``PartnerDep``); the role table decides. A key
authenticates only as its kind of owner: a partner's key never sends leads, a source's never reaches a
partner's routes, and neither is an admin token. An admin token acts with its role (admin, operator or
viewer). A request without a credential may carry the console's session cookie instead; then an unsafe
method must also carry the session's CSRF token in ``X-CSRF-Token``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Connection, Row

from leadrelay.adapters.db import config_store
from leadrelay.bootstrap import Runtime
from leadrelay.domain.access import STAFF_ROLES, Permission, Role, allows, refusal
from leadrelay.errors import Forbidden, Unauthorized
from leadrelay.services.user_values import SessionUser

log = logging.getLogger("leadrelay.api")

_CACHE_SECONDS = 30.0


async def runtime(request: Request) -> Runtime:
    """Async on purpose: FastAPI runs sync dependencies in a thread pool, a cost on every request."""
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def _credential(request: Request) -> str | None:
    return credential_of(request.headers.get("authorization"), request.headers.get("x-api-key"))


def credential_of(authorization: str | None, api_key: str | None) -> str | None:
    """The credential of ``Authorization: Bearer <it>``, else of ``X-API-Key``."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return api_key.strip() if api_key else None


@dataclass(frozen=True, slots=True)
class _Known:
    who: str
    id: str
    version: int  # of the configuration when looked up: revocations and deletions bump it
    until: float  # monotonic
    expires_at: datetime | None
    role: str = "admin"  # an admin token's role


class KeyCache:
    """Known-good credentials for a short while: intake must not pay a database read per request.

    An entry holds only while the configuration version it was read under is current; revoking a key or
    token (or deleting its source) bumps that version, so every process drops the entry within the
    configuration cache's one-second look. The last use is written at most once a minute per credential
    and process, off the request's path."""

    def __init__(self, kind: str, owner_kind: str = "source") -> None:
        self.kind = kind  # "key" (sources' or partners' API keys) or "token" (admins)
        self.owner_kind = owner_kind  # for keys: whose keys this cache admits ("source" or "partner")
        self._known: dict[str, _Known] = {}
        self._recorded: dict[str, float] = {}  # credential id -> monotonic time of the last recorded use
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, key: str, version: int) -> _Known | None:
        hit = self._known.get(key)
        if hit is not None and hit.version == version and hit.until > time.monotonic():
            return hit
        return None

    def put(self, key: str, known: _Known) -> None:
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[key] = known

    def seen(self, credential_id: str, last_used_at: datetime | None, now: datetime) -> None:
        """A stored last use this recent needs no write yet."""
        if last_used_at is not None and credential_id not in self._recorded:
            age = (now - last_used_at).total_seconds()
            self._recorded[credential_id] = time.monotonic() - max(age, 0.0)

    def used(self, rt: Runtime, credential_id: str) -> None:
        mono = time.monotonic()
        if mono - self._recorded.get(credential_id, -_RECORD_SECONDS) < _RECORD_SECONDS:
            return
        self._recorded[credential_id] = mono
        now = datetime.now(UTC)
        task = asyncio.get_running_loop().create_task(self._record(rt, credential_id, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, rt: Runtime, credential_id: str, now: datetime) -> None:
        try:
            await rt.db.run(
                lambda c: config_store.record_last_use(c, self.kind, [credential_id], now), background=True
            )
        except Exception:  # a lost last-use mark is not worth failing anything for
            log.warning("could not record the last use of %s", credential_id, exc_info=True)


_RECORD_SECONDS = 60.0
_LOOKUPS: dict[str, Callable[[Connection, str], Row[Any] | None]] = {
    "key": config_store.find_api_key,
    "token": config_store.find_admin_token,
}
_NAMES = {"key": "API key", "token": "admin token"}


async def caller_of(credential: str | None, rt: Runtime, cache: KeyCache, missing: str, unknown: str) -> str:
    """Who the credential belongs to: from the short-lived cache, else from the database (hashed)."""
    return (await known_of(credential, rt, cache, missing, unknown)).who


async def known_of(
    credential: str | None, rt: Runtime, cache: KeyCache, missing: str, unknown: str
) -> _Known:
    """The credential's owner (and for an admin token, its role)."""
    if not credential:
        raise Unauthorized(missing)
    version = (await rt.configs.get(rt.storage)).version
    known = cache.get(credential, version)
    if known is None:
        now = datetime.now(UTC)
        row = await rt.db.run_read(lambda c: _LOOKUPS[cache.kind](c, credential))
        if row is None:
            raise Unauthorized(unknown)
        if row.revoked_at is not None:
            raise Unauthorized(f"{_NAMES[cache.kind]} {row.id} was revoked at {_stamp(row.revoked_at)}")
        owner_kind = getattr(row, "owner_kind", None)
        if owner_kind is not None and owner_kind != cache.owner_kind:
            raise Forbidden(
                f"API key {row.id} is a {owner_kind}'s key: this route takes a {cache.owner_kind}'s key"
            )
        expires_at = getattr(row, "expires_at", None)
        role = getattr(row, "role", None) or "admin"
        known = _Known(row.owner, row.id, version, time.monotonic() + _CACHE_SECONDS, expires_at, role)
        cache.put(credential, known)
        cache.seen(row.id, row.last_used_at, now)
    if known.expires_at is not None and known.expires_at <= datetime.now(UTC):
        raise Unauthorized(
            f"{_NAMES[cache.kind]} {known.id} expired at {_stamp(known.expires_at)}; "
            "create a new one with `leadrelay admin create-token`"
        )
    cache.used(rt, known.id)
    return known


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_NO_SOURCE_KEY = "send the source's API key as 'Authorization: Bearer <key>' or 'X-API-Key'"


async def source_of_credential(credential: str | None, rt: Runtime, cache: KeyCache) -> str:
    """The source a credential (already taken from the headers) belongs to: the intake fast path."""
    return await caller_of(credential, rt, cache, _NO_SOURCE_KEY, "unknown API key")


SESSION_COOKIE = "lr_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MISSING = {
    Permission.SOURCE_PORTAL: _NO_SOURCE_KEY,
    Permission.PARTNER_PORTAL: "send the partner's API key as 'Authorization: Bearer <key>' or 'X-API-Key'",
}
_MISSING_TOKEN = "send an admin token as 'Authorization: Bearer <token>'"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: its role, the name the audit log shows, and for a partner or a source its own
    name (``tenant``)."""

    role: Role
    actor: str
    tenant: str | None = None


async def session_of(request: Request) -> SessionUser | None:
    """The console session the request's cookie names, looked up once per request."""
    if "session_user" in request.scope.get("state", {}):
        found: SessionUser | None = request.state.session_user
        return found
    rt: Runtime = request.app.state.runtime
    found = await rt.accounts.session(request.cookies.get(SESSION_COOKIE))
    request.state.session_user = found
    return found


async def caller_for(request: Request, permission: Permission) -> Caller:
    """The caller, if its role has ``permission``: 401 without a (known) credential, 403 otherwise."""
    rt: Runtime = request.app.state.runtime
    credential = _credential(request)
    caller: Caller
    if credential is not None:
        if permission == Permission.SOURCE_PORTAL:
            who = await caller_of(
                credential, rt, request.app.state.source_keys, _NO_SOURCE_KEY, "unknown API key"
            )
            caller = Caller(Role.SOURCE, who, who)
        elif permission == Permission.PARTNER_PORTAL:
            who = await caller_of(
                credential, rt, request.app.state.partner_keys, _MISSING[permission], "unknown API key"
            )
            caller = Caller(Role.PARTNER, who, who)
        else:
            known = await known_of(
                credential, rt, request.app.state.admin_tokens, _MISSING_TOKEN, "unknown admin token"
            )
            role = Role(known.role)
            caller = Caller(role if role in STAFF_ROLES else Role.VIEWER, f"admin:{known.who}")
    else:
        session = await session_of(request)
        if session is None:
            raise Unauthorized(_MISSING.get(permission, _MISSING_TOKEN) + ", or log in to the console")
        if request.method not in SAFE_METHODS and not session.csrf_ok(request.headers.get(CSRF_HEADER)):
            raise Forbidden(
                "a request made with the console's session must carry its CSRF token in X-CSRF-Token"
            )
        caller = Caller(session.role, session.actor, session.tenant)
    if not allows(caller.role, permission):
        raise Forbidden(refusal(caller.role, permission))
    return caller


class Require:
    """The dependency a route declares: the caller must have ``permission``. Gives the actor's name for
    the audit log, or for the portals the caller's own partner or source."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __repr__(self) -> str:
        return f"Require({self.permission.value})"

    async def __call__(self, request: Request) -> str:
        caller = await caller_for(request, self.permission)
        if self.permission in (Permission.SOURCE_PORTAL, Permission.PARTNER_PORTAL):
            assert caller.tenant is not None
            return caller.tenant
        return caller.actor


class RequireCaller(Require):
    """As ``Require``, but gives the whole ``Caller``: for a route whose answer depends on what else the
    caller's role may do (a simulator's draft, a signed postback URL)."""

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        return await caller_for(request, self.permission)


SourceDep = Annotated[str, Depends(Require(Permission.SOURCE_PORTAL))]  # the source's name
PartnerDep = Annotated[str, Depends(Require(Permission.PARTNER_PORTAL))]  # the partner's name
ViewDep = Annotated[str, Depends(Require(Permission.VIEW))]  # the actor, as are the ones below
ActDep = Annotated[str, Depends(Require(Permission.ACT))]
FinanceDep = Annotated[str, Depends(Require(Permission.FINANCE))]
ConfigureDep = Annotated[str, Depends(Require(Permission.CONFIGURE))]
SecretsDep = Annotated[str, Depends(Require(Permission.SECRETS))]
PrivacyDep = Annotated[str, Depends(Require(Permission.PRIVACY))]
UsersDep = Annotated[str, Depends(Require(Permission.USERS))]
ViewerDep = Annotated[Caller, Depends(RequireCaller(Permission.VIEW))]  # the caller, with its role
