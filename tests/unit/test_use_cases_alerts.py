"""Alert checks through the real services in memory (``tests.unit.in_memory``), with an injected clock and a
recording transport: a failure rate fires, stays quiet, resolves; an open breaker and a queue backlog
fire; a target's failure is recorded with the message; a test message moves no state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadrelay.domain.alerts import AlertMessage, AlertSpec
from leadrelay.errors import NotFound
from leadrelay.services.alerts import Alerting
from leadrelay.services.ports import Sent
from tests.documents import lead
from tests.unit.in_memory import Installation, buyer_url, by_partner, document, http, run

ONCE = {"webhook": {"url": buyer_url("sunco"), "timeout": "5s", "max_attempts": 1}}
NOTIFY = {"email": ["ops@example.com"]}


class Transport:
    """Keeps every message; ``error`` makes every target fail."""

    def __init__(self) -> None:
        self.sent: list[AlertMessage] = []
        self.error: str | None = None

    async def send(self, spec: AlertSpec, message: AlertMessage) -> Sequence[Sent]:
        self.sent.append(message)
        return [Sent(target, self.error) for target in spec.targets()]


def world_with(*rules: dict[str, Any]) -> tuple[Installation, Alerting, Transport]:
    doc = document(sunco={"channel": ONCE, "breaker": "off"})
    doc["alerts"] = [{"notify": NOTIFY, **rule} for rule in rules]
    world = Installation(doc)
    transport = Transport()
    return (
        world,
        Alerting(world.storage, world.configs, transport, clock=world.clock, ids=world.ids),
        transport,
    )


def sell(world: Installation, sunco: int, count: int) -> None:
    for _ in range(count):
        world.accept(lead(state="CA", monthly_bill=180))
    world.work(by_partner(sunco=http(sunco), brightpath=http(200)))


RATE = {
    "name": "sunco-failing",
    "kind": "failure_rate",
    "threshold": 50,
    "partners": ["sunco"],
    "min_requests": 3,
}


def test_a_failure_rate_fires_stays_quiet_and_resolves() -> None:
    world, alerts, transport = world_with(RATE)
    assert run(alerts.check()) == []
    sell(world, 500, 3)
    (fired,) = run(alerts.check())
    assert (fired.message.state, fired.message.detail) == (
        "firing",
        "sunco: failure rate 100% (3 of 3 posts in 15m) at or above 50%",
    )
    assert fired.error is None
    world.clock.advance(minutes=1)
    assert run(alerts.check()) == []
    sell(world, 200, 4)
    (resolved,) = run(alerts.check())
    assert (resolved.message.state, resolved.message.detail) == ("resolved", "failure rate below 50% in 15m")
    assert [m.state for m in transport.sent] == ["firing", "resolved"]
    (state,) = world.storage.rows("alert_states")
    assert (state.alert, state.state, state.version) == ("sunco-failing", "ok", 2)
    events = world.storage.rows("alert_events")
    assert [(e.state, e.targets, e.error) for e in events] == [
        ("firing", ["mailto:ops@example.com"], None),
        ("resolved", ["mailto:ops@example.com"], None),
    ]


def test_an_open_breaker_and_a_backlog_fire() -> None:
    world, alerts, _ = world_with(
        {"name": "breakers", "kind": "circuit_open"},
        {"name": "backlog", "kind": "queue_backlog", "threshold": 1},
    )
    world.storage.transaction(
        lambda tx: tx.caps.move_breaker(
            "sunco", {"state": "open", "reason": "x", "changed_at": world.clock.now}, ["closed"]
        )
    )
    for _ in range(2):
        world.accept(lead(state="CA", monthly_bill=180))  # not worked: two jobs ready
    fired = {s.message.alert: s.message.detail for s in run(alerts.check())}
    assert fired == {"breakers": "sunco: circuit open", "backlog": "2 jobs ready to run, above 1"}


def test_a_target_that_fails_is_recorded_with_the_message() -> None:
    world, alerts, transport = world_with(RATE)
    transport.error = "connection error: refused"
    sell(world, 500, 3)
    (fired,) = run(alerts.check())
    assert fired.error == "mailto:ops@example.com: connection error: refused"
    (event,) = world.storage.rows("alert_events")
    assert event.error == "mailto:ops@example.com: connection error: refused"
    assert world.storage.rows("alert_states")[0].state == "firing"  # not sent again before the cool-down


def test_a_test_message_goes_to_the_targets_and_moves_nothing() -> None:
    world, alerts, transport = world_with(RATE)
    done = run(alerts.test("sunco-failing"))
    assert done.message.state == "test"
    assert [s.target for s in done.sent] == ["mailto:ops@example.com"]
    assert world.storage.rows("alert_states") == []
    assert [e.state for e in world.storage.rows("alert_events")] == ["test"]
    with pytest.raises(NotFound, match="no alert named 'nobody' \\(alerts: sunco-failing\\)"):
        run(alerts.test("nobody"))
    overview = run(alerts.overview())
    assert [(r["name"], r["state"]) for r in overview["items"]] == [("sunco-failing", "ok")]
    assert [e["state"] for e in overview["events"]] == ["test"]
    assert world.clock.now - transport.sent[0].at == timedelta(0)


def test_a_wallet_low_alert_fires_when_sales_spend_the_wallet() -> None:
    from tests.unit.test_use_cases_wallets import topup

    doc = document(sunco={"channel": ONCE, "breaker": "off", "wallet": {"credit_limit": 0}})
    doc["alerts"] = [{"notify": NOTIFY, "name": "sunco-funds", "kind": "wallet_low", "threshold": 30}]
    world = Installation(doc)
    alerts = Alerting(world.storage, world.configs, Transport(), clock=world.clock, ids=world.ids)
    topup(world, "60")
    assert run(alerts.check()) == []  # 60 in the wallet
    sell(world, 200, 2)  # two sales at sunco's list price, 25: 10 left
    (fired,) = run(alerts.check())
    assert fired.message.state == "firing" and "sunco" in fired.message.detail, fired.message.detail


EARLY_DAY = "d:2026-11-23"


def early_world() -> tuple[Installation, Alerting, Any]:
    """A cap_early rule (before 14:00, a cool-down of 1h) over sunco and voltedge, both in New York with a
    day cap of 2; ``fill(partner, n)`` takes n slots of the partner's 2026-11-23."""
    ny = {"timezone": "America/New_York", "caps": {"day": 2}}
    doc = document(sunco=ny, voltedge=ny)
    rule = {"name": "early", "kind": "cap_early", "threshold": 100, "before": "14:00", "cool_down": "1h"}
    doc["alerts"] = [{**rule, "notify": NOTIFY}]
    world = Installation(doc)
    alerts = Alerting(world.storage, world.configs, Transport(), clock=world.clock, ids=world.ids)

    def fill(partner: str, n: int) -> None:
        world.storage.transaction(
            lambda tx: [tx.caps.reserve_cap(partner, "", EARLY_DAY, 2) for _ in range(n)]
        )

    return world, alerts, fill


def at_new_york(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 23, hour + 5, minute, tzinfo=UTC)


def test_cap_early_holds_a_partner_that_filled_its_cap_early_while_the_rule_cooled_down() -> None:
    """13:40 New York: sunco's day cap is full, the rule fires. 13:50: voltedge fills its own, within the
    cool-down (no message): the rule holds it too, so past 14:00 a slot given back to sunco does not
    resolve it while voltedge's early cap is full, and the reminder names voltedge. (The held partners
    were those of the last message only: the rule resolved, and voltedge's early cap went unsaid.)"""
    world, alerts, fill = early_world()
    world.clock.set(at_new_york(13, 40))
    fill("sunco", 2)
    (fired,) = run(alerts.check())
    assert fired.message.state == "firing" and "voltedge" not in fired.message.detail
    world.clock.set(at_new_york(13, 50))  # voltedge full, in the cool-down
    fill("voltedge", 2)
    assert run(alerts.check()) == []  # no message, the hold remembered
    world.clock.set(at_new_york(14, 15))  # within the cool-down still
    world.storage.transaction(lambda tx: tx.caps.release_caps("sunco", [["", EARLY_DAY]]))
    assert run(alerts.check()) == []  # not resolved: voltedge's early cap is full
    world.clock.set(at_new_york(14, 45))  # the cool-down over: the reminder
    (reminder,) = run(alerts.check())
    assert reminder.message.state == "firing" and reminder.message.detail.startswith(
        "voltedge: 2 of its day cap"
    )


def test_cap_early_reports_a_partner_that_filled_early_after_the_rule_resolved_in_its_cool_down() -> None:
    """The rule fires (sunco), resolves (a slot given back), and within the cool-down voltedge fills its cap
    before 14:00: once the cool-down is over (past 14:00) the rule fires for voltedge. (It was forgotten:
    only a firing rule remembered a partner that filled its cap early.)"""
    world, alerts, fill = early_world()
    world.clock.set(at_new_york(13, 40))
    fill("sunco", 2)
    assert [s.message.state for s in run(alerts.check())] == ["firing"]
    world.clock.set(at_new_york(13, 45))
    world.storage.transaction(lambda tx: tx.caps.release_caps("sunco", [["", EARLY_DAY]]))
    assert [s.message.state for s in run(alerts.check())] == ["resolved"]
    world.clock.set(at_new_york(13, 50))
    fill("voltedge", 2)
    assert run(alerts.check()) == []  # within the cool-down
    world.clock.set(at_new_york(14, 45))
    (sent,) = run(alerts.check())
    assert sent.message.state == "firing" and sent.message.detail.startswith("voltedge"), sent.message.detail
