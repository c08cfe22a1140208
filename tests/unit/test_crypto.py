"""Sealing and opening sensitive values: round trips, binding to the lead, tampering, secrets, nonces."""

from __future__ import annotations

import asyncio
import base64
import os
import re

import pytest

from leadrelay.adapters.crypto import (
    MISSING_SECRET,
    DecryptError,
    KeyRing,
    Sealer,
    SecretKeyError,
    derive_kek,
    load_keyring,
)
from leadrelay.adapters.db.engine import Database
from leadrelay.errors import ConfigError

SECRET = "correct horse battery staple"


def ring(active: str = "k1", *ids: str) -> KeyRing:
    return KeyRing({kid: os.urandom(32) for kid in {active, *ids}}, active)


def test_round_trip_bytes_and_json() -> None:
    r = ring()
    token = r.seal(b"555-1212", b"lead_1")
    assert re.fullmatch(r"lr1:k1:[A-Za-z0-9_-]+", token)
    assert b"555-1212" not in base64.urlsafe_b64decode(token.split(":")[2] + "==")
    assert r.open(token, b"lead_1") == b"555-1212"
    assert KeyRing.key_id(token) == "k1"
    doc = {"email": "ada@example.com", "phone": "+15125551212", "note": "é ☀"}
    assert r.open_json(r.seal_json(doc, b"lead_2"), b"lead_2") == doc
    assert r.open(r.seal(b"", b"x"), b"x") == b""


def test_aad_binds_the_value_to_its_lead() -> None:
    r = ring()
    token = r.seal(b"secret", b"lead_01abc")
    with pytest.raises(DecryptError, match="altered, or sealed for another record"):
        r.open(token, b"lead_01abd")
    with pytest.raises(DecryptError):
        r.open(token, b"")


def test_tampering_fails() -> None:
    r = ring()
    token = r.seal(b"some sensitive value", b"lead_1")  # 12 + 20 + 16 bytes: every character counts
    prefix, body = token.rsplit(":", 1)
    for i in range(len(body)):
        swapped = "A" if body[i] != "A" else "B"
        with pytest.raises(DecryptError):
            r.open(f"{prefix}:{body[:i]}{swapped}{body[i + 1 :]}", b"lead_1")
    with pytest.raises(DecryptError, match="truncated or malformed"):
        r.open(f"{prefix}:{body[:20]}", b"lead_1")
    with pytest.raises(DecryptError, match="not a sealed value"):
        r.open(token.replace("lr1:", "lr2:"), b"lead_1")
    with pytest.raises(DecryptError, match="not a sealed value"):
        r.open(token + "!", b"lead_1")
    with pytest.raises(DecryptError, match="data key k7, which is not in the key ring"):
        r.open(token.replace("lr1:k1:", "lr1:k7:"), b"lead_1")
    with pytest.raises(DecryptError, match="not a sealed value"):
        KeyRing.key_id("plain text")


def test_every_bit_flip_is_detected() -> None:
    r = ring()
    token = r.seal(b"x" * 40, b"lead_1")
    prefix, body = token.rsplit(":", 1)
    blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    for i in range(len(blob)):
        flipped = blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1 :]
        altered = f"{prefix}:{base64.urlsafe_b64encode(flipped).rstrip(b'=').decode()}"
        with pytest.raises(DecryptError):
            r.open(altered, b"lead_1")


def test_nonces_are_unique() -> None:
    r = ring()
    tokens = [r.seal(b"same plaintext", b"same lead") for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    nonces = {base64.urlsafe_b64decode(t.split(":")[2] + "==")[:12] for t in tokens}
    assert len(nonces) == len(tokens)


def test_active_key_seals_older_keys_open() -> None:
    keys = {"k1": os.urandom(32), "k2": os.urandom(32)}
    old, new = KeyRing({"k1": keys["k1"]}, "k1"), KeyRing(keys, "k2")
    token = old.seal(b"v", b"a")
    assert new.open(token, b"a") == b"v"
    assert KeyRing.key_id(new.seal(b"v", b"a")) == "k2"
    assert "k1" in new and "k3" not in new and new.ids == ["k1", "k2"]
    with pytest.raises(ValueError):
        KeyRing(keys, "k3")


def test_short_secret_refused() -> None:
    with pytest.raises(SecretKeyError, match="at least 16 characters") as info:
        derive_kek("too short")
    assert isinstance(info.value, ConfigError)
    assert "too short" not in info.value.detail  # the secret is never echoed
    assert derive_kek("x" * 16) == derive_kek("x" * 16) != derive_kek("y" * 16)


def test_wrong_secret_detected(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        first = db.transaction(lambda c: load_keyring(c, SECRET))
        again = db.transaction(lambda c: load_keyring(c, SECRET))
        assert again.open(first.seal(b"v", b"l"), b"l") == b"v"
        with pytest.raises(SecretKeyError) as info:
            db.transaction(lambda c: load_keyring(c, "another secret of enough length"))
        assert info.value.detail == (
            "LEADRELAY_SECRET_KEY does not match the secret that wrapped data key k1"
        )
        with pytest.raises(SecretKeyError, match="at least 16"):
            db.transaction(lambda c: load_keyring(c, "short"))
    finally:
        db.dispose()


def test_sealer_without_secret(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        sealer = Sealer(db, None)
        assert not sealer.available
        with pytest.raises(SecretKeyError) as info:
            asyncio.run(sealer.ring())
        assert info.value.detail == MISSING_SECRET
        with pytest.raises(SecretKeyError, match="LEADRELAY_SECRET_KEY"):
            sealer.ring_sync()
        with pytest.raises(SecretKeyError, match="at least 16"):
            Sealer(db, "short")
        assert Sealer(db, SECRET).available
    finally:
        db.dispose()
