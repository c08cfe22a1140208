"""CHECK constraints on every state column

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The values are those of the enums in ``leadrelay.domain.states`` as of this revision (a migration is a
snapshot: a later state gets a migration of its own). Every stored row already holds one of them. SQLite
cannot add a constraint to a table, so the tables are recreated (batch mode).
"""

from __future__ import annotations

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

LEAD = ("queued", "rejected", "delivered", "unsold", "failed", "cancelled", "duplicate", "suppressed", "held")
JOB = (
    "received", "routing", "delivering", "delivered", "failed", "unsold", "cancelled", "duplicate",
    "suppressed", "held",
)  # fmt: skip
QUEUE = ("ready", "claimed", "waiting", "done")
DELIVERY = ("pending", "retry", "delivered", "failed", "held", "cancelled", "batched")
BATCH = ("ready", "sending", "retry", "sent", "failed")

CHECKS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "leads": (("status", LEAD),),
    "jobs": (("status", JOB), ("queue_state", QUEUE)),
    "deliveries": (("status", DELIVERY),),
    "batches": (("status", BATCH),),
}


def _condition(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    """Upgrade schema."""
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in checks:
                batch_op.create_check_constraint(op.f(f"ck_{table}_{column}"), _condition(column, values))


def downgrade() -> None:
    """Downgrade schema."""
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, _ in checks:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
