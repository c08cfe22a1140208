"""auction bids: ``bids`` keeps every answer to an auction; a post carries its bid's reference

A row is one partner's answer in one auction (issue 10, points 2 to 4) or one tier of a waterfall: its
status (accepted, refused, timeout, error), the price (and the price shared with others) and the floor it
had to reach, the buyer's reference, how long the ping took, its rank
among the bids that count, the winner's margin, and the delivery it got. ``deliveries.ping_reference``
keeps the winning bid's reference, so a retried post still carries ``{{ ping.reference }}``;
``deliveries.redirect_url`` where the buyer's answer to the post sends the consumer (told to the source).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

BID_STATUSES = "'accepted', 'refused', 'timeout', 'error'"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "bids",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("shared_price", sa.Float(), nullable=True),
        sa.Column("floor", sa.Float(), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("delivery_id", sa.String(length=40), nullable=True),
        sa.Column("sold_as", sa.String(length=16), nullable=True),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"status IN ({BID_STATUSES})", name=op.f("ck_bids_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bids")),
    )
    with op.batch_alter_table("bids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bids_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bids_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index("ix_bids_partner_created", ["partner", "created_at"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ping_reference", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("redirect_url", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("redirect_url")
        batch_op.drop_column("ping_reference")
    op.drop_table("bids")
