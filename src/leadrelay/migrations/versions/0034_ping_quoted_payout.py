"""a supplier ping keeps the payout terms it quoted

``supplier_pings.payout``: the source's payout model for the pinged entity when the quote was made
(``domain.ledger.payout_terms``: {} for none), so that the lead sent with its token is paid as quoted even
when the source's terms change within the token's life. ``supplier_pings.lead_id`` is unique where set (one
ping per lead: a sale's posting joins its lead's ping, which must not repeat its rows), and ``source`` is
indexed (a deleted source's unused tokens are revoked). Pings stored before have no terms: their leads are
paid on the terms in force (they expire in minutes).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("supplier_pings") as batch:
        batch.add_column(sa.Column("payout", sa.JSON(), nullable=True))
    op.create_index(
        "uq_supplier_pings_lead_id",
        "supplier_pings",
        ["lead_id"],
        unique=True,
        sqlite_where=sa.text("lead_id IS NOT NULL"),
        postgresql_where=sa.text("lead_id IS NOT NULL"),
    )
    op.create_index("ix_supplier_pings_source", "supplier_pings", ["source"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_supplier_pings_source", table_name="supplier_pings")
    op.drop_index("uq_supplier_pings_lead_id", table_name="supplier_pings")
    with op.batch_alter_table("supplier_pings") as batch:
        batch.drop_column("payout")
