"""wallets: budgets (money caps) and wallets (prepaid funds, credit limits) per partner (issue 11)

``wallets`` keeps every partner's ledger balance (``owed``, moved in the transaction of every entry
posted) and what routed leads hold (``held``); ``budget_counters`` the money spent per cap window;
``money_holds`` what each job's delivery to a partner holds until it is sold or fails. Whole cents.
The balances of the entries already posted are filled in.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "wallets",
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("owed", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("credit_limit", sa.BigInteger(), nullable=True),
        sa.Column("low_balance", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("partner", name=op.f("pk_wallets")),
    )
    op.create_table(
        "budget_counters",
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("window", sa.String(length=32), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partner", "scope", "window", name=op.f("pk_budget_counters")),
    )
    op.create_table(
        "money_holds",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("window", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('budget', 'wallet')", name=op.f("ck_money_holds_kind")),
        sa.PrimaryKeyConstraint("job_id", "partner", "kind", "scope", "window", name=op.f("pk_money_holds")),
    )
    op.execute(
        "INSERT INTO wallets (partner, owed, held) SELECT party, SUM(amount), 0 FROM ledger_entries"
        " WHERE party_kind = 'partner' GROUP BY party"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("money_holds")
    op.drop_table("budget_counters")
    op.drop_table("wallets")
