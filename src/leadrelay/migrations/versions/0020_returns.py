"""returns: a partner's return of a lead it bought (issue 11, point 4)

One row per returned delivery (``delivery_id`` unique), its status a ``ReturnStatus`` (requested,
approved, denied; CHECK). The delivery itself stays ``delivered``: an approved return is money (RETURN
entries in ``ledger_entries``), recorded beside the delivery.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "returns",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("redistributed_as", sa.String(length=40), nullable=True),
        sa.CheckConstraint("status IN ('requested', 'approved', 'denied')", name=op.f("ck_returns_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_returns_delivery_id")),
    )
    op.create_index(op.f("ix_returns_lead_id"), "returns", ["lead_id"], unique=False)
    op.create_index("ix_returns_partner_delivered_at", "returns", ["partner", "delivered_at"], unique=False)
    op.create_index("ix_returns_status_requested_at", "returns", ["status", "requested_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_returns_status_requested_at", table_name="returns")
    op.drop_index("ix_returns_partner_delivered_at", table_name="returns")
    op.drop_index(op.f("ix_returns_lead_id"), table_name="returns")
    op.drop_table("returns")
