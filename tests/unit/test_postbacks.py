"""Postbacks (issue 11, point 5) in the fast tier: the signed URL (tampering), the report's parsing
(revenue in cents, fields named), the outcome's moves, and the use case against the fakes (replays,
illegal moves, a delivery not delivered, the events stored for the source, the outcomes report)."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from leadrelay.configuration.load import validate_document
from leadrelay.configuration.secrets import MASK, mask, secret_places
from leadrelay.domain.after_sale_states import DeliveryOutcome as O
from leadrelay.domain.postbacks import (
    SIG_CHARS,
    next_outcome,
    parse_revenue,
    postback_url,
    read_report,
    sign,
    signature_ok,
)
from leadrelay.errors import ConfigError, Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from leadrelay.services.ports import OutcomeTotal
from leadrelay.services.postback_links import PostbackLinks, places_url
from leadrelay.services.postbacks import Postbacks
from tests.documents import lead
from tests.fakes.builders import delivery_row, job_row, lead_row
from tests.fakes.keys import FakeDedupKeys
from tests.unit.in_memory import Installation, document, http, run

KEY = b"k" * 32
BASE = "https://leads.example.com"


# ---------------------------------------------------------------- the signed URL


def test_the_url_names_its_delivery_and_carries_a_short_signature() -> None:
    url = postback_url(BASE + "/", KEY, "dlv_1")
    sig = sign(KEY, "dlv_1")
    assert url == f"{BASE}/v1/postbacks/dlv_1?sig={sig}"
    assert len(sig) == SIG_CHARS and "=" not in sig and "+" not in sig and "/" not in sig
    assert signature_ok(KEY, "dlv_1", sig)


@pytest.mark.parametrize(
    ("delivery_id", "sig"),
    [
        ("dlv_2", sign(KEY, "dlv_1")),  # another delivery's signature
        ("dlv_1", sign(KEY, "dlv_1")[:-1]),  # truncated
        ("dlv_1", sign(KEY, "dlv_1") + "A"),  # padded
        ("dlv_1", ("B" if sign(KEY, "dlv_1")[0] != "B" else "C") + sign(KEY, "dlv_1")[1:]),  # changed
        ("dlv_1", sign(b"x" * 32, "dlv_1")),  # another installation's key
        ("dlv_1", ""),
        ("dlv_1", "é" * SIG_CHARS),  # not ASCII (found by the OpenAPI fuzz: a 500 before)
        ("dlv_1", sign(KEY, "dlv_1")[:-1] + "\u00ff"),
        ("dlv_1", None),
        ("dlv_1", 12345),
    ],
)
def test_a_tampered_signature_is_refused(delivery_id: str, sig: Any) -> None:
    assert not signature_ok(KEY, delivery_id, sig)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        sign(b"short", "dlv_1")


# ---------------------------------------------------------------- the report


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("125.5", Decimal("125.50")),
        ("125.505", Decimal("125.51")),  # half up, to the cent
        ("0.004", Decimal("0.00")),
        (" 42 ", Decimal("42.00")),
        (42, Decimal("42.00")),
        (19.99, Decimal("19.99")),
        ("1e3", Decimal("1000.00")),
        ("", None),
        (None, None),
    ],
)
def test_revenue_is_quantized_to_cents(given: Any, expected: Decimal | None) -> None:
    got = parse_revenue(given)
    assert got == expected
    if got is not None:
        assert got.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("abc", "must be a number"),
        ("12,50", "must be a number"),
        ("-1", "negative"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("1e12", "at most"),
        (True, "must be a number"),
        ([1], "must be a number"),
    ],
)
def test_a_bad_revenue_is_refused_with_its_reason(given: Any, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_revenue(given)


def test_a_report_reads_its_fields() -> None:
    report = read_report({"outcome": "Converted", "revenue": "99.9", "event_id": "ev-1", "note": "won"})
    assert (report.outcome, report.revenue, report.event_id, report.note) == (
        O.CONVERTED,
        Decimal("99.90"),
        "ev-1",
        "won",
    )
    assert read_report({"outcome": "contacted", "event_id": 17}).event_id == "17"
    assert read_report({"outcome": ["rejected", "returned"]}).outcome is O.RETURNED  # the last one


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ({}, ["outcome"]),
        ({"outcome": "sold"}, ["outcome"]),
        ({"outcome": "converted", "revenue": "lots"}, ["revenue"]),
        ({"outcome": "x", "revenue": "-5"}, ["outcome", "revenue"]),
        ({"outcome": "contacted", "event_id": "has space"}, ["event_id"]),
        ({"outcome": "contacted", "event_id": "e" * 201}, ["event_id"]),
        ({"outcome": "contacted", "note": 5}, ["note"]),
        ({"outcome": "contacted", "note": "n" * 2001}, ["note"]),
    ],
)
def test_a_bad_report_names_every_bad_field(raw: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        read_report(raw)
    assert [p.field for p in caught.value.problems] == fields


# ---------------------------------------------------------------- the outcome's moves


@pytest.mark.parametrize(
    ("current", "reported"),
    [
        (None, O.CONTACTED),
        (None, O.CONVERTED),
        (None, O.REJECTED),
        (None, O.RETURNED),
        (O.CONTACTED, O.CONVERTED),
        (O.CONTACTED, O.REJECTED),
        (O.CONTACTED, O.RETURNED),
        (O.CONVERTED, O.RETURNED),  # a sale can still be sent back
    ],
)
def test_allowed_moves(current: O | None, reported: O) -> None:
    assert next_outcome(current, reported) is reported


@pytest.mark.parametrize(
    ("current", "reported", "why"),
    [
        (O.REJECTED, O.CONVERTED, "from rejected (final) to converted"),
        (O.RETURNED, O.CONTACTED, "from returned (final) to contacted"),
        (O.CONVERTED, O.CONTACTED, "from converted to contacted"),
        (O.CONVERTED, O.REJECTED, "from converted to rejected"),
        (O.CONTACTED, O.CONTACTED, "from contacted to contacted"),
        ("converted", O.CONVERTED, "from converted to converted"),
    ],
)
def test_illegal_moves_say_why(current: O | str, reported: O, why: str) -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_outcome(current, reported)
    assert why in caught.value.detail


# ---------------------------------------------------------------- configuration


def _with_postback(**postback: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document())
    doc["sources"]["web"]["postback"] = {"url": "https://tracker.example/pb", "events": ["sold"], **postback}
    return doc


def test_a_source_postback_is_configured() -> None:
    objects = validate_document(_with_postback(secret="whsec_" + "QUJD" * 8, events=["sold", "converted"]))
    assert objects["sources"]["web"]["postback"]["events"] == ["sold", "converted"]
    validate_document(_with_postback(secret_env="TRACKER_WHSEC"))


@pytest.mark.parametrize(
    ("postback", "says"),
    [
        ({}, "exactly one of: secret, secret_env"),
        ({"secret": "s", "secret_env": "X"}, "exactly one of: secret, secret_env"),
        ({"secret": "s", "events": ["sold", "paid"]}, "event"),
        ({"secret": "s", "events": []}, "events"),
        ({"secret": "s", "url": "ftp://x"}, "url"),
        ({"secret_env": "not a name"}, "secret_env"),
        ({"secret": "whsec_!!"}, "base64"),
    ],
)
def test_a_bad_source_postback_is_refused(postback: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_document(_with_postback(**postback))
    assert says in str(caught.value.problems)


# ---------------------------------------------------------------- the use case, against the fakes


def _world(events: list[str] | None = None) -> tuple[Installation, Postbacks, PostbackLinks, str]:
    """An installation whose source subscribes to ``events``, with one lead sold to a partner."""
    doc = _with_postback(secret="s3cret", events=events or ["sold", "converted"])
    inst = Installation(doc)
    links = PostbackLinks(FakeDedupKeys(), BASE)
    service = Postbacks(inst.storage, inst.configs, links, clock=inst.clock, ids=inst.ids)
    answer = inst.accept(lead(click_id="clk-42"))
    inst.work(http(200))
    [delivery] = inst.all("deliveries", lead_id=answer.lead_id)
    assert delivery.status == "delivered"
    return inst, service, links, delivery.id


def _receive(service: Postbacks, links: PostbackLinks, delivery_id: str, **params: Any) -> dict[str, Any]:
    sig = run(links.key())
    return run(service.receive(delivery_id, sign(sig, delivery_id), params))


def test_a_sale_is_stored_for_the_source_with_its_click_id() -> None:
    inst, _, _, delivery_id = _world()
    [relay] = inst.all("outbound_postbacks")
    assert (relay.event, relay.status, relay.delivery_id, relay.url) == (
        "sold",
        "ready",
        delivery_id,
        "https://tracker.example/pb",
    )
    assert relay.body["type"] == "lead.sold"
    assert relay.body["data"]["click_id"] == "clk-42"


def test_postbacks_move_the_outcome_and_refuse_replays_and_illegal_moves() -> None:
    inst, service, links, delivery_id = _world()
    got = _receive(service, links, delivery_id, outcome="contacted")
    assert (got["outcome"], got["previous"], got["relayed"]) == ("contacted", None, False)
    with pytest.raises(Conflict, match="replay: contacted was already reported"):
        _receive(service, links, delivery_id, outcome="contacted")
    got = _receive(service, links, delivery_id, outcome="converted", revenue="125.5", event_id="ev-1")
    assert (got["outcome"], got["revenue"], got["relayed"]) == ("converted", "125.50", True)
    with pytest.raises(Conflict, match="replay: event_id 'ev-1'"):
        _receive(service, links, delivery_id, outcome="returned", event_id="ev-1")
    with pytest.raises(InvalidTransition, match="from converted to contacted"):
        _receive(service, links, delivery_id, outcome="contacted", event_id="ev-2")
    _receive(service, links, delivery_id, outcome="returned", event_id="ev-3")
    with pytest.raises(InvalidTransition, match="from returned \\(final\\)"):
        _receive(service, links, delivery_id, outcome="converted", event_id="ev-4")
    assert inst.one("deliveries", id=delivery_id).outcome == "returned"
    stored = inst.all("postbacks", delivery_id=delivery_id)
    assert [(p.outcome, p.revenue_cents, p.event_id) for p in stored] == [
        ("contacted", None, None),
        ("converted", 12550, "ev-1"),
        ("returned", None, "ev-3"),
    ]
    assert [e.detail["outcome"] for e in inst.audit("postback")] == ["contacted", "converted", "returned"]
    assert [r.event for r in inst.all("outbound_postbacks")] == ["sold", "converted"]  # as subscribed


def test_a_wrong_signature_is_refused_before_anything_is_read() -> None:
    inst, service, _, delivery_id = _world()
    reads = inst.storage.transactions
    with pytest.raises(Forbidden):
        run(service.receive(delivery_id, sign(b"x" * 32, delivery_id), {"outcome": "contacted"}))
    with pytest.raises(Forbidden):  # even with a bad report: the signature comes first
        run(service.receive(delivery_id, "nope", {}))
    assert inst.storage.transactions == reads
    assert inst.all("postbacks") == []


def test_an_unknown_or_undelivered_delivery_is_refused() -> None:
    inst, service, links, _ = _world()

    def seed(tx: Any) -> None:
        tx.leads.insert_leads([lead_row("lead_x")])
        tx.jobs.insert_jobs([job_row("job_x", "lead_x")])
        tx.deliveries.insert_delivery(delivery_row("dlv_x", "job_x", "lead_x", "sunco"))

    inst.storage.transaction(seed)
    with pytest.raises(NotFound):
        _receive(service, links, "dlv_nope", outcome="contacted")
    with pytest.raises(Conflict, match="is pending, not delivered"):
        _receive(service, links, "dlv_x", outcome="contacted")


def test_the_outcomes_report_counts_and_sums_per_partner_and_source() -> None:
    inst, service, links, delivery_id = _world()
    partner = inst.one("deliveries", id=delivery_id).partner
    _receive(service, links, delivery_id, outcome="converted", revenue="10.10")
    inst.clock.advance(hours=2)
    _receive(service, links, delivery_id, outcome="returned", revenue="0.05")
    start = inst.clock.now - timedelta(hours=3)
    end = inst.clock.now + timedelta(seconds=1)
    by_partner = inst.storage.read(lambda tx: tx.postbacks.outcome_totals(start, end, "partner"))
    assert by_partner == [
        OutcomeTotal(partner, O.CONVERTED, 1, Decimal("10.10")),
        OutcomeTotal(partner, O.RETURNED, 1, Decimal("0.05")),
    ]
    by_source = inst.storage.read(lambda tx: tx.postbacks.outcome_totals(start, end, "source"))
    assert [(t.key, t.outcome) for t in by_source] == [("web", O.CONVERTED), ("web", O.RETURNED)]
    later = inst.storage.read(
        lambda tx: tx.postbacks.outcome_totals(end - timedelta(hours=1), end, "partner")
    )
    assert later == [OutcomeTotal(partner, O.RETURNED, 1, Decimal("0.05"))]  # [since, until)


@pytest.mark.parametrize(
    ("mapping", "places"),
    [
        ({"email": "{{ lead.email }}", "pb": "{{ postback.url }}"}, True),
        ([{"mapping": {"u": "{{ postback.url | urlencode }}"}}], True),
        ({"email": "{{ lead.email }}"}, False),
        (None, False),
    ],
)
def test_only_a_mapping_that_places_the_url_gets_it_signed(mapping: Any, places: bool) -> None:
    assert places_url(mapping) is places
    assert places_url(mapping) is places  # cached per document


def test_a_literal_source_secret_is_sealed_at_rest_and_masked() -> None:
    inst, _, _, _ = _world()
    [stored] = [r for r in inst.storage.rows("config_objects") if r.kind == "sources" and r.name == "web"]
    assert "s3cret" not in str(stored.doc)  # sealed (by the fake ring), never the literal
    doc = {"postback": {"url": "https://t.example/pb", "events": ["sold"], "secret": "s3cret"}}
    assert [path for path, _, _ in secret_places("sources", doc)] == ["postback.secret"]
    assert mask("sources", doc)["postback"]["secret"] == MASK


def test_erasing_the_lead_redacts_what_its_postback_notes_quote_of_it() -> None:
    inst, service, links, delivery_id = _world()
    [delivery] = inst.all("deliveries", id=delivery_id)
    phone = inst.one("leads", id=delivery.lead_id).data["phone"]
    _receive(service, links, delivery_id, outcome="contacted", note=f"reached {phone}, call back")
    _receive(service, links, delivery_id, outcome="converted", note="signed")
    assert run(inst.privacy.erase_lead(delivery.lead_id, actor="admin:ops"))
    notes = [p.note for p in inst.all("postbacks", delivery_id=delivery_id)]
    assert all(phone not in (n or "") for n in notes) and "signed" in notes
    assert any(n and n.endswith(", call back") for n in notes)
