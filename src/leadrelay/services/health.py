"""Per-partner health and the circuit breaker (issue 10, point 10), around the pure ``domain.health``.

- :class:`HealthTracker` — one per process (``Runtime.health``): the sliding windows of every partner's
  pings and posts, fed by whoever sent them with ``observe(partner, kind, duration_ms, result, now)`` (the
  worker after each post and after an auction's pings). In memory: O(1) per observation.
- :class:`BreakerGate` — routing's view of the breakers for one batch, from the one read the batch makes
  (``tx.caps.unavailable_and_breakers()``): skips a partner whose breaker is open (a trace line says why
  and until when) and, after the cool-down, gives the trial to the first lead the partner is really
  offered (the breaker goes half-open by a conditional update, so two workers never both send one).
- :func:`settle_breakers` — after outcomes are recorded (same transaction): opens a closed breaker whose
  window crossed a threshold, and closes (or opens again) a half-open one on its trial's answer. Whoever
  sends pings or posts elsewhere observes them in the tracker and calls it in its own transaction.
- :func:`adapt_pings` — the optional adaptive ping timeout (``adaptive_ping_timeout: {margin}``).

Every move of a breaker is stored in ``partner_breakers`` and audited (``partner.breaker_open``,
``partner.breaker_half_open``, ``partner.breaker_close``; actor ``breaker``). Each process keeps its own
windows (a window short of ``min_requests`` but over a rate asks the stored rows of every process since the
breaker last closed: see ``_trip``); the breaker's state is shared through the table, and a process forgets
a partner's window when it sees the breaker closed (so old errors do not open it again at once). Retries of
a delivery made before the breaker opened still go (they are the retry policy's), and do not decide a trial
unless it is half-open.

What the admin API and the CLI show (computed from stored rows): ``services.health_report``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.attempts import AttemptResult
from leadrelay.domain.health import (
    DEFAULT_POLICY,
    Admission,
    Breaker,
    BreakerPolicy,
    BreakerState,
    Kind,
    Result,
    Stats,
    Window,
    adaptive_timeout,
    admission,
    after_trial,
    opened,
    ping_result,
    result_of,
    skip_line,
    stored_result,
    trial,
    trip_reason,
)
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.ports import Tx
from leadrelay.services.steps import Auction

ACTOR = "breaker"
OBJECT_KIND = "partners"
_ACTIONS = {
    BreakerState.OPEN: "partner.breaker_open",
    BreakerState.HALF_OPEN: "partner.breaker_half_open",
    BreakerState.CLOSED: "partner.breaker_close",
}


def breaker_of(partner: str, row: Mapping[str, Any]) -> Breaker:
    """A stored breaker row (``tx.caps.breakers()``) as the domain's value."""
    return Breaker(
        partner,
        BreakerState(row["state"]),
        row["opened_at"],
        row["retry_at"],
        row["reason"],
        row["changed_at"],
    )


def _values(b: Breaker) -> dict[str, Any]:
    return {
        "state": b.state.value,
        "opened_at": b.opened_at,
        "retry_at": b.retry_at,
        "reason": b.reason,
        "changed_at": b.changed_at,
    }


def policy_of(live: LiveConfig, partner: str) -> BreakerPolicy | None:
    """The partner's breaker policy; None when the partner is not configured (any more)."""
    spec = live.compiled.partners.get(partner)
    return spec.breaker if spec is not None else None


CLOSED_REASON = "the trial lead's answer was healthy"


def _move(
    tx: Tx, before: Breaker, after: Breaker, expect: Iterable[BreakerState], due: datetime | None
) -> bool:
    """Store the move (if the breaker is still in a state of ``expect``) and audit it; True when it moved."""
    assert after.changed_at is not None
    if not tx.caps.move_breaker(after.partner, _values(after), [s.value for s in expect], due):
        return False
    tx.config.audit(
        actor=ACTOR,
        action=_ACTIONS[after.state],
        object_kind=OBJECT_KIND,
        object_id=after.partner,
        at=after.changed_at,
        detail={
            "state": after.state.value,
            "before": before.state.value,
            # a close's own reason is its trial's healthy answer; why the breaker had opened stays beside it
            "reason": after.reason if after.state is not BreakerState.CLOSED else CLOSED_REASON,
            "retry_at": after.retry_at.isoformat() if after.retry_at is not None else None,
            **({"opened_for": before.reason} if after.state is BreakerState.CLOSED else {}),
        },
    )
    return True


# ---------------------------------------------------------------- the tracker (in memory)


class HealthTracker:
    """The sliding windows of every partner's pings and posts in this process, and the breakers not closed
    as this process last saw them (``known``). Used from one event loop (not thread-safe)."""

    def __init__(self, limit: int = 10_000) -> None:
        """``limit``: the most observations kept per partner and kind (the oldest are dropped first)."""
        self.limit = limit
        self._windows: dict[tuple[str, Kind], Window] = {}
        self.known: dict[str, Breaker] = {}

    def observe(
        self, partner: str, kind: Kind | str, duration_ms: float, result: Result | str, now: datetime
    ) -> None:
        """One ping or post to ``partner``: how long it took and how it ended (``Result``: ok, refused,
        error, timeout — a refusal is healthy). O(1)."""
        key = (partner, kind if type(kind) is Kind else Kind(kind))
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = Window(self.limit)
        window.add(now, duration_ms, result if type(result) is Result else Result(result))

    def observe_attempt(self, partner: str, attempt: AttemptResult, now: datetime) -> Result:
        """A post attempt's result observed; returns how it counted."""
        result = result_of(attempt)
        self.observe(partner, Kind.POST, attempt.duration_ms, result, now)
        return result

    def _window(self, partner: str, kind: Kind, now: datetime, window_s: float) -> Window | None:
        window = self._windows.get((partner, kind))
        if window is not None:
            window.evict(now, window_s)
        return window

    def counts(self, partner: str, kind: Kind, now: datetime, window_s: float) -> tuple[int, int, int]:
        """(requests, errors, timeouts) over the last ``window_s`` seconds."""
        window = self._window(partner, kind, now, window_s)
        return (len(window), window.errors, window.timeouts) if window is not None else (0, 0, 0)

    def stats(self, partner: str, kind: Kind, now: datetime, window_s: float) -> Stats:
        window = self._window(partner, kind, now, window_s)
        return window.stats() if window is not None else Stats()

    def p99_ms(self, partner: str, kind: Kind, now: datetime, window_s: float) -> float | None:
        """The p99 latency over the window (for ``domain.health.adaptive_timeout``); None without data."""
        return self.stats(partner, kind, now, window_s).p99_ms

    def forget(self, partner: str) -> None:
        """Drop the partner's windows (its breaker closed: start afresh)."""
        for kind in Kind:
            self._windows.pop((partner, kind), None)

    def sync(self, rows: Mapping[str, Mapping[str, Any]]) -> None:
        """The breakers not closed, as routing just read them: a partner whose breaker closed since (in
        another process) has its windows forgotten."""
        for partner in self.known.keys() - rows.keys():
            self.forget(partner)
        self.known = {partner: breaker_of(partner, row) for partner, row in rows.items()}


# ---------------------------------------------------------------- routing


class BreakerGate:
    """The breakers for one routing batch (the rows read once for the batch), for each job in turn:
    ``admit`` drops the candidates whose breaker is open (a trace line each) and keeps those due for a trial;
    ``claim`` is called when such a partner is really offered the lead (chosen, or pinged by an auction):
    the breaker goes half-open, so a trial is never spent on a lead that went elsewhere. With no breaker
    open, ``admit`` costs one dict check and ``claim`` one set check."""

    def __init__(self, tx: Tx, live: LiveConfig, now: datetime, tracker: HealthTracker) -> None:
        self.tx = tx
        self.live = live
        self.now = now
        self.tracker = tracker
        self.due: set[str] = set()  # the current job's candidates due for a trial

    def admit(self, candidates: list[str], trace: list[str]) -> list[str]:
        """The candidates whose breaker lets this lead through (closed, or due for a trial), with a trace
        line for each one skipped."""
        self.due = set()
        known = self.tracker.known
        if not known or known.keys().isdisjoint(candidates):
            return candidates
        kept = []
        for name in candidates:
            breaker = known.get(name)
            policy = policy_of(self.live, name)
            if breaker is None or policy is None or not policy.enabled:
                kept.append(name)
            elif admission(breaker, self.now) is Admission.TRIAL:
                kept.append(name)
                self.due.add(name)
            else:
                trace.append(skip_line(breaker))
        return kept

    def claim(self, name: str, trace: list[str]) -> bool:
        """The partner is offered this lead: True, unless it was due for a trial that another worker (or an
        earlier job of the batch) has just taken; a trial taken here is stored, audited and traced."""
        if name not in self.due:
            return True
        self.due.discard(name)
        known = self.tracker.known
        breaker = known[name]
        policy = policy_of(self.live, name) or DEFAULT_POLICY
        half = trial(breaker, self.now, policy)
        expect = (BreakerState.OPEN, BreakerState.HALF_OPEN)
        known[name] = half  # taken here or elsewhere: the next jobs of the batch skip the partner
        if _move(self.tx, breaker, half, expect, due=self.now):
            trace.append(f"{name}: circuit half-open: this lead is the trial ({breaker.reason})")
            return True
        trace.append(skip_line(half))
        return False

    def claim_all(self, candidates: Sequence[str], trace: list[str]) -> list[str]:
        """``claim`` for every candidate (an auction's tier pings them all at once): those kept."""
        if not self.due:
            return list(candidates)
        return [name for name in candidates if self.claim(name, trace)]


def adapt_pings(auction: Auction, live: LiveConfig, tracker: HealthTracker, now: datetime) -> Auction:
    """The auction with the ping timeout of each partner configured ``adaptive_ping_timeout`` set to its
    ping p99 over its window plus the margin, never more than its ping's own timeout or the deadline
    (``domain.health.adaptive_timeout``), with a trace line each. Partners without it are left alone;
    so is the whole auction when none has it (the common case costs a loop over the pings)."""
    pings = []
    lines = []
    for ping in auction.pings:
        spec = live.compiled.partners.get(ping.partner)
        margin = spec.adaptive_ping_margin_ms if spec is not None else None
        if spec is None or margin is None:
            pings.append(ping)
            continue
        p99 = tracker.p99_ms(ping.partner, Kind.PING, now, spec.breaker.window_s)
        deadline_ms = auction.deadline_s * 1000
        timeout_ms = adaptive_timeout(p99, margin, deadline_ms, ping.spec.timeout_s * 1000)
        why = "no p99 yet" if p99 is None else f"p99 {p99:.0f} ms + {margin:.0f} ms"
        lines.append(f"{ping.partner}: ping timeout {timeout_ms:.0f} ms (adaptive: {why})")
        pings.append(replace(ping, spec=replace(ping.spec, timeout_s=timeout_ms / 1000)))
    if not lines:
        return auction
    return replace(auction, pings=tuple(pings), trace=(*auction.trace, *lines))


# ---------------------------------------------------------------- after outcomes


def settle_breakers(
    tx: Tx,
    tracker: HealthTracker,
    live: LiveConfig,
    observed: Iterable[tuple[str, Kind, Result]],
    now: datetime,
) -> list[Breaker]:
    """The breakers' moves after the observations of a batch (already given to ``tracker.observe``), in the
    caller's transaction: a half-open breaker closes on its trial's healthy answer (or opens again), a
    closed one opens when its window crosses a threshold. Returns the moves made (each stored, audited)."""
    last: dict[str, tuple[Kind, Result]] = {}
    for partner, kind, result in observed:
        last[partner] = (kind, result)
    moves = []
    for partner, (_, result) in last.items():
        policy = policy_of(live, partner)
        if policy is None or not policy.enabled:
            continue
        before = tracker.known.get(partner)
        if before is not None and before.state is BreakerState.HALF_OPEN:
            after = after_trial(before, result, now, policy)
            if _move(tx, before, after, [BreakerState.HALF_OPEN], None):
                moves.append(after)
                if after.state is BreakerState.CLOSED:
                    tracker.known.pop(partner, None)
                    tracker.forget(partner)
                else:
                    tracker.known[partner] = after
            continue
        if before is not None:  # open: a retry of an older delivery; the trial decides
            continue
        reason = _trip(tx, tracker, partner, policy, now)
        if reason is None:
            continue
        closed = Breaker(partner)
        after = opened(closed, reason, now, policy)
        if _move(tx, closed, after, [BreakerState.CLOSED], None):
            moves.append(after)
            tracker.known[partner] = after
    return moves


_SHARED_LIMIT = 2_000  # the stored requests a window short of min_requests reads at most


def _trip(tx: Tx, tracker: HealthTracker, partner: str, policy: BreakerPolicy, now: datetime) -> str | None:
    """Why the breaker opens now, or None. This process's window decides when it holds ``min_requests``;
    when it holds fewer but its rates are over a threshold, the stored attempts (or bids) of every process
    over the window decide: with N workers each sees about 1/N of the requests, and a partner failing them
    all would otherwise need N times ``min_requests`` before any worker opened its breaker."""
    for kind in (Kind.POST, Kind.PING):
        count, errors, timeouts = tracker.counts(partner, kind, now, policy.window_s)
        reason = trip_reason(count, errors, timeouts, policy, kind)
        over = count > 0 and (errors / count >= policy.error_rate or timeouts / count >= policy.timeout_rate)
        if reason is None and over and count < policy.min_requests:
            since = now - timedelta(seconds=policy.window_s)
            stored = tx.caps.breakers().get(partner)
            if stored is not None and stored["changed_at"] > since:  # it closed within the window: the
                since = stored["changed_at"]  # requests before its close opened it once already
            reason = trip_reason(*_stored_counts(tx, partner, kind, since), policy, kind)
        if reason is not None:
            return reason
    return None


def _stored_counts(tx: Tx, partner: str, kind: Kind, since: datetime) -> tuple[int, int, int]:
    """(requests, errors, timeouts) of the partner's stored posts (attempts) or pings (bids) since ``since``,
    every process's; the newest ``_SHARED_LIMIT`` at most."""
    if kind is Kind.POST:
        posts = tx.deliveries.post_observations(since, partner, _SHARED_LIMIT)
        results = [stored_result(outcome, reason) for _, _, _, outcome, reason in posts]
    else:
        pings = tx.deliveries.ping_observations(since, partner, _SHARED_LIMIT)
        results = [ping_result(status) for _, _, _, status in pings]
    return len(results), results.count(Result.ERROR), results.count(Result.TIMEOUT)
