"""The ledger in memory (``leadrelay.services.ports.Ledger``) over the fake tables: entries appended in
order (``seq``), never changed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import orjson

from leadrelay.domain.ledger import ZERO, Entry, EntryKind, Party
from leadrelay.services.ports import SaleFacts
from tests.fakes.tables import Stored, Tables
from tests.fakes.wallets import move_owed


def _entry(row: Stored) -> Entry:
    return Entry(
        row["id"],
        row["at"],
        EntryKind(row["kind"]),
        Party(row["party_kind"]),
        row["party"],
        row["amount"],
        row["currency"],
        row["actor"],
        row["lead_id"],
        row["delivery_id"],
        row["reverses"],
        row["margin"],
        row["memo"],
    )


class FakeLedger:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def quoted_payouts(self, lead_ids: Collection[str]) -> dict[str, Mapping[str, str]]:
        wanted = set(lead_ids)
        pings = self.tables.where("supplier_pings", lambda p: p["lead_id"] in wanted)
        quoted = (self.tables.row("supplier_pings", p) for p in pings)
        return {q.lead_id: q.payout for q in quoted if q.payout}

    def lock_leads(self, lead_ids: Collection[str]) -> None:
        return None  # one transaction at a time here

    def post(self, entries: Sequence[Entry]) -> None:
        owed: dict[str, Decimal] = {}
        for e in entries:
            seq = 1 + max((row["seq"] for row in self.tables.stored("ledger_entries")), default=0)
            self.tables.insert("ledger_entries", {"seq": seq, **e.row()})
            if e.party_kind is Party.PARTNER:
                owed[e.party] = owed.get(e.party, ZERO) + e.amount
        move_owed(self.tables, owed)

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
        def keep(row: Stored) -> bool:
            return (
                (lead_ids is None or row["lead_id"] in lead_ids)
                and (delivery_ids is None or row["delivery_id"] in delivery_ids)
                and (party_kind is None or row["party_kind"] == party_kind.value)
                and (party is None or row["party"] == party)
                and (kinds is None or row["kind"] in {k.value for k in kinds})
                and (since is None or row["at"] >= since)
                and (until is None or row["at"] < until)
            )

        rows = sorted(self.tables.where("ledger_entries", keep), key=lambda row: row["seq"])
        return [_entry(row) for row in (rows[:limit] if limit is not None else rows)]

    def balances(self, party_kind: Party, parties: Collection[str] | None = None) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for row in self.tables.stored("ledger_entries"):
            if row["party_kind"] == party_kind.value and (parties is None or row["party"] in parties):
                out[row["party"]] = out.get(row["party"], ZERO) + row["amount"]
        return out

    def sale_facts(self, delivery_ids: Collection[str]) -> list[SaleFacts]:
        out = []
        for d in self.tables.where("deliveries", lambda row: row["id"] in delivery_ids):
            lead = self.tables.find("leads", d["lead_id"])
            job = self.tables.find("jobs", d["job_id"])
            if lead is None or job is None:
                continue
            ping = self.tables.where(
                "supplier_pings", lambda p, lead_id=d["lead_id"]: p["lead_id"] == lead_id
            )
            out.append(
                SaleFacts(
                    d["id"], d["lead_id"], d["partner"], lead["source"], lead["entity"], d["price"],
                    bool(d["is_test"]), d["job_id"], job["kind"] == "resend",
                    any(scope == "money" for scope, _ in orjson.loads(d["cap_windows"])),
                    self.tables.row("supplier_pings", ping[0]).payout if ping else None,
                )
            )  # fmt: skip
        return out
