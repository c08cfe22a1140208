"""The console's lead pages' own reads (``services.lead_pages``): leads by id, a lead's jobs and the audit
entries about it; the search's lookup keys are read through ``DedupMarks.leads_by_lookup``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from leadrelay.services.ports.records import Record


class LeadPageQueries(Protocol):
    def summaries(self, lead_ids: Collection[str]) -> list[Record]:
        """``id``, ``entity``, ``source``, ``status``, ``is_test``, ``created_at``, ``erased_at`` of these
        leads (by primary key), newest first."""
        ...

    def jobs_of(self, lead_id: str) -> list[Record]:
        """The lead's jobs (routing, resends, tests), oldest first: ``id``, ``profile``, ``kind``,
        ``status``, ``target_partner``, ``rule``, ``error``, ``created_at``, ``finished_at``."""
        ...

    def audit_of(self, object_ids: Sequence[str], limit: int) -> list[Record]:
        """The audit entries whose object is one of these ids (the lead, its jobs…), newest first."""
        ...

    def leads_after(self, after: str | None, limit: int) -> list[Record]:
        """Leads not erased, by id after ``after``, at most ``limit``: ``id``, ``entity``, ``data``,
        ``sealed`` (the search index rebuilt from them)."""
        ...
