"""partner breakers: ``partner_breakers`` holds each partner's circuit breaker when it is not closed

A partner with no row (or a row in state ``closed``) gets leads. ``open``: routing skips it until
``retry_at``; ``half_open``: one trial lead is out. Opening and closing are audited (``partner.breaker_*``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "partner_breakers",
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('closed', 'open', 'half_open')", name=op.f("ck_partner_breakers_state")
        ),
        sa.PrimaryKeyConstraint("partner", name=op.f("pk_partner_breakers")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("partner_breakers")
