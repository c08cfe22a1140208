"""one attempts table: a batch's attempts join the deliveries' in ``attempts`` (``batch_attempts`` goes)

An attempt is a lead's (``delivery_id`` and ``job_id``, with the request and the answer) or a batch's
(``batch_id``, with where the file went and its size); a CHECK keeps each row one or the other. The
upgrade copies every ``batch_attempts`` row into ``attempts`` and drops the table; the downgrade copies
them back. SQLite cannot relax a NOT NULL or add a constraint in place: ``attempts`` is recreated there
(batch mode).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

ONE_SUBJECT = (
    "(delivery_id IS NOT NULL AND job_id IS NOT NULL AND batch_id IS NULL)"
    " OR (delivery_id IS NULL AND job_id IS NULL AND batch_id IS NOT NULL)"
)
SHARED = "id, batch_id, number, started_at, duration_ms, outcome, location, bytes, reason"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("location", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("bytes", sa.Integer(), nullable=True))
        batch_op.alter_column("delivery_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.alter_column("job_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.alter_column("request", existing_type=sa.JSON(), nullable=True)
        batch_op.create_index(batch_op.f("ix_attempts_batch_id"), ["batch_id"], unique=False)
        batch_op.create_check_constraint(op.f("ck_attempts_one_subject"), ONE_SUBJECT)
    op.execute(f"INSERT INTO attempts ({SHARED}) SELECT {SHARED} FROM batch_attempts")
    with op.batch_alter_table("batch_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_attempts_batch_id"))
    op.drop_table("batch_attempts")


def downgrade() -> None:
    """Downgrade schema."""
    op.create_table(
        "batch_attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_attempts")),
    )
    with op.batch_alter_table("batch_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_attempts_batch_id"), ["batch_id"], unique=False)
    op.execute(
        f"INSERT INTO batch_attempts ({SHARED}) SELECT {SHARED} FROM attempts WHERE batch_id IS NOT NULL"
    )
    op.execute("DELETE FROM attempts WHERE batch_id IS NOT NULL")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_attempts_one_subject"), type_="check")
        batch_op.drop_index(batch_op.f("ix_attempts_batch_id"))
        batch_op.alter_column("request", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("job_id", existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column("delivery_id", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_column("bytes")
        batch_op.drop_column("location")
        batch_op.drop_column("batch_id")
