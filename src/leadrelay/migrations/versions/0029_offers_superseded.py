"""a user-choice job's offers superseded by a rerun

``offers.superseded``: a rerun of a user-choice distribution makes new offers; the earlier round's stay in
its history, marked superseded (its open ones expired), as a rerun's auction marks its bids.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("superseded", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("superseded")
