"""partner availability: ``partner_availability`` holds the partners checked out (or back in)

A partner with no row is available. A row is the last change made through the API or the CLI (an agent
checking in and out, a buyer pausing itself), with who made it and when; routing skips a partner whose
row says ``available = false``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "partner_availability",
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("changed_by <> ''", name=op.f("ck_partner_availability_changed_by")),
        sa.PrimaryKeyConstraint("partner", name=op.f("pk_partner_availability")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("partner_availability")
