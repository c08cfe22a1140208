"""What a reader of the distribution log asks for: a filter and a page (newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DistributionFilter:
    status: str | None = None
    partner: str | None = None
    profile: str | None = None
    source: str | None = None
    lead: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None  # the last id of the previous page (newest first)
    limit: int = 50
    rule: str | None = None  # the routing rule that matched
    after: str | None = None  # only ids newer than this one (a live view asking what is new)
    ids: tuple[str, ...] = ()  # besides those, these (a live view refreshing the rows it shows)
