"""Fakes of the postbacks' repositories (``services.ports.postbacks``) over the in-memory tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from leadrelay.domain.after_sale_states import OUTCOME, RELAY, DeliveryOutcome, RelayStatus
from leadrelay.services.ports.postbacks import OutcomeTotal, ReportBy
from tests.fakes.tables import FakeRow, IntegrityViolation, Tables

_CENT = Decimal("0.01")


class FakePostbacks:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def delivery(self, delivery_id: str) -> FakeRow | None:
        d = self._t.find("deliveries", delivery_id)
        if d is None:
            return None
        lead = self._t.find("leads", d["lead_id"])
        if lead is None:
            return None  # the SQL joins the lead
        names = ("id", "job_id", "lead_id", "partner", "status", "outcome", "is_test")
        return FakeRow({**{n: self._t.values("deliveries", d)[n] for n in names}, "source": lead["source"]})

    def delivered_of_batch(self, batch_id: str) -> list[FakeRow]:
        found = []
        for d in self._t.where(
            "deliveries", lambda d: d["batch_id"] == batch_id and d["status"] == "delivered"
        ):
            lead = self._t.find("leads", d["lead_id"])
            if lead is not None:
                names = ("id", "lead_id", "partner", "is_test")
                found.append(
                    FakeRow(
                        {**{n: self._t.values("deliveries", d)[n] for n in names}, "source": lead["source"]}
                    )
                )
        return sorted(found, key=lambda r: r.id)

    def _sorted(self, rows: list[dict[str, Any]]) -> list[FakeRow]:
        rows.sort(key=lambda r: (r["received_at"], r["id"]))
        return [self._t.row("postbacks", r) for r in rows]

    def of_delivery(self, delivery_id: str) -> list[FakeRow]:
        return self._sorted(self._t.where("postbacks", lambda r: r["delivery_id"] == delivery_id))

    def of_lead(self, lead_id: str) -> list[FakeRow]:
        return self._sorted(self._t.where("postbacks", lambda r: r["lead_id"] == lead_id))

    def set_note(self, postback_id: str, note: str | None) -> None:
        for row in self._t.where("postbacks", lambda r: r["id"] == postback_id):
            self._t.update("postbacks", row, {"note": note})

    def insert(self, row: Mapping[str, Any]) -> bool:
        try:
            self._t.insert("postbacks", row)
        except IntegrityViolation:
            if self._t.find("postbacks", row["id"]) is not None:
                raise
            return False  # ON CONFLICT DO NOTHING: (delivery_id, event_id) taken
        return True

    def set_outcome(self, delivery_id: str, was: str | None, outcome: DeliveryOutcome) -> bool:
        if was is None:
            OUTCOME.check_initial(outcome)
        else:
            OUTCOME.check(was, outcome)
        d = self._t.find("deliveries", delivery_id)
        if d is None or d["outcome"] != was:
            return False
        self._t.update("deliveries", d, {"outcome": outcome})
        return True

    def outcome_totals(self, since: datetime, until: datetime, by: ReportBy) -> list[OutcomeTotal]:
        totals: dict[tuple[str, str], list[int]] = {}
        for r in self._t.where("postbacks", lambda r: since <= r["received_at"] < until):
            if by == "partner":
                key = r["partner"]
            else:
                lead = self._t.find("leads", r["lead_id"])
                if lead is None:
                    continue
                key = lead["source"]
            got = totals.setdefault((key, r["outcome"]), [0, 0])
            got[0] += 1
            got[1] += r["revenue_cents"] or 0
        return [
            OutcomeTotal(k, DeliveryOutcome(o), n, (Decimal(c) / 100).quantize(_CENT))
            for (k, o), (n, c) in sorted(totals.items())
        ]


def _due_at(now: datetime) -> Callable[[dict[str, Any]], bool]:
    """Whether an event is due to be claimed at ``now``: waiting and due, or its sender's lease ran out."""
    waiting = {s.value for s in RELAY.sources(RelayStatus.SENDING) - {RelayStatus.SENDING}}

    def due(r: dict[str, Any]) -> bool:
        if r["status"] in waiting:
            return r["next_attempt_at"] is not None and r["next_attempt_at"] <= now
        return r["status"] == RelayStatus.SENDING and r["lease_until"] < now

    return due


class FakeRelays:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def insert(self, row: Mapping[str, Any]) -> bool:
        RELAY.check_initial(row["status"])
        try:
            self._t.insert("outbound_postbacks", row)
        except IntegrityViolation:
            if self._t.find("outbound_postbacks", row["id"]) is not None:
                raise
            return False
        return True

    def any_due(self, now: datetime) -> bool:
        return bool(self._t.where("outbound_postbacks", _due_at(now)))

    def claim(self, owner: str, limit: int, now: datetime, lease_until: datetime) -> list[FakeRow]:
        due = _due_at(now)
        rows = sorted(self._t.where("outbound_postbacks", due), key=lambda r: r["next_attempt_at"])[:limit]
        taken = [
            self._t.update(
                "outbound_postbacks",
                r,
                {"status": RelayStatus.SENDING, "lease_owner": owner, "lease_until": lease_until},
            )
            for r in rows
        ]
        taken.sort(key=lambda r: (r["created_at"], r["id"]))
        return [self._t.row("outbound_postbacks", r) for r in taken]

    def finish(self, relay_id: str, owner: str, status: RelayStatus, **values: Any) -> bool:
        r = self._t.find("outbound_postbacks", relay_id)
        if r is None or r["lease_owner"] != owner or r["status"] != RelayStatus.SENDING:
            return False
        changes = {
            "status": RELAY.check(RelayStatus.SENDING, status),
            "lease_owner": None,
            "lease_until": None,
        }
        self._t.update("outbound_postbacks", r, {**changes, **values})
        return True

    def of_lead(self, lead_id: str) -> list[FakeRow]:
        rows = self._t.where("outbound_postbacks", lambda r: r["lead_id"] == lead_id)
        rows.sort(key=lambda r: (r["created_at"], r["id"]))
        return [self._t.row("outbound_postbacks", r) for r in rows]

    def set_texts(
        self, relay_id: str, body: Mapping[str, Any], last_answer: str | None, reason: str | None
    ) -> None:
        r = self._t.find("outbound_postbacks", relay_id)
        if r is not None:
            changes = {"body": dict(body), "last_answer": last_answer, "reason": reason}
            self._t.update("outbound_postbacks", r, changes)

    def get(self, relay_id: str) -> FakeRow | None:
        r = self._t.find("outbound_postbacks", relay_id)
        return None if r is None else self._t.row("outbound_postbacks", r)
