"""reports: a resend is offered and sold as the ledger bills it

The reports counted every delivery made as ``offered`` and every delivery delivered as ``sold``, whatever
its job's kind, so a resend of a standing sale (which the ledger does not bill again) counted as a second
sale. Now a resend's delivery is offered and sold in the hour its partner's sale entry is posted (when it is
billed: its sale had been cancelled or returned), and not at all otherwise. The hours already rolled up
(``report_hours``, before the watermark) are corrected by the same rule: each resend's delivery taken out
of the hour it was made (``offered``) and of the hour it was delivered (``sold``), each billed resend added
to the hour of its sale entry; then the UTC days those hours belong to are summed into ``report_days``
again. Hours whose leads were purged are left as they were rolled.

Revision ID: 0031_reports
Revises: 0030
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0031_reports"
down_revision: str | None = "0030"
branch_labels: str | None = None
depends_on: str | None = None

COUNTERS = (
    "received", "rejected", "duplicates", "suppressed", "offered", "sold", "cancelled", "returns",
    "revenue", "payout", "margin", "returned", "auctions", "left_on_table", "attempts",
    *(f"lat_{i}" for i in range(14)), "contacted", "converted", "rejected_by_buyer", "conversion_revenue",
)  # fmt: skip
DIMENSIONS = ("source", "entity", "partner", "profile")
DAY = timedelta(days=1)
Key = tuple[datetime, str, str, str, str]


def _tables() -> dict[str, sa.Table]:
    from leadrelay.adapters.db.schema_base import UTCDateTime  # aware UTC on both databases

    meta = sa.MetaData()
    when = UTCDateTime()

    def rollup(name: str, at: str) -> sa.Table:
        return sa.Table(
            name,
            meta,
            sa.Column(at, when),
            *(sa.Column(d, sa.String) for d in DIMENSIONS),
            *(sa.Column(c, sa.BigInteger) for c in COUNTERS),
        )

    return {
        "hours": rollup("report_hours", "hour"),
        "days": rollup("report_days", "day"),
        "watermark": sa.Table(
            "report_watermark", meta, sa.Column("name", sa.String), sa.Column("rolled_until", when)
        ),
        "leads": sa.Table(
            "leads",
            meta,
            sa.Column("id", sa.String),
            sa.Column("source", sa.String),
            sa.Column("entity", sa.String),
        ),
        "jobs": sa.Table("jobs", meta, sa.Column("id", sa.String), sa.Column("kind", sa.String)),
        "deliveries": sa.Table(
            "deliveries",
            meta,
            sa.Column("id", sa.String),
            sa.Column("job_id", sa.String),
            sa.Column("lead_id", sa.String),
            sa.Column("partner", sa.String),
            sa.Column("profile", sa.String),
            sa.Column("is_test", sa.Boolean),
            sa.Column("created_at", when),
            sa.Column("delivered_at", when),
        ),
        "entries": sa.Table(
            "ledger_entries",
            meta,
            sa.Column("delivery_id", sa.String),
            sa.Column("party_kind", sa.String),
            sa.Column("kind", sa.String),
            sa.Column("at", when),
        ),
    }


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _changes(conn: sa.Connection, t: dict[str, sa.Table], until: datetime) -> dict[Key, dict[str, int]]:
    """Per rolled hour and group: what the rule changes in ``offered`` and ``sold``."""
    d, j, le, e = t["deliveries"].c, t["jobs"].c, t["leads"].c, t["entries"].c
    resends = (
        t["deliveries"].join(t["jobs"], j.id == d.job_id).join(t["leads"], le.id == d.lead_id)
    )  # (a resend's delivery of a purged lead is gone with it: its hours are left as rolled)
    dims = (le.source, le.entity, d.partner, d.profile)
    out: dict[Key, dict[str, int]] = {}

    def put(at: datetime, group: Iterable[Any], name: str, n: int) -> None:
        source, entity, partner, profile = (str(g or "") for g in group)
        into = out.setdefault((_hour(at), source, entity, partner, profile), {"offered": 0, "sold": 0})
        into[name] += n

    made = sa.select(d.created_at, d.delivered_at, *dims).select_from(resends)
    made = made.where(j.kind == "resend", d.is_test == sa.false(), d.created_at < until)
    for created_at, delivered_at, *group in conn.execute(made):
        put(created_at, group, "offered", -1)
        if delivered_at is not None and delivered_at < until:
            put(delivered_at, group, "sold", -1)
    billed = sa.select(e.at, *dims).select_from(t["entries"].join(resends, d.id == e.delivery_id))
    billed = billed.where(
        j.kind == "resend",
        d.is_test == sa.false(),
        e.party_kind == "partner",
        e.kind == "sale",
        e.at < until,
    )
    for at, *group in conn.execute(billed):
        put(at, group, "offered", 1)
        put(at, group, "sold", 1)
    return {key: change for key, change in out.items() if any(change.values())}


def upgrade() -> None:
    """Correct the rolled hours and their days (see the module docstring)."""
    conn = op.get_bind()
    t = _tables()
    w = t["watermark"].c
    until = conn.execute(sa.select(w.rolled_until).where(w.name == "hours")).scalar()
    if until is None:
        return  # nothing rolled up yet
    hours, days = t["hours"], t["days"]
    h = hours.c
    touched: set[datetime] = set()
    for (hour, *group), change in sorted(_changes(conn, t, until).items()):
        at = (h.hour == hour, *(h[name] == value for name, value in zip(DIMENSIONS, group, strict=True)))
        stmt = hours.update().where(*at)
        stmt = stmt.values(offered=h.offered + change["offered"], sold=h.sold + change["sold"])
        if conn.execute(stmt).rowcount == 0:
            if min(change.values()) < 0:
                continue  # (not counted when rolled: nothing to take away)
            row = dict.fromkeys(COUNTERS, 0) | change
            conn.execute(hours.insert().values(hour=hour, **dict(zip(DIMENSIONS, group, strict=True)), **row))
        touched.add(hour.replace(hour=0))
    for day in sorted(touched):
        if day + DAY > until:
            continue  # not summed into the days yet: the rollup will
        conn.execute(days.delete().where(days.c.day == day))
        keys = [h[name] for name in DIMENSIONS]
        sums = sa.select(
            sa.literal(day, hours.c.hour.type), *keys, *(sa.func.sum(h[name]) for name in COUNTERS)
        )
        sums = sums.where(h.hour >= day, h.hour < day + DAY).group_by(*keys)
        conn.execute(days.insert().from_select(["day", *DIMENSIONS, *COUNTERS], sums))


def downgrade() -> None:
    """Downgrade schema: nothing to undo (the corrected rollup is what the earlier code would show, less the
    resends it counted twice)."""
