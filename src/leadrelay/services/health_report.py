"""What the admin API and the CLI show of partners' health (issue 10, point 10), computed from stored rows
(the API and the workers may be different processes): posts from ``attempts``, pings from the auctions'
``bids``, over each partner's breaker window, with its breaker. The breakers: ``services.health``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.health import (
    DEFAULT_POLICY,
    Breaker,
    Result,
    Stats,
    ping_result,
    stats_of,
    stored_result,
)
from leadrelay.errors import NotFound
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.health import breaker_of, policy_of
from leadrelay.services.ports import Clock, Storage, Tx, system_clock


@dataclass(frozen=True, slots=True)
class Health:
    partner: str
    window_s: float
    post: Stats
    ping: Stats  # from the auction's stored bids (post-only partners' offers are not pings)
    breaker: Breaker
    breaker_enabled: bool

    def as_dict(self) -> dict[str, Any]:
        b = self.breaker
        return {
            "partner": self.partner,
            "window_s": self.window_s,
            "post": self.post.as_dict(),
            "ping": self.ping.as_dict(),
            "breaker": {
                "enabled": self.breaker_enabled,
                "state": b.state.value,
                "opened_at": _iso(b.opened_at),
                "retry_at": _iso(b.retry_at),
                "reason": b.reason,
                "changed_at": _iso(b.changed_at),
            },
        }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def health_tx(tx: Tx, live: LiveConfig, now: datetime, name: str | None = None) -> list[Health]:
    """Every configured partner's health (or one partner's; ``NotFound`` if unknown), in name order: post
    latency percentiles and error and timeout rates over its breaker's window, from the stored attempts;
    ping latency and rates from the stored bids, and its breaker."""
    partners = sorted(live.compiled.partners)
    if name is not None:
        if name not in live.compiled.partners:
            raise NotFound(f"no partner named {name!r}")
        partners = [name]
    policies = {p: policy_of(live, p) or DEFAULT_POLICY for p in partners}
    widest = max((policy.window_s for policy in policies.values()), default=DEFAULT_POLICY.window_s)
    since = now - timedelta(seconds=widest)
    starts = {p: now - timedelta(seconds=policies[p].window_s) for p in partners}
    posts: dict[str, list[tuple[float, Result]]] = {p: [] for p in partners}
    for partner, started_at, duration_ms, outcome, reason in tx.deliveries.post_observations(since, name):
        if partner in posts and started_at >= starts[partner]:
            posts[partner].append((duration_ms, stored_result(outcome, reason)))
    pings: dict[str, list[tuple[float, Result]]] = {p: [] for p in partners}
    for partner, created_at, duration_ms, status in tx.deliveries.ping_observations(since, name):
        if partner in pings and created_at >= starts[partner]:
            pings[partner].append((duration_ms, ping_result(status)))
    stored = tx.caps.breakers()
    out = []
    for p in partners:
        row = stored.get(p)
        breaker = breaker_of(p, row) if row is not None else Breaker(p)
        policy = policies[p]
        post, ping = stats_of(posts[p]), stats_of(pings[p])
        out.append(Health(p, policy.window_s, post, ping, breaker, policy.enabled))
    return out


class PartnerHealth:
    """What the admin API does (async, through ``Storage.run_read``)."""

    def __init__(self, storage: Storage, configs: ConfigCache, *, clock: Clock = system_clock) -> None:
        self.storage = storage
        self.configs = configs
        self.clock = clock

    async def show(self, name: str | None = None) -> list[Health]:
        now = self.clock()
        return await self.storage.run_read(lambda tx: health_tx(tx, self.configs.current(tx), now, name))
