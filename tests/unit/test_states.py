"""The state machines of leadrelay.domain.states: transitions allowed and refused, a job's settlement from
its deliveries, a lead's status from its jobs, and the diagrams of docs/states.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.domain.derived_states import Settlement, lead_status, public_lead_status, settle_job
from leadrelay.domain.state_diagrams import mermaid
from leadrelay.domain.states import (
    BATCH,
    DELIVERY,
    DELIVERY_UNDER_WAY,
    JOB,
    JOB_FINISHED,
    JOB_OPEN,
    LEAD,
    MACHINES,
    QUEUE,
    BatchStatus,
    DeliveryStatus,
    JobStatus,
    LeadStatus,
    QueueState,
    check_transition,
)
from leadrelay.errors import InvalidTransition, LeadrelayError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "states.md"

J, Q, D, B, L = JobStatus, QueueState, DeliveryStatus, BatchStatus, LeadStatus

ALLOWED: list[tuple[Any, Any, Any]] = [
    (JOB, J.RECEIVED, J.DELIVERING),
    (JOB, J.RECEIVED, J.UNSOLD),
    (JOB, J.ROUTING, J.HELD),
    (JOB, J.DELIVERING, J.DELIVERED),
    (JOB, J.DELIVERING, J.ROUTING),
    (JOB, J.DELIVERING, J.DELIVERING),
    (JOB, J.DELIVERED, J.CANCELLED),
    (JOB, J.HELD, J.DELIVERING),
    (JOB, J.FAILED, J.RECEIVED),
    (JOB, J.UNSOLD, J.RECEIVED),
    (JOB, "failed", J.RECEIVED),  # as read from the database
    (QUEUE, Q.READY, Q.CLAIMED),
    (QUEUE, Q.CLAIMED, Q.CLAIMED),
    (QUEUE, Q.CLAIMED, Q.WAITING),
    (QUEUE, Q.WAITING, Q.READY),
    (QUEUE, Q.DONE, Q.READY),
    (DELIVERY, D.PENDING, D.DELIVERED),
    (DELIVERY, D.RETRY, D.RETRY),
    (DELIVERY, D.PENDING, D.PENDING),
    (DELIVERY, D.BATCHED, D.DELIVERED),
    (DELIVERY, D.HELD, D.PENDING),
    (DELIVERY, D.DELIVERED, D.CANCELLED),
    (BATCH, B.READY, B.SENDING),
    (BATCH, B.SENDING, B.SENT),
    (BATCH, B.SENT, B.READY),
    (BATCH, B.FAILED, B.READY),
    (LEAD, L.QUEUED, L.DELIVERED),
    (LEAD, L.DELIVERED, L.CANCELLED),
    (LEAD, L.CANCELLED, L.QUEUED),
]

REFUSED: list[tuple[Any, Any, Any]] = [
    (JOB, J.DELIVERED, J.FAILED),
    (JOB, J.DELIVERED, J.RECEIVED),  # a delivered job is resent, never rerun
    (JOB, J.CANCELLED, J.DELIVERED),
    (JOB, J.DUPLICATE, J.RECEIVED),
    (JOB, J.SUPPRESSED, J.DELIVERING),
    (JOB, J.RECEIVED, J.DELIVERED),  # not without a delivery
    (JOB, J.HELD, J.FAILED),
    (JOB, "bogus", J.RECEIVED),
    (QUEUE, Q.DONE, Q.CLAIMED),  # a closed job is never claimed
    (QUEUE, Q.WAITING, Q.CLAIMED),  # a parked job is woken first
    (QUEUE, Q.READY, Q.WAITING),
    (DELIVERY, D.FAILED, D.PENDING),
    (DELIVERY, D.DELIVERED, D.FAILED),
    (DELIVERY, D.CANCELLED, D.DELIVERED),
    (DELIVERY, D.HELD, D.DELIVERED),
    (DELIVERY, D.BATCHED, D.RETRY),
    (BATCH, B.READY, B.SENT),
    (BATCH, B.SENT, B.SENDING),
    (BATCH, B.SENDING, B.READY),  # redelivering a batch being sent
    (BATCH, B.FAILED, B.SENT),
    (LEAD, L.REJECTED, L.QUEUED),
    (LEAD, L.DUPLICATE, L.UNSOLD),
    (LEAD, L.SUPPRESSED, L.DELIVERED),
    (LEAD, L.QUEUED, L.REJECTED),
]


@pytest.mark.parametrize(("machine", "src", "dst"), ALLOWED)
def test_allowed_transitions(machine: Any, src: Any, dst: Any) -> None:
    assert machine.allowed(src, dst)
    assert check_transition(machine, src, dst) is dst


@pytest.mark.parametrize(("machine", "src", "dst"), REFUSED)
def test_refused_transitions_raise(machine: Any, src: Any, dst: Any) -> None:
    assert not machine.allowed(src, dst)
    with pytest.raises(InvalidTransition) as info:
        machine.check(src, dst)
    assert str(src) in info.value.detail and str(dst) in info.value.detail
    assert isinstance(info.value, LeadrelayError) and info.value.code == "invalid_transition"


@pytest.mark.parametrize(
    ("machine", "state", "ok"),
    [
        (JOB, J.RECEIVED, True),
        (JOB, J.DUPLICATE, True),
        (JOB, J.DELIVERING, False),
        (QUEUE, Q.CLAIMED, False),
        (DELIVERY, D.BATCHED, True),
        (DELIVERY, D.RETRY, False),
        (BATCH, B.READY, True),
        (BATCH, B.SENT, False),
        (LEAD, L.REJECTED, True),
        (LEAD, L.DELIVERED, False),
        (LEAD, "nonsense", False),
    ],
)
def test_initial_states(machine: Any, state: Any, ok: bool) -> None:
    if ok:
        assert machine.check_initial(state) == state
    else:
        with pytest.raises(InvalidTransition):
            machine.check_initial(state)


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_every_state_is_reachable_and_named_in_lowercase(machine: Any) -> None:
    reached = set(machine.initial)
    frontier = list(reached)
    while frontier:
        for nxt in machine.transitions[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(machine.states)
    assert all(s.value == s.value.lower() == s.name.lower() for s in machine.states)


def test_sources_are_the_inverse_of_the_transitions() -> None:
    assert JOB.sources(J.CANCELLED) == {J.DELIVERED}
    assert QUEUE.sources(Q.CLAIMED) == {Q.READY, Q.CLAIMED}
    assert DELIVERY.sources(D.DELIVERED) == {D.PENDING, D.RETRY, D.BATCHED}
    assert BATCH.sources(B.READY) == {B.SENT, B.FAILED, B.RETRY}
    for machine in MACHINES:
        for dst in machine.states:
            assert machine.sources(dst) == {s for s in machine.states if machine.allowed(s, dst)}


def test_terminal_states() -> None:
    assert JOB.terminal() == {J.CANCELLED, J.DUPLICATE, J.SUPPRESSED}
    assert DELIVERY.terminal() == {D.FAILED, D.CANCELLED}
    assert QUEUE.terminal() == set() and BATCH.terminal() == set()
    assert LEAD.terminal() == {L.REJECTED, L.DUPLICATE, L.SUPPRESSED}


# ---------------------------------------------------------------- settlement of a job


@pytest.mark.parametrize(
    ("deliveries", "reroute", "expected"),
    [
        ([D.PENDING], True, Settlement(J.DELIVERING, Q.READY)),
        ([D.RETRY, D.DELIVERED], True, Settlement(J.DELIVERING, Q.READY)),
        ([D.PENDING, D.BATCHED], False, Settlement(J.DELIVERING, Q.READY)),
        ([D.BATCHED, D.DELIVERED], True, Settlement(J.DELIVERING, Q.WAITING)),
        ([D.DELIVERED, D.FAILED], True, Settlement(J.DELIVERED, Q.DONE)),
        ([D.DELIVERED, D.HELD], True, Settlement(J.DELIVERED, Q.DONE)),
        ([D.HELD, D.FAILED], True, Settlement(J.HELD, Q.DONE)),
        ([D.FAILED, D.FAILED], True, Settlement(J.ROUTING, Q.CLAIMED)),
        ([D.FAILED], False, Settlement(J.FAILED, Q.DONE)),  # a resend or test job is not rerouted
        ([], True, Settlement(J.FAILED, Q.DONE)),  # nothing to deliver
        (["delivered", "failed"], True, Settlement(J.DELIVERED, Q.DONE)),  # as read from the database
    ],
)
def test_settle_job(deliveries: list[Any], reroute: bool, expected: Settlement) -> None:
    assert settle_job(deliveries, reroute=reroute) == expected


@given(st.lists(st.sampled_from(DeliveryStatus), max_size=6), st.booleans())
def test_a_settlement_is_always_a_legal_move_of_a_delivering_job(
    deliveries: list[DeliveryStatus], reroute: bool
) -> None:
    got = settle_job(deliveries, reroute=reroute)
    assert JOB.allowed(J.DELIVERING, got.status)
    assert QUEUE.allowed(Q.CLAIMED, got.queue)
    assert got.closed == (got.status in JOB_FINISHED)
    under_way = set(deliveries) & DELIVERY_UNDER_WAY
    assert (got.status is J.DELIVERING) == bool(under_way)
    if not under_way:
        assert (got.status is J.DELIVERED) == (D.DELIVERED in deliveries)
    assert settle_job(list(reversed(deliveries)), reroute=reroute) == got  # order does not matter


# ---------------------------------------------------------------- a lead's status from its jobs


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ([], L.UNSOLD),  # accepted, no enabled profile
        ([J.RECEIVED], L.QUEUED),
        ([J.DELIVERED, J.RECEIVED], L.DELIVERED),  # a resend of a delivered lead
        ([J.DELIVERING, J.FAILED], L.QUEUED),
        ([J.HELD, J.FAILED], L.HELD),
        ([J.FAILED, J.UNSOLD], L.FAILED),
        ([J.CANCELLED], L.CANCELLED),
        ([J.CANCELLED, J.UNSOLD], L.UNSOLD),
        ([J.CANCELLED, J.RECEIVED], L.QUEUED),  # redistributed after a cancel
        ([J.DUPLICATE], L.DUPLICATE),
        ([J.SUPPRESSED, J.SUPPRESSED], L.SUPPRESSED),
        ([J.DUPLICATE, J.SUPPRESSED], L.DUPLICATE),
        ([J.DUPLICATE, J.UNSOLD], L.UNSOLD),
        (["delivered"], L.DELIVERED),
    ],
)
def test_lead_status(jobs: list[Any], expected: LeadStatus) -> None:
    assert lead_status(jobs) is expected


@given(st.lists(st.sampled_from(JobStatus), max_size=6))
def test_lead_status_invariants(jobs: list[JobStatus]) -> None:
    got = lead_status(jobs)
    assert got is not L.REJECTED  # only intake rejects
    assert (got is L.DELIVERED) == (J.DELIVERED in jobs)
    if J.DELIVERED not in jobs:
        assert (got is L.QUEUED) == bool(set(jobs) & JOB_OPEN)
    assert lead_status(set(jobs)) is got


@given(st.lists(st.sampled_from(JobStatus), max_size=4), st.lists(st.sampled_from(JobStatus), max_size=4))
def test_a_derived_lead_status_never_leaves_a_settled_status_for_an_intake_one(
    before: list[JobStatus], after: list[JobStatus]
) -> None:
    """Jobs may move on in any way; the lead follows within its derived statuses, or stays put."""
    old, new = lead_status(before), lead_status(after)
    if old != new and old in LEAD.mesh and new in LEAD.mesh:
        assert LEAD.allowed(old, new)


@pytest.mark.parametrize(
    ("status", "public"),
    [
        (L.FAILED, L.UNSOLD),
        (L.SUPPRESSED, L.UNSOLD),
        (L.HELD, L.QUEUED),
        (L.DELIVERED, L.DELIVERED),
        (L.REJECTED, L.REJECTED),
        ("duplicate", L.DUPLICATE),
    ],
)
def test_public_lead_status(status: Any, public: LeadStatus) -> None:
    assert public_lead_status(status) is public


# ---------------------------------------------------------------- the diagrams in docs/states.md


def test_docs_show_every_machine_as_generated() -> None:
    """docs/states.md holds each machine's diagram exactly as ``mermaid`` draws it from the tables
    (``python -m leadrelay.domain.state_diagrams`` prints them)."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(.*?)```", text, flags=re.S)
    assert blocks == [mermaid(m) for m in MACHINES]


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_every_transition_is_drawn_with_a_label(machine: Any) -> None:
    drawn = mermaid(machine)
    for src, dst, label in machine.edges:
        assert f"{src.value} --> {dst.value} : {label}\n" in drawn
        assert label and ":" not in label
    for state in machine.states:
        assert state.value in drawn
