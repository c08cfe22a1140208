"""The reads behind the partner and source portals (issue 12 point 7): one tenant's own rows, newest
first, paginated by cursor (the last id, or the last ledger sequence, of the previous page)."""

from __future__ import annotations

from typing import Protocol

from leadrelay.domain.ledger import Entry, Party
from leadrelay.services.ports.records import Record
from leadrelay.services.ports.returns import ReturnRecord


class PortalQueries(Protocol):
    def partner_deliveries(self, partner: str, cursor: str | None, limit: int) -> list[Record]:
        """The partner's delivered (sold) deliveries, newest first, ids below ``cursor``: ``id``, ``job_id``,
        ``lead_id``, ``entity``, ``status``, ``price``, ``reference``, ``outcome``, ``invoiced``,
        ``is_test``, ``delivered_at``."""
        ...

    def partner_delivery(self, partner: str, delivery_id: str) -> Record | None:
        """One of the partner's delivered deliveries (the same columns), else None."""
        ...

    def source_leads(self, source: str, cursor: str | None, limit: int) -> list[Record]:
        """The leads the source sent, newest first, ids below ``cursor``: ``id``, ``entity``, ``status``,
        ``is_test``, ``created_at``."""
        ...

    def party_entries(
        self, kind: Party, party: str, cursor: int | None, limit: int
    ) -> list[tuple[int, Entry]]:
        """The party's ledger entries, newest first, with their sequence (below ``cursor``)."""
        ...

    def partner_returns(self, partner: str, cursor: str | None, limit: int) -> list[ReturnRecord]:
        """The partner's returns, newest first, ids below ``cursor``."""
        ...
