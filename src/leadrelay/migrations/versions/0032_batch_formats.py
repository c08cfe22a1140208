"""a batch keeps the format it was cut with

``batches.file_format``: the format, columns and fields a batch's file is rendered with, fixed when it is
cut (like its file name), so a redelivery or a download after the channel changed is the file as cut.
Batches cut before have none and are rendered with their channel's options.

Revision ID: 0032
Revises: 0031_reports
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031_reports"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("file_format", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("file_format")
