"""keyed dedup marks: HMAC-SHA256 under the installation's dedup key, in place of plain SHA-256

A plain hash cannot be turned into an HMAC without the value, so each existing mark is recomputed from the
stored values of the lead it points at (sensitive values opened with LEADRELAY_SECRET_KEY, which this
upgrade then needs, as the processes do), after checking it against its old hash. A mark whose lead's
values are gone is dropped. The downgrade recomputes plain SHA-256 marks the same way.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

log = logging.getLogger("leadrelay")


def _secret() -> str | None:
    from leadrelay.config import load_settings

    key = load_settings().secret_key
    return key.get_secret_value() if key else None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "installation_secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_installation_secrets")),
    )
    from leadrelay.adapters.db import dedup_store
    from leadrelay.adapters.dedup_keys import rekey

    conn = op.get_bind()
    if dedup_store.any_marks(conn):  # else the key is chosen by the first process that needs it
        done = rekey(conn, _secret(), legacy=True)
        log.info("dedup marks keyed: %d recomputed, %d dropped (their lead's values are gone)", *done)


def downgrade() -> None:
    """Downgrade schema."""
    from leadrelay.adapters.dedup_keys import unkey

    unkey(op.get_bind(), _secret())
    op.drop_table("installation_secrets")
