"""The events relayed to a source name the buyer, and tell its revenue and note, only when the source may
see the buyer (``show_buyer: true``, as its answers and portal do); otherwise those keys are null, the
body's keys the same, for every event kind, and a stored event is sent without them once the source no
longer may see the buyer."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import ChannelSpec
from leadrelay.domain.postback_relay import BUYER_KEYS, RelayEvent, event_body, for_source
from leadrelay.domain.postbacks import sign
from leadrelay.services.postback_links import PostbackLinks
from leadrelay.services.postback_relay import PostbackRelay, relay_rows
from leadrelay.services.postbacks import Postbacks
from tests.documents import lead
from tests.fakes.keys import FakeDedupKeys
from tests.unit.in_memory import Installation, document, http, run

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DATA_KEYS = {"event_id", "event", "lead_id", "click_id", "delivery_id", "partner", "revenue", "note"}


def _doc(show_buyer: bool | None) -> dict[str, Any]:
    doc = copy.deepcopy(document())
    web = doc["sources"]["web"]
    web["postback"] = {
        "url": "https://tracker.example/pb",
        "events": ["sold", "contacted", "converted", "rejected", "returned"],
        "secret": "s3cret",
    }
    if show_buyer is None:
        web.pop("show_buyer", None)  # the default
    else:
        web["show_buyer"] = show_buyer
    return doc


def _sold_and_reported(show_buyer: bool | None) -> tuple[Installation, list[dict[str, Any]]]:
    """A lead sold, then contacted, converted (with revenue) and returned, each with the buyer's note; the
    events stored for its source, in order."""
    inst = Installation(_doc(show_buyer))
    links = PostbackLinks(FakeDedupKeys(), "https://leads.example.com")
    service = Postbacks(inst.storage, inst.configs, links, clock=inst.clock, ids=inst.ids)
    inst.accept(lead(click_id="clk-7"))
    inst.work(http(200))
    [delivery] = inst.all("deliveries", status="delivered")
    key = run(links.key())
    for outcome, extra in (
        ("contacted", {}),
        ("converted", {"revenue": "900"}),
        ("returned", {"revenue": "0"}),
    ):
        params = {"outcome": outcome, "note": "Sunco desk 4", **extra}
        run(service.receive(delivery.id, sign(key, delivery.id), params))
    return inst, [dict(r.body) for r in inst.all("outbound_postbacks")]


@pytest.mark.parametrize("show_buyer", [False, None])
def test_a_source_without_show_buyer_is_told_sold_and_outcomes_not_by_whom(show_buyer: bool | None) -> None:
    _, bodies = _sold_and_reported(show_buyer)
    assert [b["type"] for b in bodies] == ["lead.sold", "lead.contacted", "lead.converted", "lead.returned"]
    for body in bodies:
        assert set(body["data"]) == DATA_KEYS, body
        assert [body["data"][k] for k in BUYER_KEYS] == [None, None, None], body
        assert body["data"]["click_id"] == "clk-7"


def test_a_source_with_show_buyer_is_told_the_buyer_its_revenue_and_note() -> None:
    inst, bodies = _sold_and_reported(True)
    [delivery] = inst.all("deliveries", status="delivered")
    got = [(b["type"], *(b["data"][k] for k in BUYER_KEYS)) for b in bodies]
    assert got == [
        ("lead.sold", delivery.partner, None, None),
        ("lead.contacted", delivery.partner, None, "Sunco desk 4"),
        ("lead.converted", delivery.partner, "900.00", "Sunco desk 4"),
        ("lead.returned", delivery.partner, "0.00", "Sunco desk 4"),
    ]
    assert all(set(b["data"]) == DATA_KEYS for b in bodies)


@pytest.mark.parametrize("event", list(RelayEvent))
@pytest.mark.parametrize("show_buyer", [True, False])
def test_every_event_kind_has_the_same_keys(event: RelayEvent, show_buyer: bool) -> None:
    body = event_body(
        "pbo_1",
        event,
        AT,
        lead_id="lead_1",
        click_id=None,
        delivery_id="dlv_1",
        partner="sunco",
        show_buyer=show_buyer,
        revenue=Decimal("12.50"),
        note="n",
    )
    assert set(body) == {"type", "timestamp", "data"} and set(body["data"]) == DATA_KEYS
    assert (body["data"]["partner"], body["data"]["revenue"]) == (
        ("sunco", "12.50") if show_buyer else (None, None)
    )
    assert for_source(body, False)["data"] == {**body["data"], "partner": None, "revenue": None, "note": None}
    assert for_source(body, True) == body


class Captured:
    """A channel that records what it was asked to send and answers 200."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, lead: LeadView, spec: ChannelSpec) -> AttemptResult:
        self.sent.append(dict(lead.values))
        return AttemptResult(Outcome.SUCCESS, status_code=200)

    async def close(self) -> None:
        return None


def test_an_event_stored_while_the_source_saw_the_buyer_is_sent_without_it_once_it_may_not() -> None:
    inst, stored = _sold_and_reported(True)
    assert stored[0]["data"]["partner"] is not None
    inst.configure(_doc(False))
    channel = Captured()
    relay = PostbackRelay(inst.storage, inst.configs, channel, owner="t", clock=inst.clock)
    assert run(relay.run_once()) == 4
    assert len(channel.sent) == 4
    assert all([s["data"][k] for k in BUYER_KEYS] == [None, None, None] for s in channel.sent)
    assert [s["data"]["event_id"] for s in channel.sent] == [b["data"]["event_id"] for b in stored]


def test_the_distribution_detail_shows_the_postback_url_without_its_credentials() -> None:
    """The relayed events' ``url`` in ``GET /v1/distributions/{id}`` (viewers may read it) kept the source's
    URL password and API key in clear (black-box pass, 2026-12-06)."""
    doc = _doc(True)
    doc["sources"]["web"]["postback"]["url"] = "https://u:PASSWORD99@tracker.example/pb?api_key=QUERYKEY123"
    inst = Installation(doc)
    links = PostbackLinks(FakeDedupKeys(), "https://leads.example.com")
    service = Postbacks(inst.storage, inst.configs, links, clock=inst.clock, ids=inst.ids)
    lead_id = inst.accept(lead(click_id="clk-8")).lead_id
    inst.work(http(200))
    [delivery] = inst.all("deliveries", status="delivered")
    run(service.receive(delivery.id, sign(run(links.key()), delivery.id), {"outcome": "contacted"}))
    shown = inst.storage.read(lambda tx: relay_rows(tx, lead_id))
    assert [r["url"] for r in shown] == ["https://u:***@tracker.example/pb?api_key=***"] * len(shown), shown
    assert len(shown) == 2  # sold, contacted
