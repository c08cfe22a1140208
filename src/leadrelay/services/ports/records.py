"""What the repositories hand back: stored rows and the stored configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Record = Any
"""A stored row as a repository returns it: its columns are attributes (``row.status``)."""

Objects = dict[str, dict[str, dict[str, Any]]]
"""The stored configuration: kind → name → document."""


@dataclass(frozen=True, slots=True)
class LeadOutcome:
    """What a source is answered about its lead, read in one go (``Leads.lead_outcome``): the lead's
    source, entity, status, problems and test flag; its delivered deliveries (``partner``, ``price``,
    ``reference``, ``job_id``, ``redirect_url``, in delivery order); and the first error of its jobs, or
    ``no enabled profile for entity …`` when an unsold lead has no job at all."""

    source: str
    entity: str
    status: str
    problems: list[dict[str, Any]]
    is_test: bool
    sold: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
