"""A configuration applied while an auction's pings are out (issue 10, points 2 and 3): the award reads the
configuration in force then, and a profile switched off or a partner removed meanwhile ends the auction or
leaves that partner out, with a trace line, instead of failing the job. So is a partner checked out
meanwhile (point 8: an unavailable partner is never posted)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from leadrelay.domain.auction import Offer
from leadrelay.domain.ping import Bid, BidStatus
from leadrelay.domain.states import JobStatus
from leadrelay.services import configure
from leadrelay.services.availability import set_availability_tx
from leadrelay.services.steps import Auction
from tests.documents import lead
from tests.unit.in_memory import Installation, buyer_url, document


def pinging(doc: dict[str, Any]) -> tuple[Installation, str, Auction]:
    """An installation on ``doc`` and a lead whose auction's first pings are out."""
    world = Installation(doc)
    lead_id = world.accept(lead(state="CA")).lead_id
    job = world.job_of(lead_id)
    [step] = world.claim_and_route().values()
    assert step.auction is not None, step
    return world, job.id, step.auction


def award(world: Installation, job_id: str, auction: Auction, offers: list[Offer]) -> Any:
    [step] = world.storage.transaction(
        lambda tx: world.steps.award_batch(tx, [(job_id, auction, offers, [])])
    )
    return step


def delete(world: Installation, kind: str, name: str) -> None:
    """Delete an object as an operator does (``configure.delete_in``); the configuration is read again."""
    world.storage.transaction(lambda tx: configure.delete_in(tx, kind, name, actor="test", clock=world.clock))
    world.configs.invalidate()
    assert name not in getattr(world.live().compiled, kind)


def auction_doc() -> dict[str, Any]:
    doc = document()
    for name, partner in doc["partners"].items():
        partner["ping"] = {"url": buyer_url(f"{name}/ping")}
    rule = doc["profiles"]["solar-main"]["rules"][0]
    rule["send_to"] = {"partners": ["sunco", "brightpath"], "strategy": "auction", "deadline": "750ms"}
    return doc


@pytest.mark.parametrize("change", ["switched off", "deleted"])
def test_a_profile_switched_off_or_deleted_during_the_pings_leaves_the_lead_unsold_and_posts_nothing(
    change: str,
) -> None:
    doc = auction_doc()
    world, job_id, auction = pinging(doc)
    if change == "deleted":
        delete(world, "profiles", "solar-main")
    else:
        off = copy.deepcopy(doc)
        off["profiles"]["solar-main"]["enabled"] = False
        world.configure(off)
    offers = [
        Offer("sunco", Bid(BidStatus.ACCEPTED, 30.0)),
        Offer("brightpath", Bid(BidStatus.ACCEPTED, 20.0)),
    ]
    step = award(world, job_id, auction, offers)
    assert not step.sends, step
    job = world.one("jobs", id=job_id)
    assert job.status == JobStatus.UNSOLD, job
    assert job.error == "profile solar-main is missing or disabled", job
    assert "auction: profile solar-main is missing or disabled" in job.trace, job.trace
    assert {b.partner for b in world.all("bids", job_id=job_id)} == {
        "sunco",
        "brightpath",
    }  # the answers kept
    assert world.all("deliveries", job_id=job_id) == []


def test_a_partner_removed_during_the_pings_is_not_pinged_in_the_next_tier() -> None:
    doc = document()
    for name in ("sunco", "brightpath"):
        doc["partners"][name]["ping"] = {"url": buyer_url(f"{name}/ping")}
    doc["partners"]["voltedge"]["price"] = 10  # post-only: offered the lead at its list price
    profile = doc["profiles"]["solar-main"]
    profile["rules"][0]["send_to"] = {
        "strategy": "waterfall",
        "deadline": "750ms",
        "tiers": [{"partners": ["sunco"]}, {"partners": ["brightpath", "voltedge"]}],
    }
    world, job_id, auction = pinging(doc)
    assert auction.tier == 0
    rest = copy.deepcopy(doc)
    rest["profiles"]["solar-main"]["rules"][0]["send_to"]["tiers"][1]["partners"] = ["brightpath"]
    rest["profiles"]["solar-main"]["default"]["partners"] = ["brightpath"]
    world.configure(rest)  # no longer naming voltedge, which can then be deleted
    delete(world, "partners", "voltedge")
    refused = Bid(BidStatus.REFUSED, reason="not buying")
    step = award(world, job_id, auction, [Offer("sunco", refused)])
    assert step.auction is not None, step  # the next tier's pings
    assert [p.partner for p in step.auction.pings] == ["brightpath"], step.auction
    assert "voltedge: removed from configuration since the auction began (not pinged)" in step.auction.trace


def test_the_winner_removed_during_the_pings_leaves_the_post_to_the_next_bid() -> None:
    doc = auction_doc()
    world, job_id, auction = pinging(doc)
    rest = copy.deepcopy(doc)
    rest["profiles"]["solar-main"]["rules"][0]["send_to"]["partners"] = ["brightpath"]
    world.configure(rest)
    delete(world, "partners", "sunco")
    assert_posted_to_the_runner_up(world, job_id, auction, "sunco: removed from configuration since its bid")


def assert_posted_to_the_runner_up(world: Installation, job_id: str, auction: Auction, line: str) -> None:
    """sunco bids 30, brightpath 20: the post goes to brightpath, and the trace says why with ``line``."""
    offers = [
        Offer("sunco", Bid(BidStatus.ACCEPTED, 30.0)),
        Offer("brightpath", Bid(BidStatus.ACCEPTED, 20.0)),
    ]
    step = award(world, job_id, auction, offers)
    assert [item.partner for item in step.sends] == ["brightpath"], step
    assert line in world.one("jobs", id=job_id).trace
    assert [d.partner for d in world.all("deliveries", job_id=job_id)] == ["brightpath"]


def test_the_winner_checked_out_during_the_pings_leaves_the_post_to_the_next_bid() -> None:
    world, job_id, auction = pinging(auction_doc())
    world.storage.transaction(lambda tx: set_availability_tx(tx, "sunco", False, actor="partner:sunco"))
    line = "sunco: partner unavailable (checked out since its bid)"
    assert_posted_to_the_runner_up(world, job_id, auction, line)
