"""The states of what follows a sale, and the moves allowed between them, as data: a delivery's outcome as
its buyer reports it, the events relayed to the lead's source, a partner's returns, and invoices.

Four state columns, one ``StrEnum`` each (values are what the database stores):

- ``deliveries.outcome`` (:class:`DeliveryOutcome`): what the buyer reported since (postbacks), NULL before;
- ``outbound_postbacks.status`` (:class:`RelayStatus`): an event relayed to a lead's source;
- ``returns.status`` (:class:`ReturnStatus`): a partner's return of a lead it bought;
- ``invoices.status`` (:class:`InvoiceStatus`): a partner's invoice or a source's statement.

Each has a :class:`~leadrelay.domain.state_machine.Machine`, as the distribution's states in
``domain.states`` do (whose ``MACHINES`` lists these too, for the diagrams of docs/states.md and their
tests). Pure: standard library only.
"""

from __future__ import annotations

from enum import StrEnum

from leadrelay.domain.state_machine import Machine

__all__ = [
    "INVOICE",
    "OUTCOME",
    "RELAY",
    "RETURN",
    "DeliveryOutcome",
    "InvoiceStatus",
    "RelayStatus",
    "ReturnStatus",
]


class DeliveryOutcome(StrEnum):
    """What the buyer reported about a delivered lead (its postbacks); NULL: nothing reported yet."""

    CONTACTED = "contacted"  # the buyer reached the consumer
    CONVERTED = "converted"  # the consumer bought (may carry revenue)
    REJECTED = "rejected"  # the buyer could not use the lead: final
    RETURNED = "returned"  # the buyer sent the lead back (even after a conversion): final


class RelayStatus(StrEnum):
    """An event relayed to a lead's source (``outbound_postbacks``)."""

    READY = "ready"  # to be sent from next_attempt_at
    SENDING = "sending"  # a relay loop holds the lease
    RETRY = "retry"  # a retryable failure: due again at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # refused, or gave up


class ReturnStatus(StrEnum):
    REQUESTED = "requested"  # waiting for an operator's review
    APPROVED = "approved"  # credited to the partner (a RETURN in the ledger)
    DENIED = "denied"  # refused by an operator; the sale stands


class InvoiceStatus(StrEnum):
    DRAFT = "draft"  # lines may be regenerated; no number yet
    ISSUED = "issued"  # numbered; its lines and total never change again
    PAID = "paid"  # settled: a payment entry posted for its total
    VOID = "void"  # cancelled after issue: its entries released, its number kept


# ---------------------------------------------------------------- a delivery's outcome (postbacks)

_P = DeliveryOutcome

OUTCOME: Machine[DeliveryOutcome] = Machine(
    "delivery outcome",
    DeliveryOutcome,
    initial={
        _P.CONTACTED: "the buyer's first postback",
        _P.CONVERTED: "the buyer's first postback",
        _P.REJECTED: "the buyer's first postback",
        _P.RETURNED: "the buyer's first postback",
    },
    edges=(
        (_P.CONTACTED, _P.CONVERTED, "the consumer bought"),
        (_P.CONTACTED, _P.REJECTED, "the buyer could not use it"),
        (_P.CONTACTED, _P.RETURNED, "sent back"),
        (_P.CONVERTED, _P.RETURNED, "sent back after the sale"),
    ),
)

# ---------------------------------------------------------------- events relayed to sources

_R = RelayStatus

RELAY: Machine[RelayStatus] = Machine(
    "relayed postback",
    RelayStatus,
    initial={_R.READY: "a sale or a buyer's postback the source subscribed to"},
    edges=(
        (_R.READY, _R.SENDING, "claimed by a relay loop"),
        (_R.RETRY, _R.SENDING, "retry due"),
        (_R.SENDING, _R.SENDING, "lease ran out, claimed again"),
        (_R.SENDING, _R.SENT, "the source answered 2xx"),
        (_R.SENDING, _R.RETRY, "retryable failure"),
        (_R.SENDING, _R.FAILED, "refused, gave up, or no longer configured"),
    ),
)

# ---------------------------------------------------------------- returns (a partner returns a lead)

_T = ReturnStatus

RETURN: Machine[ReturnStatus] = Machine(
    "return",
    ReturnStatus,
    initial={_T.REQUESTED: "requested with a reason, within the window, under the rate"},
    edges=(
        (_T.REQUESTED, _T.APPROVED, "approved by an operator, or at once by its reason (auto_approve)"),
        (_T.REQUESTED, _T.DENIED, "denied by an operator (the sale stands)"),
    ),
)

# ---------------------------------------------------------------- invoices and statements

_I = InvoiceStatus

INVOICE: Machine[InvoiceStatus] = Machine(
    "invoice",
    InvoiceStatus,
    initial={_I.DRAFT: "drafted for a party and a period"},
    edges=(
        (_I.DRAFT, _I.DRAFT, "regenerated from the ledger"),
        (_I.DRAFT, _I.ISSUED, "issued (numbered, lines frozen, deliveries invoiced)"),
        (_I.ISSUED, _I.PAID, "paid (a payment entry posted for the total)"),
        (_I.ISSUED, _I.VOID, "voided (entries released, deliveries no longer invoiced)"),
    ),
)
