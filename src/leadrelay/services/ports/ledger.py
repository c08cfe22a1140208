"""The ledger's repository: immutable money entries (``leadrelay.domain.ledger``), posted in the
transaction of what caused them, and the reads that sums are made of."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from leadrelay.domain.ledger import Entry, EntryKind, Party


@dataclass(frozen=True, slots=True)
class SaleFacts:
    """What posting a sale needs of a delivered delivery: its lead's source and entity, and its price."""

    delivery_id: str
    lead_id: str
    partner: str
    source: str
    entity: str
    price: float | None
    is_test: bool
    job_id: str = ""  # the delivery's job (its money holds are the job's: ``Wallets.settle_holds``)
    resend: bool = False  # its job is a resend (the lead sent to the partner again, not sold again)
    money_held: bool = False  # the delivery holds money of the partner's budgets or wallet (its cap windows)
    quoted_payout: Mapping[str, str] | None = None  # the payout terms its lead's supplier ping quoted


class Ledger(Protocol):
    def lock_leads(self, lead_ids: Collection[str]) -> None:
        """Hold these leads' payouts until commit (PostgreSQL: a transaction's advisory lock each, taken
        in order; SQLite's writes take turns already): whether a per-lead payout is already paid, or still
        earned, is decided by one transaction at a time."""
        ...

    def post(self, entries: Sequence[Entry]) -> None:
        """Append the entries (their ids unique; an entry reversed twice is refused by the database)."""
        ...

    def quoted_payouts(self, lead_ids: Collection[str]) -> dict[str, Mapping[str, str]]:
        """The payout terms quoted to the leads sent with a supplier ping's token (those it quoted a payout:
        not ``{}``), by lead."""
        ...

    def entries(
        self,
        *,
        lead_ids: Collection[str] | None = None,
        delivery_ids: Collection[str] | None = None,
        party_kind: Party | None = None,
        party: str | None = None,
        kinds: Collection[EntryKind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """The entries matching every filter given, in the order they were posted (``since`` inclusive,
        ``until`` exclusive)."""
        ...

    def balances(self, party_kind: Party, parties: Collection[str] | None = None) -> dict[str, Decimal]:
        """The sum of each party's entries (every party with entries, or those named)."""
        ...

    def sale_facts(self, delivery_ids: Collection[str]) -> list[SaleFacts]:
        """The facts of these deliveries (those that exist), in no particular order."""
        ...
