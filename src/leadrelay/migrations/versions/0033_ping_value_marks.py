"""a supplier ping keeps a keyed digest of each value it carried

``supplier_pings.value_marks``: by field, an HMAC (under the ping-token key) of each non-personal value the
ping was quoted for, so that a lead sent with its token must carry the same values for the bids to stand
(never the values themselves). Pings stored before have none and are not checked (they expire in minutes).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("supplier_pings") as batch:
        batch.add_column(sa.Column("value_marks", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("supplier_pings") as batch:
        batch.drop_column("value_marks")
