"""Fakes of the repositories of ``leadrelay.adapters.db.store``: leads, jobs and their queue claims, caps
and rotations, deliveries and attempts. Each method mirrors the SQL of the function it is named after."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from leadrelay.domain.attempts import Outcome
from leadrelay.domain.caps import SOURCE_PREFIX
from leadrelay.domain.derived_states import lead_status
from leadrelay.domain.routing import NO_RULE_MATCHED
from leadrelay.domain.states import (
    JOB_OPEN,
    LEAD,
    QUEUE,
    DeliveryStatus,
    JobKind,
    JobStatus,
    LeadStatus,
    OfferStatus,
    QueueState,
)
from leadrelay.services.ports.records import LeadOutcome
from tests.fakes.quality import FakeDedupMarks
from tests.fakes.tables import FakeRow, Tables
from tests.fakes.wallets import FakeWallets


class FakeLeads:
    """A lead's row, its idempotent answer and its derived status."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def insert_leads(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        inserted: set[str] = set()
        for row in rows:  # rows without a key first, as the SQL inserts them
            if row["idempotency_key"] is None:
                self._t.insert("leads", row)
                inserted.add(row["id"])
        for row in rows:  # a keyed row whose (source, key) is taken is skipped (ON CONFLICT DO NOTHING)
            key = row["idempotency_key"]
            if key is not None and self.lead_by_idempotency_key(row["source"], key) is None:
                self._t.insert("leads", row)
                inserted.add(row["id"])
        return inserted

    def lead_by_idempotency_key(self, source: str, key: str) -> FakeRow | None:
        got = self._t.where("leads", lambda r: r["source"] == source and r["idempotency_key"] == key)
        return self._t.row("leads", got[0]) if got else None

    def keep_answer(self, lead_id: str, code: int, body: Mapping[str, Any]) -> None:
        lead = self._t.find("leads", lead_id)
        if lead is not None and lead["answer_code"] is None:
            self._t.update("leads", lead, {"answer_code": code, "answer": dict(body)})

    def get_lead(self, lead_id: str) -> FakeRow | None:
        lead = self._t.find("leads", lead_id)
        return self._t.row("leads", lead) if lead is not None else None

    def lead_outcome(self, lead_id: str) -> LeadOutcome | None:
        lead = self._t.find("leads", lead_id)
        if lead is None:
            return None
        delivered = sorted(
            self._t.where(
                "deliveries", lambda d: d["lead_id"] == lead_id and d["status"] == DeliveryStatus.DELIVERED
            ),
            key=lambda d: d["id"],
        )
        sold = [
            {
                "partner": d["partner"],
                "price": d["price"],
                "reference": d["reference"],
                "job_id": d["job_id"],
                "redirect_url": d["redirect_url"],
            }
            for d in delivered
        ]
        jobs = sorted(
            self._t.where("jobs", lambda j: j["lead_id"] == lead_id),
            key=lambda j: (j["error"] == NO_RULE_MATCHED, j["id"]),
        )
        error = next((j["error"] for j in jobs if j["error"] is not None), None)
        if not jobs and lead["status"] == LeadStatus.UNSOLD:
            error = f"no enabled profile for entity {lead['entity']}"
        row = self._t.row("leads", lead)  # the columns as the SQL reads them back (JSON decoded)
        return LeadOutcome(
            row.source, row.entity, row.status, list(row.problems or []), bool(row.is_test), sold, error
        )

    def refresh_lead_status(self, lead_id: str, now: datetime) -> LeadStatus:
        return self.refresh_lead_statuses([lead_id], now)[lead_id]

    def refresh_lead_statuses(self, lead_ids: Sequence[str], now: datetime) -> dict[str, LeadStatus]:
        wanted = set(lead_ids)
        leads = {lead["id"]: lead for lead in self._t.where("leads", lambda r: r["id"] in wanted)}
        by_lead: dict[str, set[str]] = {lead_id: set() for lead_id in leads}
        for job in self._t.where("jobs", lambda j: j["lead_id"] in leads):
            by_lead[job["lead_id"]].add(job["status"])
        statuses = {lead_id: lead_status(got) for lead_id, got in by_lead.items()}
        changed = {  # every move checked before any is written, as the SQL does
            lead_id: LEAD.check(leads[lead_id]["status"], status)
            for lead_id, status in statuses.items()
            if status != leads[lead_id]["status"]
        }
        for lead_id, status in changed.items():
            self._t.update("leads", leads[lead_id], {"status": status, "updated_at": now})
        return statuses


class FakeJobs:
    """Distribution jobs and their queue claims (lease per owner)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def insert_jobs(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self._t.insert("jobs", row)

    def claim_jobs(
        self, owner: str, limit: int, now: datetime, lease_until: datetime, only: Iterable[str] | None = None
    ) -> list[str]:
        chosen = None if only is None else set(only)

        def runnable(job: dict[str, Any]) -> bool:
            if chosen is not None and job["id"] not in chosen:
                return False
            if job["queue_state"] == QueueState.READY:
                return bool(job["run_at"] <= now)
            lease = job["lease_until"]
            return job["queue_state"] == QueueState.CLAIMED and lease is not None and lease < now

        # ORDER BY run_at LIMIT n; ties come in insertion order here (the databases promise no order); a
        # negative limit is no limit on SQLite (PostgreSQL refuses it)
        due = sorted(self._t.where("jobs", runnable), key=lambda j: j["run_at"])
        if limit >= 0:
            due = due[:limit]
        sources = QUEUE.sources(QueueState.CLAIMED)
        for job in due:
            if job["queue_state"] in sources:
                changes = {
                    "queue_state": QueueState.CLAIMED,
                    "lease_owner": owner,
                    "lease_until": lease_until,
                    "claims": job["claims"] + (job["queue_state"] == QueueState.CLAIMED),
                    "updated_at": now,
                }
                self._t.update("jobs", job, changes)
        return [job["id"] for job in due]

    def _leased(self, owner: str, job_ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = set(job_ids)
        return self._t.where(
            "jobs",
            lambda j: j["id"] in ids and j["lease_owner"] == owner and j["queue_state"] == QueueState.CLAIMED,
        )

    def extend_leases(self, owner: str, job_ids: Iterable[str], lease_until: datetime) -> None:
        for job in self._leased(owner, job_ids):
            self._t.update("jobs", job, {"lease_until": lease_until})

    def release_jobs(self, owner: str, job_ids: Iterable[str], now: datetime) -> int:
        ready = QUEUE.check(QueueState.CLAIMED, QueueState.READY)
        released = self._leased(owner, job_ids)
        for job in released:
            changes = {
                "queue_state": ready,
                "lease_owner": None,
                "lease_until": None,
                "run_at": now,
                "updated_at": now,
            }
            self._t.update("jobs", job, changes)
        return len(released)

    def load_jobs(self, job_ids: Sequence[str], *, lock: bool = False) -> list[FakeRow]:
        """Each job with its lead's ``lead_values``, ``lead_sealed``, ``lead_erased_at``,
        ``lead_created_at``, ``entity`` and ``is_test`` (an inner
        join: a job whose lead is gone is left out), by job id."""
        ids = set(job_ids)
        out = []
        for job in sorted(self._t.where("jobs", lambda j: j["id"] in ids), key=lambda j: j["id"]):
            lead = self._t.find("leads", job["lead_id"])
            if lead is None:
                continue
            lead_values = self._t.values("leads", lead)
            values = self._t.values("jobs", job)
            values.update(
                lead_values=lead_values["data"],
                lead_sealed=lead_values["sealed"],
                lead_erased_at=lead_values["erased_at"],
                lead_created_at=lead_values["created_at"],
                entity=lead_values["entity"],
                is_test=lead_values["is_test"],
                source=lead_values["source"],
            )
            out.append(FakeRow(values))
        return out

    def owns(self, job_id: str, owner: str) -> bool:
        job = self._t.find("jobs", job_id)
        return job is not None and job["lease_owner"] == owner and job["queue_state"] == QueueState.CLAIMED

    def update_job(self, job_id: str, **values: Any) -> None:
        self._t.columns("jobs", values)
        job = self._t.find("jobs", job_id)
        if job is not None:
            self._t.update("jobs", job, values)

    def open_resends(self, lead_id: str, partners: Sequence[str]) -> list[str]:
        def open_resend(j: dict[str, Any]) -> bool:
            return j["lead_id"] == lead_id and j["target_partner"] in partners and j["kind"] == JobKind.RESEND

        on_its_way = {*JOB_OPEN, JobStatus.HELD}
        return sorted(j["id"] for j in self._t.where("jobs", open_resend) if j["status"] in on_its_way)

    def job_had_errors(self, job_id: str) -> bool:
        for attempt in self._t.where("attempts", lambda a: a["job_id"] == job_id):
            delivery = self._t.find("deliveries", attempt["delivery_id"])
            if (
                delivery is not None
                and delivery["status"] == DeliveryStatus.FAILED
                and attempt["outcome"] == Outcome.ERROR
                and attempt["number"] == delivery["attempts"]
            ):
                return True
        return False


class FakeCaps:
    """Cap slots per partner, scope and window; round-robin counters; partner availability."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _counter(self, partner: str, scope: str, window: str) -> dict[str, Any]:
        got = self._t.find("cap_counters", partner, scope, window)
        if got is None:  # the row is made even when the limit is 0, so cap_usage lists it
            got = self._t.insert(
                "cap_counters", {"partner": partner, "scope": scope, "window": window, "used": 0}
            )
        return got

    def reserve_cap(self, partner: str, scope: str, window: str, limit: int) -> tuple[bool, int]:
        """(True, -1) when a slot was taken; (False, slots used) when the window is full."""
        row = self._counter(partner, scope, window)
        if row["used"] < limit:
            self._t.update("cap_counters", row, {"used": row["used"] + 1})
            return True, -1
        return False, int(row["used"])

    def seed_window(
        self,
        owner: str,
        scope: str,
        window: str,
        since: datetime | None,
        *,
        again: bool = False,
        settled_too: bool = True,
    ) -> None:
        row = self._t.find("cap_counters", owner, scope, window)
        if row is not None and not again:
            return
        after = (lambda at: at >= since) if since is not None else (lambda at: True)
        if owner.startswith(SOURCE_PREFIX):
            source = owner.removeprefix(SOURCE_PREFIX)
            used = len(self._t.where(
                "leads",
                lambda r: r["source"] == source and not r["is_test"] and r["status"] != "rejected"
                and after(r["created_at"]),
            ))  # fmt: skip
        else:
            jobs = {j["id"]: j for j in self._t.where("jobs", lambda j: True)}
            holding = {"pending", "retry", "delivered", "held", "batched"}
            held = self._t.where(
                "deliveries",
                lambda d: d["partner"] == owner and d["status"] in holding and not d["is_test"]
                and jobs[d["job_id"]]["kind"] != "resend"
                and (not scope or jobs[d["job_id"]]["profile"] == scope) and after(d["created_at"]),
            )  # fmt: skip
            used = len(held)
            for d in held:
                if not settled_too and d["status"] == "delivered":
                    continue
                windows = list(self._t.row("deliveries", d).cap_windows or [])
                if [scope, window] not in windows:
                    self._t.update("deliveries", d, {"cap_windows": [*windows, [scope, window]]})
        if row is None:
            self._t.insert("cap_counters", {"partner": owner, "scope": scope, "window": window, "used": used})
        else:  # never below what the counter says
            self._t.update("cap_counters", row, {"used": max(int(row["used"]), used)})

    def release_caps(self, partner: str, windows: Sequence[Sequence[str]]) -> None:
        for scope, window in windows:
            if scope == "dedup":  # the partner's dedup mark of lead ``window``
                FakeDedupMarks(self._t).release_partner_marks(partner, window)
                continue
            if scope == "money":  # what job ``window``'s delivery holds of the partner's money
                FakeWallets(self._t).release_holds(window, partner)
                continue
            row = self._t.find("cap_counters", partner, scope, window)
            if row is not None and row["used"] > 0:
                self._t.update("cap_counters", row, {"used": row["used"] - 1})

    def cap_usage(self, partner: str) -> dict[tuple[str, str], int]:
        rows = self._t.where("cap_counters", lambda r: r["partner"] == partner)
        return {(r["scope"], r["window"]): int(r["used"]) for r in rows}

    def cap_used(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        found = {
            (r["partner"], r["scope"], r["window"]): int(r["used"])
            for r in self._t.where("cap_counters", lambda r: (r["partner"], r["scope"], r["window"]) in keys)
        }
        return {key: found.get(key, 0) for key in keys}

    def next_rotation(self, key: str, n: int = 1) -> int:
        row = self._t.find("rotations", key)
        if row is None:
            row = self._t.insert("rotations", {"key": key, "counter": 0})
        self._t.update("rotations", row, {"counter": row["counter"] + n})
        return int(row["counter"])

    def set_availability(
        self, partner: str, available: bool, note: str | None, actor: str, at: datetime
    ) -> bool | None:
        values = {"available": available, "note": note, "changed_by": actor, "changed_at": at}
        row = self._t.find("partner_availability", partner)
        if row is None:
            self._t.insert("partner_availability", {"partner": partner, **values})
            return None
        before = bool(row["available"])
        self._t.update("partner_availability", row, values)
        return before

    def unavailable_partners(self) -> frozenset[str]:
        return frozenset(
            r["partner"] for r in self._t.where("partner_availability", lambda r: not r["available"])
        )

    def availability(self) -> dict[str, dict[str, Any]]:
        rows = sorted(self._t.stored("partner_availability"), key=lambda r: r["partner"])
        return {
            r["partner"]: {
                "available": bool(r["available"]),
                "note": r["note"],
                "changed_by": r["changed_by"],
                "changed_at": r["changed_at"],
            }
            for r in rows
        }

    @staticmethod
    def _breaker(r: Mapping[str, Any]) -> dict[str, Any]:
        return {k: r[k] for k in ("state", "opened_at", "retry_at", "reason", "changed_at")}

    def unavailable_and_breakers(self) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
        tripped = self._t.where("partner_breakers", lambda r: r["state"] != "closed")
        return self.unavailable_partners(), {r["partner"]: self._breaker(r) for r in tripped}

    def breakers(self) -> dict[str, dict[str, Any]]:
        rows = sorted(self._t.stored("partner_breakers"), key=lambda r: r["partner"])
        return {r["partner"]: self._breaker(r) for r in rows}

    def move_breaker(
        self, partner: str, values: dict[str, Any], expect: Collection[str], due: datetime | None = None
    ) -> bool:
        row = self._t.find("partner_breakers", partner)
        if row is None:
            if "closed" not in expect:
                return False
            self._t.insert("partner_breakers", {"partner": partner, **values})
            return True
        if row["state"] not in expect:
            return False
        if due is not None and (row["retry_at"] is None or row["retry_at"] > due):
            return False
        self._t.update("partner_breakers", row, values)
        return True


class FakeDeliveries:
    """A job's deliveries to partners and their attempts."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def insert_delivery(self, row: Mapping[str, Any]) -> None:
        self._t.insert("deliveries", row)

    def job_deliveries(self, job_id: str, *, lock: bool = False) -> list[FakeRow]:
        return self.deliveries_of([job_id])[job_id]

    def deliveries_of(self, job_ids: Sequence[str]) -> dict[str, list[FakeRow]]:
        out: dict[str, list[FakeRow]] = {job_id: [] for job_id in job_ids}
        found = self._t.where("deliveries", lambda d: d["job_id"] in out)
        for delivery in sorted(found, key=lambda d: d["id"]):
            out[delivery["job_id"]].append(self._t.row("deliveries", delivery))
        return out

    def update_delivery(self, delivery_id: str, **values: Any) -> None:
        self._t.columns("deliveries", values)
        delivery = self._t.find("deliveries", delivery_id)
        if delivery is not None:
            self._t.update("deliveries", delivery, values)

    def insert_attempt(self, row: Mapping[str, Any]) -> None:
        self._t.insert("attempts", row)

    def post_observations(
        self, since: datetime, partner: str | None = None, limit: int = 50_000
    ) -> list[tuple[str, datetime, float, str, str | None]]:
        out = []
        for a in self._t.where(
            "attempts", lambda a: a["delivery_id"] is not None and a["started_at"] >= since
        ):
            delivery = self._t.find("deliveries", a["delivery_id"])
            if delivery is not None and (partner is None or delivery["partner"] == partner):
                out.append(
                    (delivery["partner"], a["started_at"], float(a["duration_ms"]), a["outcome"], a["reason"])
                )
        out.sort(key=lambda o: o[1], reverse=True)
        return out[:limit]

    def ping_observations(
        self, since: datetime, partner: str | None = None, limit: int = 50_000
    ) -> list[tuple[str, datetime, float, str]]:
        found = self._t.where(
            "bids",
            lambda b: (
                b["duration_ms"] is not None
                and b["created_at"] >= since
                and (partner is None or b["partner"] == partner)
            ),
        )
        out = [(b["partner"], b["created_at"], float(b["duration_ms"]), b["status"]) for b in found]
        out.sort(key=lambda o: o[1], reverse=True)
        return out[:limit]

    def insert_bids(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            self._t.insert("bids", row)

    def bids_of(self, job_id: str, *, history: bool = False) -> list[FakeRow]:
        found = self._t.where("bids", lambda b: b["job_id"] == job_id and (history or not b["superseded"]))
        return [self._t.row("bids", b) for b in sorted(found, key=lambda b: b["id"])]

    def supersede_bids(self, job_id: str) -> None:
        for bid in self._t.where("bids", lambda b: b["job_id"] == job_id):
            self._t.update("bids", bid, {"superseded": True})

    def update_bid(self, bid_id: str, **values: Any) -> None:
        self._t.columns("bids", values)
        bid = self._t.find("bids", bid_id)
        if bid is not None:
            self._t.update("bids", bid, values)

    def insert_supplier_ping(self, row: Mapping[str, Any]) -> None:
        self._t.insert("supplier_pings", row)

    def supplier_ping(self, ping_id: str) -> FakeRow | None:
        found = self._t.find("supplier_pings", ping_id)
        return self._t.row("supplier_pings", found) if found is not None else None

    def use_supplier_ping(self, ping_id: str, lead_id: str, now: datetime) -> bool:
        found = self._t.find("supplier_pings", ping_id)
        if found is None or found["used_at"] is not None or found["expires_at"] <= now:
            return False
        self._t.update("supplier_pings", found, {"used_at": now, "lead_id": lead_id})
        return True

    def revoke_supplier_pings(self, source: str, now: datetime) -> int:
        found = self._t.where("supplier_pings", lambda r: r["source"] == source and r["used_at"] is None)
        for row in found:
            self._t.update("supplier_pings", row, {"used_at": now})
        return len(found)

    def insert_offers(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            self._t.insert("offers", row)

    def offers_of(self, job_id: str, *, history: bool = False) -> list[FakeRow]:
        found = self._t.where(
            "offers", lambda o: o["job_id"] == job_id and (history or not o.get("superseded"))
        )
        return [self._t.row("offers", o) for o in sorted(found, key=lambda o: (o["created_at"], o["place"]))]

    def supersede_offers(self, job_id: str) -> None:
        for offer in self._t.where("offers", lambda o: o["job_id"] == job_id):
            self._t.update("offers", offer, {"superseded": True})

    def lead_offers(self, lead_id: str) -> list[FakeRow]:
        found = self._t.where("offers", lambda o: o["lead_id"] == lead_id)
        return [self._t.row("offers", o) for o in sorted(found, key=lambda o: (o["job_id"], o["place"]))]

    def get_offer(self, offer_id: str) -> FakeRow | None:
        offer = self._t.find("offers", offer_id)
        return self._t.row("offers", offer) if offer is not None else None

    def update_offer(self, offer_id: str, **values: Any) -> None:
        self._t.columns("offers", values)
        offer = self._t.find("offers", offer_id)
        if offer is not None:
            self._t.update("offers", offer, values)

    def jobs_with_expired_offers(self, now: datetime, limit: int) -> list[str]:
        first: dict[str, datetime] = {}
        for o in self._t.where(
            "offers", lambda o: o["status"] == OfferStatus.OPEN and o["expires_at"] <= now
        ):
            first[o["job_id"]] = min(o["expires_at"], first.get(o["job_id"], o["expires_at"]))
        return sorted(first, key=lambda job_id: (first[job_id], job_id))[:limit]

    def any_expired_offer(self, now: datetime) -> bool:
        return bool(self.jobs_with_expired_offers(now, 1))
