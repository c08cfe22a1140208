"""Pacing, load balancing and availability through the real services in memory (``tests.unit.in_memory``):
the worker's steps with an injected clock, over a simulated day."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadrelay.errors import NotFound
from leadrelay.services.availability import availability_tx, set_availability_tx
from tests.documents import lead
from tests.unit.in_memory import Installation, document, http

LA = ZoneInfo("America/Los_Angeles")


def accepted(world: Installation, **values: Any) -> str:
    return world.accept(lead(**values)).lead_id


def test_even_pacing_holds_over_a_simulated_day() -> None:
    """sunco takes 100 a day, open 08:00-18:00 Los Angeles time; a lead arrives every 3 minutes all day.
    sunco gets exactly 10 in each of its hours, the rest go to brightpath, and the trace says why."""
    doc = document(sunco={"caps": {"day": 100}, "hours": {"daily": "08:00-18:00"}, "pacing": "even"})
    world = Installation(doc)
    world.clock.set(datetime(2026, 12, 3, 0, 0, tzinfo=LA).astimezone(UTC))
    taken: Counter[int] = Counter()
    traces: dict[tuple[int, int], list[str]] = {}
    held = 0
    for _ in range(24 * 20):
        lead_id = accepted(world, state="CA", monthly_bill=180)
        local = world.clock.now.astimezone(LA)
        hour = local.hour
        for job_id, step in world.claim_and_route().items():
            world.deliver(step, job_id, http(200))
        trace = traces[(hour, local.minute)] = list(world.job_of(lead_id).trace)
        if "sunco: chosen (priority)" in trace:
            taken[hour] += 1
        if any(line.startswith("sunco: held back by pacing (even: ") for line in trace):
            held += 1
        world.clock.advance(minutes=3)
    assert taken == dict.fromkeys(range(8, 18), 10)
    assert held == 99  # the other half of the leads of its open hours, but the last: its cap is reached
    assert "sunco: cap day 100/100 reached" in traces[(17, 57)]
    line = "sunco: held back by pacing (even: 10 of 100 today, 10 allowed so far)"
    assert any(line in world.job_of(r.lead_id).trace for r in world.storage.rows("jobs"))


def test_a_paced_partner_still_stops_at_its_cap_with_the_cap_reason() -> None:
    doc = document(sunco={"caps": {"day": 2}, "pacing": "even"})  # no hours: 24 h
    world = Installation(doc)
    world.clock.set(datetime(2026, 12, 3, 23, 59, tzinfo=LA).astimezone(UTC))  # the whole day allowed
    ids = [accepted(world, state="CA", monthly_bill=180) for _ in range(3)]
    for job_id, step in world.claim_and_route().items():
        world.deliver(step, job_id, http(200))
    assert "sunco: cap day 2/2 reached" in world.job_of(ids[2]).trace


def test_least_loaded_reads_the_cap_counters() -> None:
    target = {"partners": ["sunco", "brightpath"], "strategy": "least_loaded"}
    doc = document(sunco={"caps": {"hour": 2, "day": 50}}, brightpath={"caps": {"day": 10}})
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = target
    world = Installation(doc)
    ids = [accepted(world, state="CA", monthly_bill=180) for _ in range(7)]
    routed = world.claim_and_route()
    # 0/2 = 0/10 (list order), then 1/2 > 1/10 … 4/10, then 1/2 = 5/10 (list order again)
    assert [s.sends[0].partner for s in routed.values()] == ["sunco", *["brightpath"] * 5, "sunco"]
    assert "loads: sunco 0/2 hour, brightpath 0/10 day" in world.job_of(ids[0]).trace
    assert "loads: sunco 1/2 hour, brightpath 5/10 day" in world.job_of(ids[6]).trace
    assert "sunco: chosen (least_loaded)" in world.job_of(ids[6]).trace


def test_an_unavailable_partner_is_skipped_and_the_change_is_audited() -> None:
    world = Installation()
    world.storage.transaction(
        lambda tx: set_availability_tx(tx, "sunco", False, actor="ops", note="break", clock=world.clock)
    )
    lead_id = accepted(world, state="CA", monthly_bill=180)
    [step] = world.claim_and_route().values()
    assert step.sends[0].partner == "brightpath"
    assert "sunco: partner unavailable (checked out)" in world.job_of(lead_id).trace
    [entry] = world.audit("partner.unavailable")
    assert (entry.actor, entry.object_kind, entry.object_id) == ("ops", "partners", "sunco")
    assert entry.detail == {"available": False, "before": True, "note": "break"}
    rows = {r.partner: r for r in world.storage.read(availability_tx)}
    assert rows["sunco"].available is False and rows["voltedge"].available is True

    world.storage.transaction(lambda tx: set_availability_tx(tx, "sunco", True, actor="ops"))
    again = accepted(world, state="CA", monthly_bill=180)
    [step] = world.claim_and_route().values()
    assert step.sends[0].partner == "sunco"
    assert not any("unavailable" in line for line in world.job_of(again).trace)
    assert world.audit("partner.available")[0].detail["before"] is False
    with pytest.raises(NotFound):
        world.storage.transaction(lambda tx: set_availability_tx(tx, "nobody", False, actor="ops"))


def test_every_partner_unavailable_leaves_the_lead_unsold() -> None:
    world = Installation()
    for name in ("sunco", "brightpath"):
        world.storage.transaction(lambda tx, n=name: set_availability_tx(tx, n, False, actor="ops"))
    lead_id = accepted(world, state="CA", monthly_bill=180)
    world.claim_and_route()
    job = world.job_of(lead_id)
    assert job.status == "unsold"
    assert {
        "sunco: partner unavailable (checked out)",
        "brightpath: partner unavailable (checked out)",
    } <= set(job.trace)
