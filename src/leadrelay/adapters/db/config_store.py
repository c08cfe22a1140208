"""SQL for configuration objects, credentials (stored hashed) and the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from leadrelay.adapters.db.store import _insert
from leadrelay.adapters.db.tables import admin_tokens, api_keys, audit_log, config_meta, config_objects
from leadrelay.ids import new_id

Objects = dict[str, dict[str, dict[str, Any]]]


def hash_secret(secret: str) -> str:
    """API keys and admin tokens are long random strings: SHA-256 is the right hash (no stretching needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


_VERSION = select(config_meta.c.version).where(config_meta.c.id == 1)


def config_version(conn: Connection) -> int:
    got = conn.execute(_VERSION).scalar()
    return int(got or 0)


def bump_version(conn: Connection) -> int:
    conn.execute(
        _insert(conn, config_meta).values(id=1, version=0).on_conflict_do_nothing(index_elements=["id"])
    )
    value = conn.execute(
        update(config_meta)
        .where(config_meta.c.id == 1)
        .values(version=config_meta.c.version + 1)
        .returning(config_meta.c.version)
    ).scalar_one()
    return int(value)


def load_objects(conn: Connection) -> Objects:
    out: Objects = {}
    for row in conn.execute(select(config_objects).order_by(config_objects.c.kind, config_objects.c.name)):
        out.setdefault(row.kind, {})[row.name] = row.doc
    return out


def put_object(conn: Connection, kind: str, name: str, doc: Mapping[str, Any], now: datetime) -> None:
    exists = conn.execute(
        select(config_objects.c.name).where(config_objects.c.kind == kind, config_objects.c.name == name)
    ).first()
    if exists:
        conn.execute(
            update(config_objects)
            .where(config_objects.c.kind == kind, config_objects.c.name == name)
            .values(doc=dict(doc), updated_at=now)
        )
    else:
        conn.execute(config_objects.insert().values(kind=kind, name=name, doc=dict(doc), updated_at=now))


def delete_object(conn: Connection, kind: str, name: str) -> bool:
    result = conn.execute(
        delete(config_objects).where(config_objects.c.kind == kind, config_objects.c.name == name)
    )
    return result.rowcount > 0


# ---------------------------------------------------------------- credentials


def add_api_key(conn: Connection, source: str, key: str, now: datetime) -> str:
    digest = hash_secret(key)
    existing = conn.execute(select(api_keys.c.id).where(api_keys.c.key_hash == digest)).scalar()
    if existing:
        return str(existing)
    key_id = new_id("key")
    conn.execute(
        api_keys.insert().values(
            id=key_id, source=source, key_hash=digest, prefix=key[:8], created_at=now, revoked_at=None
        )
    )
    return key_id


def source_for_key(conn: Connection, key: str) -> str | None:
    got = conn.execute(
        select(api_keys.c.source).where(
            api_keys.c.key_hash == hash_secret(key), api_keys.c.revoked_at.is_(None)
        )
    ).scalar()
    return str(got) if got is not None else None


def add_admin_token(conn: Connection, name: str, token: str, now: datetime) -> str:
    token_id = new_id("tok")
    conn.execute(
        admin_tokens.insert().values(
            id=token_id, name=name, token_hash=hash_secret(token), created_at=now, revoked_at=None
        )
    )
    return token_id


def admin_for_token(conn: Connection, token: str) -> str | None:
    got = conn.execute(
        select(admin_tokens.c.name).where(
            admin_tokens.c.token_hash == hash_secret(token), admin_tokens.c.revoked_at.is_(None)
        )
    ).scalar()
    return str(got) if got is not None else None


# ---------------------------------------------------------------- audit


def audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    object_kind: str,
    object_id: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    conn.execute(
        audit_log.insert().values(
            id=new_id("aud"),
            at=at,
            actor=actor,
            action=action,
            object_kind=object_kind,
            object_id=object_id,
            detail=dict(detail or {}),
            reason=reason,
        )
    )
