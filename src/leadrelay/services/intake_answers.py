"""What a source is told about its lead: the request it makes, the answer it gets (at once, after waiting,
or later from ``GET /v1/leads/{id}``), and the reading of that answer from the stored lead."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from leadrelay.domain.derived_states import public_lead_status
from leadrelay.domain.ledger import Party, balance
from leadrelay.domain.model import SourceSpec
from leadrelay.domain.offers import NO_OFFER_SELECTED, public_offer
from leadrelay.domain.states import LeadStatus, OfferStatus
from leadrelay.errors import FieldProblem, NotFound
from leadrelay.services.ports import Clock, Tx

FINAL_LEAD_STATUSES = frozenset(LeadStatus) - {LeadStatus.QUEUED}

# What a source is told (domain.derived_states.public_lead_status): delivered, unsold, rejected or queued
# (and, later, cancelled). A technical failure is unsold to the source, and only routing reasons are shown
# (never a buyer's answer). A suppressed lead is unsold, its reason the word suppressed: which list
# matched is not the source's business.
SUPPRESSED_REASON = str(LeadStatus.SUPPRESSED)
_PUBLIC_REASONS = (
    "no eligible partner",
    "every eligible partner is at its cap",
    "no rule matched",
    "no enabled profile for entity",
    "no consent",  # the profile requires one-to-one consent and the lead carries none
    NO_OFFER_SELECTED,  # user choice: every offer expired
    "the selected offer's partner did not take the lead",  # user choice
)


def public_reason(error: str | None) -> str:
    if error:
        for known in _PUBLIC_REASONS:
            if error.startswith(known):
                return error.split(" (already tried")[0]
    return "not sold"


@dataclass(frozen=True, slots=True)
class IntakeRequest:
    source: str
    entity: str
    raw: Mapping[str, Any]
    idempotency_key: str | None = None
    test: bool = False
    wait: float = 0.0  # seconds to wait for the outcome of a queued lead before answering
    ping_token: str | None = None  # a supplier ping's token (``services.supplier_ping``): its bids stand


@dataclass(slots=True)
class IntakeAnswer:
    lead_id: str
    status: LeadStatus  # what the source is told (public_lead_status)
    problems: list[FieldProblem] = field(default_factory=list)
    sold: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    repeat: bool = False  # an Idempotency-Key repeat: the original answer, nothing created
    settled: bool = False  # nothing more will happen without an operator (not shown to the source)
    show_buyer: bool = False  # the source may see who bought the lead and at what price
    replay: tuple[int, dict[str, Any]] | None = None  # a repeat's stored first answer: HTTP status, body
    offers: list[dict[str, Any]] = field(default_factory=list)  # user choice: the open offers
    payout: Decimal | None = None  # what the source earns for the lead so far (sources with a payout)

    @property
    def code(self) -> int:
        """The HTTP status: 202 queued, 422 rejected, else 200 (a repeat: the first answer's)."""
        if self.replay is not None:
            return self.replay[0]
        return answer_code(self.status)

    def body(self) -> dict[str, Any]:
        return self.replay[1] if self.replay is not None else self.as_dict()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lead_id": self.lead_id, "status": self.status}
        if self.problems:
            out["errors"] = [p.as_dict() for p in self.problems]
        if self.sold and self.show_buyer:
            out["partner"] = self.sold[0]["partner"]
            out["price"] = self.sold[0]["price"]
            if len(self.sold) > 1:
                out["deliveries"] = [{"partner": s["partner"], "price": s["price"]} for s in self.sold]
        redirect = next((s["redirect_url"] for s in self.sold if s.get("redirect_url")), None)
        if (
            redirect is not None
        ):  # where the buyer wants the consumer sent (response rules' redirect_url_path)
            out["redirect_url"] = redirect
        if self.reason:
            out["reason"] = self.reason
        if self.offers:
            out["offers"] = self.offers
        if self.payout is not None:  # the source's own payout, never the buyer's price
            out["payout"] = str(self.payout)
        return out


def answer_code(status: str) -> int:
    return 202 if status == LeadStatus.QUEUED else 422 if status == LeadStatus.REJECTED else 200


def read_answer(
    tx: Tx, lead_id: str, sources: Mapping[str, SourceSpec], clock: Clock, *, source: str | None = None
) -> IntakeAnswer:
    """The lead's answer as stored now; with ``source``, only that source's leads are visible (else
    NotFound). The buyer and its price are in it when the lead's source may see them (``show_buyer``)."""
    got = tx.leads.lead_outcome(lead_id)
    if got is None or (source is not None and got.source != source):
        raise NotFound(f"unknown lead {lead_id}")
    status = got.status
    problems = [FieldProblem(p["field"], p["error"]) for p in got.problems]
    public = public_lead_status(status)
    reason = public_reason(got.error) if public is LeadStatus.UNSOLD else None
    if status == LeadStatus.SUPPRESSED:
        reason = SUPPRESSED_REASON
    answer = IntakeAnswer(lead_id, public, problems=problems, sold=got.sold, reason=reason)
    answer.settled = status in FINAL_LEAD_STATUSES
    spec = sources.get(got.source)
    answer.show_buyer = spec is not None and spec.show_buyer
    if spec is not None and spec.payout_for(got.entity) is not None and not got.is_test:
        paid = tx.ledger.entries(lead_ids=[lead_id], party_kind=Party.SOURCE)
        answer.payout = -balance(paid)
    if public is LeadStatus.QUEUED:
        answer.offers = open_offers(tx, lead_id, clock())
    return answer


def open_offers(tx: Tx, lead_id: str, now: datetime) -> list[dict[str, Any]]:
    """A lead's offers the consumer may select now (``strategy: user_choice``), as the source sees them."""
    return [
        public_offer(o.id, o.display_name, o.logo_url, o.price, bool(o.show_price), o.expires_at)
        for o in tx.deliveries.lead_offers(lead_id)
        if o.status == OfferStatus.OPEN and o.expires_at > now
    ]
