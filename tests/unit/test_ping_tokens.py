"""Ping tokens (``domain.ping_tokens``): signed over the ping, the source and the expiry; any change to
one of them, a cut or padded token, another key or another source is refused; expiry is a pure check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.domain.ping_tokens import TokenClaims, read_token, sign_token, signature_ok

KEY = bytes(range(32))
NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(minutes=2)
PING = "ping_0123456789abcdefghijkl"


def token(key: bytes = KEY, ping_id: str = PING, source: str = "web", expires: datetime = EXPIRES) -> str:
    return sign_token(key, ping_id, source, expires)


def test_a_token_reads_back_and_verifies_for_its_source_only() -> None:
    claims = read_token(token())
    assert claims is not None
    assert (claims.ping_id, claims.expires_at) == (PING, EXPIRES)
    assert signature_ok(KEY, claims, "web")
    assert not signature_ok(KEY, claims, "partnerweb")  # bound to its source
    assert not signature_ok(bytes(32), claims, "web")  # another installation's key
    assert token() == token()  # deterministic: the same ping, source and expiry sign the same


def _tamper(good: str, part: int, new: str) -> str:
    parts = good.split(".")
    parts[part] = new
    return ".".join(parts)


@pytest.mark.parametrize(
    ("part", "change"),
    [
        (1, "ping_0123456789abcdefghijkm"),  # another ping
        (2, str(int(EXPIRES.timestamp()) + 3600)),  # a longer life
        (2, str(int(EXPIRES.timestamp()) - 1)),  # even a shorter one
    ],
)
def test_a_changed_ping_or_expiry_no_longer_verifies(part: int, change: str) -> None:
    claims = read_token(_tamper(token(), part, change))
    assert claims is not None and not signature_ok(KEY, claims, "web")


def test_a_changed_signature_no_longer_verifies() -> None:
    good = token()
    signature = good.rsplit(".", 1)[1]
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    claims = read_token(_tamper(good, 3, flipped))
    assert claims is not None and not signature_ok(KEY, claims, "web")


@pytest.mark.parametrize(
    "bad",
    [
        None,
        12,
        "",
        "not-a-token",
        "pt2" + token()[3:],  # another version
        token()[:-1],  # cut
        token() + "A",  # padded
        token().replace(".", ":"),
        "pt1.ping_x.notanumber.AAAA",
        "pt1..1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        _tamper(token(), 2, "0" + token().split(".")[2]),  # the same expiry spelled with a leading zero
    ],
)
def test_a_token_of_the_wrong_shape_reads_as_none(bad: object) -> None:
    assert read_token(bad) is None


def test_expiry_is_reached_at_the_second_it_names() -> None:
    claims = read_token(token())
    assert isinstance(claims, TokenClaims)
    assert not claims.expired(EXPIRES - timedelta(seconds=1))
    assert claims.expired(EXPIRES)
    assert claims.expired(EXPIRES + timedelta(days=1))


def test_a_fraction_of_a_second_is_rounded_up_never_down() -> None:
    claims = read_token(sign_token(KEY, PING, "web", EXPIRES + timedelta(milliseconds=1)))
    assert claims is not None and claims.expires_at == EXPIRES + timedelta(seconds=1)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        sign_token(b"short", PING, "web", EXPIRES)
