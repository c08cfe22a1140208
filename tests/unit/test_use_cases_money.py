"""The ledger through the use cases (in memory): a sale posts its price and its source's payout with the
delivery, a cancel reverses them with new entries, a resend bills once, prices come from the right place."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from leadrelay.domain.ledger import EntryKind, Party, Totals, balance
from leadrelay.errors import NotFound, ValidationFailed
from leadrelay.services import ledger
from leadrelay.services.ports import Tx
from leadrelay.services.user_choice import Offers
from tests.documents import lead
from tests.unit.in_memory import Installation, by_partner, document, http, run

D = Decimal


def paid(payout: dict[str, Any], **partners: Any) -> dict[str, Any]:
    doc = document(**partners)
    doc["sources"]["web"]["payout"] = payout
    return doc


def sold(world: Installation, answer: str = '{"reference": "r-1"}', **values: Any) -> str:
    lead_id = world.accept(lead(**values)).lead_id
    world.work(http(200, answer))
    return lead_id


def entries(world: Installation, **where: Any) -> list[Any]:
    return world.storage.read(lambda tx: tx.ledger.entries(**where))


def test_a_sale_posts_the_list_price_and_a_share_payout_with_its_margin() -> None:
    world = Installation(paid({"share": "60%"}))
    lead_id = sold(world)  # CA: sunco, list price 25

    sale, payout = entries(world, lead_ids=[lead_id])
    delivery = world.one("deliveries", lead_id=lead_id)
    assert (sale.kind, sale.party_kind, sale.party, sale.amount, sale.margin) == (
        EntryKind.SALE,
        Party.PARTNER,
        "sunco",
        D("25.00"),
        D("10.00"),
    )
    assert (payout.kind, payout.party, payout.amount) == (EntryKind.PAYOUT, "web", D("-15.00"))
    assert sale.delivery_id == payout.delivery_id == delivery.id
    assert delivery.price_basis == "list"
    totals = Totals.of(entries(world))
    assert (totals.revenue, totals.payout, totals.margin, totals.sales) == (D("25"), D("15"), D("10"), 1)


def test_a_test_lead_or_a_refused_post_moves_no_money() -> None:
    world = Installation(paid({"fixed": 4}))
    world.accept(lead(), test=True)
    world.work(http(200))
    world.accept(lead())
    world.work(by_partner(sunco=http(422, "no"), brightpath=http(422, "no")))
    assert entries(world) == []


def test_the_answer_price_wins_only_where_the_partner_allows_it() -> None:
    world = Installation(document(sunco={"price_from_answer": False}))
    lead_id = sold(world, '{"price": 31.5}')
    [sale] = entries(world, lead_ids=[lead_id])
    assert sale.amount == D("25.00")  # the list price: sunco does not take its price from its answer

    world.configure(document())  # sunco's answer names its price
    lead_id = sold(world, '{"price": 31.5}', phone="(512) 555-1313")
    [sale] = entries(world, lead_ids=[lead_id])
    assert sale.amount == D("31.50")
    assert world.one("deliveries", lead_id=lead_id).price_basis == "answer"


def test_an_answer_price_in_fractions_of_a_cent_is_kept_as_it_is_billed() -> None:
    """A buyer answering 0.004 (or 12.345) had a delivery priced 0.004 and a sale of 0.00, and the
    source's answer said 0.004: the delivery's price is the amount billed, to the cent, half up."""
    world = Installation(document())
    cheap = sold(world, '{"price": 0.004}')
    dear = sold(world, '{"price": 12.345}', phone="(512) 555-1313")
    assert [world.one("deliveries", lead_id=x).price for x in (cheap, dear)] == [0.0, 12.35]
    assert [e.amount for x in (cheap, dear) for e in entries(world, lead_ids=[x])] == [D("0.00"), D("12.35")]


def test_a_rule_price_beats_the_profile_price_which_beats_the_list_price() -> None:
    doc = document()
    profile = doc["profiles"]["solar-main"]
    profile["partner_prices"] = {"sunco": 20, "brightpath": 9}
    profile["rules"][0]["send_to"]["prices"] = {"sunco": 18.25}
    world = Installation(doc)
    west = sold(world)  # CA: the rule sends to sunco at its price
    elsewhere = sold(world, state="TX", phone="(512) 555-1414")  # the default: brightpath, profile price
    assert [e.amount for e in entries(world, lead_ids=[west])] == [D("18.25")]
    assert [e.amount for e in entries(world, lead_ids=[elsewhere])] == [D("9.00")]
    assert world.one("deliveries", lead_id=west).price_basis == "rule"
    assert world.one("deliveries", lead_id=elsewhere).price_basis == "profile"


def test_a_cancel_reverses_the_sale_and_its_payout_with_new_entries() -> None:
    world = Installation(paid({"margin": 5}))
    lead_id = sold(world)
    job = world.job_of(lead_id)
    run(world.actions.cancel(job.id, actor="admin:ops", reason="buyer asked"))

    sale, payout, undo_sale, undo_payout = entries(world, lead_ids=[lead_id])
    assert (payout.amount, sale.margin) == (D("-20.00"), D("5.00"))
    assert (undo_sale.kind, undo_sale.amount, undo_sale.reverses, undo_sale.margin) == (
        EntryKind.CANCELLATION,
        D("-25.00"),
        sale.id,
        D("-5.00"),
    )
    assert (undo_payout.amount, undo_payout.reverses, undo_payout.actor) == (
        D("20.00"),
        payout.id,
        "admin:ops",
    )
    assert undo_sale.memo == "buyer asked"
    assert Totals.of(entries(world)) == Totals(D("0"), D("0"), D("0"), 0)


def test_a_resend_of_a_sale_that_stands_is_not_billed_again() -> None:
    world = Installation(paid({"share": "40%"}))
    lead_id = sold(world)
    job = world.job_of(lead_id)
    [resend] = run(world.actions.resend(job.id, actor="admin:ops"))
    world.work(http(200))
    assert world.job_of(lead_id, id=resend).status == "delivered"
    assert [e.kind for e in entries(world, lead_ids=[lead_id])] == [EntryKind.SALE, EntryKind.PAYOUT]
    # the original cancelled: the resend, still delivered, is the sale that stands and is billed now
    run(world.actions.cancel(job.id, actor="admin:ops"))
    assert balance(entries(world, party_kind=Party.PARTNER, party="sunco")) == D("25.00")
    assert balance(entries(world, party_kind=Party.SOURCE, party="web")) == D("-10.00")
    resend_delivery = world.one("deliveries", job_id=resend)
    [standing] = [
        e for e in entries(world, lead_ids=[lead_id]) if e.kind is EntryKind.SALE and e.reverses is None
    ][1:]
    assert standing.delivery_id == resend_delivery.id
    # and cancelling the resend too leaves nothing billed
    run(world.actions.cancel(resend, actor="admin:ops"))
    assert Totals.of(entries(world)) == Totals(D("0"), D("0"), D("0"), 0)


def test_a_cancel_then_a_resend_bills_once() -> None:
    world = Installation(paid({"fixed": 3}))
    lead_id = sold(world)
    job = world.job_of(lead_id)
    run(world.actions.cancel(job.id, actor="admin:ops"))
    # the cancelled sale's lead sent to the partner again (a resend of a delivered job needs one: here a
    # second sale, resent, then the original cancelled): billed once, its payout once
    lead_two = sold(world, phone="(512) 555-1515")
    job_two = world.job_of(lead_two)
    [resend] = run(world.actions.resend(job_two.id, actor="admin:ops"))
    world.work(http(200))
    run(world.actions.cancel(job_two.id, actor="admin:ops"))

    sunco = balance(entries(world, party_kind=Party.PARTNER, party="sunco"))
    web = balance(entries(world, party_kind=Party.SOURCE, party="web"))
    assert sunco == D("25.00")  # lead one cancelled; lead two: its resend stands, billed once
    assert web == D("-3.00")  # the fixed payout once per lead still sold
    assert world.job_of(lead_two, id=resend).status == "delivered"


def test_a_fixed_payout_is_paid_once_per_lead_shared_by_several_buyers() -> None:
    doc = paid({"fixed": 4})
    doc["profiles"]["solar-main"]["rules"][0]["send_to"]["strategy"] = "broadcast"
    doc["partners"]["brightpath"]["price"] = 10
    world = Installation(doc)
    lead_id = sold(world)
    kinds = sorted((e.kind.value, e.party, e.amount) for e in entries(world, lead_ids=[lead_id]))
    assert kinds == [
        ("payout", "web", D("-4.00")),
        ("sale", "brightpath", D("10.00")),
        ("sale", "sunco", D("25.00")),
    ]
    # one buyer cancels: the payout stays (the lead is still sold), the cancelled sale's margin takes it
    job = world.job_of(lead_id)
    run(world.actions.cancel(job.id, actor="admin:ops"))  # a broadcast job: both sales are cancelled
    assert Totals.of(entries(world)) == Totals(D("0"), D("0"), D("0"), 0)


def test_payouts_on_acceptance_are_posted_with_the_lead() -> None:
    world = Installation(paid({"fixed": 1.5, "on": "accepted"}))
    answer = world.accept(lead())
    [entry] = entries(world, lead_ids=[answer.lead_id])
    assert (entry.kind, entry.amount, entry.margin) == (EntryKind.PAYOUT, D("-1.50"), D("-1.50"))
    world.work(http(200))
    assert [e.kind for e in entries(world, lead_ids=[answer.lead_id])] == [EntryKind.PAYOUT, EntryKind.SALE]


def test_manual_entries_take_their_sign_from_their_kind_and_refuse_nonsense() -> None:
    world = Installation()
    live = world.live()

    def post(**kw: Any) -> Any:
        def work(tx: Tx) -> Any:
            return ledger.post_manual(tx, live, actor="admin:ops", now=world.clock.now, ids=world.ids, **kw)

        return world.storage.transaction(work)

    top = post(kind=EntryKind.TOPUP, party_kind=Party.PARTNER, party="sunco", amount=D("100"))
    credit = post(kind=EntryKind.CREDIT, party_kind=Party.PARTNER, party="sunco", amount=D("7.5"))
    paid_out = post(kind=EntryKind.PAYMENT, party_kind=Party.SOURCE, party="web", amount=D("12"))
    fix = post(kind=EntryKind.ADJUSTMENT, party_kind=Party.PARTNER, party="sunco", amount=D("-0.25"))
    assert [e.amount for e in (top, credit, paid_out, fix)] == [
        D("-100.00"),
        D("-7.50"),
        D("12.00"),
        D("-0.25"),
    ]
    with pytest.raises(ValidationFailed):
        post(kind=EntryKind.SALE, party_kind=Party.PARTNER, party="sunco", amount=D("1"))
    with pytest.raises(ValidationFailed):
        post(kind=EntryKind.CREDIT, party_kind=Party.PARTNER, party="sunco", amount=D("-1"))
    with pytest.raises(ValidationFailed):
        post(kind=EntryKind.TOPUP, party_kind=Party.SOURCE, party="web", amount=D("1"))
    with pytest.raises(NotFound):
        post(kind=EntryKind.CREDIT, party_kind=Party.PARTNER, party="nobody", amount=D("1"))
    # the CLI's memo is bounded as the API's, and a lead named must exist (review, 2026-12-06)
    with pytest.raises(ValidationFailed) as long_memo:
        post(kind=EntryKind.CREDIT, party_kind=Party.PARTNER, party="sunco", amount=D("1"), memo="x" * 501)
    with pytest.raises(ValidationFailed) as no_lead:
        post(kind=EntryKind.PAYMENT, party_kind=Party.SOURCE, party="web", amount=D("1"), lead_id="lead_nope")
    assert [p.field for p in (*long_memo.value.problems, *no_lead.value.problems)] == ["memo", "lead_id"]
    assert len(entries(world)) == 4


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ('{"price": -5}', "-5"),
        ('{"price": 1e300}', "1e+300"),
        ('{"price": 1e17}', "1e+17"),
        ('{"price": "-1"}', "-1"),
    ],
)
def test_a_buyer_answer_that_names_no_price_to_bill_leaves_the_sale_standing(answer: str, named: str) -> None:
    # the buyer names the price (price_from_answer): one the ledger refuses must not undo the sale (in the
    # worker, an exception here closes the job as failed though the buyer took the lead); the trace says
    # what the answer named and what the sale was billed at instead
    world = Installation(paid({"share": "50%"}))
    lead_id = sold(world, answer)
    delivery = world.one("deliveries", lead_id=lead_id)
    assert (delivery.status, delivery.price, delivery.price_basis) == ("delivered", 25.0, "list")
    sale, payout = entries(world, lead_ids=[lead_id])
    assert (sale.amount, payout.amount) == (D("25.00"), D("-12.50"))
    notes = [line for line in world.one("jobs", lead_id=lead_id).trace if "none to bill" in line]
    assert notes == [f"sunco: the price in its answer ({named}) is none to bill; billed at list price 25"]


def test_a_buyer_answer_with_a_price_to_bill_adds_no_line_to_the_trace() -> None:
    world = Installation(paid({"share": "50%"}))
    lead_id = sold(world, '{"price": 30}')
    assert world.one("deliveries", lead_id=lead_id).price_basis == "answer"
    assert not [line for line in world.one("jobs", lead_id=lead_id).trace if "to bill" in line]


def test_a_stored_price_that_is_no_amount_posts_the_sale_without_a_price() -> None:
    # a bid is the buyer's word too: a delivered sale at a bid of -5 is recorded (at 0.00), never refused
    world = Installation(document(sunco={"price_from_answer": False}))
    lead_id = sold(world)
    delivery = world.one("deliveries", lead_id=lead_id)
    world.configure(paid({"fixed": 2}))
    live = world.live()

    def again(tx: Tx) -> list[Any]:
        tx.deliveries.update_delivery(delivery.id, price=-5.0)
        return ledger.post_sales(tx, live, [delivery.id], world.clock.now, world.ids)

    posted = world.storage.transaction(again)
    assert [(e.kind, e.amount) for e in posted] == [
        (EntryKind.SALE, D("0.00")),
        (EntryKind.PAYOUT, D("-2.00")),
    ]


def test_without_prices_or_payouts_a_sale_posts_nothing_whichever_way_it_was_delivered() -> None:
    # settlement posts nothing then; a batch's sales go through post_sales unasked and must not either
    world = Installation(document(sunco={"price": None, "price_from_answer": False}))
    lead_id = sold(world)
    delivery = world.one("deliveries", lead_id=lead_id)
    assert (delivery.status, delivery.price) == ("delivered", None)
    live = world.live()
    posted = world.storage.transaction(
        lambda tx: ledger.post_sales(tx, live, [delivery.id], world.clock.now, world.ids)
    )
    assert posted == [] and entries(world) == []


@pytest.mark.parametrize(
    "amount", ["NaN", "sNaN", "Infinity", "-Infinity", "1E+30", "1.005", "1000000000000"]
)
def test_a_manual_amount_that_is_not_cents_is_refused_by_name(amount: str) -> None:
    world = Installation()
    live = world.live()

    def post(tx: Tx) -> Any:
        return ledger.post_manual(
            tx, live, kind=EntryKind.ADJUSTMENT, party_kind=Party.PARTNER, party="sunco", amount=D(amount),
            actor="cli:ops", now=world.clock.now, ids=world.ids,
        )  # fmt: skip

    with pytest.raises(ValidationFailed) as caught:
        world.storage.transaction(post)
    assert [p.field for p in caught.value.problems] == ["amount"]
    assert entries(world) == []


def test_a_resend_is_billed_at_the_price_of_the_delivery_it_resends() -> None:
    # the job's first delivery to sunco (rule price 18.25) was refused; rerun under a new rule price (20)
    # sold it: a resend bills the sale it resends, not the refused delivery's price
    def priced(price: float) -> dict[str, Any]:
        doc = document(sunco={"price_from_answer": False})
        doc["profiles"]["solar-main"]["rules"][0]["send_to"]["prices"] = {"sunco": price}
        doc["profiles"]["solar-main"]["rules"][0]["send_to"]["partners"] = ["sunco"]
        return doc

    world = Installation(priced(18.25))
    lead_id = world.accept(lead()).lead_id
    world.work(http(422, "no"))
    job = world.job_of(lead_id)
    assert job.status in ("unsold", "failed")
    world.configure(priced(20))
    run(world.actions.rerun(job.id, actor="admin:ops"))
    world.work(http(200))
    assert world.job_of(lead_id, id=job.id).status == "delivered"
    [resend] = run(world.actions.resend(job.id, actor="admin:ops"))
    world.work(http(200))
    again = world.one("deliveries", job_id=resend)
    assert (again.price, again.price_basis) == (20, "rule")


def test_a_user_choice_offer_is_made_and_billed_at_the_rule_or_profile_price() -> None:
    # the configuration accepts send_to.prices and partner_prices for a user_choice target: the offer the
    # consumer sees and the sale it bills must follow them, not the partner's list price
    doc = document(sunco={"price_from_answer": False, "show_price": True})
    profile = doc["profiles"]["solar-main"]
    profile["rules"][0]["send_to"] = {
        "partners": ["sunco", "brightpath"],
        "strategy": "user_choice",
        "prices": {"sunco": 18.25},
    }
    profile["partner_prices"] = {"brightpath": 9}
    world = Installation(doc)
    offers = Offers(
        world.storage, world.configs, world.notifier, world.sealer, clock=world.clock, ids=world.ids
    )
    lead_id = world.accept(lead()).lead_id
    world.claim_and_route()
    shown = {o.partner: o.price for o in world.all("offers", lead_id=lead_id)}
    assert shown == {"sunco": 18.25, "brightpath": 9}
    [sunco] = [o for o in world.all("offers", lead_id=lead_id) if o.partner == "sunco"]
    run(offers.select(sunco.id, "web"))
    world.work(http(200))
    [sale] = entries(world, lead_ids=[lead_id])
    assert (sale.party, sale.amount) == ("sunco", D("18.25"))
