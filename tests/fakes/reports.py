"""The reports' repository in memory (``leadrelay.services.ports.ReportFacts``) over the fake tables. Its
``facts`` is a plain reading of ``domain.reports``' definitions over every row, with no index and no SQL:
the integration tests compare the SQL against the same definitions, written once more in their own way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from leadrelay.domain.reports import (
    COUNTERS,
    DAY,
    DIMENSIONS,
    HOUR,
    Row,
    add,
    bucket_of,
    cents,
    lead_counters,
    ledger_counters,
    left_on_table,
    postback_counters,
    project,
)
from tests.fakes.tables import Stored, Tables


def _within(at: datetime | None, span: tuple[datetime, datetime]) -> bool:
    return at is not None and span[0] <= at < span[1]


class FakeReportFacts:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def facts(
        self, hour: datetime, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[Row]:
        span = (max(hour, since or hour), min(hour + HOUR, until or hour + HOUR))
        t = self.tables
        leads = {row["id"]: row for row in t.stored("leads")}
        deliveries = {row["id"]: row for row in t.stored("deliveries")}
        sums: dict[tuple[str, ...], dict[str, int]] = {}

        def put(key: tuple[str | None, ...], values: dict[str, int]) -> None:
            add(sums.setdefault(tuple(k or "" for k in key), {}), values)

        def dims(d: Stored) -> tuple[str, str, str, str]:
            lead = leads[d["lead_id"]]
            return (lead["source"], lead["entity"], d["partner"], d["profile"])

        for lead in leads.values():
            if _within(lead["created_at"], span) and not lead["is_test"]:
                put((lead["source"], lead["entity"], "", ""), lead_counters(lead["status"], 1))
        resends = {j["id"] for j in t.stored("jobs") if j["kind"] == "resend"}
        for d in deliveries.values():
            if d["is_test"] or d["job_id"] in resends:  # a resend is offered and sold as it is billed
                continue
            if _within(d["created_at"], span):
                put(dims(d), {"offered": 1})
            if _within(d["delivered_at"], span):
                put(dims(d), {"sold": 1})
        for a in t.stored("attempts"):
            d = deliveries.get(a["delivery_id"] or "")
            if d is not None and not d["is_test"] and _within(a["started_at"], span):
                put(dims(d), {"attempts": 1, f"lat_{bucket_of(a['duration_ms'])}": 1})
        for e in t.stored("ledger_entries"):
            lead = leads.get(e["lead_id"] or "")
            if not _within(e["at"], span) or (lead is not None and lead["is_test"]):
                continue
            d = deliveries.get(e["delivery_id"] or "")
            partner, profile = (d["partner"], d["profile"]) if d else (None, None)
            source, entity = (lead["source"], lead["entity"]) if lead else (None, None)
            if e["party_kind"] == "partner":
                partner = e["party"]
            else:
                source = e["party"]
            margin = cents(e["margin"]) if e["margin"] is not None else 0
            billed = (e["party_kind"], e["kind"]) == ("partner", "sale")
            if d is not None and billed and d["job_id"] in resends and not d["is_test"]:
                put(dims(d), {"offered": 1, "sold": 1})  # a resend billed as a sale
            put(
                (source, entity, partner, profile),
                ledger_counters(e["party_kind"], e["kind"], cents(e["amount"]), margin, 1),
            )
        bids = [b for b in t.stored("bids") if b["sold_as"] == "exclusive" and not b["superseded"]]
        for b in bids:
            d = deliveries.get(b["delivery_id"] or "")
            if b["rank"] != 1 or d is None or d["is_test"] or not _within(d["delivered_at"], span):
                continue
            for second in bids:
                same = second["job_id"] == b["job_id"] and second["tier"] == b["tier"]
                if same and second["rank"] == 2 and b["price"] is not None and second["price"] is not None:
                    put(dims(d), {"auctions": 1, "left_on_table": left_on_table(b["price"], second["price"])})
        for p in t.stored("postbacks"):
            d = deliveries.get(p["delivery_id"])
            if d is not None and not d["is_test"] and _within(p["received_at"], span):
                put(dims(d), postback_counters(p["outcome"], 1, p["revenue_cents"] or 0))
        return [Row(hour, key, values) for key, values in sums.items() if any(values.values())]

    def first_hour(self, since: datetime | None = None) -> datetime | None:
        times = [row["created_at"] for row in self.tables.stored("leads")]
        times += [row["at"] for row in self.tables.stored("ledger_entries")]
        if since is not None:
            for table, columns in (
                ("deliveries", ("created_at", "delivered_at")),
                ("attempts", ("started_at",)),
                ("postbacks", ("received_at",)),
            ):
                times += [row[c] for row in self.tables.stored(table) for c in columns if row[c] is not None]
            times = [t for t in times if t >= since]
        return min(times, default=None)

    def rolled_until(self) -> datetime | None:
        row = self.tables.find("report_watermark", "hours")
        return None if row is None else row["rolled_until"]

    def advance(self, rolled_until: datetime | None, to: datetime) -> bool:
        row = self.tables.find("report_watermark", "hours")
        if row is None:
            if rolled_until is not None:
                return False
            self.tables.insert("report_watermark", {"name": "hours", "rolled_until": to})
            return True
        if row["rolled_until"] != rolled_until:
            return False
        self.tables.update("report_watermark", row, {"rolled_until": to})
        return True

    def store(self, rows: Sequence[Row]) -> None:
        for r in rows:
            self.tables.insert(
                "report_hours", {"hour": r.hour, **dict(zip(DIMENSIONS, r.group, strict=True)), **r.values}
            )

    def sum_days(self, days: Sequence[datetime]) -> None:
        for day in days:
            sums: dict[tuple[str, ...], dict[str, int]] = {}
            for s in self.tables.stored("report_hours"):
                if day <= s["hour"] < day + DAY:
                    add(sums.setdefault(tuple(s[d] for d in DIMENSIONS), {}), {n: s[n] for n in COUNTERS})
            for group, values in sums.items():
                self.tables.insert(
                    "report_days", {"day": day, **dict(zip(DIMENSIONS, group, strict=True)), **values}
                )

    def rolled(
        self,
        since: datetime,
        until: datetime,
        dims: Sequence[str],
        *,
        cuts: Sequence[datetime] = (),
        counters: Sequence[str] = COUNTERS,
    ) -> list[Row]:
        def start(hour: datetime) -> datetime:
            return max((c for c in (since, *cuts) if c <= hour), default=since) if cuts else hour

        rows = [
            Row(start(s["hour"]), tuple(s[d] for d in DIMENSIONS), {name: s[name] for name in counters})
            for s in self.tables.stored("report_hours")
            if since <= s["hour"] < until
        ]
        return project(rows, dims)
