"""postbacks: what buyers report about the leads they bought, and the events relayed to sources

``deliveries.outcome``: the buyer's latest reported outcome (contacted, converted, rejected, returned;
NULL until the first postback), with a CHECK like the other state columns. ``postbacks``: every accepted
postback (append-only), unique per (delivery, event id) so a replayed event is refused by the schema too.
``outbound_postbacks``: an event (a sale, an outcome) relayed to the lead's source, leased by the relay
loop, with its attempts, last status code and answer (issue 11, point 5).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None

OUTCOMES = "'contacted', 'converted', 'rejected', 'returned'"
RELAY_STATUSES = "'ready', 'sending', 'retry', 'sent', 'failed'"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.create_check_constraint(op.f("ck_deliveries_outcome"), f"outcome IN ({OUTCOMES})")
    op.create_table(
        "postbacks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("revenue_cents", sa.BigInteger(), nullable=True),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"outcome IN ({OUTCOMES})", name=op.f("ck_postbacks_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postbacks")),
        sa.UniqueConstraint("delivery_id", "event_id", name=op.f("uq_postbacks_delivery_id_event_id")),
    )
    with op.batch_alter_table("postbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_postbacks_delivery_id"), ["delivery_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_postbacks_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_postbacks_received_at"), ["received_at"], unique=False)
    op.create_table(
        "outbound_postbacks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_answer", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN ({RELAY_STATUSES})", name=op.f("ck_outbound_postbacks_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_postbacks")),
        sa.UniqueConstraint("delivery_id", "event", name=op.f("uq_outbound_postbacks_delivery_id_event")),
    )
    with op.batch_alter_table("outbound_postbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_postbacks_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_outbound_postbacks_status_next", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("outbound_postbacks")
    op.drop_table("postbacks")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_deliveries_outcome"), type_="check")
        batch_op.drop_column("outcome")
