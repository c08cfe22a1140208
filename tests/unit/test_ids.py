"""Ids: 48 bits of milliseconds then 72 random bits, in lower-case Crockford base32, sortable by time."""

from __future__ import annotations

import base64
import random

import pytest

from leadrelay import ids

_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz")


def reference(prefix: str, ms: int, rand: int) -> str:
    """The format as RFC 4648 base32 of the 15 bytes writes it, in Crockford's alphabet."""
    raw = ms.to_bytes(6, "big") + rand.to_bytes(9, "big")
    return f"{prefix}_{base64.b32encode(raw).translate(_CROCKFORD).decode()}"


def test_ids_are_the_base32_of_time_and_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    for ms, rand in [(0, 0), (2**48 - 1, 2**72 - 1)] + [
        (rng.getrandbits(48), rng.getrandbits(72)) for _ in range(500)
    ]:
        monkeypatch.setattr(ids.time, "time_ns", lambda ms=ms: ms * 1_000_000 + 999_999)
        monkeypatch.setattr(ids._random, "getrandbits", lambda _bits, rand=rand: rand)
        assert ids.new_id("lead") == reference("lead", ms, rand)


def test_later_ids_sort_after_earlier_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    for ms in (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000):
        monkeypatch.setattr(ids.time, "time_ns", lambda ms=ms: ms * 1_000_000)
        made.append(ids.new_id("job"))
    assert made == sorted(made) and len(made[0]) == len("job_") + 24
