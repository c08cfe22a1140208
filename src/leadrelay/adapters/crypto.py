"""Encryption at rest for sensitive lead fields: envelope encryption with rotating data keys.

``LEADRELAY_SECRET_KEY`` never encrypts data itself: HKDF turns it into a key-encryption key (KEK) that
wraps random AES-256-GCM data keys stored in ``data_keys``. Values are sealed with the one active data key
as ``lr1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``, bound to their lead by AES-GCM associated data,
so a value copied onto another lead does not open. Rotating adds a data key; old keys stay (inactive) until
no value names them. Random 96-bit nonces are safe for ~2³² values per key, which rotation resets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import data_keys
from leadrelay.adapters.db.tables import leads
from leadrelay.adapters.db.unit_of_work import connection_of
from leadrelay.errors import ConfigError, ConfigProblem, NotFound, StorageError, Unavailable
from leadrelay.services.ports import Tx

MIN_SECRET_CHARS = 16
MISSING_SECRET = f"sensitive fields need LEADRELAY_SECRET_KEY (at least {MIN_SECRET_CHARS} characters)"
_KEK_INFO = b"leadrelay kek v1"
_CHECK_PREFIX = b"leadrelay key check:"
_TOKEN = re.compile(r"lr1:(k[1-9][0-9]*):([A-Za-z0-9_-]+)")


def is_sealed_token(value: str) -> bool:
    """Whether a text is a sealed value (``lr1:k1:…``) rather than plaintext."""
    return _TOKEN.fullmatch(value) is not None


_NONCE = 12
_PG_LOCK = 0x6C72_6B65  # "lrke": serializes rotations across PostgreSQL sessions


class SecretKeyError(ConfigError, Unavailable):
    """LEADRELAY_SECRET_KEY is missing, too short, or not the secret that wrapped the stored data keys."""

    def __init__(self, message: str) -> None:
        super().__init__([ConfigProblem("", message)])


class DecryptError(StorageError):
    """A sealed value does not open: unknown data key, malformed, altered, or sealed for another lead."""

    code = "decrypt_failed"


def derive_kek(secret: str) -> bytes:
    """The key-encryption key; refuses secrets too short to be one."""
    if len(secret) < MIN_SECRET_CHARS:
        raise SecretKeyError(
            f"LEADRELAY_SECRET_KEY must be at least {MIN_SECRET_CHARS} characters (it has {len(secret)})"
        )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO).derive(secret.encode())


def _check(kek: bytes, kid: str) -> str:
    return hmac.new(kek, _CHECK_PREFIX + kid.encode(), hashlib.sha256).hexdigest()


def _number(kid: str) -> int:
    return int(kid[1:])


def _kid_or_none(token: str) -> str | None:
    m = _TOKEN.fullmatch(token)
    return m.group(1) if m else None


def _parse(token: str) -> tuple[str, str]:
    m = _TOKEN.fullmatch(token)
    if m is None:
        raise DecryptError("not a sealed value (expected lr1:<key id>:<data>)")
    return m.group(1), m.group(2)


class KeyRing:
    """Unwrapped data keys and the active one: seals with the active key, opens with the key a value names."""

    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"active key {active} is not in the ring")
        self.active = active
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}

    def __contains__(self, kid: object) -> bool:
        return kid in self._aead

    @property
    def ids(self) -> list[str]:
        return sorted(self._aead, key=_number)

    @staticmethod
    def key_id(token: str) -> str:
        return _parse(token)[0]

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        nonce = os.urandom(_NONCE)
        blob = nonce + self._aead[self.active].encrypt(nonce, plaintext, aad)
        return f"lr1:{self.active}:{base64.urlsafe_b64encode(blob).rstrip(b'=').decode()}"

    def open(self, token: str, aad: bytes) -> bytes:
        kid, body = _parse(token)
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptError(f"the value is sealed with data key {kid}, which is not in the key ring")
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except binascii.Error:
            blob = b""
        if len(blob) < _NONCE + 16:
            raise DecryptError(f"sealed value under {kid} is truncated or malformed")
        try:
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except InvalidTag as exc:
            raise DecryptError(
                f"sealed value under {kid} does not open: altered, or sealed for another record"
            ) from exc

    def seal_json(self, obj: Any, aad: bytes) -> str:
        return self.seal(orjson.dumps(obj), aad)

    def open_json(self, token: str, aad: bytes) -> Any:
        return orjson.loads(self.open(token, aad))


# ---------------------------------------------------------------- storage (inside a transaction)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    active: bool
    created_at: datetime


def list_keys(conn: Connection) -> list[KeyInfo]:
    rows = conn.execute(select(data_keys.c.id, data_keys.c.active, data_keys.c.created_at)).all()
    return sorted((KeyInfo(r.id, bool(r.active), r.created_at) for r in rows), key=lambda k: _number(k.id))


def _load(conn: Connection, kek: bytes) -> KeyRing | None:
    """The stored keys unwrapped, checking first that this KEK is the one that wrapped each; None if none."""
    rows = sorted(conn.execute(select(data_keys)).all(), key=lambda r: _number(r.id))
    if not rows:
        return None
    keys: dict[str, bytes] = {}
    for row in rows:
        if not hmac.compare_digest(row.check, _check(kek, row.id)):
            raise SecretKeyError(
                f"LEADRELAY_SECRET_KEY does not match the secret that wrapped data key {row.id}"
            )
        try:
            wrapped = base64.b64decode(row.wrapped, validate=True)
            keys[row.id] = AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], row.id.encode())
        except (binascii.Error, InvalidTag, ValueError) as exc:
            raise StorageError(
                f"data key {row.id} is corrupt (its check matches, its wrapping does not)"
            ) from exc
    active = [r.id for r in rows if r.active]
    if len(active) != 1:
        raise StorageError(f"data_keys must have exactly one active key, found {len(active)}")
    return KeyRing(keys, active[0])


def _key_row(kek: bytes, kid: str, active: bool) -> dict[str, Any]:
    nonce = os.urandom(_NONCE)
    wrapped = nonce + AESGCM(kek).encrypt(nonce, AESGCM.generate_key(bit_length=256), kid.encode())
    return {
        "id": kid,
        "wrapped": base64.b64encode(wrapped).decode(),
        "check": _check(kek, kid),
        "active": active,
        "created_at": datetime.now(UTC),
    }


def _create_first(conn: Connection, kek: bytes) -> KeyRing:
    """Adds k1 unless it exists, then re-reads: of processes racing here, every one ends with the same key
    (PostgreSQL: ON CONFLICT waits for the other insert; SQLite: the write transaction serializes)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(data_keys).values(_key_row(kek, "k1", True)).on_conflict_do_nothing())
    ring = _load(conn, kek)
    if ring is None:
        raise StorageError("data key k1 was not stored")
    return ring


def load_keyring(conn: Connection, secret: str, *, create: bool = True) -> KeyRing:
    """The key ring; creates the first data key when there is none and ``create`` (else NotFound).
    Raises SecretKeyError when ``secret`` did not wrap the stored keys."""
    kek = derive_kek(secret)
    ring = _load(conn, kek)
    if ring is not None:
        return ring
    if not create:
        raise NotFound("no data keys yet (the first sealed value creates one)")
    return _create_first(conn, kek)


def rotate_key(conn: Connection, secret: str) -> str:
    """A new active data key; the previous ones become inactive and stay to open older values."""
    kek = derive_kek(secret)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    _load(conn, kek)  # refuse a wrong secret before wrapping a key with it
    kid = f"k{max((_number(k.id) for k in list_keys(conn)), default=0) + 1}"
    conn.execute(update(data_keys).where(data_keys.c.active.is_(True)).values(active=False))
    conn.execute(data_keys.insert().values(_key_row(kek, kid, True)))
    return kid


class Batch(NamedTuple):
    scanned: int  # values not under the active key, looked at
    resealed: int  # of which re-sealed (the others changed meanwhile, e.g. erased)
    after: str | None  # the next batch starts after this lead id; None: done


def reencrypt_batch(conn: Connection, ring: KeyRing, *, after: str | None = None, batch: int = 500) -> Batch:
    """Re-seals up to ``batch`` values not under the active key, in lead id order after ``after``. Each
    update only applies if the value is unchanged, so running beside live traffic loses nothing."""
    q = select(leads.c.id, leads.c.sealed).where(
        leads.c.sealed.is_not(None), leads.c.sealed.not_like(f"lr1:{ring.active}:%")
    )
    if after is not None:
        q = q.where(leads.c.id > after)
    rows = conn.execute(q.order_by(leads.c.id).limit(batch)).all()
    resealed = 0
    for lead_id, token in rows:
        aad = lead_id.encode()
        try:
            fresh = ring.seal(ring.open(token, aad), aad)
        except DecryptError as exc:
            raise DecryptError(f"lead {lead_id}: {exc.detail}") from exc
        stmt = update(leads).where(leads.c.id == lead_id, leads.c.sealed == token).values(sealed=fresh)
        resealed += conn.execute(stmt).rowcount
    return Batch(len(rows), resealed, rows[-1].id if len(rows) == batch else None)


def reencrypt(conn: Connection, ring: KeyRing, *, batch: int = 500) -> int:
    """Re-seals every value not under the active key (``batch`` rows in memory at a time); the count."""
    done = reencrypt_batch(conn, ring, batch=batch)
    total = done.resealed
    while done.after is not None:
        done = reencrypt_batch(conn, ring, after=done.after, batch=batch)
        total += done.resealed
    return total


def key_usage(conn: Connection) -> dict[str, int]:
    """How many stored values each data key seals."""
    ids = [k.id for k in list_keys(conn)]
    if not ids:
        return {}
    counts = [func.count(case((leads.c.sealed.like(f"lr1:{kid}:%"), 1))) for kid in ids]
    return dict(zip(ids, conn.execute(select(*counts)).one(), strict=True))


def drop_unused_keys(conn: Connection, *, retired_before: datetime | None = None) -> list[str]:
    """Deletes inactive keys no value names. ``retired_before``: only keys replaced before then, so a process
    that still caches the old key as active (``Sealer`` refreshes every ``max_age``) cannot seal with a key
    that was just deleted."""
    keys = list_keys(conn)
    usage = key_usage(conn)
    dropped = []
    for i, key in enumerate(keys):
        retired = keys[i + 1].created_at if i + 1 < len(keys) else None
        if key.active or usage[key.id] or retired is None:
            continue
        if retired_before is not None and retired > retired_before:
            continue
        conn.execute(data_keys.delete().where(data_keys.c.id == key.id, data_keys.c.active.is_(False)))
        dropped.append(key.id)
    return dropped


# ---------------------------------------------------------------- for the application


class Sealer:
    """The key ring for the app, loaded once and cached. Reloaded when a value names a key the cache lacks
    (another process rotated) and after ``max_age`` seconds, so new values move to a rotated key."""

    def __init__(self, db: Database, secret: str | None, *, max_age: float = 60.0) -> None:
        self._db = db
        self._kek = derive_kek(secret) if secret is not None else None  # a short secret fails at start-up
        self._max_age = max_age
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0

    @property
    def available(self) -> bool:
        """A secret is set: sensitive fields can be sealed."""
        return self._kek is not None

    def _need_kek(self) -> bytes:
        if self._kek is None:
            raise SecretKeyError(MISSING_SECRET)
        return self._kek

    def _cached(self, tokens: tuple[str, ...]) -> KeyRing | None:
        ring = self._ring
        if ring is None or time.monotonic() - self._loaded_at > self._max_age:
            return None
        if any(kid is not None and kid not in ring for kid in map(_kid_or_none, tokens)):
            return None
        return ring

    def _keep(self, ring: KeyRing) -> KeyRing:
        self._ring, self._loaded_at = ring, time.monotonic()
        return ring

    async def ring(self, *tokens: str) -> KeyRing:
        """The key ring, able to open ``tokens`` if any stored key can."""
        kek = self._need_kek()
        ring = self._cached(tokens)
        if ring is None:
            ring = await self._db.run_read(lambda c: _load(c, kek))
            if ring is None:
                ring = await self._db.run(lambda c: _create_first(c, kek))
            ring = self._keep(ring)
        return ring

    def ring_sync(self, *tokens: str, conn: Connection | None = None, tx: Tx | None = None) -> KeyRing:
        """``ring()`` for code in a worker thread. Pass ``conn`` (or ``tx``) when inside a transaction
        already (SQLite has one writer: a second transaction would wait for the first)."""
        if tx is not None:
            conn = connection_of(tx)
        kek = self._need_kek()
        ring = self._cached(tokens)
        if ring is not None:
            return ring
        if conn is not None:
            ring = _load(conn, kek)
            # a key created in the caller's transaction is not cached: that transaction may roll back
            return self._keep(ring) if ring is not None else _create_first(conn, kek)
        ring = self._db.read(lambda c: _load(c, kek)) or self._db.transaction(lambda c: _create_first(c, kek))
        return self._keep(ring)
