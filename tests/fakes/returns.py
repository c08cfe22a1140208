"""The returns in memory (``leadrelay.services.ports.Returns``) over the fake tables."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from leadrelay.domain.after_sale_states import ReturnStatus
from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.domain.states import DeliveryStatus
from leadrelay.services.ports import ReturnableDelivery, ReturnRecord
from tests.fakes.tables import Stored, Tables


class FakeReturns:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def _record(self, row: Stored) -> ReturnRecord:
        v = self.tables.values("returns", row)
        return ReturnRecord(
            v["id"],
            v["delivery_id"],
            v["lead_id"],
            v["job_id"],
            v["partner"],
            v["reason"],
            v["note"],
            ReturnStatus(v["status"]),
            bool(v["auto"]),
            v["delivered_at"],
            v["requested_at"],
            v["requested_by"],
            v["decided_at"],
            v["decided_by"],
            v["decision_note"],
            v["redistributed_as"],
        )

    def _sorted(self, rows: list[Stored], *, newest: bool = False) -> list[ReturnRecord]:
        rows = sorted(rows, key=lambda r: (r["requested_at"], r["id"]), reverse=newest)
        return [self._record(r) for r in rows]

    def insert(self, row: Mapping[str, Any]) -> None:
        self.tables.insert("returns", row)

    def get(self, return_id: str, *, lock: bool = False) -> ReturnRecord | None:
        row = self.tables.find("returns", return_id)
        return self._record(row) if row is not None else None

    def update(self, return_id: str, **values: Any) -> None:
        self.tables.columns("returns", values)
        row = self.tables.find("returns", return_id)
        if row is not None:
            self.tables.update("returns", row, values)

    def of_deliveries(self, delivery_ids: Collection[str]) -> list[ReturnRecord]:
        return self._sorted(self.tables.where("returns", lambda r: r["delivery_id"] in delivery_ids))

    def of_leads(self, lead_ids: Collection[str]) -> list[ReturnRecord]:
        return self._sorted(self.tables.where("returns", lambda r: r["lead_id"] in lead_ids))

    def find(
        self, *, partner: str | None = None, status: ReturnStatus | None = None, limit: int = 100
    ) -> list[ReturnRecord]:
        rows = self.tables.where(
            "returns",
            lambda r: (
                (partner is None or r["partner"] == partner)
                and (status is None or r["status"] == status.value)
            ),
        )
        return self._sorted(rows, newest=True)[:limit]

    def deliveries(
        self,
        partner: str,
        *,
        delivery_id: str | None = None,
        lead_id: str | None = None,
        lock: bool = False,
    ) -> list[ReturnableDelivery]:
        rows = self.tables.where(
            "deliveries",
            lambda d: (
                d["partner"] == partner
                and (delivery_id is None or d["id"] == delivery_id)
                and (lead_id is None or d["lead_id"] == lead_id)
            ),
        )
        rows.sort(key=lambda d: (d["created_at"], d["id"]))
        return [
            ReturnableDelivery(
                d["id"], d["lead_id"], d["job_id"], d["partner"], d["status"], d["delivered_at"], d["is_test"]
            )
            for d in rows
        ]

    def rate_figures(self, partner: str, start: datetime, end: datetime) -> tuple[int, int]:
        returned = self.tables.where(
            "returns",
            lambda r: (
                r["partner"] == partner
                and start <= r["delivered_at"] < end
                and r["status"] != ReturnStatus.DENIED.value
            ),
        )

        billed = {
            e["delivery_id"]
            for e in self.tables.stored("ledger_entries")
            if e["party_kind"] == Party.PARTNER.value and e["kind"] == EntryKind.SALE.value
        }

        def sold(d: Stored) -> bool:
            lead = self.tables.find("leads", d["lead_id"])
            job = self.tables.find("jobs", d["job_id"])
            return (
                d["partner"] == partner
                and d["status"] == DeliveryStatus.DELIVERED.value
                and d["delivered_at"] is not None
                and start <= d["delivered_at"] < end
                and lead is not None
                and not lead["is_test"]
                and (job is None or job["kind"] != "resend" or d["id"] in billed)
            )

        return len(returned), len(self.tables.where("deliveries", sold))
