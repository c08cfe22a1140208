"""reports: the hourly rollup ``report_hours``, the daily ``report_days``, their watermark; three indexes

``report_hours`` holds one UTC hour's counters per (source, entity, partner, profile): leads received and
closed at intake, deliveries made and delivered, ledger sums, latency bucket counts, auctions' money left
on the table, the buyers' postbacks (contacted, converted, rejected, their revenue) (see
``leadrelay.domain.reports``). ``report_days`` holds the same per UTC day, summed from
the hours when the rollup passes the day's end. ``report_watermark`` says up to which hour both are filled.
The rollup reads an hour of deliveries by ``created_at`` and ``delivered_at`` and of attempts by
``started_at``: three indexes.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | None = None
depends_on: str | None = None

COUNTERS = (
    "received", "rejected", "duplicates", "suppressed", "offered", "sold", "cancelled", "returns",
    "revenue", "payout", "margin", "returned", "auctions", "left_on_table", "attempts",
    *(f"lat_{i}" for i in range(14)), "contacted", "converted", "rejected_by_buyer", "conversion_revenue",
)  # fmt: skip


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "report_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        *(sa.Column(name, sa.BigInteger(), server_default="0", nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint(
            "hour", "source", "entity", "partner", "profile", name=op.f("pk_report_hours")
        ),
    )
    op.create_table(
        "report_days",
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        *(sa.Column(name, sa.BigInteger(), server_default="0", nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint("day", "source", "entity", "partner", "profile", name=op.f("pk_report_days")),
    )
    op.create_table(
        "report_watermark",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("rolled_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_report_watermark")),
    )
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at"], unique=False)
    op.create_index("ix_deliveries_delivered_at", "deliveries", ["delivered_at"], unique=False)
    op.create_index("ix_attempts_started_at", "attempts", ["started_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_attempts_started_at", table_name="attempts")
    op.drop_index("ix_deliveries_delivered_at", table_name="deliveries")
    op.drop_index("ix_deliveries_created_at", table_name="deliveries")
    op.drop_table("report_watermark")
    op.drop_table("report_days")
    op.drop_table("report_hours")
