"""ledger: ``ledger_entries`` holds every movement of money (issue 11), immutable

Sales, payouts, cancellations, returns, credits, top-ups, payments and adjustments are entries; a
correction is a new entry. Amounts are whole cents (BIGINT). Triggers refuse UPDATE and DELETE on both
databases, so an entry once written stays as it was.

Beside it, ``deliveries.price_basis`` says where a delivery's price came from (bid, answer, rule,
profile, list).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None

KINDS = "'sale', 'payout', 'cancellation', 'return', 'credit', 'topup', 'payment', 'adjustment'"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ledger_entries",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("party_kind", sa.String(length=8), nullable=False),
        sa.Column("party", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("delivery_id", sa.String(length=40), nullable=True),
        sa.Column("reverses", sa.String(length=40), nullable=True),
        sa.Column("margin", sa.BigInteger(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.CheckConstraint(f"kind IN ({KINDS})", name=op.f("ck_ledger_entries_kind")),
        sa.CheckConstraint("party_kind IN ('partner', 'source')", name=op.f("ck_ledger_entries_party_kind")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("id", name=op.f("uq_ledger_entries_id")),
        sa.UniqueConstraint("reverses", name=op.f("uq_ledger_entries_reverses")),
    )
    op.create_index(op.f("ix_ledger_entries_lead_id"), "ledger_entries", ["lead_id"], unique=False)
    op.create_index(op.f("ix_ledger_entries_delivery_id"), "ledger_entries", ["delivery_id"], unique=False)
    op.create_index(
        "ix_ledger_entries_party_at", "ledger_entries", ["party_kind", "party", "at"], unique=False
    )
    op.create_index("ix_ledger_entries_at", "ledger_entries", ["at"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("price_basis", sa.String(length=8), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ledger_entries_immutable() RETURNS trigger AS $$ BEGIN"
            " RAISE EXCEPTION 'ledger entries are immutable: post a correcting entry'; END $$"
            " LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries"
            " FOR EACH ROW EXECUTE FUNCTION ledger_entries_immutable()"
        )
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_entries_no_{what.lower()} BEFORE {what} ON ledger_entries"
                " BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable: post a correcting entry'); END"
            )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_entries_immutable ON ledger_entries")
        op.execute("DROP FUNCTION ledger_entries_immutable()")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("price_basis")
    op.drop_index("ix_ledger_entries_at", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_party_at", table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_delivery_id"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_lead_id"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
