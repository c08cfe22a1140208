"""user choice: ``offers`` keeps the partners offered to a consumer (strategy user_choice)

A row is one eligible partner offered to the consumer of one job (issue 10, point 5): its place in the
target's order, what the consumer
sees of it (display name, logo, price when the partner shows it), the list price a selection sells at,
its status (open, selected, expired), until when it is valid, when it was selected or expired, and the
delivery a selection created.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

OFFER_STATUSES = "'open', 'selected', 'expired'"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "offers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("place", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("logo_url", sa.Text(), nullable=True),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("show_price", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("selected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"status IN ({OFFER_STATUSES})", name=op.f("ck_offers_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offers_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index("ix_offers_status_expires", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("offers")
