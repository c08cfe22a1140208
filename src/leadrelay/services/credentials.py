"""Source API keys and admin tokens: create, list with their last use, revoke. Every change is audited.

Keys and tokens are stored hashed; the value is shown once, at creation. A revocation bumps the
configuration version, so every process drops the credential from its short-lived cache within a second.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from leadrelay.errors import Conflict, NotFound
from leadrelay.services.ports import Record, Tx


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def key_view(row: Record) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.owner,
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
    }


def new_source_key() -> str:
    return "lr_" + secrets.token_urlsafe(24)


def new_admin_token() -> str:
    return "lra_" + secrets.token_urlsafe(32)


def _source_exists(tx: Tx, source: str) -> bool:
    return source in tx.config.load_objects().get("sources", {})


def create_key(tx: Tx, source: str, key: str, *, actor: str, now: datetime) -> str:
    """Store a key for a configured source; the key's id. A key once revoked, or another source's, is
    refused (a revoked key never comes back)."""
    if not _source_exists(tx, source):
        raise NotFound(f"no source named {source!r}; apply a configuration that defines it first")
    existing = tx.credentials.find_api_key(key)
    if existing is not None:
        if existing.owner != source or existing.revoked_at is not None:
            raise Conflict("this key is already in use or was revoked: choose another one")
        return str(existing.id)
    key_id = tx.credentials.add_api_key(source, key, now)
    tx.config.audit(
        actor=actor,
        action="source.key_created",
        object_kind="sources",
        object_id=source,
        at=now,
        detail={"key_id": key_id, "prefix": key[:8]},
    )
    return key_id


def list_keys(tx: Tx, source: str) -> list[dict[str, Any]]:
    """The source's keys, revoked ones included (a deleted source's keys stay listed, revoked)."""
    rows = tx.credentials.list_api_keys(source)
    if not rows and not _source_exists(tx, source):
        raise NotFound(f"no source named {source!r}")
    return [key_view(r) for r in rows]


def revoke_key(tx: Tx, source: str, key_id: str, *, actor: str, now: datetime) -> dict[str, Any]:
    """Revoke one key of the source; revoking a revoked key changes nothing."""
    if tx.credentials.revoke_api_keys(source, now, key_id):
        tx.config.audit(
            actor=actor,
            action="source.key_revoked",
            object_kind="sources",
            object_id=source,
            at=now,
            detail={"key_id": key_id},
        )
        tx.config.bump_version()
    for row in tx.credentials.list_api_keys(source):
        if row.id == key_id:
            return key_view(row)
    raise NotFound(f"source {source!r} has no key {key_id!r}")


def revoke_source_keys(tx: Tx, source: str, *, actor: str, now: datetime) -> list[str]:
    """At a source's deletion: its keys die with it (re-creating the name must not revive them).
    The caller bumps the configuration version."""
    revoked = tx.credentials.revoke_api_keys(source, now)
    if revoked:
        tx.config.audit(
            actor=actor,
            action="source.keys_revoked",
            object_kind="sources",
            object_id=source,
            at=now,
            detail={"key_ids": revoked, "why": "source deleted"},
        )
    return revoked


def create_token(
    tx: Tx, name: str, token: str, *, actor: str, now: datetime, expires_in: timedelta | None
) -> dict[str, Any]:
    expires_at = now + expires_in if expires_in is not None else None
    token_id = tx.credentials.add_admin_token(name, token, now, expires_at)
    tx.config.audit(
        actor=actor,
        action="admin.token_created",
        object_kind="admin_tokens",
        object_id=token_id,
        at=now,
        detail={"name": name, "expires_at": _iso(expires_at)},
    )
    return {"id": token_id, "name": name, "expires_at": _iso(expires_at)}


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
