"""Invoicing through the use cases (in memory): drafting from the ledger, issuing (numbered, deliveries
invoiced so a cancel is refused), a stale draft made again at issue, voiding (entries released), paying,
and a resend after a cancel billed once across invoices."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from leadrelay.domain.invoices import Invoice, InvoiceStatus
from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.errors import InvalidTransition, NotFound, ValidationFailed
from leadrelay.services.invoicing import Billing
from tests.documents import lead
from tests.unit.in_memory import Installation, http, run

D = Decimal


def world_and_billing() -> tuple[Installation, Billing]:
    world = Installation()
    return world, Billing(world.storage, world.configs, clock=world.clock, ids=world.ids)


def sold(world: Installation, phone: str = "(512) 555-1212") -> str:
    lead_id = world.accept(lead(phone=phone)).lead_id
    world.work(http(200, '{"reference": "r-1"}'))
    return lead_id


def today(world: Installation) -> str:
    return world.clock.now.astimezone(ZoneInfo("America/Los_Angeles")).date().isoformat()  # sunco's clock


def draft(world: Installation, billing: Billing) -> Invoice:
    return run(billing.draft(Party.PARTNER, "sunco", today(world), actor="admin:ops"))


def test_issue_numbers_freezes_and_a_cancel_of_an_invoiced_delivery_is_refused() -> None:
    world, billing = world_and_billing()
    lead_id = sold(world)
    d = draft(world, billing)
    assert (d.status, d.number, d.total, [x.lead_id for x in d.lines]) == (
        InvoiceStatus.DRAFT, None, D("25.00"), [lead_id]
    )  # fmt: skip
    issued = run(billing.issue(d.id, actor="admin:ops"))
    assert issued.number is not None and issued.number.endswith("-000001")
    assert world.one("deliveries", lead_id=lead_id).invoiced is True
    with pytest.raises(InvalidTransition, match="invoiced"):
        run(world.actions.cancel(world.job_of(lead_id).id, actor="admin:ops"))
    with pytest.raises(InvalidTransition, match="void it"):
        draft(world, billing)


def test_a_stale_draft_is_made_again_at_issue() -> None:
    world, billing = world_and_billing()
    lead_id = sold(world)
    d = draft(world, billing)
    run(world.actions.cancel(world.job_of(lead_id).id, actor="admin:ops"))
    issued = run(billing.issue(d.id, actor="admin:ops"))
    assert issued.lines == () and issued.total == D("0.00")  # the sale and its cancel left together


def test_void_then_cancel_then_resend_bills_once_and_pay_posts_the_payment() -> None:
    world, billing = world_and_billing()
    lead_id = sold(world)
    first = run(billing.issue(draft(world, billing).id, actor="admin:ops"))
    voided = run(billing.void(first.id, actor="admin:ops"))
    assert voided.status is InvoiceStatus.VOID and voided.lines == first.lines
    assert world.one("deliveries", lead_id=lead_id).invoiced is False
    run(world.actions.cancel(world.job_of(lead_id).id, actor="admin:ops"))  # not invoiced any more
    # a second lead, resent to its buyer, then its first distribution cancelled: the resend stands
    lead_two = sold(world, phone="(512) 555-1515")
    job_two = world.job_of(lead_two)
    run(world.actions.resend(job_two.id, actor="admin:ops"))
    world.work(http(200))
    run(world.actions.cancel(job_two.id, actor="admin:ops"))
    second = run(billing.issue(draft(world, billing).id, actor="admin:ops"))
    assert [(x.kind, x.lead_id) for x in second.lines] == [(EntryKind.SALE, lead_two)]
    assert second.total == D("25.00") and second.number is not None and second.number.endswith("-000002")
    paid = run(billing.pay(second.id, actor="admin:ops"))
    payment = world.storage.read(lambda tx: tx.ledger.entries(kinds=[EntryKind.PAYMENT]))
    assert [(p.id, p.amount, p.party) for p in payment] == [(paid.payment_entry, D("-25.00"), "sunco")]
    with pytest.raises(InvalidTransition, match="cannot pay"):
        run(billing.pay(second.id, actor="admin:ops"))
    with pytest.raises(InvalidTransition, match="cannot void"):
        run(billing.void(second.id, actor="admin:ops"))


def test_bad_input() -> None:
    _world, billing = world_and_billing()
    with pytest.raises(ValidationFailed) as caught:
        run(billing.draft(Party.PARTNER, "sunco", "last month", actor="t"))
    assert caught.value.problems[0].field == "period"
    with pytest.raises(NotFound, match="nobody"):
        run(billing.draft(Party.SOURCE, "nobody", "2026-11", actor="t"))
    with pytest.raises(NotFound):
        run(billing.issue("inv_nope", actor="t"))


def test_a_later_month_issued_first_takes_nothing_an_earlier_months_draft_bills() -> None:
    """November has a draft: December's invoice, issued first, bills neither November's sale nor the
    cancellation (in December) that undoes it; November's nets them out."""
    world, billing = world_and_billing()
    world.clock.advance(days=7)  # 29 November
    lead_id = sold(world)
    november = run(billing.draft(Party.PARTNER, "sunco", "2026-11", actor="admin:ops"))
    assert november.total == D("25.00")
    world.clock.advance(days=2)  # 1 December: the sale is cancelled within its 7 days
    run(world.actions.cancel(world.job_of(lead_id).id, actor="admin:ops"))
    december = run(billing.draft(Party.PARTNER, "sunco", "2026-12", actor="admin:ops"))
    issued = run(billing.issue(december.id, actor="admin:ops"))
    assert (issued.total, issued.lines) == (D("0.00"), ())
    november = run(billing.issue(november.id, actor="admin:ops"))
    assert (november.total, november.lines) == (D("0.00"), ())
