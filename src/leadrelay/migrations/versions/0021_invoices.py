"""invoices: partners' invoices and sources' statements made of ledger entries (issue 11, point 6)

``invoices`` holds each document (its lines as JSON, its total in cents, its state: draft, issued, paid,
void; CHECK constraints from ``domain.invoices``); ``invoice_lines`` says which invoice holds each ledger
entry (one at most: the entry id is the key); ``invoice_counters`` hands out gap-free numbers per series
and year in the issuing transaction. Triggers refuse to change the lines or the total of an invoice that is
no longer a draft.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | None = None
depends_on: str | None = None

STATUSES = "'draft', 'issued', 'paid', 'void'"
FROZEN = "an issued invoice is frozen: its lines and total never change (void it, then draft again)"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=24), nullable=True),
        sa.Column("party_kind", sa.String(length=8), nullable=False),
        sa.Column("party", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("first_day", sa.String(length=10), nullable=False),
        sa.Column("last_day", sa.String(length=10), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_entry", sa.String(length=40), nullable=True),
        sa.CheckConstraint("party_kind IN ('partner', 'source')", name=op.f("ck_invoices_party_kind")),
        sa.CheckConstraint("period IN ('weekly', 'monthly')", name=op.f("ck_invoices_period")),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_invoices_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
    )
    op.create_index(
        "uq_invoices_live_period",
        "invoices",
        ["party_kind", "party", "starts_at"],
        unique=True,
        sqlite_where=sa.text("status <> 'void'"),
        postgresql_where=sa.text("status <> 'void'"),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("entry_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_invoice_lines")),
    )
    op.create_index(op.f("ix_invoice_lines_invoice_id"), "invoice_lines", ["invoice_id"], unique=False)
    op.create_table(
        "invoice_counters",
        sa.Column("series", sa.String(length=8), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", "year", name=op.f("pk_invoice_counters")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION invoices_frozen() RETURNS trigger AS $$ BEGIN"
            f" RAISE EXCEPTION '{FROZEN}'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER invoices_frozen BEFORE UPDATE ON invoices FOR EACH ROW"
            " WHEN (OLD.status <> 'draft' AND (OLD.total <> NEW.total OR OLD.lines::text <> NEW.lines::text))"
            " EXECUTE FUNCTION invoices_frozen()"
        )
    else:
        op.execute(
            "CREATE TRIGGER invoices_frozen BEFORE UPDATE OF lines, total ON invoices"
            " WHEN OLD.status <> 'draft' AND (OLD.total <> NEW.total OR OLD.lines <> NEW.lines)"
            f" BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END"
        )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER invoices_frozen ON invoices")
        op.execute("DROP FUNCTION invoices_frozen()")
    op.drop_table("invoice_counters")
    op.drop_index(op.f("ix_invoice_lines_invoice_id"), table_name="invoice_lines")
    op.drop_table("invoice_lines")
    op.drop_index("uq_invoices_live_period", table_name="invoices")
    op.drop_table("invoices")
