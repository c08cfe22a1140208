"""Supplier-side ping (``services.supplier_ping``) against the fakes, time injected: the quote, what is
stored (no lead value), a token's life (expired: 410, without waiting), its single use (409), a personal
field refused by name (422), and the lead with the token routed to the ping's winning bid without a new
ping, skipping a bidder the lead may no longer go to."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from leadrelay.adapters.channels.webhook import classify
from leadrelay.configuration.load import validate_document
from leadrelay.domain.attempts import AttemptResult, LeadView
from leadrelay.domain.model import ChannelSpec
from leadrelay.errors import ConfigError, Conflict, Expired, Forbidden, ValidationFailed
from leadrelay.services import configure, supplier_ping
from leadrelay.services.supplier_ping import PingQuote, Redeemed, SupplierPings
from tests.documents import lead
from tests.fakes.ledger import FakeLedger
from tests.unit.in_memory import Installation, document, http, run

PARTIAL = {"zip": "94103", "state": "CA", "monthly_bill": 180}
BIDS = {"sunco": 12.0, "brightpath": 15.0, "voltedge": 9.0}


class Bidders:
    """The channel port as the buyers answer pings: each partner bids its price in ``BIDS``."""

    def __init__(self) -> None:
        self.pings: list[LeadView] = []

    async def send(self, lead: LeadView, spec: ChannelSpec) -> AttemptResult:
        self.pings.append(lead)
        body = orjson.dumps({"price": BIDS[lead.partner], "reference": f"{lead.partner}-bid"}).decode()
        return classify(200, body, None, None, 5.0, {"body": dict(lead.values)})

    async def close(self) -> None:
        return None


def auction_doc() -> dict[str, Any]:
    doc = copy.deepcopy(document())
    for name, partner in doc["partners"].items():
        partner["ping"] = {"url": f"https://{name}.buyer.example/ping"}
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = {
        "partners": ["sunco", "brightpath", "voltedge"],
        "strategy": "auction",
        "floor": 10,
    }
    doc["sources"]["other"] = {"entities": ["solar"]}
    return doc


def world(doc: dict[str, Any] | None = None) -> tuple[Installation, SupplierPings, Bidders]:
    inst = Installation(doc or auction_doc())
    bidders = Bidders()
    pings = SupplierPings(inst.storage, inst.configs, bidders, clock=inst.clock, ids=inst.ids)
    return inst, pings, bidders


def quote(pings: SupplierPings, body: dict[str, Any] | None = None, source: str = "web") -> PingQuote:
    return run(pings.ping(source, "solar", body if body is not None else PARTIAL))


def test_a_ping_quotes_the_best_bid_and_stores_no_lead_value() -> None:
    inst, pings, bidders = world()
    q = quote(pings)
    assert (q.accepted, q.price) == (True, 15.0)
    assert q.expires_at == inst.clock.now.replace(microsecond=0) + timedelta(minutes=2)
    assert sorted(p.partner for p in bidders.pings) == ["brightpath", "sunco", "voltedge"]
    assert all(set(p.values) == {"zip", "state", "monthly_bill"} for p in bidders.pings)
    [row] = inst.storage.rows("supplier_pings")
    assert (row.source, row.entity, row.price, row.used_at, row.lead_id) == ("web", "solar", 15.0, None, None)
    bids = row.auctions["solar-main"]["bids"]
    assert {b["partner"]: (b["price"], b["rank"]) for b in bids} == {
        "sunco": (12.0, 2),
        "brightpath": (15.0, 1),
        "voltedge": (9.0, None),
    }
    assert "94103" not in orjson.dumps(row.auctions).decode()


def test_the_ttl_is_per_source() -> None:
    doc = auction_doc()
    doc["sources"]["web"]["ping_token_ttl"] = "30s"
    inst, pings, _ = world(doc)
    q = quote(pings)
    assert q.expires_at is not None
    assert (q.expires_at - inst.clock.now).total_seconds() == pytest.approx(30, abs=1)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**PARTIAL, "email": "ada@example.com"}, ["email"]),
        ({**PARTIAL, "first_name": "Ada", "phone": "5125551212"}, ["first_name", "phone"]),
        ({**PARTIAL, "street_address": "1 Main St"}, ["street_address"]),  # not a field of the entity
    ],
)
def test_a_personal_field_is_refused_by_name_and_nothing_is_pinged(
    body: dict[str, Any], fields: list[str]
) -> None:
    inst, pings, bidders = world()
    with pytest.raises(ValidationFailed) as caught:
        quote(pings, body)
    assert [p.field for p in caught.value.problems] == fields
    assert bidders.pings == [] and inst.storage.rows("supplier_pings") == []


def test_an_invalid_value_is_refused_but_a_missing_personal_required_field_is_not() -> None:
    _, pings, _ = world()
    with pytest.raises(ValidationFailed) as caught:
        quote(pings, {"state": "CA", "monthly_bill": 180})  # zip is required and not personal
    assert [p.field for p in caught.value.problems] == ["zip"]


def test_the_lead_with_the_token_posts_to_the_winning_bid_without_a_new_ping() -> None:
    inst, pings, bidders = world()
    q = quote(pings)
    answer = inst.accept(ping_token=q.token)
    assert answer.code == 202
    [row] = inst.storage.rows("supplier_pings")
    assert (row.lead_id, row.used_at) == (answer.lead_id, inst.clock.now)
    job = inst.job_of(answer.lead_id)
    assert job.trace[0] == f"ping {q.ping_id}: its best bid was 15.00; the ping's bids stand"
    [step] = inst.claim_and_route().values()
    [send] = step.sends
    assert (send.partner, send.price, send.lead.ping_reference) == ("brightpath", 15.0, "brightpath-bid")
    assert len(bidders.pings) == 3  # the ping's, no more
    # brightpath refuses the post: the next bid of the ping gets it
    done = inst.deliver(step, job.id, http(400, '{"reason": "nope"}'))
    assert done.done or done.sends
    sunco = [d for d in inst.all("deliveries", job_id=job.id) if d.partner == "sunco"]
    assert sunco and sunco[0].price == 12.0


def test_a_bidder_checked_out_since_the_ping_is_skipped() -> None:
    inst, pings, _ = world()
    q = quote(pings)
    inst.storage.transaction(
        lambda tx: tx.caps.set_availability("brightpath", False, None, "test", inst.clock.now)
    )
    answer = inst.accept(ping_token=q.token)
    [step] = inst.claim_and_route().values()
    assert [s.partner for s in step.sends] == ["sunco"]
    trace = inst.job_of(answer.lead_id).trace
    assert "brightpath: not eligible for this lead now (since its bid)" in trace


def test_an_expired_token_is_gone_and_a_used_one_conflicts() -> None:
    inst, pings, _ = world()
    q = quote(pings)
    inst.clock.advance(minutes=2)
    with pytest.raises(Expired, match="ping_token expired at"):
        inst.accept(ping_token=q.token)
    assert inst.all("leads") == []

    fresh = quote(pings)
    inst.accept(ping_token=fresh.token)
    with pytest.raises(Conflict, match="ping_token was already used"):
        inst.accept(ping_token=fresh.token)
    assert len(inst.all("leads")) == 1


def test_a_keyed_repeat_of_a_lead_with_a_token_gets_its_first_answer_not_a_conflict() -> None:
    inst, pings, _ = world()
    q = quote(pings)
    first = inst.accept(ping_token=q.token, idempotency_key="k1")
    again = inst.accept(ping_token=q.token, idempotency_key="k1")
    assert again.repeat and again.lead_id == first.lead_id and again.code == 202
    with pytest.raises(Conflict, match="ping_token was already used"):  # a new key is a new lead
        inst.accept(ping_token=q.token, idempotency_key="k2")
    assert len(inst.all("leads")) == 1


def test_a_token_of_another_source_is_forbidden_and_a_rejected_lead_does_not_use_it() -> None:
    inst, pings, _ = world()
    q = quote(pings)
    with pytest.raises(Forbidden, match="ping_token was issued to another source"):
        inst.accept(source="other", ping_token=q.token)
    rejected = inst.accept(lead(phone=None), ping_token=q.token)
    assert rejected.code == 422
    [row] = inst.storage.rows("supplier_pings")
    assert row.used_at is None
    assert inst.accept(ping_token=q.token).code == 202


def test_a_token_used_between_the_check_and_the_write_is_refused_in_the_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check before the write reads the token unused; another lead uses it before this lead's write:
    the write's conditional update refuses it and the lead is not stored."""
    inst, pings, _ = world()
    q = quote(pings)
    [row] = inst.storage.rows("supplier_pings")
    checked = supplier_ping.redeem

    async def then_used_elsewhere(*args: Any) -> Redeemed:
        redeemed = await checked(*args)
        inst.storage.transaction(
            lambda tx: tx.deliveries.use_supplier_ping(row.id, "lead_other", inst.clock.now)
        )
        return redeemed

    monkeypatch.setattr(supplier_ping, "redeem", then_used_elsewhere)
    with pytest.raises(Conflict, match="ping_token was already used"):
        inst.accept(ping_token=q.token)
    assert inst.all("leads") == []


def test_a_lead_closed_at_intake_gets_no_bids() -> None:
    doc = auction_doc()
    doc["entities"]["solar"]["dedup"] = {"keys": ["email"], "window": "1d"}
    inst, pings, _ = world(doc)
    inst.accept()
    q = quote(pings)
    again = inst.accept(ping_token=q.token)
    assert again.body()["status"] == "duplicate"
    assert inst.all("bids", lead_id=again.lead_id) == []


@pytest.mark.parametrize(
    ("ttl", "words"),
    [("2h", "must be at most 1h"), ("0s", "more than zero"), ("soon", "duration")],
)
def test_a_ping_token_ttl_out_of_bounds_is_refused_with_its_path(ttl: str, words: str) -> None:
    doc = auction_doc()
    doc["sources"]["web"]["ping_token_ttl"] = ttl
    with pytest.raises(ConfigError) as caught:
        validate_document(doc)
    [found] = caught.value.problems
    assert found.path == "sources.web.ping_token_ttl" and words in found.message, found


def test_a_token_on_a_lead_of_another_entity_is_refused_and_stays_unused() -> None:
    doc = auction_doc()
    doc["entities"]["roofing"] = copy.deepcopy(doc["entities"]["solar"])
    doc["sources"]["web"]["entities"] = ["solar", "roofing"]
    inst, pings, _ = world(doc)
    q = quote(pings)
    with pytest.raises(ValidationFailed) as refused:
        inst.accept(entity="roofing", ping_token=q.token)
    [problem] = refused.value.problems
    assert problem.field == "ping_token" and "issued for a solar lead, not a roofing one" in problem.error
    assert inst.all("leads") == []
    [row] = inst.storage.rows("supplier_pings")
    assert row.used_at is None
    assert inst.accept(ping_token=q.token).code == 202  # still good for the entity it was pinged for


def test_a_token_of_a_deleted_source_is_refused_to_a_source_created_later_under_its_name() -> None:
    doc = auction_doc()
    inst, pings, _ = world(doc)
    q = quote(pings)
    used = quote(pings)
    inst.accept(ping_token=used.token)
    inst.storage.transaction(
        lambda tx: configure.delete_in(tx, "sources", "web", actor="test", clock=inst.clock)
    )
    inst.configure(doc)  # "web" again: another party
    with pytest.raises(Forbidden, match="ping_token was issued to a source since deleted"):
        inst.accept(ping_token=q.token)
    with pytest.raises(Conflict, match="already used"):  # a used token stays the lead's
        inst.accept(ping_token=used.token)
    assert len(inst.all("leads")) == 1


def test_a_lead_quoted_a_fixed_payout_takes_the_per_lead_lock_when_the_terms_in_force_are_a_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two profiles' sales of one lead settle in two workers at once on PostgreSQL: the fixed payout once
    per lead is decided under the lead's lock, which the quote's terms call for even when the terms in force
    (a share) would not."""
    doc = auction_doc()
    doc["sources"]["web"]["payout"] = {"fixed": 4}
    inst, pings, _ = world(doc)
    q = quote(pings)
    doc["sources"]["web"]["payout"] = {"share": "50%"}
    inst.configure(doc)
    locked: list[set[str]] = []
    monkeypatch.setattr(FakeLedger, "lock_leads", lambda self, ids: locked.append(set(ids)))
    lead_id = inst.accept(ping_token=q.token).lead_id
    inst.work(http(200, '{"status": "accepted"}'))
    assert {lead_id} in locked
    payouts = [
        e for e in inst.storage.read(lambda tx: tx.ledger.entries(lead_ids=[lead_id])) if e.kind == "payout"
    ]
    assert [e.amount for e in payouts] == [Decimal("-4.00")]
