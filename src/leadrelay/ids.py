"""Prefixed, time-sortable ids (``lead_01m81z…``): 48 bits of milliseconds then 72 random bits, in a
lower-case Crockford base32 that sorts like the numbers it encodes."""

from __future__ import annotations

import base64
import os
import time

_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz")


def new_id(prefix: str) -> str:
    ms = time.time_ns() // 1_000_000
    raw = ms.to_bytes(6, "big") + os.urandom(9)
    return f"{prefix}_{base64.b32encode(raw).translate(_TO_CROCKFORD).decode()}"
