"""the leads' own rows of the hourly rollup in an index of their own

``ix_report_hours_leads``: the rows of ``report_hours`` with no partner and no profile (where a lead's
received, rejected, duplicate and suppressed counts are kept), with those counters. The leads per hour of a
week (the dashboard's bars) read a few rows an hour from this index alone, instead of every partner's row of
every hour from the table.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | None = None
depends_on: str | None = None

WHERE = sa.text("partner = '' AND profile = ''")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "ix_report_hours_leads",
        "report_hours",
        [
            "hour",
            "source",
            "entity",
            "partner",
            "profile",
            "received",
            "rejected",
            "duplicates",
            "suppressed",
        ],
        unique=False,
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_report_hours_leads", table_name="report_hours")
