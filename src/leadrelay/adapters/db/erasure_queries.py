"""The SQL of erasure and retention (``leadrelay.services.ports.Erasure``): find a person's leads or the
leads past their retention, and blank what identifies the person in a lead, its jobs, its attempts and
its deliveries. Which rows and states are touched is the service's decision (``services/privacy.py``);
these statements only carry it out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, func, or_, select, update

from leadrelay.adapters.db.console_tables import lead_imports
from leadrelay.adapters.db.tables import attempts, audit_log, batches, deliveries, jobs, leads
from leadrelay.domain.privacy import FieldMatch


class SqlErasure:
    """Erasure's statements, bound to one transaction's connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def forget_import_rejects(self, source: str, entity: str, at: datetime) -> int:
        c = lead_imports.c
        done = self._conn.execute(
            update(lead_imports)
            .where(c.source == source, c.entity == entity, c.rejects.is_not(None), c.created_at <= at)
            .where(or_(c.finished_at.is_(None), c.finished_at >= at))
            .values(rejects=None)
        )
        return int(done.rowcount)

    def unerased_leads(self, lead_ids: Sequence[str]) -> list[Row[Any]]:
        """The rows of these leads that are not erased yet."""
        query = select(leads).where(leads.c.id.in_(list(lead_ids)), leads.c.erased_at.is_(None))
        return list(self._conn.execute(query))

    def leads_matching(self, entity: str, matches: Sequence[FieldMatch]) -> list[str]:
        """The unerased leads of ``entity`` for which any of ``matches`` holds (a scan: see
        ``services.privacy.leads_of_person``)."""
        if not matches:
            return []
        query = select(leads.c.id).where(
            leads.c.entity == entity,
            leads.c.erased_at.is_(None),
            or_(*(_condition(m, sqlite=self._conn.dialect.name == "sqlite") for m in matches)),
        )
        return list(self._conn.execute(query).scalars())

    def leads_received_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Up to ``limit`` unerased leads created before ``cutoff``, by id."""
        query = (
            select(leads.c.id)
            .where(leads.c.created_at < cutoff, leads.c.erased_at.is_(None))
            .order_by(leads.c.id)
            .limit(limit)
        )
        return list(self._conn.execute(query).scalars())

    def job_texts(self, lead_id: str) -> list[Row[Any]]:
        """The lead's jobs with the texts that may quote it (``id``, ``trace``, ``error``). On PostgreSQL
        their rows are locked until commit, in id order as workers lock them (``store.load_jobs``): a
        worker recording an outcome for one of them waits for the erasure, then sees what it did (SQLite's
        write lock already serializes this)."""
        query = select(jobs.c.id, jobs.c.trace, jobs.c.error).where(jobs.c.lead_id == lead_id)
        if self._conn.dialect.name == "postgresql":
            query = query.order_by(jobs.c.id).with_for_update()
        return list(self._conn.execute(query))

    def set_job_texts(self, job_id: str, trace: Any, error: str | None) -> None:
        self._conn.execute(update(jobs).where(jobs.c.id == job_id).values(trace=trace, error=error))

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
        """Close the lead's jobs that are in one of ``statuses`` and ``queue_states`` (ending any lease)."""
        self._finish(jobs.c.lead_id == lead_id, statuses, queue_states, status, queue_state, error, now)

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
        """Close the job if it is in one of ``statuses`` and ``queue_states`` (ending any lease)."""
        self._finish(jobs.c.id == job_id, statuses, queue_states, status, queue_state, error, now)

    def _finish(
        self,
        which: ColumnElement[bool],
        statuses: Collection[str],
        queue_states: Collection[str],
        status: str,
        queue_state: str,
        error: str | None,
        now: datetime,
    ) -> None:
        self._conn.execute(
            update(jobs)
            .where(which, jobs.c.status.in_(sorted(statuses)), jobs.c.queue_state.in_(sorted(queue_states)))
            .values(
                status=status,
                error=error,
                queue_state=queue_state,
                lease_owner=None,  # a claimed job is taken from its worker: see services/privacy.py
                lease_until=None,
                finished_at=now,
                updated_at=now,
            )
        )

    def attempt_reasons(self, lead_id: str) -> list[Row[Any]]:
        """The attempts of the lead's jobs (``id``, ``reason``)."""
        query = (
            select(attempts.c.id, attempts.c.reason)
            .join(jobs, jobs.c.id == attempts.c.job_id)
            .where(jobs.c.lead_id == lead_id)
        )
        return list(self._conn.execute(query))

    def erase_attempt(self, attempt_id: str, reason: str | None) -> None:
        """Drop the recorded request and response of an attempt; keep its (redacted) reason."""
        self._conn.execute(
            update(attempts)
            .where(attempts.c.id == attempt_id)
            .values(request={"erased": True}, response_body=None, reason=reason)
        )

    def delivery_reasons(self, lead_id: str) -> list[Row[Any]]:
        """The lead's deliveries (``id``, ``reason``, ``cancel_reason``)."""
        d = deliveries.c
        return list(self._conn.execute(select(d.id, d.reason, d.cancel_reason).where(d.lead_id == lead_id)))

    def audit_reasons(self, object_ids: Collection[str]) -> list[Row[Any]]:
        a = audit_log.c
        wanted = sorted(set(object_ids))
        query = select(a.id, a.reason).where(a.object_id.in_(wanted), a.reason.is_not(None))
        return list(self._conn.execute(query)) if wanted else []

    def set_audit_reason(self, entry_id: str, reason: str | None) -> None:
        self._conn.execute(update(audit_log).where(audit_log.c.id == entry_id).values(reason=reason))

    def lead_deliveries(self, lead_id: str, statuses: Collection[str]) -> list[Row[Any]]:
        """The lead's deliveries in one of ``statuses`` (whole rows)."""
        query = select(deliveries).where(
            deliveries.c.lead_id == lead_id, deliveries.c.status.in_(sorted(statuses))
        )
        return list(self._conn.execute(query))

    def shrink_batch(self, batch_id: str) -> None:
        """One lead fewer in the batch."""
        self._conn.execute(
            update(batches).where(batches.c.id == batch_id).values(lead_count=batches.c.lead_count - 1)
        )

    def blank_leads(self, lead_ids: Sequence[str], now: datetime) -> None:
        """Empty the leads' values, sealed values and flags, and mark them erased; their deliveries' redirect
        URLs go too (a buyer's URL for the consumer may carry the person), and so does the one in a lead's
        stored first answer (a keyed request's, replayed to its repeats)."""
        answered = select(leads.c.id, leads.c.answer).where(
            leads.c.id.in_(list(lead_ids)), leads.c.answer.is_not(None)
        )
        for lead_id, answer in list(self._conn.execute(answered)):
            if isinstance(answer, dict) and answer.get("redirect_url") is not None:
                kept = {key: value for key, value in answer.items() if key != "redirect_url"}
                self._conn.execute(update(leads).where(leads.c.id == lead_id).values(answer=kept))
        self._conn.execute(
            update(leads)
            .where(leads.c.id.in_(list(lead_ids)))
            .values(data={}, raw={}, sealed=None, flags=None, erased_at=now, updated_at=now)
        )
        self._conn.execute(
            update(deliveries)
            .where(deliveries.c.lead_id.in_(list(lead_ids)), deliveries.c.redirect_url.is_not(None))
            .values(redirect_url=None)
        )


def _condition(match: FieldMatch, *, sqlite: bool) -> ColumnElement[bool]:
    stored = leads.c.data[match.field].as_string()
    condition: ColumnElement[bool]
    if match.how == "equal_ignoring_case" and sqlite:  # every letter folded (``engine``'s casefold)
        condition = func.casefold(stored) == match.value.casefold()
    elif match.how == "equal_ignoring_case":  # PostgreSQL's lower() folds every letter
        condition = func.lower(stored) == match.value.lower()
    elif match.how == "prefix":
        condition = stored.startswith(match.value, autoescape=True)
    else:
        condition = stored == match.value
    return condition
