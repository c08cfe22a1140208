"""The circuit breaker through the real services in memory (``tests.unit.in_memory``), with an injected
clock: a partner that errors is skipped with a trace line, a trial lead goes after the cool-down, and the
breaker closes (or opens again); every move stored and audited. The health the API shows, from attempts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from leadrelay.domain.attempts import LeadView
from leadrelay.domain.health import Kind, Result
from leadrelay.domain.model import Strategy, Target, WebhookChannel
from leadrelay.services.health import adapt_pings
from leadrelay.services.health_report import health_tx
from leadrelay.services.steps import Auction, Ping
from tests.documents import lead
from tests.fakes.clock import START
from tests.unit.in_memory import Installation, buyer_url, by_partner, document, http

BREAKER = {"error_rate": "50%", "timeout_rate": "50%", "window": "5m", "min_requests": 3, "cool_down": "60s"}
ONCE = {"webhook": {"url": buyer_url("sunco"), "timeout": "5s", "max_attempts": 1}}  # no retries


def world_with(breaker: Any = None) -> Installation:
    sunco: dict[str, Any] = {"channel": ONCE, "breaker": BREAKER if breaker is None else breaker}
    return Installation(document(sunco=sunco))


def sell(world: Installation, sunco: int, count: int = 1) -> list[str]:
    """``count`` California leads (sunco first, then brightpath); sunco answers ``sunco``."""
    ids = [world.accept(lead(state="CA", monthly_bill=180)).lead_id for _ in range(count)]
    world.work(by_partner(sunco=http(sunco), brightpath=http(200)))
    return ids


def breaker(world: Installation) -> Any:
    rows = world.all("partner_breakers", partner="sunco")
    return rows[0] if rows else None


def actions(world: Installation) -> list[tuple[str, str, str | None]]:
    return [
        (r.action, r.detail["before"], r.detail["reason"])
        for r in world.storage.rows("audit_log")
        if r.action.startswith("partner.breaker")
    ]


def test_the_breaker_opens_skips_the_partner_and_a_trial_closes_it() -> None:
    world = world_with()
    opened_at = world.clock.now
    sell(world, 500, count=3)  # three errors of three: at the threshold
    row = breaker(world)
    assert (row.state, row.reason, row.opened_at) == ("open", "errors 3 of 3 in 5m", opened_at)
    assert row.retry_at == opened_at + timedelta(seconds=60)
    assert actions(world) == [("partner.breaker_open", "closed", "errors 3 of 3 in 5m")]
    assert world.one("audit_log", action="partner.breaker_open").actor == "breaker"

    (skipped,) = sell(world, 200)
    trace = world.job_of(skipped).trace
    retry = f"{row.retry_at:%H:%M:%S}"
    assert f"sunco: circuit open (errors 3 of 3 in 5m; retry at {retry})" in trace
    assert "brightpath: chosen (priority)" in trace
    world.clock.advance(seconds=59)
    (still,) = sell(world, 200)
    assert any(line.startswith("sunco: circuit open") for line in world.job_of(still).trace)

    world.clock.advance(seconds=1)  # the cool-down is over: one trial lead, in a batch of two
    trial, other = sell(world, 200, count=2)
    assert (
        "sunco: circuit half-open: this lead is the trial (errors 3 of 3 in 5m)" in world.job_of(trial).trace
    )
    assert "sunco: chosen (priority)" in world.job_of(trial).trace
    assert "sunco: circuit half-open (a trial lead is out)" in world.job_of(other).trace
    assert breaker(world).state == "closed"
    assert actions(world) == [
        ("partner.breaker_open", "closed", "errors 3 of 3 in 5m"),
        ("partner.breaker_half_open", "open", "errors 3 of 3 in 5m"),
        ("partner.breaker_close", "half_open", "the trial lead's answer was healthy"),
    ]
    [closed] = [e for e in world.audit("partner.breaker_close")]
    assert closed.detail["opened_for"] == "errors 3 of 3 in 5m"
    (after,) = sell(world, 200)
    assert "sunco: chosen (priority)" in world.job_of(after).trace  # the old errors are forgotten


def test_a_failed_trial_opens_it_again_for_another_cool_down() -> None:
    world = world_with()
    sell(world, 500, count=3)
    world.clock.advance(seconds=60)
    (trial,) = sell(world, 503)
    row = breaker(world)
    assert (row.state, row.reason) == ("open", "the trial failed")
    assert row.retry_at == world.clock.now + timedelta(seconds=60)
    assert [a for a, _, _ in actions(world)] == [
        "partner.breaker_open",
        "partner.breaker_half_open",
        "partner.breaker_open",
    ]
    assert world.job_of(trial).status == "delivered"  # brightpath took it after the trial failed
    (skipped,) = sell(world, 200)
    assert any(
        "sunco: circuit open (the trial failed; retry at" in line for line in world.job_of(skipped).trace
    )


def test_refusals_are_healthy_and_too_few_errors_never_open_it() -> None:
    world = world_with()
    sell(world, 422, count=5)  # "not interested": a healthy answer
    sell(world, 500, count=2)  # two errors of seven
    assert breaker(world) is None


def test_errors_spread_wider_than_the_window_never_open_it() -> None:
    world = world_with()
    for _ in range(3):
        sell(world, 500)
        world.clock.advance(minutes=3)  # the window is 5 minutes: at most two errors in it
    assert breaker(world) is None


def test_a_breaker_switched_off_never_opens() -> None:
    world = world_with("off")
    sell(world, 500, count=25)
    assert breaker(world) is None and actions(world) == []


def test_the_health_shown_comes_from_the_stored_attempts() -> None:
    world = world_with()
    sell(world, 500, count=3)
    now = world.clock.now
    health = world.storage.read(lambda tx: health_tx(tx, world.configs.current(tx), now))
    shown = {h.partner: h.as_dict() for h in health}
    assert set(shown) == {"brightpath", "sunco", "voltedge"}
    sunco = shown["sunco"]
    assert sunco["post"] | {"p50_ms": None, "p95_ms": None, "p99_ms": None} == {
        "count": 3,
        "errors": 3,
        "timeouts": 0,
        "error_rate": 1.0,
        "timeout_rate": 0.0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
    }
    assert sunco["post"]["p99_ms"] == 12.0  # the answers' durations
    assert sunco["breaker"]["state"] == "open" and sunco["breaker"]["enabled"] is True
    assert sunco["breaker"]["reason"] == "errors 3 of 3 in 5m" and sunco["window_s"] == 300.0
    assert shown["brightpath"]["post"]["count"] == 3 and shown["brightpath"]["post"]["error_rate"] == 0.0
    assert shown["voltedge"]["breaker"]["state"] == "closed" and shown["voltedge"]["post"]["count"] == 0
    assert sunco["ping"]["count"] == 0 and sunco["ping"]["p99_ms"] is None  # no auction here
    later = now + timedelta(minutes=6)
    (gone,) = world.storage.read(lambda tx: health_tx(tx, world.configs.current(tx), later, "sunco"))
    assert gone.post.count == 0


def test_the_tracker_counts_pings_too() -> None:
    """The auction observes pings in the same tracker: ping timeouts open the breaker alike."""
    world = world_with()
    for _ in range(3):
        world.health.observe("sunco", Kind.PING, 800.0, Result.TIMEOUT, world.clock.now)
    assert world.health.counts("sunco", Kind.PING, world.clock.now, 300) == (3, 0, 3)
    assert world.health.p99_ms("sunco", Kind.PING, world.clock.now, 300) == 800.0
    sell(world, 200)  # a healthy post: settling looks at every kind of the partner's windows
    assert breaker(world).reason == "ping timeouts 3 of 3 in 5m"


def test_the_ping_health_shown_comes_from_the_stored_bids() -> None:
    world = world_with()
    now = world.clock.now

    def bid(i: int, status: str, duration_ms: float | None, minutes_ago: float) -> dict[str, Any]:
        return {
            "id": f"bid_{i}",
            "job_id": "job_1",
            "lead_id": "lead_1",
            "partner": "sunco",
            "profile": "solar-main",
            "status": status,
            "duration_ms": duration_ms,
            "started_at": now - timedelta(minutes=minutes_ago),
            "created_at": now - timedelta(minutes=minutes_ago),
        }

    rows = [
        bid(1, "accepted", 40.0, 1),
        bid(2, "refused", 60.0, 2),
        bid(3, "timeout", 750.0, 3),
        bid(4, "error", 5.0, 4),
        bid(5, "accepted", None, 1),  # a post-only offer: not a ping
        bid(6, "error", 5.0, 6),  # out of the 5-minute window
    ]
    world.storage.transaction(lambda tx: tx.deliveries.insert_bids(rows))
    (sunco,) = world.storage.read(lambda tx: health_tx(tx, world.configs.current(tx), now, "sunco"))
    assert sunco.as_dict()["ping"] == {
        "count": 4,
        "errors": 1,
        "timeouts": 1,
        "error_rate": 0.25,
        "timeout_rate": 0.25,
        "p50_ms": 40.0,
        "p95_ms": 750.0,
        "p99_ms": 750.0,
    }


def _auction(*partners: str) -> Auction:
    def ping(name: str) -> Ping:
        spec = WebhookChannel(f"https://{name}.example/ping", timeout_s=2.0)
        return Ping(name, spec, LeadView("lead_1", "solar", name, {}, "k"), None, None)

    pings = tuple(ping(p) for p in partners)
    target = Target(partners, Strategy.AUCTION)
    return Auction(pings, (), partners, partners, target, "west-coast", ("auction: pinging",), 0.75, START)


def test_adaptive_ping_timeouts_follow_each_partners_p99() -> None:
    doc = document(sunco={"adaptive_ping_timeout": {"margin": "50ms"}, "ping": {"url": buyer_url("p")}})
    world = Installation(doc)
    live, now = world.live(), world.clock.now
    auction = _auction("sunco", "brightpath")
    first = adapt_pings(auction, live, world.health, now)
    assert [p.spec.timeout_s for p in first.pings] == [0.75, 2.0]  # no p99 yet: clamped to the deadline
    assert first.trace == ("auction: pinging", "sunco: ping timeout 750 ms (adaptive: no p99 yet)")
    for ms in (40.0, 60.0, 90.0):
        world.health.observe("sunco", Kind.PING, ms, Result.OK, now)
        world.health.observe("brightpath", Kind.PING, ms, Result.OK, now)
    later = adapt_pings(auction, live, world.health, now)
    assert [p.spec.timeout_s for p in later.pings] == [0.14, 2.0]
    assert later.trace[-1] == "sunco: ping timeout 140 ms (adaptive: p99 90 ms + 50 ms)"
    plain = _auction("brightpath")
    assert adapt_pings(plain, live, world.health, now) is plain  # nobody adaptive: the same auction


def test_a_trial_is_spent_only_on_a_lead_the_partner_is_offered() -> None:
    """Round robin over sunco and brightpath: after the cool-down, a lead that goes to brightpath first
    leaves sunco's breaker open (no trial wasted); the first lead offered to sunco is its trial."""
    doc = document(sunco={"channel": ONCE, "breaker": BREAKER})
    doc["profiles"]["solar-main"]["rules"][0]["send_to"]["strategy"] = "round_robin"
    world = Installation(doc)
    for _ in range(6):  # every other lead goes to sunco first: three errors
        sell(world, 500)
    assert breaker(world).state == "open"
    world.clock.advance(seconds=60)
    states, traces = [], []
    for _ in range(2):
        (lead_id,) = sell(world, 200)
        traces.append(world.job_of(lead_id).trace)
        states.append(breaker(world).state)
    [(trial_at, trial)] = [(i, t) for i, t in enumerate(traces) if "sunco: chosen (round_robin)" in t]
    assert "sunco: circuit half-open: this lead is the trial (errors 3 of 3 in 5m)" in trial
    other = traces[1 - trial_at]
    assert not any("circuit" in line for line in other) and "brightpath: chosen (round_robin)" in other
    assert states[trial_at] == "closed" and (trial_at == 0 or states[0] == "open")
    assert [a for a, _, _ in actions(world)].count("partner.breaker_half_open") == 1
