"""alerts: ``alert_states`` holds each alert rule's last state, ``alert_events`` every alert message sent

A rule with no state row is ok and never fired. ``version`` changes with every move, so that of several
worker processes only the one whose conditional UPDATE succeeds sends the message.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "alert_states",
        sa.Column("alert", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('ok', 'firing')", name=op.f("ck_alert_states_state")),
        sa.PrimaryKeyConstraint("alert", name=op.f("pk_alert_states")),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("alert", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('firing', 'resolved', 'test')", name=op.f("ck_alert_events_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert_sent_at", "alert_events", ["alert", "sent_at"])
    op.create_index("ix_alert_events_sent_at", "alert_events", ["sent_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_alert_events_sent_at", table_name="alert_events")
    op.drop_index("ix_alert_events_alert_sent_at", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_states")
