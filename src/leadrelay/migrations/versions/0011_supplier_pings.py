"""supplier pings: ``supplier_pings`` keeps a source's ping, its quote and bids, and its token's use

A row is one ``POST /v1/ping`` (issue 10, point 6): the source it was made for, the entity, the auction
of each profile it ran (the bids, ranked; never a lead value), the quoted price, when its token expires,
and when and by which lead it was used. A token is used once: ``used_at`` is set by the transaction that
accepts the lead carrying it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "supplier_pings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("auctions", sa.JSON(), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_pings")),
    )
    with op.batch_alter_table("supplier_pings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supplier_pings_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("supplier_pings")
