"""A clock the test sets and moves, and ids that come out the same on every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)


class FakeClock:
    """``Clock``: the time is ``now`` until the test moves it (``advance``, ``set``); ``tick`` moves it
    after each reading (so that rows written one after another get different times)."""

    def __init__(self, now: datetime = START, *, tick: timedelta = timedelta(0)) -> None:
        self.now = _aware(now)
        self.tick = tick

    def __call__(self) -> datetime:
        now = self.now
        self.now = now + self.tick
        return now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """``advance(timedelta(seconds=5))`` or ``advance(minutes=2)``; returns the new time."""
        self.now += (delta or timedelta(0)) + timedelta(**parts)
        return self.now

    def set(self, now: datetime) -> None:
        self.now = _aware(now)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("a FakeClock tells UTC-aware time; got a naive datetime")
    return now.astimezone(UTC)


class FakeIds:
    """``IdSource``: ``lead_00000001``, ``job_00000002``, … One counter for every prefix, so ids sort in
    the order they were made, like the real time-ordered ids."""

    def __init__(self, start: int = 1) -> None:
        self.next = start
        self.issued: list[str] = []

    def __call__(self, prefix: str) -> str:
        made = f"{prefix}_{self.next:08d}"
        self.next += 1
        self.issued.append(made)
        return made
