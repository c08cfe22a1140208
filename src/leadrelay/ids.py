"""Prefixed, time-sortable ids (``lead_01m81z…``): 48 bits of milliseconds then 72 random bits, in a
lower-case Crockford base32 that sorts like the numbers it encodes."""

from __future__ import annotations

import os
import random
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# two digits (10 bits) per lookup: the 120 bits of an id are 12 lookups (the standard base32 encoder
# loops in Python over 5-byte groups and costs three times as much)
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]


# Ids are identifiers, not secrets (access is by API key and admin token): a fast generator seeded from the
# OS is enough, and a system call per id is not (two or three ids per lead on the intake path).
_random = random.Random(random.SystemRandom().getrandbits(128))
os.register_at_fork(after_in_child=lambda: _random.seed(random.SystemRandom().getrandbits(128)))


def new_id(prefix: str) -> str:
    n = (time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF) << 72 | _random.getrandbits(72)  # 120 bits
    t = _PAIRS
    return (
        f"{prefix}_{t[n >> 110]}{t[n >> 100 & 1023]}{t[n >> 90 & 1023]}{t[n >> 80 & 1023]}"
        f"{t[n >> 70 & 1023]}{t[n >> 60 & 1023]}{t[n >> 50 & 1023]}{t[n >> 40 & 1023]}"
        f"{t[n >> 30 & 1023]}{t[n >> 20 & 1023]}{t[n >> 10 & 1023]}{t[n & 1023]}"
    )
