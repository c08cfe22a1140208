"""the console's lead search: ``lead_lookup`` (keyed hashes of every lead's email and phone) and an index
of the audit log by object

``lead_lookup`` holds, per lead, the HMAC-SHA256 lookup keys of its email and phone values
(``leadrelay.domain.lookup``), written at intake; a search by email or phone is one index range on
``key_hash``. Leads received before this revision have no keys (computing them needs the dedup key and,
for sensitive fields, the secret): they are found by id. ``ix_audit_log_object_id`` serves a lead's audit
entries on its history page.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "lead_lookup",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", "lead_id", name=op.f("pk_lead_lookup")),
    )
    op.create_index(op.f("ix_lead_lookup_lead_id"), "lead_lookup", ["lead_id"])
    op.create_index("ix_audit_log_object_id", "audit_log", ["object_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_audit_log_object_id", table_name="audit_log")
    op.drop_index(op.f("ix_lead_lookup_lead_id"), table_name="lead_lookup")
    op.drop_table("lead_lookup")
