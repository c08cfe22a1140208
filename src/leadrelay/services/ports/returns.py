"""The returns' repository: a partner's returns of the leads it bought (``leadrelay.domain.returns``),
and the reads a return's policy needs (the delivery returned, the rate period's figures)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from leadrelay.domain.after_sale_states import ReturnStatus


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    id: str
    delivery_id: str
    lead_id: str
    job_id: str
    partner: str
    reason: str
    note: str | None
    status: ReturnStatus
    auto: bool
    delivered_at: datetime
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None
    redistributed_as: str | None

    def as_dict(self) -> dict[str, Any]:
        """For the API and the log: times as ISO text."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        out["status"] = self.status.value
        return out


@dataclass(frozen=True, slots=True)
class ReturnableDelivery:
    """A delivery as a return sees it: whose, in which state, when delivered, and whether a test."""

    delivery_id: str
    lead_id: str
    job_id: str
    partner: str
    status: str
    delivered_at: datetime | None
    is_test: bool


class Returns(Protocol):
    def insert(self, row: Mapping[str, Any]) -> None:
        """A new return (its ``delivery_id`` not returned yet: the schema refuses a second)."""
        ...

    def get(self, return_id: str, *, lock: bool = False) -> ReturnRecord | None:
        """One return; ``lock``: held until the transaction ends (PostgreSQL), for a decision."""
        ...

    def update(self, return_id: str, **values: Any) -> None: ...

    def of_deliveries(self, delivery_ids: Collection[str]) -> list[ReturnRecord]:
        """The returns of these deliveries, oldest first."""
        ...

    def of_leads(self, lead_ids: Collection[str]) -> list[ReturnRecord]:
        """The returns of these leads, oldest first."""
        ...

    def find(
        self, *, partner: str | None = None, status: ReturnStatus | None = None, limit: int = 100
    ) -> list[ReturnRecord]:
        """Returns matching every filter given, newest first."""
        ...

    def deliveries(
        self,
        partner: str,
        *,
        delivery_id: str | None = None,
        lead_id: str | None = None,
        lock: bool = False,
    ) -> list[ReturnableDelivery]:
        """The partner's deliveries with this id, or of this lead (another partner's: none), oldest
        first. ``lock``: held until the transaction ends (PostgreSQL), so two returns of one delivery
        run one after the other and the second sees the first."""
        ...

    def rate_figures(self, partner: str, start: datetime, end: datetime) -> tuple[int, int]:
        """(returns not denied, leads sold) of the partner's deliveries delivered in ``[start, end)``:
        sold counts its delivered deliveries of real (not test) leads. Counted under a lock on the
        partner's returns held until the transaction ends, so two returns at once count each other."""
        ...
