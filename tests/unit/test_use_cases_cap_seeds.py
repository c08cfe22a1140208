"""A cap added in the middle of its window (black-box pass, 2026-12-06): the window counts what it held
before the cap was applied, the partner's deliveries of that window (a profile's cap: that profile's), so
the cap holds from its first lead; a source's cap counts the source's valid leads. In memory; the SQL is
tests/integration/test_cap_seeds.py."""

from __future__ import annotations

from typing import Any

from tests.documents import lead
from tests.unit.in_memory import Installation, document, http, run


def sell(world: Installation, i: int) -> str:
    """A west-coast lead (sunco first, then brightpath), sold; its partner."""
    lead_id = world.accept(lead(phone=f"(512) 555-{1000 + i}", email=f"p{i}@example.com")).lead_id
    world.work(http(200, '{"reference": "r"}'))
    found = world.all("deliveries", lead_id=lead_id)
    return found[0].partner if found else ""


def with_caps(**sunco: Any) -> dict[str, Any]:
    return document(sunco=sunco)


def test_a_partner_cap_added_mid_window_counts_the_deliveries_it_had_before() -> None:
    world = Installation(document())
    assert [sell(world, i) for i in range(3)] == ["sunco"] * 3
    world.configure(with_caps(caps={"hour": 3, "day": 4}))
    assert sell(world, 3) == "brightpath"  # sunco had 3 this hour: at its new cap at once
    trace = world.one("jobs", lead_id=world.all("deliveries", partner="brightpath")[0].lead_id).trace
    assert any("sunco: cap hour 3/3 reached" in line for line in trace), trace
    counters = {(r.scope, r.window[:1]): r.used for r in world.all("cap_counters", partner="sunco")}
    assert counters == {("", "h"): 3, ("", "d"): 3}


def test_a_profile_cap_added_mid_window_counts_that_profiles_deliveries() -> None:
    world = Installation(document())
    assert [sell(world, i) for i in range(2)] == ["sunco"] * 2
    doc = document()
    doc["profiles"]["solar-main"]["partner_caps"] = {"sunco": {"day": 2}}
    world.configure(doc)
    assert sell(world, 2) == "brightpath"


def test_a_failed_delivery_gave_its_slot_back_and_is_not_counted() -> None:
    world = Installation(document())
    world.accept(lead(phone="(512) 555-2000", email="f@example.com"))
    world.work(http(400, "refused"))  # sunco refuses, brightpath takes it
    world.configure(with_caps(caps={"hour": 1}))
    assert sell(world, 1) == "sunco"  # sunco's refused delivery holds no slot


def test_a_window_counted_already_is_left_as_it_is_and_applying_again_changes_nothing() -> None:
    world = Installation(with_caps(caps={"hour": 5}))
    assert [sell(world, i) for i in range(2)] == ["sunco"] * 2
    world.configure(with_caps(caps={"hour": 5, "day": 9}))  # the hour counted from the start: kept
    world.configure(with_caps(caps={"hour": 5, "day": 9}))
    counters = {r.window[:1]: r.used for r in world.all("cap_counters", partner="sunco")}
    assert counters == {"h": 2, "d": 2}


def test_a_source_cap_added_mid_window_counts_its_valid_leads() -> None:
    world = Installation(document())
    for i in range(2):
        world.accept(lead(phone=f"(512) 555-{3000 + i}", email=f"s{i}@example.com"))
    world.accept(lead(phone="12"))  # rejected: takes no slot
    doc = document()
    doc["sources"]["web"]["caps"] = {"day": 2}
    world.configure(doc)
    [counter] = world.all("cap_counters", partner="source:web")
    assert counter.used == 2


# ---------------------------------------------------------------- after the second reading


def _job(world: Installation, partner: str, n: int = 0) -> str:
    return str(world.all("deliveries", partner=partner)[n].job_id)


def test_a_sale_counted_by_the_seed_gives_its_slot_back_when_cancelled() -> None:
    world = Installation(document())
    assert [sell(world, i) for i in range(3)] == ["sunco"] * 3
    world.configure(with_caps(caps={"hour": 3}))
    run(world.actions.cancel(_job(world, "sunco"), actor="test"))  # its slot back, as a capped sale's
    assert sell(world, 3) == "sunco"


def test_a_resend_takes_no_slot_and_is_not_counted() -> None:
    world = Installation(document())
    assert [sell(world, i) for i in range(2)] == ["sunco"] * 2
    run(world.actions.resend(_job(world, "sunco"), actor="test"))
    world.work(http(200, '{"reference": "r"}'))
    assert len(world.all("deliveries", partner="sunco", status="delivered")) == 3
    world.configure(with_caps(caps={"hour": 3}))
    assert sell(world, 2) == "sunco"  # 2 sales hold slots; the resend repeats one of them


def test_a_cap_removed_and_added_again_in_its_window_counts_again() -> None:
    world = Installation(with_caps(caps={"hour": 3}))
    assert [sell(world, i) for i in range(2)] == ["sunco"] * 2
    world.configure(document())  # no cap: the counter froze at 2
    assert sell(world, 2) == "sunco"
    world.configure(with_caps(caps={"hour": 3}))
    assert sell(world, 3) == "brightpath"  # 3 this hour already


def test_a_partner_moved_to_another_zone_counts_its_windows_there_again() -> None:
    doc = document()
    doc["profiles"]["solar-main"]["partner_caps"] = {"sunco": {"day": 3}}
    world = Installation(doc)
    assert [sell(world, i) for i in range(3)] == ["sunco"] * 3
    doc["partners"]["sunco"]["timezone"] = "Asia/Tokyo"  # another day's key there
    world.configure(doc)
    assert sell(world, 3) == "brightpath"


def test_a_month_cap_counts_its_sales_without_updating_each() -> None:
    """For a month's or a whole history's window the sales are counted, not each updated (an apply could
    otherwise rewrite every delivery a partner ever had); a cancel of one of them keeps its slot."""
    world = Installation(document())
    assert [sell(world, i) for i in range(3)] == ["sunco"] * 3
    world.configure(with_caps(caps={"month": 3}))
    assert sell(world, 3) == "brightpath"
    sold = world.all("deliveries", partner="sunco", status="delivered")
    assert all(not any(w[1].startswith("m:") for w in d.cap_windows) for d in sold)
