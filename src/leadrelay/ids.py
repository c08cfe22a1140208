"""Prefixed, time-sortable ids (``lead_01m81z…``): 48 bits of milliseconds then 72 random bits, in a
lower-case Crockford base32 that sorts like the numbers it encodes."""

from __future__ import annotations

import base64
import os
import random
import time

_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz")


# Ids are identifiers, not secrets (access is by API key and admin token): a fast generator seeded from the
# OS is enough, and a system call per id is not (two or three ids per lead on the intake path).
_random = random.Random(random.SystemRandom().getrandbits(128))
os.register_at_fork(after_in_child=lambda: _random.seed(random.SystemRandom().getrandbits(128)))


def new_id(prefix: str) -> str:
    ms = time.time_ns() // 1_000_000
    raw = ms.to_bytes(6, "big") + _random.getrandbits(72).to_bytes(9, "big")
    return f"{prefix}_{base64.b32encode(raw).translate(_TO_CROCKFORD).decode()}"
