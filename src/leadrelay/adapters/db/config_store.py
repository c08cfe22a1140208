"""SQL for configuration objects, credentials (stored hashed) and the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, or_, select, update

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


def lock_config(conn: Connection) -> int:
    """The version row, locked until the transaction ends (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
    write transactions hold the database's one writer lock from ``BEGIN IMMEDIATE`` already). The row is
    made when missing, so there is always one to lock."""
    conn.execute(
        _insert(conn, config_meta).values(id=1, version=0).on_conflict_do_nothing(index_elements=["id"])
    )
    return int(conn.execute(_VERSION.with_for_update()).scalar_one())


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


def add_api_key(conn: Connection, owner: str, key: str, now: datetime, *, owner_kind: str = "source") -> str:
    """Store the key of a source (or, with ``owner_kind="partner"``, a partner); a key stored already keeps
    its id, whoever owns it."""
    digest = hash_secret(key)
    existing = conn.execute(select(api_keys.c.id).where(api_keys.c.key_hash == digest)).scalar()
    if existing:
        return str(existing)
    key_id = new_id("key")
    conn.execute(
        api_keys.insert().values(
            id=key_id,
            owner_kind=owner_kind,
            owner=owner,
            key_hash=digest,
            prefix=key[:8],
            created_at=now,
            revoked_at=None,
        )
    )
    return key_id


def source_for_key(conn: Connection, key: str) -> str | None:
    got = conn.execute(
        select(api_keys.c.owner).where(
            api_keys.c.key_hash == hash_secret(key),
            api_keys.c.owner_kind == "source",
            api_keys.c.revoked_at.is_(None),
        )
    ).scalar()
    return str(got) if got is not None else None


def add_admin_token(
    conn: Connection,
    name: str,
    token: str,
    now: datetime,
    expires_at: datetime | None = None,
    *,
    role: str = "admin",
) -> str:
    token_id = new_id("tok")
    conn.execute(
        admin_tokens.insert().values(
            id=token_id,
            name=name,
            token_hash=hash_secret(token),
            created_at=now,
            revoked_at=None,
            expires_at=expires_at,
            role=role,
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


_KEY_COLUMNS: tuple[Any, ...] = (
    api_keys.c.id,
    api_keys.c.owner_kind,
    api_keys.c.owner,
    api_keys.c.prefix,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)
_TOKEN_COLUMNS: tuple[Any, ...] = (
    admin_tokens.c.id,
    admin_tokens.c.name.label("owner"),
    admin_tokens.c.created_at,
    admin_tokens.c.expires_at,
    admin_tokens.c.last_used_at,
    admin_tokens.c.revoked_at,
    admin_tokens.c.role,
)


def find_api_key(conn: Connection, key: str) -> Row[Any] | None:
    """The key's row (``id``, ``owner_kind``, ``owner`` = its source or partner, ``revoked_at`` …), revoked
    or not."""
    return conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.key_hash == hash_secret(key))).first()


def find_admin_token(conn: Connection, token: str) -> Row[Any] | None:
    """The token's row (``id``, ``owner`` = its name, ``expires_at``, ``revoked_at`` …)."""
    query = select(*_TOKEN_COLUMNS).where(admin_tokens.c.token_hash == hash_secret(token))
    return conn.execute(query).first()


def list_api_keys(conn: Connection, owner: str, *, owner_kind: str = "source") -> list[Row[Any]]:
    query = select(*_KEY_COLUMNS).where(api_keys.c.owner_kind == owner_kind, api_keys.c.owner == owner)
    return list(conn.execute(query.order_by(api_keys.c.created_at, api_keys.c.id)))


def list_admin_tokens(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(*_TOKEN_COLUMNS).order_by(admin_tokens.c.created_at, admin_tokens.c.id)))


def revoke_api_keys(
    conn: Connection, owner: str, now: datetime, key_id: str | None = None, *, owner_kind: str = "source"
) -> list[str]:
    """Revoke the owner's live keys (or only ``key_id``); the ids revoked now."""
    where = [api_keys.c.owner_kind == owner_kind, api_keys.c.owner == owner, api_keys.c.revoked_at.is_(None)]
    if key_id is not None:
        where.append(api_keys.c.id == key_id)
    result = conn.execute(update(api_keys).where(*where).values(revoked_at=now).returning(api_keys.c.id))
    return sorted(str(i) for i in result.scalars())


def revoke_admin_token(conn: Connection, token_id: str, now: datetime) -> bool:
    """Whether the token was live (and is revoked now)."""
    result = conn.execute(
        update(admin_tokens)
        .where(admin_tokens.c.id == token_id, admin_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount > 0


def record_last_use(conn: Connection, kind: str, ids: Sequence[str], now: datetime) -> None:
    """``kind``: "key" or "token". Never moves ``last_used_at`` back (processes report late)."""
    table = api_keys if kind == "key" else admin_tokens
    conn.execute(
        update(table)
        .where(table.c.id.in_(list(ids)), or_(table.c.last_used_at.is_(None), table.c.last_used_at < now))
        .values(last_used_at=now)
    )


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
