"""The states of a lead's distribution, and the moves allowed between them, as data.

Six state columns, one ``StrEnum`` each (values are what the database stores):

- ``leads.status`` (:class:`LeadStatus`): set at intake, then derived from its jobs
  (``domain.derived_states.lead_status``);
- ``jobs.status`` (:class:`JobStatus`): the distribution job's own progress;
- ``jobs.queue_state`` (:class:`QueueState`): the queue's claim state, kept apart from the job's status;
- ``deliveries.status`` (:class:`DeliveryStatus`): one partner's delivery of one job;
- ``batches.status`` (:class:`BatchStatus`): a batch file or email digest being sent;
- ``offers.status`` (:class:`OfferStatus`): a partner offered to the consumer (``strategy: user_choice``).

The four of what follows a sale (a delivery's reported outcome, the events relayed to sources, returns and
invoices) are in ``domain.after_sale_states``; ``MACHINES`` here lists all ten.

Each has a :class:`~leadrelay.domain.state_machine.Machine`: the states a row may be created in, and
labelled transitions. Writers call ``MACHINE.check(current, new)`` (an illegal move raises
:class:`~leadrelay.errors.InvalidTransition`); bulk SQL updates restrict their WHERE clause to
``MACHINE.sources(new)``; the schema backs the values with CHECK constraints built from the enums.
``docs/states.md`` is generated from these tables
(``leadrelay.domain.state_diagrams``), and a unit test keeps it so. What a set of facts means for a
state (a job's settlement from its deliveries, a lead's status from its jobs) is decided in
``domain.derived_states``.

Pure: standard library only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from leadrelay.domain.after_sale_states import INVOICE, OUTCOME, RELAY, RETURN
from leadrelay.domain.state_machine import Machine, S

__all__ = [
    "BATCH",
    "BATCH_TRANSITIONS",
    "DELIVERY",
    "DELIVERY_NOT_SENT",
    "DELIVERY_TRANSITIONS",
    "DELIVERY_UNDER_WAY",
    "JOB",
    "JOB_FINISHED",
    "JOB_OPEN",
    "JOB_TO_ROUTE",
    "JOB_TRANSITIONS",
    "LEAD",
    "LEAD_SETTLED",
    "LEAD_TRANSITIONS",
    "MACHINES",
    "OFFER",
    "QUEUE",
    "QUEUE_TRANSITIONS",
    "BatchStatus",
    "DeliveryStatus",
    "JobKind",
    "JobStatus",
    "LeadStatus",
    "Machine",
    "OfferStatus",
    "QueueState",
    "check_transition",
]


class LeadStatus(StrEnum):
    QUEUED = "queued"  # a job is still under way
    REJECTED = "rejected"  # invalid at intake: no job
    DELIVERED = "delivered"  # some job delivered it
    UNSOLD = "unsold"  # nobody took it (or no enabled profile)
    FAILED = "failed"  # a job failed on a technical error: worth a rerun
    CANCELLED = "cancelled"  # every job was cancelled
    DUPLICATE = "duplicate"  # closed at intake by every profile, a duplicate
    SUPPRESSED = "suppressed"  # closed at intake by every profile, on a suppression list
    HELD = "held"  # stored for pick-up by a hold channel


class JobStatus(StrEnum):
    RECEIVED = "received"  # waiting to be routed
    ROUTING = "routing"  # every delivery failed: to be routed again, without the partners tried
    DELIVERING = "delivering"  # deliveries under way (or waiting for a batch)
    DELIVERED = "delivered"
    FAILED = "failed"
    UNSOLD = "unsold"
    CANCELLED = "cancelled"
    DUPLICATE = "duplicate"  # closed at intake
    SUPPRESSED = "suppressed"  # closed at intake
    HELD = "held"  # every delivery held for pick-up


class JobKind(StrEnum):
    """What a job is for (not a state: a job keeps its kind)."""

    ROUTE = "route"  # routed by a profile's rules (a redistribution after a cancel or return too)
    RESEND = "resend"  # an operator's resend of a delivered job, straight to the partner it was sold to
    TEST = "test"  # a test lead to one partner, never billed


class QueueState(StrEnum):
    READY = "ready"  # claimable from run_at
    CLAIMED = "claimed"  # a worker holds the lease (until lease_until)
    WAITING = "waiting"  # parked: its deliveries wait for a batch; the batch sender wakes it
    DONE = "done"  # nothing left to run


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be attempted (from next_attempt_at)
    RETRY = "retry"  # a retryable error: attempted again at next_attempt_at
    DELIVERED = "delivered"
    FAILED = "failed"  # refused, gave up, or taken out (its cap slot given back)
    HELD = "held"  # stored for pick-up (its cap slot kept)
    CANCELLED = "cancelled"
    BATCHED = "batched"  # waiting for (or in) a batch file or digest


class BatchStatus(StrEnum):
    READY = "ready"  # cut, to be sent
    SENDING = "sending"  # a sender holds the lease
    RETRY = "retry"  # a retryable failure: due again at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # gave up (or dissolved) until an operator redelivers


class OfferStatus(StrEnum):
    OPEN = "open"  # offered to the consumer until expires_at
    SELECTED = "selected"  # the consumer chose it: its partner gets the post
    EXPIRED = "expired"  # its time ran out, or the consumer chose another


class KeyOwner(StrEnum):
    """Whose API key it is: a source's (sends leads) or a partner's (its own routes, e.g. availability).
    A key authenticates only as its kind of owner."""

    SOURCE = "source"
    PARTNER = "partner"


def check_transition(machine: Machine[S], src: S | str, dst: S) -> S:
    """``machine.check``: ``dst`` if ``src → dst`` is allowed, else :class:`InvalidTransition`."""
    return machine.check(src, dst)


# ---------------------------------------------------------------- jobs

_J = JobStatus

JOB: Machine[JobStatus] = Machine(
    "distribution job",
    JobStatus,
    initial={
        _J.RECEIVED: "accepted, resent, redistributed or a test",
        _J.DUPLICATE: "a duplicate for its profile",
        _J.SUPPRESSED: "on its profile's suppression list",
    },
    edges=(
        *(
            edge
            for src in (_J.RECEIVED, _J.ROUTING)
            for edge in (
                (src, _J.DELIVERING, "routed, deliveries created"),
                (src, _J.HELD, "every chosen partner holds leads"),
                (src, _J.UNSOLD, "no partner (rules, caps, profile off, lead erased, listed since intake)"),
                (src, _J.FAILED, "no partner after errors, or cannot be processed"),
                (src, _J.RECEIVED, "rerun (stuck)"),
            )
        ),
        (_J.DELIVERING, _J.DELIVERING, "a delivery waits for a batch, or a held one is released"),
        (_J.DELIVERING, _J.DELIVERED, "a delivery succeeded"),
        (_J.DELIVERING, _J.HELD, "held for pick-up"),
        (_J.DELIVERING, _J.ROUTING, "every delivery failed, route again"),
        (_J.DELIVERING, _J.FAILED, "every delivery failed, or cannot be processed"),
        (_J.DELIVERING, _J.UNSOLD, "lead erased before it was sent"),
        (_J.DELIVERING, _J.RECEIVED, "rerun (stuck)"),
        (_J.HELD, _J.DELIVERING, "released from hold"),
        (_J.HELD, _J.UNSOLD, "lead erased before it was picked up"),
        (_J.DELIVERED, _J.CANCELLED, "cancel"),
        (_J.DELIVERED, _J.DELIVERING, "a held delivery released (broadcast)"),
        (_J.FAILED, _J.RECEIVED, "rerun"),
        (_J.UNSOLD, _J.RECEIVED, "rerun"),
    ),
)
JOB_TRANSITIONS = JOB.transitions

JOB_TO_ROUTE = frozenset({JobStatus.RECEIVED, JobStatus.ROUTING})
"""A job in these is (re)routed by the worker."""
JOB_OPEN = frozenset({JobStatus.RECEIVED, JobStatus.ROUTING, JobStatus.DELIVERING})
"""A job in these has work left (a worker routes it, sends for it, or it waits for a batch)."""
JOB_FINISHED = frozenset(JobStatus) - JOB_OPEN
"""A job in these is closed (``finished_at`` set); ``held`` and the others may be reopened by an action."""


# ---------------------------------------------------------------- the queue (claim state)

_Q = QueueState

QUEUE: Machine[QueueState] = Machine(
    "queue entry",
    QueueState,
    initial={_Q.READY: "a new job", _Q.DONE: "a job closed at intake"},
    edges=(
        (_Q.READY, _Q.CLAIMED, "claimed by a worker"),
        (_Q.READY, _Q.READY, "rerun (stuck)"),
        (_Q.READY, _Q.DONE, "lead erased"),
        (_Q.CLAIMED, _Q.CLAIMED, "lease ran out, claimed again"),
        (_Q.CLAIMED, _Q.READY, "retry due later, released at shutdown, rerun"),
        (_Q.CLAIMED, _Q.WAITING, "parked for a batch, or for the consumer's choice of an offer"),
        (_Q.CLAIMED, _Q.DONE, "job closed, or its lead erased"),
        (_Q.WAITING, _Q.READY, "its batch was sent, failed or dissolved, or an offer was selected"),
        (_Q.WAITING, _Q.WAITING, "an offer was selected whose partner's channel is batched"),
        (_Q.WAITING, _Q.DONE, "lead erased, every offer expired, or the selected partner holds leads"),
        (_Q.DONE, _Q.READY, "rerun, released from hold"),
    ),
)
QUEUE_TRANSITIONS = QUEUE.transitions


# ---------------------------------------------------------------- deliveries

_D = DeliveryStatus

DELIVERY: Machine[DeliveryStatus] = Machine(
    "delivery",
    DeliveryStatus,
    initial={
        _D.PENDING: "a partner chosen",
        _D.HELD: "the partner's channel is hold",
        _D.BATCHED: "the partner's channel is batched",
    },
    edges=(
        *(
            edge
            for src in (_D.PENDING, _D.RETRY)
            for edge in (
                (src, _D.DELIVERED, "accepted"),
                (src, _D.RETRY, "retryable error"),
                (src, _D.FAILED, "refused, gave up, partner removed, rerun, job failed, lead erased"),
                (src, _D.PENDING, "failover to the next channel"),
                (src, _D.HELD, "failover reached hold"),
                (src, _D.BATCHED, "failover reached a batched channel"),
            )
        ),
        (_D.BATCHED, _D.DELIVERED, "its batch was sent"),
        (_D.BATCHED, _D.PENDING, "channel no longer batched, or batch dissolved"),
        (_D.BATCHED, _D.FAILED, "lead erased, rerun, job failed, test batch failed"),
        (_D.HELD, _D.PENDING, "released from hold"),
        (_D.HELD, _D.FAILED, "lead erased, or its distribution cancelled, before it was picked up"),
        (_D.DELIVERED, _D.CANCELLED, "cancel"),
    ),
)
DELIVERY_TRANSITIONS = DELIVERY.transitions

DELIVERY_UNDER_WAY = frozenset({DeliveryStatus.PENDING, DeliveryStatus.RETRY, DeliveryStatus.BATCHED})
"""A delivery in these is not finished: its job is not settled yet."""
DELIVERY_NOT_SENT = DELIVERY_UNDER_WAY | {DeliveryStatus.HELD}
"""A delivery in these has not reached its partner: under way, or held for pick-up (a held lead is not sold
yet). Erasing the lead closes them: nothing is sent, picked up or released with its data gone."""


# ---------------------------------------------------------------- batches

_B = BatchStatus

BATCH: Machine[BatchStatus] = Machine(
    "batch",
    BatchStatus,
    initial={_B.READY: "cut"},
    edges=(
        (_B.READY, _B.SENDING, "claimed by a sender"),
        (_B.RETRY, _B.SENDING, "retry due"),
        (_B.SENDING, _B.SENDING, "lease ran out, claimed again"),
        (_B.SENDING, _B.SENT, "delivered"),
        (_B.SENDING, _B.RETRY, "retryable failure"),
        (_B.SENDING, _B.FAILED, "gave up, or dissolved"),
        (_B.SENT, _B.READY, "redeliver"),
        (_B.FAILED, _B.READY, "redeliver"),
        (_B.RETRY, _B.READY, "redeliver"),
    ),
)
BATCH_TRANSITIONS = BATCH.transitions


# ---------------------------------------------------------------- leads

_L = LeadStatus

LEAD_SETTLED = frozenset({_L.QUEUED, _L.DELIVERED, _L.UNSOLD, _L.FAILED, _L.CANCELLED, _L.HELD})
"""The statuses derived from a lead's jobs; the others are set once, at intake."""

LEAD: Machine[LeadStatus] = Machine(
    "lead",
    LeadStatus,
    initial={
        _L.QUEUED: "accepted with a job per enabled profile",
        _L.UNSOLD: "accepted, no enabled profile",
        _L.REJECTED: "invalid",
        _L.DUPLICATE: "a duplicate for every profile",
        _L.SUPPRESSED: "suppressed for every profile",
    },
    edges=(),
    mesh=LEAD_SETTLED,
    mesh_label="recomputed from its jobs (lead_status)",
)
LEAD_TRANSITIONS = LEAD.transitions

# ---------------------------------------------------------------- offers (strategy user_choice)

_O = OfferStatus

OFFER: Machine[OfferStatus] = Machine(
    "offer",
    OfferStatus,
    initial={_O.OPEN: "an eligible partner below its caps, offered to the consumer"},
    edges=(
        (_O.OPEN, _O.SELECTED, "the consumer chose it"),
        (_O.OPEN, _O.EXPIRED, "its time ran out, the consumer chose another, or the lead was erased"),
    ),
)

MACHINES: tuple[Machine[Any], ...] = (
    JOB, QUEUE, DELIVERY, BATCH, LEAD, OFFER, OUTCOME, RELAY, RETURN, INVOICE,
)  # fmt: skip
