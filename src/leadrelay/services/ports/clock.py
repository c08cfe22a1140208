"""Time and new ids, injected into the services so that tests choose them."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Protocol

from leadrelay.ids import new_id


class Clock(Protocol):
    """The current time, timezone-aware UTC."""

    def __call__(self) -> datetime: ...


class IdSource(Protocol):
    """A new unique, time-ordered id with a prefix (``lead_01m81z…``)."""

    def __call__(self, prefix: str) -> str: ...


def system_clock() -> datetime:
    return datetime.now(UTC)


system_ids: IdSource = new_id


class RandomSource(Protocol):
    """A random number in [0, 1): what spreads retry delays (jitter)."""

    def __call__(self) -> float: ...


system_random: RandomSource = random.random
