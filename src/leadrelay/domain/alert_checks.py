"""What each kind of alert measures: :func:`reading` turns the observations a check gathered
(:class:`Observations`) into a :class:`~leadrelay.domain.alerts.Reading` for one rule.

- ``failure_rate``: per partner, the share of its posts (delivery attempts) in the window that ended in an
  error or a timeout (5xx, a broken answer, no answer in time). A refusal is a healthy answer and counts
  in the posts only, as for the circuit breaker. Threshold in percent; at or above it fires.
- ``timeout_rate``: per partner, the share of its posts and pings in the window that timed out (percent).
- ``latency``: per partner, the p95 (nearest rank) of its post durations in the window; above the
  threshold (ms) fires. The rates and the latency need ``min_requests`` in the window to say anything.
- ``cap_early``: per partner with a day cap, the share of the cap used today (its time zone) reached the
  threshold (percent, 100 = used up) before the local time ``before``. Once fired it holds for the rest
  of the day and resolves when the next day's counter starts below the threshold.
- ``wallet_low``: per partner with a wallet, its balance plus its credit limit below the threshold (money).
- ``queue_backlog``: the jobs ready to run (due now, not claimed) above the threshold (a number).
- ``queue_age``: the oldest job ready to run has waited longer than the threshold (seconds).
- ``batch_failed``: per partner, the batches (files, digests) cut in the window that were given up on
  (status ``failed``) and not redelivered: at least the threshold (1 by default) fires.
- ``circuit_open``: a partner's circuit breaker is open or half open.

Pure: standard library only; the time is in the observations.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from leadrelay.domain.alerts import AlertKind, AlertSpec, Reading
from leadrelay.domain.health import Result, format_rate, percentile

__all__ = ["Observations", "format_seconds", "reading"]


@dataclass(frozen=True, slots=True)
class Observations:
    """What a check read, once for every rule: requests since the widest window, usage, the queue."""

    now: datetime
    posts: Sequence[tuple[str, datetime, float, Result]] = ()  # partner, started, duration ms, result
    pings: Sequence[tuple[str, datetime, float, Result]] = ()
    day_caps: Mapping[str, tuple[int, int, str]] = field(default_factory=dict)  # partner: limit, used, tz
    wallets: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # balance, credit limit
    ready_jobs: int = 0
    oldest_ready: datetime | None = None  # when the longest-waiting ready job became due
    failed_batches: Sequence[tuple[str, str, datetime]] = ()  # partner, batch id, cut at
    breakers: Mapping[str, str] = field(default_factory=dict)  # partner: state, those not closed


def format_seconds(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds * 1000:.0f}ms"


def _pct(value: float) -> str:
    return format_rate(value / 100)


def reading(spec: AlertSpec, obs: Observations, *, held: Collection[str] = ()) -> Reading:
    """The rule's condition over ``obs``; ``held``: the partners whose breach the firing rule holds
    (``cap_early`` holds a partner's early cap for the rest of its day: :func:`held_partners`)."""
    return _READERS[spec.kind](spec, obs, held)


def held_partners(detail: str | None) -> frozenset[str]:
    """The partners a firing rule's detail names (``sunco: …; voltedge: …``: names have no colon)."""
    if not detail:
        return frozenset()
    return frozenset(part.split(": ", 1)[0] for part in detail.split("; ") if ": " in part)


def _verdict(breaches: list[str], quiet: str) -> Reading:
    return Reading(True, "; ".join(breaches)) if breaches else Reading(False, quiet)


def _since(spec: AlertSpec, obs: Observations) -> datetime:
    return obs.now - timedelta(seconds=spec.window_s)


def _per_partner(
    spec: AlertSpec, rows: Sequence[tuple[str, datetime, float, Result]], obs: Observations
) -> dict[str, list[tuple[float, Result]]]:
    since = _since(spec, obs)
    out: dict[str, list[tuple[float, Result]]] = {}
    for partner, at, duration, result in rows:
        if at >= since and at <= obs.now and spec.watches(partner):
            out.setdefault(partner, []).append((duration, result))
    return out


def _rate(spec: AlertSpec, obs: Observations, _held: Collection[str]) -> Reading:
    timeouts = spec.kind is AlertKind.TIMEOUT_RATE
    rows = [*obs.posts, *obs.pings] if timeouts else obs.posts
    what = "timeout rate" if timeouts else "failure rate"
    bad = {Result.TIMEOUT} if timeouts else {Result.ERROR, Result.TIMEOUT}
    unit = "requests" if timeouts else "posts"
    threshold = float(spec.threshold or 0)
    window = format_seconds(spec.window_s)
    breaches = []
    for partner, seen in sorted(_per_partner(spec, rows, obs).items()):
        if len(seen) < spec.min_requests:
            continue
        count = sum(1 for _, result in seen if result in bad)
        rate = 100 * count / len(seen)
        if rate >= threshold:
            breaches.append(
                f"{partner}: {what} {_pct(rate)} ({count} of {len(seen)} {unit} in {window})"
                f" at or above {_pct(threshold)}"
            )
    return _verdict(breaches, f"{what} below {_pct(threshold)} in {window}")


def _latency(spec: AlertSpec, obs: Observations, _held: Collection[str]) -> Reading:
    threshold = float(spec.threshold or 0)
    window = format_seconds(spec.window_s)
    breaches = []
    for partner, seen in sorted(_per_partner(spec, obs.posts, obs).items()):
        if len(seen) < spec.min_requests:
            continue
        p95 = percentile(sorted(duration for duration, _ in seen), 95)
        if p95 is not None and p95 > threshold:
            breaches.append(
                f"{partner}: p95 latency {p95:.0f} ms ({len(seen)} posts in {window}) above {threshold:g} ms"
            )
    return _verdict(breaches, f"p95 latency at or below {threshold:g} ms in {window}")


def _cap_early(spec: AlertSpec, obs: Observations, held: Collection[str]) -> Reading:
    threshold = float(spec.threshold if spec.threshold is not None else 100)
    before = spec.before
    assert before is not None, "configuration: cap_early has 'before'"
    breaches = []
    for partner, (limit, used, zone) in sorted(obs.day_caps.items()):
        if not spec.watches(partner) or limit <= 0:
            continue
        share = 100 * used / limit
        local = obs.now.astimezone(ZoneInfo(zone))
        # past ``before`` a full cap still counts for a partner the firing rule holds (it was full early
        # today), not for one that filled it late: that never fires the rule, so it cannot hold it
        if share >= threshold and (local.time() < before or partner in held):
            breaches.append(
                f"{partner}: {used} of its day cap of {limit} used ({_pct(share)}, at or above"
                f" {_pct(threshold)}) before {before:%H:%M} {zone}"
            )
    return _verdict(breaches, f"no day cap at {_pct(threshold)} before {before:%H:%M}")


def _wallet_low(spec: AlertSpec, obs: Observations, _held: Collection[str]) -> Reading:
    threshold = Decimal(str(spec.threshold or 0))
    breaches = []
    for partner, (balance, credit) in sorted(obs.wallets.items()):
        if spec.watches(partner) and balance + credit < threshold:
            breaches.append(
                f"{partner}: wallet {balance} with credit {credit} leaves {balance + credit},"
                f" below {threshold}"
            )
    return _verdict(breaches, f"every wallet at or above {threshold}")


def _backlog(spec: AlertSpec, obs: Observations, _held: Collection[str]) -> Reading:
    threshold = int(spec.threshold or 0)
    if obs.ready_jobs > threshold:
        return Reading(True, f"{obs.ready_jobs} jobs ready to run, above {threshold}")
    return Reading(False, f"{obs.ready_jobs} jobs ready to run (at most {threshold})")


def _age(spec: AlertSpec, obs: Observations, _held: Collection[str]) -> Reading:
    limit = float(spec.threshold or 0)
    waited = (obs.now - obs.oldest_ready).total_seconds() if obs.oldest_ready is not None else 0.0
    if obs.oldest_ready is not None and waited > limit:
        return Reading(
            True,
            f"the oldest ready job has waited {format_seconds(round(waited))}, over {format_seconds(limit)}",
        )
    return Reading(False, f"no ready job waiting over {format_seconds(limit)}")


def _batches(spec: AlertSpec, obs: Observations, _held: Collection[str]) -> Reading:
    threshold = int(spec.threshold or 1)
    since = _since(spec, obs)
    failed: dict[str, list[str]] = {}
    for partner, batch_id, cut_at in obs.failed_batches:
        if cut_at >= since and spec.watches(partner):
            failed.setdefault(partner, []).append(batch_id)
    count = sum(len(ids) for ids in failed.values())
    window = format_seconds(spec.window_s)
    if count >= threshold:
        names = ", ".join(f"{p}: {', '.join(sorted(ids))}" for p, ids in sorted(failed.items()))
        return Reading(True, f"{count} failed batches cut in {window} ({names}), at least {threshold}")
    return Reading(False, f"{count} failed batches cut in {window} (fewer than {threshold})")


def _circuits(spec: AlertSpec, obs: Observations, _held: Collection[str]) -> Reading:
    breaches = [
        f"{partner}: circuit {state.replace('_', '-')}"
        for partner, state in sorted(obs.breakers.items())
        if spec.watches(partner) and state != "closed"
    ]
    return _verdict(breaches, "every circuit closed")


_READERS = {
    AlertKind.FAILURE_RATE: _rate,
    AlertKind.TIMEOUT_RATE: _rate,
    AlertKind.LATENCY: _latency,
    AlertKind.CAP_EARLY: _cap_early,
    AlertKind.WALLET_LOW: _wallet_low,
    AlertKind.QUEUE_BACKLOG: _backlog,
    AlertKind.QUEUE_AGE: _age,
    AlertKind.BATCH_FAILED: _batches,
    AlertKind.CIRCUIT_OPEN: _circuits,
}
