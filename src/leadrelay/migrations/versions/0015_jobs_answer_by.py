"""jobs.answer_by: when the source stops waiting for its answer (``?wait``), so an auction fits in before

A lead posted with ``?wait=N`` has its jobs marked with the moment its source's answer is due. An auction
(or a waterfall's tier) then ends its pings early enough for the award and the post to be done by then
(issue 10, point 7); without it the pings take the rule's whole deadline.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer_by", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("answer_by")
