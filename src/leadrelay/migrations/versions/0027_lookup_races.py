"""the distribution log's filters by index, and the hosted form's post counts shared by every process

``ix_jobs_status_id``, ``ix_jobs_rule_id``, ``ix_jobs_profile_id``: the distribution log filtered by a job
status, a routing rule or a profile, newest first, is one index range read backwards (a rare rule or status
was a scan of every job). A source's filter already has ``ix_leads_source_id``, a partner's
``ix_deliveries_partner_id``, a lead's ``ix_jobs_lead_id``.

``form_posts``: the hosted form's rate limit (``max_posts_per_minute`` per source and client address), a
count per window of a minute, so every API process counts against one limit; windows older than the one
before the current are deleted as posts come.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | None = None
depends_on: str | None = None

INDEXES = [
    ("ix_jobs_status_id", "jobs", ["status", "id"]),
    ("ix_jobs_rule_id", "jobs", ["rule", "id"]),
    ("ix_jobs_profile_id", "jobs", ["profile", "id"]),
]


def upgrade() -> None:
    """Upgrade schema."""
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    op.create_table(
        "form_posts",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", "client", "window_start", name=op.f("pk_form_posts")),
    )
    op.create_index("ix_form_posts_window_start", "form_posts", ["window_start"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_form_posts_window_start", table_name="form_posts")
    op.drop_table("form_posts")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
