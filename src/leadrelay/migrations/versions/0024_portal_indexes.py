"""portal indexes: one tenant's rows newest first, by cursor

The partner and source portals page through a partner's deliveries and returns, a source's leads and a
party's ledger entries, newest first: an index on the tenant and the id (or the ledger's sequence) serves
each page without sorting the tenant's whole history.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | None = None
depends_on: str | None = None

INDEXES = [
    ("ix_leads_source_id", "leads", ["source", "id"]),
    ("ix_deliveries_partner_id", "deliveries", ["partner", "id"]),
    ("ix_returns_partner_id", "returns", ["partner", "id"]),
    ("ix_ledger_entries_party_seq", "ledger_entries", ["party_kind", "party", "seq"]),
]


def upgrade() -> None:
    """Upgrade schema."""
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
