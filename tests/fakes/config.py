"""Fakes of ``config_store``: the configuration objects and their version, the audit log, and the
credentials (API keys and admin tokens, stored as SHA-256 hashes)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from leadrelay.services.ports import IdSource, Objects
from tests.fakes.tables import FakeRow, Tables


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class FakeConfigObjects:
    """The stored configuration objects, their version, and the audit log."""

    def __init__(self, tables: Tables, ids: IdSource) -> None:
        self._t = tables
        self._ids = ids

    def config_version(self) -> int:
        row = self._t.find("config_meta", 1)
        return int(row["version"] or 0) if row is not None else 0

    def lock_config(self) -> int:
        return self.config_version()  # (one transaction at a time in the fakes)

    def bump_version(self) -> int:
        row = self._t.find("config_meta", 1)
        if row is None:
            row = self._t.insert("config_meta", {"id": 1, "version": 0})
        return int(self._t.update("config_meta", row, {"version": row["version"] + 1})["version"])

    def load_objects(self) -> Objects:
        out: Objects = {}
        rows = sorted(self._t.stored("config_objects"), key=lambda r: (r["kind"], r["name"]))
        for row in rows:
            out.setdefault(row["kind"], {})[row["name"]] = self._t.values("config_objects", row)["doc"]
        return out

    def put_object(self, kind: str, name: str, doc: Mapping[str, Any], now: datetime) -> None:
        there = self._t.find("config_objects", kind, name)
        if there is None:
            row = {"kind": kind, "name": name, "doc": dict(doc), "updated_at": now}
            self._t.insert("config_objects", row)
        else:
            self._t.update("config_objects", there, {"doc": dict(doc), "updated_at": now})

    def delete_object(self, kind: str, name: str) -> bool:
        there = self._t.find("config_objects", kind, name)
        if there is None:
            return False
        self._t.delete("config_objects", there)
        return True

    def audit(
        self,
        *,
        actor: str,
        action: str,
        object_kind: str,
        object_id: str,
        at: datetime,
        detail: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        row = {
            "id": self._ids("aud"),
            "at": at,
            "actor": actor,
            "action": action,
            "object_kind": object_kind,
            "object_id": object_id,
            "detail": dict(detail or {}),
            "reason": reason,
        }
        self._t.insert("audit_log", row)

    def audit_entries(self) -> list[FakeRow]:
        """The audit log, oldest first (for the tests; not a port method)."""
        rows = sorted(self._t.stored("audit_log"), key=lambda r: (r["at"], r["id"]))
        return [self._t.row("audit_log", r) for r in rows]


_KEY = ("id", "owner_kind", "owner", "prefix", "created_at", "last_used_at", "revoked_at")
_TOKEN = ("id", "owner", "created_at", "expires_at", "last_used_at", "revoked_at", "role")


def _key_row(row: Mapping[str, Any]) -> FakeRow:
    return FakeRow({name: row[name] for name in _KEY})


def _token_row(row: Mapping[str, Any]) -> FakeRow:
    values = {**row, "owner": row["name"]}
    return FakeRow({name: values[name] for name in _TOKEN})


class FakeCredentials:
    """API keys of sources and partners, and admin tokens (stored as hashes)."""

    def __init__(self, tables: Tables, ids: IdSource) -> None:
        self._t = tables
        self._ids = ids

    def _key(self, key: str) -> dict[str, Any] | None:
        digest = hash_secret(key)
        got = self._t.where("api_keys", lambda r: r["key_hash"] == digest)
        return got[0] if got else None

    def _token(self, token: str) -> dict[str, Any] | None:
        digest = hash_secret(token)
        got = self._t.where("admin_tokens", lambda r: r["token_hash"] == digest)
        return got[0] if got else None

    def add_api_key(self, owner: str, key: str, now: datetime, *, owner_kind: str = "source") -> str:
        """A key already stored keeps its id, whatever its owner and even when revoked."""
        there = self._key(key)
        if there is not None:
            return str(there["id"])
        key_id = self._ids("key")
        row = {
            "id": key_id,
            "owner_kind": owner_kind,
            "owner": owner,
            "key_hash": hash_secret(key),
            "prefix": key[:8],
            "created_at": now,
            "revoked_at": None,
        }
        self._t.insert("api_keys", row)
        return key_id

    def source_for_key(self, key: str) -> str | None:
        row = self._key(key)
        if row is None or row["owner_kind"] != "source" or row["revoked_at"] is not None:
            return None
        return str(row["owner"])

    def add_admin_token(
        self, name: str, token: str, now: datetime, expires_at: datetime | None = None, *, role: str = "admin"
    ) -> str:
        token_id = self._ids("tok")
        row = {
            "id": token_id,
            "name": name,
            "token_hash": hash_secret(token),
            "created_at": now,
            "revoked_at": None,
            "expires_at": expires_at,
            "role": role,
        }
        self._t.insert("admin_tokens", row)
        return token_id

    def admin_for_token(self, token: str) -> str | None:
        """The token's name while it is not revoked (its expiry is not looked at here)."""
        row = self._token(token)
        return str(row["name"]) if row is not None and row["revoked_at"] is None else None

    def find_api_key(self, key: str) -> FakeRow | None:
        row = self._key(key)
        return _key_row(row) if row is not None else None

    def find_admin_token(self, token: str) -> FakeRow | None:
        row = self._token(token)
        return _token_row(row) if row is not None else None

    def list_api_keys(self, owner: str, *, owner_kind: str = "source") -> list[FakeRow]:
        rows = self._t.where("api_keys", lambda r: r["owner_kind"] == owner_kind and r["owner"] == owner)
        return [_key_row(r) for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]

    def list_admin_tokens(self) -> list[FakeRow]:
        rows = sorted(self._t.stored("admin_tokens"), key=lambda r: (r["created_at"], r["id"]))
        return [_token_row(r) for r in rows]

    def revoke_api_keys(
        self, owner: str, now: datetime, key_id: str | None = None, *, owner_kind: str = "source"
    ) -> list[str]:
        live = self._t.where(
            "api_keys",
            lambda r: (
                r["owner_kind"] == owner_kind
                and r["owner"] == owner
                and r["revoked_at"] is None
                and (key_id is None or r["id"] == key_id)
            ),
        )
        for row in live:
            self._t.update("api_keys", row, {"revoked_at": now})
        return sorted(str(r["id"]) for r in live)

    def revoke_admin_token(self, token_id: str, now: datetime) -> bool:
        row = self._t.find("admin_tokens", token_id)
        if row is None or row["revoked_at"] is not None:
            return False
        self._t.update("admin_tokens", row, {"revoked_at": now})
        return True

    def record_last_use(self, kind: str, ids: Sequence[str], now: datetime) -> None:
        """``kind``: "key" or "token" (anything else is a token, as in the SQL); never moves back."""
        table = "api_keys" if kind == "key" else "admin_tokens"
        wanted = set(ids)
        for row in self._t.where(
            table, lambda r: r["id"] in wanted and (r["last_used_at"] is None or r["last_used_at"] < now)
        ):
            self._t.update(table, row, {"last_used_at": now})
