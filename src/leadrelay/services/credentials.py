"""API keys of sources and partners, and admin tokens: create, list with their last use, revoke. Every
change is audited.

A source's key sends leads; a partner's key (``lrp_…``) reaches only the partner's own routes. A key
authenticates only as its kind of owner.

Keys and tokens are stored hashed; the value is shown once, at creation. A revocation bumps the
configuration version, so every process drops the credential from its short-lived cache within a second.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.access import STAFF_ROLES, Role
from leadrelay.domain.states import KeyOwner
from leadrelay.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from leadrelay.services.ports import Record, Tx


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def key_view(row: Record) -> dict[str, Any]:
    """A key's listing (never the key): its owner under ``source`` or ``partner``."""
    return {
        "id": row.id,
        row.owner_kind: row.owner,
        "prefix": row.prefix,
        "created_at": _iso(row.created_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
    }


def token_view(row: Record) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.owner,
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
        "role": getattr(row, "role", "admin"),
    }


def new_source_key() -> str:
    return "lr_" + secrets.token_urlsafe(24)


def new_partner_key() -> str:
    return "lrp_" + secrets.token_urlsafe(24)


def new_admin_token() -> str:
    return "lra_" + secrets.token_urlsafe(32)


_KINDS = {KeyOwner.SOURCE: "sources", KeyOwner.PARTNER: "partners"}  # owner kind -> configuration kind


def _owner_exists(tx: Tx, kind: KeyOwner, name: str) -> bool:
    return name in tx.config.load_objects().get(_KINDS[kind], {})


# what a request can send in ``Authorization: Bearer …`` or ``X-API-Key`` and compare byte for byte: visible
# ASCII, no space (a key padded with spaces, or with a letter outside ASCII, was stored and never matched)
_KEY_RE = re.compile(r"[!-~]{16,200}")


def _create(tx: Tx, kind: KeyOwner, owner: str, key: str, *, actor: str, now: datetime) -> str:
    if not _KEY_RE.fullmatch(key):
        raise ValidationFailed(
            [FieldProblem("key", "16 to 200 visible ASCII characters, no spaces")],
            "key: 16 to 200 visible ASCII characters, no spaces (no request could send this one)",
        )
    if not _owner_exists(tx, kind, owner):
        raise NotFound(f"no {kind.value} named {owner!r}; apply a configuration that defines it first")
    existing = tx.credentials.find_api_key(key)
    if existing is not None:
        if existing.owner_kind != kind or existing.owner != owner or existing.revoked_at is not None:
            raise Conflict("this key is already in use or was revoked: choose another one")
        return str(existing.id)
    if tx.credentials.find_admin_token(key) is not None:  # an admin's token pasted by mistake
        raise Conflict("this key is already in use or was revoked: choose another one")
    key_id = tx.credentials.add_api_key(owner, key, now, owner_kind=kind.value)
    tx.config.audit(
        actor=actor,
        action=f"{kind.value}.key_created",
        object_kind=_KINDS[kind],
        object_id=owner,
        at=now,
        detail={"key_id": key_id, "prefix": key[:8]},
    )
    return key_id


def _list(tx: Tx, kind: KeyOwner, owner: str) -> list[dict[str, Any]]:
    rows = tx.credentials.list_api_keys(owner, owner_kind=kind.value)
    if not rows and not _owner_exists(tx, kind, owner):
        raise NotFound(f"no {kind.value} named {owner!r}")
    return [key_view(r) for r in rows]


def _revoke(tx: Tx, kind: KeyOwner, owner: str, key_id: str, *, actor: str, now: datetime) -> dict[str, Any]:
    # the configuration's lock first, as a deletion (which revokes its object's keys) takes it: the two
    # lock the version row and the key rows in one order, never waiting on each other
    tx.config.lock_config()
    if tx.credentials.revoke_api_keys(owner, now, key_id, owner_kind=kind.value):
        tx.config.audit(
            actor=actor,
            action=f"{kind.value}.key_revoked",
            object_kind=_KINDS[kind],
            object_id=owner,
            at=now,
            detail={"key_id": key_id},
        )
        tx.config.bump_version()
    for row in tx.credentials.list_api_keys(owner, owner_kind=kind.value):
        if row.id == key_id:
            return key_view(row)
    raise NotFound(f"{kind.value} {owner!r} has no key {key_id!r}")


def _revoke_all(tx: Tx, kind: KeyOwner, owner: str, *, actor: str, now: datetime) -> list[str]:
    revoked = tx.credentials.revoke_api_keys(owner, now, owner_kind=kind.value)
    if revoked:
        tx.config.audit(
            actor=actor,
            action=f"{kind.value}.keys_revoked",
            object_kind=_KINDS[kind],
            object_id=owner,
            at=now,
            detail={"key_ids": revoked, "why": f"{kind.value} deleted"},
        )
    return revoked


def create_key(tx: Tx, source: str, key: str, *, actor: str, now: datetime) -> str:
    """Store a key for a configured source; the key's id. A key once revoked, or another owner's, is
    refused (a revoked key never comes back)."""
    return _create(tx, KeyOwner.SOURCE, source, key, actor=actor, now=now)


def list_keys(tx: Tx, source: str) -> list[dict[str, Any]]:
    """The source's keys, revoked ones included (a deleted source's keys stay listed, revoked)."""
    return _list(tx, KeyOwner.SOURCE, source)


def revoke_key(tx: Tx, source: str, key_id: str, *, actor: str, now: datetime) -> dict[str, Any]:
    """Revoke one key of the source; revoking a revoked key changes nothing."""
    return _revoke(tx, KeyOwner.SOURCE, source, key_id, actor=actor, now=now)


def revoke_source_keys(tx: Tx, source: str, *, actor: str, now: datetime) -> list[str]:
    """At a source's deletion: its keys die with it (re-creating the name must not revive them).
    The caller bumps the configuration version."""
    return _revoke_all(tx, KeyOwner.SOURCE, source, actor=actor, now=now)


def create_partner_key(tx: Tx, partner: str, key: str, *, actor: str, now: datetime) -> str:
    """Store a key for a configured partner (its own routes: ``/v1/partner…``); the key's id. As for
    sources, a key once revoked, or another owner's, is refused."""
    return _create(tx, KeyOwner.PARTNER, partner, key, actor=actor, now=now)


def list_partner_keys(tx: Tx, partner: str) -> list[dict[str, Any]]:
    """The partner's keys, revoked ones included."""
    return _list(tx, KeyOwner.PARTNER, partner)


def revoke_partner_key(tx: Tx, partner: str, key_id: str, *, actor: str, now: datetime) -> dict[str, Any]:
    """Revoke one key of the partner; revoking a revoked key changes nothing."""
    return _revoke(tx, KeyOwner.PARTNER, partner, key_id, actor=actor, now=now)


def revoke_partner_keys(tx: Tx, partner: str, *, actor: str, now: datetime) -> list[str]:
    """At a partner's deletion: its keys die with it. The caller bumps the configuration version."""
    return _revoke_all(tx, KeyOwner.PARTNER, partner, actor=actor, now=now)


def create_token(
    tx: Tx,
    name: str,
    token: str,
    *,
    actor: str,
    now: datetime,
    expires_in: timedelta | None,
    role: Role = Role.ADMIN,
) -> dict[str, Any]:
    """An admin token acting with ``role`` (a staff role: admin, operator or viewer)."""
    if role not in STAFF_ROLES:
        raise ValidationFailed(
            [FieldProblem("role", "an admin token's role is admin, operator or viewer")],
            f"an admin token cannot have the {role.value} role",
        )
    expires_at = now + expires_in if expires_in is not None else None
    token_id = tx.credentials.add_admin_token(name, token, now, expires_at, role=role.value)
    tx.config.audit(
        actor=actor,
        action="admin.token_created",
        object_kind="admin_tokens",
        object_id=token_id,
        at=now,
        detail={"name": name, "expires_at": _iso(expires_at), "role": role.value},
    )
    return {"id": token_id, "name": name, "expires_at": _iso(expires_at), "role": role.value}


def list_tokens(tx: Tx) -> list[dict[str, Any]]:
    return [token_view(r) for r in tx.credentials.list_admin_tokens()]


def revoke_token(tx: Tx, token_id: str, *, actor: str, now: datetime) -> dict[str, Any]:
    if tx.credentials.revoke_admin_token(token_id, now):
        tx.config.audit(
            actor=actor,
            action="admin.token_revoked",
            object_kind="admin_tokens",
            object_id=token_id,
            at=now,
        )
        tx.config.bump_version()
    for row in tx.credentials.list_admin_tokens():
        if row.id == token_id:
            return token_view(row)
    raise NotFound(f"no admin token {token_id!r}")


def overview(tx: Tx) -> dict[str, Any]:
    """Every configured source's and partner's keys (revoked ones included, never the keys) and the admin
    tokens: the console's keys page. ``sources``/``partners``: name -> keys, in name order."""
    objects = tx.config.load_objects()
    owners: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind, config_kind in _KINDS.items():
        owners[config_kind] = {
            name: [key_view(r) for r in tx.credentials.list_api_keys(name, owner_kind=kind.value)]
            for name in sorted(objects.get(config_kind, {}))
        }
    return {**owners, "tokens": list_tokens(tx)}


def disable_portal_users(tx: Tx, role: str, tenant: str, *, actor: str, now: datetime) -> list[str]:
    """At a partner's or a source's deletion: the console users of its portal are disabled, their sessions
    and invitations end (audited), so that nobody reaches what a party later created under that name
    holds. The ids of the users disabled."""
    disabled = []
    for user in tx.users.list_users():
        if user.role != role or user.tenant != tenant or user.disabled_at is not None:
            continue
        tx.users.update_user(user.id, {"disabled_at": now})
        ended = tx.users.end_user_sessions(user.id, now)
        revoked = tx.users.revoke_invitations(user.id, now)
        detail = {"email": user.email, "why": f"{role} {tenant} deleted", "sessions_ended": ended,
                  "invitations_revoked": revoked}  # fmt: skip
        tx.config.audit(actor=actor, action="user.disabled", object_kind="users", object_id=user.id, at=now,
                        detail=detail)  # fmt: skip
        disabled.append(str(user.id))
    return disabled
