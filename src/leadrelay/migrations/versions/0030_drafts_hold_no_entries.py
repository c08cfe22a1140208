"""drafts hold no ledger entries

An invoice holds its entries (``invoice_lines``) from its issue on: a draft is a preview, made again when
issued, so that drafting a later period first takes nothing from an earlier one. The rows drafts held
until now are let go.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(
        sa.text(
            "DELETE FROM invoice_lines WHERE invoice_id IN (SELECT id FROM invoices WHERE status = 'draft')"
        )
    )


def downgrade() -> None:
    """Downgrade schema: nothing to give back (a draft is regenerated when issued)."""
