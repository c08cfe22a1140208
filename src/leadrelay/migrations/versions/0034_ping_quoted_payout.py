"""a supplier ping keeps the payout terms it quoted

``supplier_pings.payout``: the source's payout model for the pinged entity when the quote was made
(``domain.ledger.payout_terms``: {} for none), so that the lead sent with its token is paid as quoted even
when the source's terms change within the token's life; ``supplier_pings.lead_id`` is indexed, as a sale's
posting looks up its lead's ping. Pings stored before have no terms: their leads are paid on the terms in
force (they expire in minutes).

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
        batch.create_index(batch.f("ix_supplier_pings_lead_id"), ["lead_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("supplier_pings") as batch:
        batch.drop_index(batch.f("ix_supplier_pings_lead_id"))
        batch.drop_column("payout")
