"""A source's answer about its lead, read in one statement (``Leads.lead_outcome``): what ``?wait=`` and
``GET /v1/leads/{id}`` answer with."""

from __future__ import annotations

from sqlalchemy import Connection, and_, bindparam, exists, select

from leadrelay.adapters.db.tables import deliveries, jobs, leads
from leadrelay.domain.routing import NO_RULE_MATCHED
from leadrelay.domain.states import DeliveryStatus, LeadStatus
from leadrelay.services.ports.records import LeadOutcome

# a source's answer in one statement: the lead, its delivered deliveries (a row each; one row of NULLs when
# none), its jobs' first error (a profile none of whose rules matched last: another that took the lead up
# says more) and whether it has any job
_FIRST_JOB_ERROR = (
    select(jobs.c.error)
    .where(jobs.c.lead_id == leads.c.id, jobs.c.error.is_not(None))
    .order_by(jobs.c.error == NO_RULE_MATCHED, jobs.c.id)
    .limit(1)
    .scalar_subquery()
)
_OUTCOME = (
    select(
        leads.c.source,
        leads.c.entity,
        leads.c.status,
        leads.c.problems,
        leads.c.is_test,
        _FIRST_JOB_ERROR.label("error"),
        exists().where(jobs.c.lead_id == leads.c.id).label("has_jobs"),
        deliveries.c.id.label("delivery_id"),
        deliveries.c.partner,
        deliveries.c.price,
        deliveries.c.reference,
        deliveries.c.job_id,
        deliveries.c.redirect_url,
    )
    .select_from(
        leads.outerjoin(
            deliveries,
            and_(deliveries.c.lead_id == leads.c.id, deliveries.c.status == DeliveryStatus.DELIVERED),
        )
    )
    .where(leads.c.id == bindparam("lead_id"))
    .order_by(deliveries.c.id)
)


def lead_outcome(conn: Connection, lead_id: str) -> LeadOutcome | None:
    """The lead's answer to its source (``ports.LeadOutcome``); ``None`` when there is no such lead."""
    rows = conn.execute(_OUTCOME, {"lead_id": lead_id}).all()
    if not rows:
        return None
    lead = rows[0]
    error = lead.error
    if not lead.has_jobs and lead.status == LeadStatus.UNSOLD:  # accepted, but no enabled profile took it
        error = f"no enabled profile for entity {lead.entity}"
    sold = [
        {
            "partner": r.partner,
            "price": r.price,
            "reference": r.reference,
            "job_id": r.job_id,
            "redirect_url": r.redirect_url,
        }
        for r in rows
        if r.delivery_id is not None
    ]
    return LeadOutcome(
        lead.source, lead.entity, lead.status, list(lead.problems or []), bool(lead.is_test), sold, error
    )
