"""lead quality and privacy

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
    )
    op.create_table(
        "dedup_marks",
        sa.Column("scope", sa.String(length=140), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key_hash", name=op.f("pk_dedup_marks")),
    )
    with op.batch_alter_table("dedup_marks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dedup_marks_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "suppression_entries",
        sa.Column("list", sa.String(length=64), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("list", "value_hash", name=op.f("pk_suppression_entries")),
    )
    op.create_table(
        "suppression_lists",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_suppression_lists")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("sealed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("sealed")
        batch_op.drop_column("flags")

    op.drop_table("suppression_lists")
    op.drop_table("suppression_entries")
    with op.batch_alter_table("dedup_marks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dedup_marks_lead_id"))

    op.drop_table("dedup_marks")
    op.drop_table("data_keys")
