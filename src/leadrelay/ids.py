"""Prefixed, time-sortable ids (``lead_01m81z…``): 48 bits of milliseconds then 72 random bits, in a
lower-case Crockford base32 that sorts like the numbers it encodes."""

from __future__ import annotations

import os
import random
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> two digits
_SHIFTS = range(110, -1, -10)


# Ids are identifiers, not secrets (access is by API key and admin token): a fast generator seeded from the
# OS is enough, and a system call per id is not (two or three ids per lead on the intake path).
_random = random.Random(random.SystemRandom().getrandbits(128))
os.register_at_fork(after_in_child=lambda: _random.seed(random.SystemRandom().getrandbits(128)))


def new_id(prefix: str) -> str:
    n = (time.time_ns() // 1_000_000 % (1 << 48)) << 72 | _random.getrandbits(72)  # 120 bits: 24 digits
    return prefix + "_" + "".join([_PAIRS[n >> shift & 1023] for shift in _SHIFTS])
