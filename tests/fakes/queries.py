"""Fakes of the query objects the service groups added to ``Tx``: the deferred writes of a routing or
recording step (``adapters/db/deferred_writes.py``), the hold channel's queries (``hold_queries.py``), the
statements of erasure (``erasure_queries.py``), the names of the suppression lists and the dashboard's queue
depth (``dashboard_queries.py``). Each method mirrors the SQL of the method it is named after;
``tests/unit/test_fakes_contract.py`` proves them against SQLite.

Not faked: the log's queries (``LogQueries``: the log view is tested against the database) and
``Erasure.shrink_batch`` (batches are not faked); they raise ``NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NoReturn

import orjson

from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.privacy import FieldMatch
from leadrelay.domain.states import DeliveryStatus, QueueState
from leadrelay.services.ports import QueueDepth
from leadrelay.services.writes import Writes
from tests.fakes.delivery import FakeLeads
from tests.fakes.tables import FakeRow, Stored, Tables


def _not_faked(what: str) -> NoReturn:
    raise NotImplementedError(f"{what} is not faked; test it against the database")


class FakeDeferredWrites:
    """``DeferredWrites``: the collected attempts, then deliveries are inserted, the updates applied (a row
    that is not there is skipped, as an UPDATE … WHERE id = … of no row is), then the touched leads'
    statuses derived again from their jobs."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def flush(self, writes: Writes, now: datetime) -> None:
        for attempt in writes.new_attempts:
            self._t.insert("attempts", attempt)
        for delivery in writes.new_deliveries:
            self._t.insert("deliveries", delivery)
        for table, updates in (("deliveries", writes.deliveries), ("jobs", writes.jobs)):
            for row_id, values in updates.items():
                self._t.columns(table, values)
                row = self._t.find(table, row_id)
                if row is not None:
                    self._t.update(table, row, values)
        if writes.leads:
            FakeLeads(self._t).refresh_lead_statuses(sorted(writes.leads), now)


class FakeHoldQueries:
    """``HoldQueries``: held deliveries with their lead's ``data`` and ``sealed``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def held(
        self, partner: str | None, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[FakeRow]:
        found = self._t.where(
            "deliveries",
            lambda d: d["status"] == DeliveryStatus.HELD and (partner is None or d["partner"] == partner),
        )
        if after is not None:
            found = [d for d in found if d["held_at"] is not None and (d["held_at"], d["id"]) > after]
        # ORDER BY held_at, id: SQLite puts NULL first (PostgreSQL last; a held delivery has its time)
        found.sort(key=lambda d: (d["held_at"] is not None, d["held_at"] or 0, d["id"]))
        out: list[FakeRow] = []
        for delivery in found:
            lead = self._t.find("leads", delivery["lead_id"])
            if lead is None:  # an inner join
                continue
            values = self._t.values("deliveries", delivery)
            lead_values = self._t.values("leads", lead)
            values.update(data=lead_values["data"], sealed=lead_values["sealed"])
            out.append(FakeRow(values))
        return out[:limit] if limit >= 0 else out

    def delivery(self, delivery_id: str) -> FakeRow | None:
        found = self._t.find("deliveries", delivery_id)
        return self._t.row("deliveries", found) if found is not None else None

    def update_held(self, delivery_id: str, **values: Any) -> bool:
        self._t.columns("deliveries", values)
        found = self._t.find("deliveries", delivery_id)
        if found is None or found["status"] != DeliveryStatus.HELD:
            return False
        self._t.update("deliveries", found, values)
        return True


def _matches(stored: Any, match: FieldMatch) -> bool:
    """``data ->> field`` compared as the SQL does: a text, or a whole number as its digits (other JSON
    values are not searched: they are never a person's email or phone)."""
    if isinstance(stored, int) and not isinstance(stored, bool):
        stored = str(stored)
    if not isinstance(stored, str):
        return False
    if match.how == "equal_ignoring_case":
        return stored.lower() == match.value.lower()
    if match.how == "prefix":
        return stored.startswith(match.value)
    return stored == match.value


class FakeErasure:
    """``Erasure``: erasure's and retention's statements."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _pick(self, table: str, stored: Stored, *names: str) -> FakeRow:
        values = self._t.values(table, stored)
        return FakeRow({name: values[name] for name in names})

    def forget_import_rejects(self, source: str, entity: str, at: datetime) -> int:
        return 0  # the fakes keep no console imports (their rejects are tested on the databases)

    def unerased_leads(self, lead_ids: Sequence[str]) -> list[FakeRow]:
        wanted = set(lead_ids)
        found = self._t.where("leads", lambda r: r["id"] in wanted and r["erased_at"] is None)
        # SQLite walks ``id IN (…)`` through the key's index: by id
        return [self._t.row("leads", r) for r in sorted(found, key=lambda r: r["id"])]

    def leads_matching(self, entity: str, matches: Sequence[FieldMatch]) -> list[str]:
        if not matches:
            return []
        out = []
        for lead in self._t.where("leads", lambda r: r["entity"] == entity and r["erased_at"] is None):
            data = self._t.values("leads", lead)["data"]
            if isinstance(data, dict) and any(_matches(data.get(m.field), m) for m in matches):
                out.append(str(lead["id"]))
        return out

    def leads_received_before(self, cutoff: datetime, limit: int) -> list[str]:
        found = self._t.where("leads", lambda r: r["created_at"] < cutoff and r["erased_at"] is None)
        ids = sorted(str(r["id"]) for r in found)
        return ids[:limit] if limit >= 0 else ids

    def job_texts(self, lead_id: str) -> list[FakeRow]:
        found = self._t.where("jobs", lambda j: j["lead_id"] == lead_id)
        return [self._pick("jobs", j, "id", "trace", "error") for j in found]

    def set_job_texts(self, job_id: str, trace: Any, error: str | None) -> None:
        job = self._t.find("jobs", job_id)
        if job is not None:
            self._t.update("jobs", job, {"trace": trace, "error": error})

    def _finish(
        self,
        jobs: list[Stored],
        statuses: Collection[str],
        queue_states: Collection[str],
        status: str,
        queue_state: str,
        error: str | None,
        now: datetime,
    ) -> None:
        changes = {
            "status": status,
            "error": error,
            "queue_state": queue_state,
            "lease_owner": None,
            "lease_until": None,
            "finished_at": now,
            "updated_at": now,
        }
        for job in jobs:
            if job["status"] in set(statuses) and job["queue_state"] in set(queue_states):
                self._t.update("jobs", job, changes)

    def finish_lead_jobs(
        self,
        lead_id: str,
        *,
        statuses: Collection[str],
        queue_states: Collection[str],
        status: str,
        queue_state: str,
        error: str | None,
        now: datetime,
    ) -> None:
        jobs = self._t.where("jobs", lambda j: j["lead_id"] == lead_id)
        self._finish(jobs, statuses, queue_states, status, queue_state, error, now)

    def finish_job(
        self,
        job_id: str,
        *,
        statuses: Collection[str],
        queue_states: Collection[str],
        status: str,
        queue_state: str,
        error: str | None,
        now: datetime,
    ) -> None:
        jobs = self._t.where("jobs", lambda j: j["id"] == job_id)
        self._finish(jobs, statuses, queue_states, status, queue_state, error, now)

    def attempt_reasons(self, lead_id: str) -> list[FakeRow]:
        jobs = {j["id"] for j in self._t.where("jobs", lambda j: j["lead_id"] == lead_id)}
        found = self._t.where("attempts", lambda a: a["job_id"] in jobs)
        return [self._pick("attempts", a, "id", "reason") for a in found]

    def erase_attempt(self, attempt_id: str, reason: str | None) -> None:
        found = self._t.find("attempts", attempt_id)
        if found is not None:
            changes = {"request": {"erased": True}, "response_body": None, "reason": reason}
            self._t.update("attempts", found, changes)

    def delivery_reasons(self, lead_id: str) -> list[FakeRow]:
        found = self._t.where("deliveries", lambda d: d["lead_id"] == lead_id)
        return [self._pick("deliveries", d, "id", "reason", "cancel_reason") for d in found]

    def audit_reasons(self, object_ids: Collection[str]) -> list[FakeRow]:
        wanted = set(object_ids)
        found = self._t.where("audit_log", lambda a: a["object_id"] in wanted and a["reason"] is not None)
        return [self._pick("audit_log", a, "id", "reason") for a in found]

    def set_audit_reason(self, entry_id: str, reason: str | None) -> None:
        entry = self._t.find("audit_log", entry_id)
        if entry is not None:
            self._t.update("audit_log", entry, {"reason": reason})

    def lead_deliveries(self, lead_id: str, statuses: Collection[str]) -> list[FakeRow]:
        wanted = set(statuses)
        found = self._t.where("deliveries", lambda d: d["lead_id"] == lead_id and d["status"] in wanted)
        return [self._t.row("deliveries", d) for d in found]

    def shrink_batch(self, batch_id: str) -> None:
        _not_faked("Erasure.shrink_batch (batches)")

    def blank_leads(self, lead_ids: Sequence[str], now: datetime) -> None:
        wanted = set(lead_ids)
        changes: dict[str, Any] = {
            "data": {},
            "raw": {},
            "sealed": None,
            "flags": None,
            "erased_at": now,
            "updated_at": now,
        }
        for lead in self._t.where("leads", lambda r: r["id"] in wanted):
            answer = orjson.loads(lead["answer"]) if lead["answer"] is not None else None
            if isinstance(answer, dict) and answer.get("redirect_url") is not None:
                answer = {key: value for key, value in answer.items() if key != "redirect_url"}
                self._t.update("leads", lead, {**changes, "answer": answer})
                continue
            self._t.update("leads", lead, changes)
        for delivery in self._t.where("deliveries", lambda r: r["lead_id"] in wanted and r["redirect_url"]):
            self._t.update("deliveries", delivery, {"redirect_url": None})


class FakeSuppressionListNames:
    """``SuppressionListNames``: the names of the lists that exist."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def list_names(self) -> set[str]:
        return {str(r["name"]) for r in self._t.stored("suppression_lists")}


class FakeLogQueries:
    """``LogQueries``: not faked (the log view is tested against the database)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def distributions(self, f: DistributionFilter, limit: int) -> list[Any]:
        _not_faked("LogQueries.distributions")

    def delivery_states(self, job_ids: Sequence[str]) -> list[Any]:
        _not_faked("LogQueries.delivery_states")

    def distribution(self, job_id: str) -> Any:
        _not_faked("LogQueries.distribution")

    def attempts(self, job_id: str) -> list[Any]:
        _not_faked("LogQueries.attempts")

    def batches(self, batch_ids: Sequence[str]) -> list[Any]:
        _not_faked("LogQueries.batches")

    def batch_attempts(self, batch_ids: Sequence[str]) -> list[Any]:
        _not_faked("LogQueries.batch_attempts")

    def audit_entries(self, cursor: str | None, limit: int) -> list[Any]:
        _not_faked("LogQueries.audit_entries")


class FakeDashboardQueries:
    """``DashboardQueries``: the open jobs counted by queue state, as ``operations_queries`` counts them."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def queue_depth(self, now: datetime) -> QueueDepth:
        jobs = self._t.stored("jobs")
        ready = [j["run_at"] for j in jobs if j["queue_state"] == QueueState.READY]
        due = [at for at in ready if at <= now]
        return QueueDepth(
            due=len(due),
            scheduled=len(ready) - len(due),
            claimed=sum(1 for j in jobs if j["queue_state"] == QueueState.CLAIMED),
            waiting=sum(1 for j in jobs if j["queue_state"] == QueueState.WAITING),
            oldest_due=min(due, default=None),
        )


class FakePortalQueries:
    """``PortalQueries``: not faked (the portals are tested against the database, both dialects)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def partner_deliveries(self, partner: str, cursor: str | None, limit: int) -> list[Any]:
        _not_faked("PortalQueries.partner_deliveries")

    def partner_delivery(self, partner: str, delivery_id: str) -> Any:
        _not_faked("PortalQueries.partner_delivery")

    def source_leads(self, source: str, cursor: str | None, limit: int) -> list[Any]:
        _not_faked("PortalQueries.source_leads")

    def party_entries(self, kind: Any, party: str, cursor: int | None, limit: int) -> list[Any]:
        _not_faked("PortalQueries.party_entries")

    def partner_returns(self, partner: str, cursor: str | None, limit: int) -> list[Any]:
        _not_faked("PortalQueries.partner_returns")
