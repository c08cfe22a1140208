"""User choice (issue 10, point 5): its configuration (``strategy: user_choice`` with ``offer_ttl``; a
partner's ``display_name``, ``logo_url`` and ``show_price``) refused with paths where it is wrong, the pure
decisions (``domain.offers``), and the use case on the fakes with an injected clock: offer, select, expire
(``services.user_choice``, as the worker and the API drive it)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from leadrelay.configuration.load import build_specs, validate_document
from leadrelay.domain.model import Strategy
from leadrelay.domain.offers import (
    NO_OFFER_SELECTED,
    RefusalKind,
    expired_line,
    offered_line,
    public_offer,
    refusal,
    selected_line,
)
from leadrelay.domain.states import DeliveryStatus, JobStatus, LeadStatus, OfferStatus, QueueState
from leadrelay.errors import ConfigError, Conflict, Gone, NotFound
from leadrelay.services import user_choice
from leadrelay.services.user_choice import Offers
from tests.documents import base_config, lead
from tests.fakes import START
from tests.unit.in_memory import Installation, buyer_url, http, run

RULE = "profiles.solar-main.rules[0].send_to"
LOGO = "https://cdn.example.com/sunco.png"


def _doc(target: dict[str, Any], **partners: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base_config(buyer_url))
    for name, partner in doc["partners"].items():
        partner.update(partners.get(name, {}))
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = target
    return doc


def _problems(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        validate_document(doc)
    return {p.path: p.message for p in caught.value.problems}


CHOICE = {"partners": ["sunco", "brightpath", "voltedge"], "strategy": "user_choice"}


# ---------------------------------------------------------------- configuration


def test_a_user_choice_target_is_canonical_with_its_ttl_and_partners_show_themselves() -> None:
    doc = _doc(CHOICE, sunco={"display_name": " SunCo Solar ", "logo_url": LOGO, "show_price": True})
    objects = validate_document(doc)
    send_to = objects["profiles"]["solar-main"]["rules"][0]["send_to"]
    assert send_to == {
        "partners": ["sunco", "brightpath", "voltedge"],
        "strategy": "user_choice",
        "weights": {},
        "priorities": {},
        "offer_ttl": "10m",
    }
    sunco = objects["partners"]["sunco"]
    assert (sunco["display_name"], sunco["logo_url"], sunco["show_price"]) == ("SunCo Solar", LOGO, True)
    specs = build_specs(objects)
    target = specs.profiles["solar-main"].rules[0].send_to
    assert (target.strategy, target.offer_ttl_s) == (Strategy.USER_CHOICE, 600.0)
    partner = specs.partners["sunco"]
    assert (partner.display_name, partner.logo_url, partner.show_price) == ("SunCo Solar", LOGO, True)
    assert specs.partners["voltedge"].display_name is None and not specs.partners["voltedge"].show_price
    short = validate_document(_doc(CHOICE | {"offer_ttl": "90s"}))
    assert short["profiles"]["solar-main"]["rules"][0]["send_to"]["offer_ttl"] == "90s"
    assert build_specs(short).profiles["solar-main"].rules[0].send_to.offer_ttl_s == 90.0


@pytest.mark.parametrize(
    ("target", "partners", "path", "words"),
    [
        (
            {"strategy": "priority", "offer_ttl": "5m"},
            {},
            f"{RULE}.offer_ttl",
            "only to strategy 'user_choice'",
        ),
        (
            {"strategy": "auction", "offer_ttl": "5m"},
            {},
            f"{RULE}.offer_ttl",
            "only to strategy 'user_choice'",
        ),
        ({"offer_ttl": "8d"}, {}, f"{RULE}.offer_ttl", "must be at most 7d"),
        ({"offer_ttl": "0s"}, {}, f"{RULE}.offer_ttl", "more than zero"),
        ({"floor": 5}, {}, f"{RULE}.floor", "applies only to strategies 'auction' and 'waterfall'"),
        ({}, {"sunco": {"logo_url": "http://cdn.example.com/a.png"}}, "partners.sunco.logo_url", "https://"),
        ({}, {"sunco": {"logo_url": "logo.png"}}, "partners.sunco.logo_url", "must be an https:// URL"),
        ({}, {"sunco": {"display_name": "  "}}, "partners.sunco.display_name", "1 to 100 printable"),
        ({}, {"sunco": {"display_name": "x" * 101}}, "partners.sunco.display_name", "1 to 100 printable"),
        ({}, {"voltedge": {"show_price": True}}, "partners.voltedge.show_price", "give it one"),
    ],
)
def test_bad_user_choice_settings_are_refused_with_their_path(
    target: dict[str, Any], partners: dict[str, dict[str, Any]], path: str, words: str
) -> None:
    problems = _problems(_doc(CHOICE | target, **partners))
    assert path in problems, problems
    assert words in problems[path]


# ---------------------------------------------------------------- the pure decisions


def test_an_offer_may_be_selected_once_and_only_in_its_time() -> None:
    later = START + timedelta(minutes=10)
    assert refusal("ofr_1", OfferStatus.OPEN, later, ["open", "open"], START) is None
    gone = refusal("ofr_1", OfferStatus.OPEN, later, [], later)  # its last instant is past
    assert gone is not None and gone.kind is RefusalKind.GONE
    assert (
        gone.detail.startswith("offer ofr_1 expired at 2026-") and "can no longer be selected" in gone.detail
    )
    again = refusal("ofr_1", "selected", later, ["expired"], START)
    assert again is not None and again.kind is RefusalKind.TAKEN and "already selected" in again.detail
    # a sibling selected: a conflict, even once the time is past (the lead was sold, not lost)
    sibling = refusal("ofr_1", "expired", later, ["selected"], later + timedelta(hours=1))
    assert sibling is not None and sibling.kind is RefusalKind.TAKEN
    expired = refusal("ofr_1", "expired", later, ["expired"], later)
    assert expired is not None and expired.kind is RefusalKind.GONE and "expired at" in expired.detail
    withdrawn = refusal("ofr_1", "expired", later, ["expired"], START)  # before its time: the lead erased
    assert withdrawn is not None and withdrawn.kind is RefusalKind.GONE and "withdrawn" in withdrawn.detail


def test_the_source_sees_the_price_only_where_the_partner_shows_it() -> None:
    shown = public_offer("ofr_1", "SunCo", LOGO, 25.0, True, START)
    assert shown == {
        "id": "ofr_1",
        "partner": "SunCo",
        "logo_url": LOGO,
        "price": 25.0,
        "expires_at": "2026-11-22T15:30:00Z",
    }
    hidden = public_offer("ofr_2", "BrightPath", None, 30.0, False, START)
    assert "price" not in hidden and hidden["logo_url"] is None
    assert "price" not in public_offer("ofr_3", "V", None, None, True, START)


def test_trace_lines() -> None:
    until = START + timedelta(minutes=10)
    assert (
        offered_line(["a", "b"], 600, until)
        == "user choice: offered a, b (valid 10m, until 2026-11-22T15:40:00Z)"
    )
    assert "valid 90s" in offered_line(["a"], 90, until) and "valid 2h" in offered_line(["a"], 7200, until)
    assert "valid 1.5s" in offered_line(["a"], 1.5, until)
    assert (
        selected_line("b", "ofr_2", ["a", "c"])
        == "user choice: b selected (offer ofr_2); a, c not selected (expired)"
    )
    assert selected_line("b", "ofr_2", []) == "user choice: b selected (offer ofr_2)"
    assert expired_line(["a", "c"]) == "user choice: offers to a, c expired unselected"


# ---------------------------------------------------------------- the use case, on the fakes


def world(**partners: dict[str, Any]) -> tuple[Installation, Offers]:
    shown = {"sunco": {"display_name": "SunCo", "logo_url": LOGO, "show_price": True}}
    for name, extra in partners.items():
        shown[name] = shown.get(name, {}) | extra
    w = Installation(_doc(CHOICE | {"offer_ttl": "5m"}, **shown))
    offers = Offers(w.storage, w.configs, w.notifier, w.sealer, clock=w.clock, ids=w.ids)
    return w, offers


def offered(w: Installation) -> tuple[str, dict[str, str]]:
    lead_id = w.accept(lead(state="CA", monthly_bill=180)).lead_id
    step = w.claim_and_route()[w.job_of(lead_id).id]
    assert step.done and not step.sends
    answer = run(w.intake.outcome(lead_id, source="web"))
    return lead_id, {o["partner"]: o["id"] for o in answer.offers}


def test_offers_park_the_job_and_the_selection_wakes_it_for_the_post() -> None:
    w, offers = world()
    lead_id, ids = offered(w)
    job = w.job_of(lead_id)
    assert (job.status, job.queue_state, job.lease_owner) == (JobStatus.RECEIVED, QueueState.WAITING, None)
    assert [(o.partner, o.place, o.status) for o in w.all("offers", lead_id=lead_id)] == [
        ("sunco", 1, "open"),
        ("brightpath", 2, "open"),
        ("voltedge", 3, "open"),
    ]
    assert list(ids) == ["SunCo", "brightpath", "voltedge"]
    assert w.claim_and_route() == {}  # parked: no worker claims it while the consumer chooses
    w.clock.advance(minutes=4)
    chosen = run(offers.select(ids["SunCo"], "web"))
    assert (chosen.partner, chosen.woken) == ("sunco", True)
    job = w.job_of(lead_id)
    assert (job.status, job.queue_state) == (JobStatus.DELIVERING, QueueState.READY)
    delivery = w.one("deliveries", job_id=job.id)
    assert (delivery.partner, delivery.status, delivery.price) == ("sunco", DeliveryStatus.PENDING, 25.0)
    assert {o.partner: o.status for o in w.all("offers", lead_id=lead_id)} == {
        "sunco": "selected",
        "brightpath": "expired",
        "voltedge": "expired",
    }
    assert run(w.intake.outcome(lead_id)).offers == []  # nothing left to choose
    [step] = w.work(http(200, '{"status": "accepted"}')).values()
    assert step.done
    assert run(w.intake.outcome(lead_id)).sold[0]["partner"] == "sunco"
    with pytest.raises(Conflict, match="already selected"):
        run(offers.select(ids["brightpath"], "web"))


def test_another_sources_key_and_an_unknown_offer_are_not_found() -> None:
    w, offers = world()
    _, ids = offered(w)
    with pytest.raises(NotFound):
        run(offers.select(ids["SunCo"], "partner-site"))
    with pytest.raises(NotFound):
        run(offers.select("ofr_nope", "web"))


def test_an_offer_past_its_time_is_gone_and_its_job_closes_unsold() -> None:
    w, offers = world()
    lead_id, ids = offered(w)
    w.clock.advance(minutes=5)  # exactly its end: no longer valid
    with pytest.raises(Gone, match="expired at 2026-11-22T15:35:00Z"):
        run(offers.select(ids["voltedge"], "web"))
    job = w.job_of(lead_id)
    assert (job.status, job.error, job.queue_state) == (JobStatus.UNSOLD, NO_OFFER_SELECTED, QueueState.DONE)
    assert job.trace[-1] == "user choice: offers to sunco, brightpath, voltedge expired unselected"
    assert {o.status for o in w.all("offers", lead_id=lead_id)} == {OfferStatus.EXPIRED}
    answer = run(w.intake.outcome(lead_id))
    assert (answer.status, answer.reason, answer.offers) == ("unsold", "no offer selected", [])


def test_the_sweep_expires_what_nobody_selected_and_leaves_the_rest() -> None:
    w, _ = world()
    first, _ = offered(w)
    w.clock.advance(minutes=3)
    second, _ = offered(w)
    w.clock.advance(minutes=2, seconds=30)  # the first lead's offers are past their time, not the second's
    closed = w.storage.transaction(lambda tx: user_choice.expire_due(tx, w.clock()))
    assert closed == [first]
    assert w.job_of(first).status == JobStatus.UNSOLD
    assert (w.job_of(second).status, w.job_of(second).queue_state) == (JobStatus.RECEIVED, QueueState.WAITING)
    assert w.storage.transaction(lambda tx: user_choice.expire_due(tx, w.clock())) == []
    w.clock.advance(minutes=3)
    assert w.storage.transaction(lambda tx: user_choice.expire_due(tx, w.clock())) == [second]


def test_a_partner_at_its_cap_since_the_offer_is_a_conflict_and_the_offers_stay_open() -> None:
    w, offers = world(sunco={"caps": {"day": 1}})
    _, ids_a = offered(w)
    b, ids_b = offered(w)
    run(offers.select(ids_a["SunCo"], "web"))
    with pytest.raises(Conflict, match=r"cap day 1/1 reached\); choose another offer"):
        run(offers.select(ids_b["SunCo"], "web"))
    assert {o.status for o in w.all("offers", lead_id=b)} == {OfferStatus.OPEN}
    assert run(offers.select(ids_b["voltedge"], "web")).partner == "voltedge"
    c, ids_c = offered(w)
    assert list(ids_c) == ["brightpath", "voltedge"]
    assert "sunco: cap day 1/1 reached (not offered)" in w.job_of(c).trace


def test_a_refused_post_does_not_bring_the_offers_back() -> None:
    w, offers = world()
    lead_id, ids = offered(w)
    run(offers.select(ids["brightpath"], "web"))
    w.work(http(400, '{"status": "rejected"}'))
    job = w.job_of(lead_id)
    assert (job.status, job.error) == (JobStatus.UNSOLD, "the selected offer's partner did not take the lead")
    assert run(w.intake.outcome(lead_id)).reason == "the selected offer's partner did not take the lead"


def test_every_partner_at_its_cap_leaves_the_lead_unsold_without_offers() -> None:
    w, _ = world(**{n: {"caps": {"day": 1}} for n in ("sunco", "brightpath", "voltedge")})
    for name in ("sunco", "brightpath", "voltedge"):
        w.storage.transaction(lambda tx, n=name: tx.caps.reserve_cap(n, "", "d:2026-11-22", 1))
    lead_id = w.accept(lead(state="CA", monthly_bill=180)).lead_id
    w.claim_and_route()
    assert w.job_of(lead_id).error == "every eligible partner is at its cap"
    assert w.all("offers", lead_id=lead_id) == []


def test_a_lead_every_partner_already_received_is_unsold_for_no_eligible_partner() -> None:
    """Not "at its cap": the partners' dedup left everyone out, and their caps have room."""
    dedup = {"dedup": {"keys": [["email"]], "window": "30d"}, "caps": {"day": 5}}
    w, offers = world(sunco={"caps": {"day": 1}}, brightpath=dedup, voltedge=dedup)
    w.storage.transaction(lambda tx: tx.caps.reserve_cap("sunco", "", "d:2026-11-22", 1))  # sunco: at its cap
    for name in ("brightpath", "voltedge"):
        _, ids = offered(w)
        run(offers.select(ids[name], "web"))
        w.work(http(200))
    lead_id = w.accept(lead(state="CA", monthly_bill=180, phone="+15125550000")).lead_id
    w.claim_and_route()
    job = w.job_of(lead_id)
    assert job.error == "no eligible partner", job.trace
    assert any(line.startswith("voltedge: already received this person") for line in job.trace), job.trace


def test_erasing_the_lead_withdraws_its_open_offers() -> None:
    w, offers = world()
    lead_id, ids = offered(w)
    assert run(w.privacy.erase_lead(lead_id, actor="test"))
    assert {o.status for o in w.all("offers", lead_id=lead_id)} == {OfferStatus.EXPIRED}
    assert (w.job_of(lead_id).status, w.job_of(lead_id).queue_state) == (JobStatus.UNSOLD, QueueState.DONE)
    assert w.one("leads", id=lead_id).status == LeadStatus.UNSOLD  # not left queued
    with pytest.raises(Gone, match="was withdrawn"):
        run(offers.select(ids["SunCo"], "web"))
    assert run(w.intake.outcome(lead_id)).offers == []


def test_a_partner_checked_out_since_the_offer_is_a_conflict() -> None:
    w, offers = world()
    lead_id, ids = offered(w)
    w.storage.transaction(lambda tx: tx.caps.set_availability("voltedge", False, None, "test", w.clock()))
    with pytest.raises(Conflict, match="voltedge is not taking leads now; choose another offer"):
        run(offers.select(ids["voltedge"], "web"))
    assert {o.status for o in w.all("offers", lead_id=lead_id)} == {OfferStatus.OPEN}
    assert run(offers.select(ids["brightpath"], "web")).partner == "brightpath"


def test_a_partner_past_its_delivery_hours_since_the_offer_is_a_conflict() -> None:
    w, offers = world(voltedge={"timezone": "UTC", "hours": {"mon-sun": "09:00-15:32"}})
    lead_id, ids = offered(w)  # at 15:30 UTC: voltedge is open, and offered
    w.clock.advance(minutes=3)
    with pytest.raises(Conflict, match=r"outside delivery hours \(Sun 15:33 UTC\)\); choose another offer"):
        run(offers.select(ids["voltedge"], "web"))
    assert {o.status for o in w.all("offers", lead_id=lead_id)} == {OfferStatus.OPEN}
    assert w.all("deliveries", lead_id=lead_id) == []
    assert run(offers.select(ids["brightpath"], "web")).partner == "brightpath"


def test_a_profile_switched_off_since_the_offer_is_a_conflict_until_it_is_on_again() -> None:
    w, offers = world()
    lead_id, ids = offered(w)
    on = copy.deepcopy(w.storage.read(lambda tx: tx.config.load_objects()))
    off = copy.deepcopy(on)
    off["profiles"]["solar-main"]["enabled"] = False
    w.configure(off)
    with pytest.raises(Conflict, match="profile solar-main is missing or disabled: no offer of this lead"):
        run(offers.select(ids["brightpath"], "web"))
    assert {o.status for o in w.all("offers", lead_id=lead_id)} == {OfferStatus.OPEN}
    assert w.all("deliveries", lead_id=lead_id) == []
    w.configure(on)
    assert run(offers.select(ids["brightpath"], "web")).partner == "brightpath"


def test_a_partner_taken_out_of_the_rule_since_the_offer_is_a_conflict_and_the_others_stay_open() -> None:
    w, offers = world()
    lead_id, ids = offered(w)
    doc = copy.deepcopy(w.storage.read(lambda tx: tx.config.load_objects()))
    rule = doc["profiles"]["solar-main"]["rules"][0]
    rule["send_to"]["partners"] = ["sunco", "brightpath"]  # the operator stops sending voltedge these
    w.configure(doc)
    with pytest.raises(Conflict, match=f"voltedge is no longer among rule {rule['name']}'s partners; choose"):
        run(offers.select(ids["voltedge"], "web"))
    assert {o.status for o in w.all("offers", lead_id=lead_id)} == {OfferStatus.OPEN}
    assert w.all("deliveries", lead_id=lead_id) == []
    assert run(offers.select(ids["brightpath"], "web")).partner == "brightpath"


def test_a_rule_removed_since_the_offer_is_a_conflict_for_every_offer_of_its_leads() -> None:
    w, offers = world()
    lead_id, ids = offered(w)
    on = copy.deepcopy(w.storage.read(lambda tx: tx.config.load_objects()))
    renamed = copy.deepcopy(on)
    renamed["profiles"]["solar-main"]["rules"][0]["name"] = "renamed"
    w.configure(renamed)
    with pytest.raises(Conflict, match=r"rule \S+ is no longer in profile solar-main: no offer of this lead"):
        run(offers.select(ids["brightpath"], "web"))
    assert {o.status for o in w.all("offers", lead_id=lead_id)} == {OfferStatus.OPEN}
    w.configure(on)
    assert run(offers.select(ids["brightpath"], "web")).partner == "brightpath"


def test_a_partner_without_the_funds_for_its_offer_is_a_conflict_and_the_offers_stay_open() -> None:
    w, offers = world(sunco={"wallet": {"credit_limit": 30}})
    _, ids_a = offered(w)
    b, ids_b = offered(w)
    run(offers.select(ids_a["SunCo"], "web"))  # holds 25 of sunco's 30
    with pytest.raises(
        Conflict, match=r"no funds \(balance 5.00, 25.00 held, credit limit 30.00, needs 25.00\)"
    ):
        run(offers.select(ids_b["SunCo"], "web"))
    assert {o.status for o in w.all("offers", lead_id=b)} == {OfferStatus.OPEN}
    assert w.storage.read(lambda tx: tx.wallets.funds("sunco")).held == 25  # type: ignore[union-attr]
