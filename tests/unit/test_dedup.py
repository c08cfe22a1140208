"""Dedup marks: keyed (HMAC-SHA256), the same person typed differently gives the same mark, and a mark
says nothing without the key."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.adapters.crypto import SecretKeyError, derive_kek
from leadrelay.adapters.dedup_keys import derive_dedup_key, fingerprint
from leadrelay.domain.dedup import MarkHasher, fields_of, keys_for, legacy_hash, material
from leadrelay.domain.fields import normalize_field
from leadrelay.domain.model import DedupSpec

KEY = bytes(range(32))
SPEC = DedupSpec(keys=(("email",), ("phone",)), window_s=86_400)


def normal(kind: str, raw: str) -> str:
    value = normalize_field(kind, raw).normal
    assert isinstance(value, str)
    return value


@given(key=st.binary(min_size=16, max_size=200), message=st.binary(max_size=300))
def test_the_mark_hasher_is_rfc_2104_hmac_sha256(key: bytes, message: bytes) -> None:
    assert MarkHasher(key)(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        MarkHasher(b"short")


def test_the_same_person_typed_differently_has_the_same_marks() -> None:
    hasher = MarkHasher(KEY)
    first = {"email": normal("email", "Ada@Example.com"), "phone": normal("phone", "(512) 555-1212")}
    again = {"email": normal("email", " ada@EXAMPLE.COM"), "phone": normal("phone", "+1 512.555.1212")}
    keys = keys_for("entity:solar", SPEC, first, hasher)
    assert [(k.scope, k.key_hash) for k in keys] == [
        (k.scope, k.key_hash) for k in keys_for("entity:solar", SPEC, again, hasher)
    ]
    assert [k.scope for k in keys] == ["entity:solar:email", "entity:solar:phone"]


def test_a_mark_is_not_the_plain_hash_of_the_value_and_depends_on_the_key() -> None:
    values = {"phone": "+15125551212"}
    (mine,) = keys_for("entity:solar", DedupSpec(keys=(("phone",),)), values, MarkHasher(KEY))
    (other,) = keys_for("entity:solar", DedupSpec(keys=(("phone",),)), values, MarkHasher(b"x" * 32))
    plain = hashlib.sha256(b"entity:solar:phone\x1f+15125551212").hexdigest()
    assert mine.key_hash != plain  # the pre-HMAC mark: reversible by trying every phone number
    assert legacy_hash(material(mine.scope, ["+15125551212"])) == plain  # what the migration recognizes
    assert mine.key_hash != other.key_hash  # another installation, another mark


def test_a_key_with_a_missing_field_gives_no_mark() -> None:
    assert keys_for("entity:solar", SPEC, {"email": "", "phone": None}, MarkHasher(KEY)) == []


def test_the_fields_of_a_mark_come_from_its_scope() -> None:
    assert fields_of("entity:solar:email") == ("email",)
    assert fields_of("global:email") == ("email",)
    assert fields_of("profile:p:email,last_name") == ("email", "last_name")


def test_the_dedup_key_is_derived_apart_from_the_secret_and_the_data_key_wrapper() -> None:
    secret = "a-test-secret-of-enough-length-0001"
    key = derive_dedup_key(secret)
    assert len(key) == 32
    assert key == derive_dedup_key(secret)  # every process of the installation gets the same key
    assert key not in (derive_kek(secret), secret.encode()[:32])
    assert key != derive_dedup_key(secret + "x")
    assert fingerprint(key) != fingerprint(derive_dedup_key(secret + "x"))
    with pytest.raises(SecretKeyError, match="at least 16"):
        derive_dedup_key("short")
