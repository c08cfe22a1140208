"""The postbacks' repositories: what buyers reported (``Postbacks``, with the report query of outcomes and
revenue) and the events relayed to sources (``Relays``, leased like batches)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from leadrelay.domain.after_sale_states import DeliveryOutcome, RelayStatus
from leadrelay.services.ports.records import Record

ReportBy = Literal["partner", "source"]


@dataclass(frozen=True, slots=True)
class OutcomeTotal:
    """One line of the outcomes report: of ``key`` (a partner or a source), how many postbacks reported
    ``outcome`` in the period, and the revenue they carried (cents summed, as a Decimal)."""

    key: str
    outcome: DeliveryOutcome
    count: int
    revenue: Decimal


class Postbacks(Protocol):
    def delivery(self, delivery_id: str) -> Record | None:
        """The delivery (id, job_id, lead_id, partner, status, outcome) with its lead's ``source``."""
        ...

    def delivered_of_batch(self, batch_id: str) -> list[Record]:
        """The delivered deliveries of a batch (id, lead_id, partner, is_test) with their lead's source."""
        ...

    def of_delivery(self, delivery_id: str) -> list[Record]:
        """The delivery's accepted postbacks, oldest first."""
        ...

    def of_lead(self, lead_id: str) -> list[Record]: ...

    def set_note(self, postback_id: str, note: str | None) -> None:
        """Replace a postback's note (an erasure takes out what it quotes of the lead)."""
        ...

    def insert(self, row: Mapping[str, Any]) -> bool:
        """Store an accepted postback; False when (delivery_id, event_id) is already stored (a replay
        that raced this one)."""
        ...

    def set_outcome(self, delivery_id: str, was: str | None, outcome: DeliveryOutcome) -> bool:
        """Move the delivery's outcome from ``was`` to ``outcome``; False when it is no longer ``was``
        (another postback moved it meanwhile)."""
        ...

    def outcome_totals(self, since: datetime, until: datetime, by: ReportBy) -> list[OutcomeTotal]:
        """Postbacks received in [since, until), counted and their revenue summed per partner or per
        source (the lead's) and outcome; ordered by key, then outcome."""
        ...


class Relays(Protocol):
    def insert(self, row: Mapping[str, Any]) -> bool:
        """Store an event to relay; False when that delivery's event is already stored."""
        ...

    def any_due(self, now: datetime) -> bool:
        """Whether some event is due to be claimed at ``now`` (a cheap read before claiming in a write
        transaction)."""
        ...

    def claim(self, owner: str, limit: int, now: datetime, lease_until: datetime) -> list[Record]:
        """Lease up to ``limit`` due events (ready or retry due, or leased by someone whose lease ran
        out) to ``owner``; their rows, as claimed."""
        ...

    def finish(self, relay_id: str, owner: str, status: RelayStatus, **values: Any) -> bool:
        """End ``owner``'s lease with ``status`` and ``values``; False when the lease was taken over."""
        ...

    def of_lead(self, lead_id: str) -> list[Record]: ...

    def get(self, relay_id: str) -> Record | None: ...

    def set_texts(
        self, relay_id: str, body: Mapping[str, Any], last_answer: str | None, reason: str | None
    ) -> None:
        """Replace the event's body and the source's last answer and reason (erasure: a buyer's note in the
        body may quote the person, and a source's answer may echo the body)."""
        ...
