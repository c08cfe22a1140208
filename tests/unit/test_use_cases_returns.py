"""Returns through the use cases (in memory): a return taken, auto-approved or queued for review; the
ledger's RETURN entries on approval; the redistribution that skips the returning partner; the window's
edges on the injected clock; the rate refused with its figures; nothing left behind by a refusal; the CSV
rows read with their line numbers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from leadrelay.domain.after_sale_states import ReturnStatus
from leadrelay.domain.ledger import EntryKind
from leadrelay.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from leadrelay.services.return_import import import_returns, read_rows
from leadrelay.services.returns import ReturnRequest, Returns
from tests.documents import lead
from tests.unit.in_memory import Installation, document, http, run

POLICY: dict[str, Any] = {
    "window": "7d",
    "reasons": ["bad_phone", "duplicate"],
    "auto_approve": ["bad_phone"],
}


def world_with(**policy: Any) -> tuple[Installation, Returns]:
    doc = document(sunco={"returns": {**POLICY, **policy}})
    doc["sources"]["web"]["payout"] = {"share": "60%"}
    world = Installation(doc)
    desk = Returns(world.storage, world.configs, world.notifier, clock=world.clock, ids=world.ids)
    return world, desk


def sold(world: Installation, **values: Any) -> str:
    lead_id = world.accept(lead(**(values or {"state": "CA", "monthly_bill": 180}))).lead_id
    world.work(http(200, '{"reference": "r-1"}'))
    return lead_id


def money(world: Installation, lead_id: str) -> list[Any]:
    return world.storage.read(lambda tx: tx.ledger.entries(lead_ids=[lead_id]))


def test_an_auto_approved_return_credits_claws_back_and_redistributes_elsewhere() -> None:
    world, desk = world_with(redistribute=True)
    lead_id = sold(world)
    rec = run(desk.request(ReturnRequest("sunco", "bad_phone", lead_id=lead_id), actor="partner:sunco"))
    assert (rec.status, rec.auto, rec.decided_by) == (ReturnStatus.APPROVED, True, "system")

    entries = money(world, lead_id)
    undone = [e for e in entries if e.kind is EntryKind.RETURN]
    assert sorted((e.party, e.amount) for e in undone) == [
        ("sunco", Decimal("-25.00")),
        ("web", Decimal("15.00")),
    ]
    assert sum(e.amount for e in entries) == 0

    new = world.one("jobs", id=rec.redistributed_as)
    assert new.excluded == ["sunco"] and new.parent_id == rec.job_id
    world.work(http(200, '{"reference": "r-2"}'))
    assert [d.partner for d in world.all("deliveries", job_id=new.id)] == ["brightpath"]
    assert world.one("deliveries", id=rec.delivery_id).status == "delivered"  # the sale happened
    assert [a.actor for a in world.audit("return.requested")] == ["partner:sunco"]
    assert [a.actor for a in world.audit("return.approved")] == ["system"]


def test_a_return_for_review_moves_no_money_until_approved_and_a_decision_is_final() -> None:
    world, desk = world_with()
    lead_id = sold(world)
    rec = run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=lead_id), actor="admin:ops"))
    assert rec.status is ReturnStatus.REQUESTED and rec.redistributed_as is None
    assert not [e for e in money(world, lead_id) if e.kind is EntryKind.RETURN]

    done = run(desk.approve(rec.id, actor="admin:ops", note="checked"))
    assert (done.status, done.decision_note, done.redistributed_as) == (
        ReturnStatus.APPROVED,
        "checked",
        None,
    )
    assert sum(e.amount for e in money(world, lead_id)) == 0
    with pytest.raises(InvalidTransition, match="from approved to denied"):
        run(desk.deny(rec.id, actor="admin:ops"))
    with pytest.raises(NotFound):
        run(desk.approve("ret_nope", actor="admin:ops"))
    assert len(world.all("jobs", lead_id=lead_id)) == 1  # no redistribution without the option


@pytest.mark.parametrize(
    ("after", "taken"), [(timedelta(days=7), True), (timedelta(days=7, seconds=1), False)]
)
def test_the_window_on_the_clock(after: timedelta, taken: bool) -> None:
    world, desk = world_with()
    lead_id = sold(world)
    delivered_at = world.one("deliveries", lead_id=lead_id).delivered_at
    world.clock.set(delivered_at + after)
    request = desk.request(ReturnRequest("sunco", "duplicate", lead_id=lead_id), actor="cli")
    if taken:
        assert run(request).status is ReturnStatus.REQUESTED
    else:
        with pytest.raises(InvalidTransition, match="return window of sunco"):
            run(request)
        assert world.all("returns") == []


def test_the_rate_is_refused_with_its_figures_and_a_denied_return_frees_it() -> None:
    world, desk = world_with(max_rate="50%")
    first, second = sold(world), sold(world, state="CA", monthly_bill=180, phone="(512) 555-1313")
    a = run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=first), actor="cli"))
    with pytest.raises(InvalidTransition, match=r"2 returns of 2 leads sold \(100%\)"):
        run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=second), actor="cli"))
    run(desk.deny(a.id, actor="cli"))
    assert (
        run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=second), actor="cli")).status
        == "requested"
    )


def test_a_resend_of_a_standing_sale_does_not_count_as_a_lead_sold_for_the_rate() -> None:
    """Two leads sold, one of them resent: 2 leads sold (the resend is the same sale), so a first return
    is 1 of 2 (50 %), over a max_rate of 40 %."""
    world, desk = world_with(max_rate="40%")
    first, second = sold(world), sold(world, state="CA", monthly_bill=180, phone="(512) 555-1313")
    job = world.job_of(first)
    run(world.actions.resend(job.id, actor="ops"))
    world.work(http(200, '{"reference": "r-2"}'))
    assert len(world.all("deliveries", lead_id=first)) == 2
    with pytest.raises(InvalidTransition, match=r"1 returns of 2 leads sold \(50%\)"):
        run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=second), actor="cli"))


def test_refusals() -> None:
    world, desk = world_with()
    lead_id = sold(world)
    with pytest.raises(Forbidden, match="brightpath does not take returns"):
        run(desk.request(ReturnRequest("brightpath", "duplicate", lead_id=lead_id), actor="cli"))
    with pytest.raises(NotFound, match="unknown partner"):
        run(desk.request(ReturnRequest("nobody", "duplicate", lead_id=lead_id), actor="cli"))
    with pytest.raises(ValidationFailed) as caught:
        run(desk.request(ReturnRequest("sunco", "changed_mind", lead_id=lead_id), actor="cli"))
    assert caught.value.problems[0].field == "reason"
    with pytest.raises(ValidationFailed):
        run(desk.request(ReturnRequest("sunco", "duplicate"), actor="cli"))
    with pytest.raises(NotFound, match="no lead lead_x was delivered to sunco"):
        run(desk.request(ReturnRequest("sunco", "duplicate", lead_id="lead_x"), actor="cli"))
    run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=lead_id), actor="cli"))
    with pytest.raises(InvalidTransition, match="already returned"):
        run(desk.request(ReturnRequest("sunco", "bad_phone", lead_id=lead_id), actor="cli"))
    assert len(world.all("returns")) == 1
    assert len(world.audit("return.requested")) == 1


def test_a_test_lead_cannot_be_returned() -> None:
    world, desk = world_with()
    lead_id = world.accept(lead(state="CA", monthly_bill=180), test=True).lead_id
    world.work(http(200))
    with pytest.raises(InvalidTransition, match="test lead"):
        run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=lead_id), actor="cli"))


def test_csv_rows_with_line_numbers() -> None:
    world, desk = world_with()
    lead_id = sold(world)
    text = f"partner,lead_id,reason\nsunco,{lead_id},duplicate\n\nsunco,x\nsunco,,duplicate\n"
    report = run(import_returns(desk, text, actor="cli"))
    assert [(r.line, r.ok) for r in report.rows] == [(2, True), (4, False), (5, False)]
    assert report.rows[1].error == "row: 2 cells where the header has 3"
    assert report.rows[2].error == "lead_id: give exactly one of lead_id or delivery_id"
    assert (report.taken, report.refused) == (1, 1 + 1)


@pytest.mark.parametrize(
    ("text", "field"),
    [("", "file"), ("partner,reason\n", "header.lead_id"), ("lead_id,reason,x\n", "header.x")],
)
def test_a_csv_header_that_is_not_a_returns_files_is_refused_whole(text: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        list(read_rows(text))
    assert field in [p.field for p in caught.value.problems]


def test_a_return_of_a_delivery_cancelled_since_is_denied_by_the_cancel() -> None:
    world, desk = world_with()
    lead_id = sold(world)
    rec = run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=lead_id), actor="cli"))
    run(world.actions.cancel(rec.job_id, actor="admin:ops", reason="wrong lead"))
    denied = run(desk.get(rec.id))
    assert (denied.status, denied.decision_note) == (ReturnStatus.DENIED, "the sale was cancelled")
    with pytest.raises(InvalidTransition):
        run(desk.approve(rec.id, actor="admin:ops"))
    assert not [e for e in money(world, lead_id) if e.kind is EntryKind.RETURN]


def test_erasing_the_lead_redacts_what_the_return_notes_quote_of_it() -> None:
    world, desk = world_with()
    lead_id = sold(world)
    phone = world.one("leads", id=lead_id).data["phone"]
    note = f"called {phone}: nobody"
    rec = run(desk.request(ReturnRequest("sunco", "duplicate", lead_id=lead_id, note=note), actor="cli"))
    run(desk.deny(rec.id, actor="admin:ops", note=f"{phone} answered us"))
    assert run(world.privacy.erase_lead(lead_id, actor="admin:ops"))
    erased = run(desk.get(rec.id))
    assert phone not in (erased.note or "") and phone not in (erased.decision_note or "")
    assert erased.note and erased.note.endswith(": nobody")
    reasons = [entry.reason for entry in world.all("audit_log") if entry.object_id == rec.id]
    assert reasons and all(phone not in (reason or "") for reason in reasons), reasons  # the audit's too
