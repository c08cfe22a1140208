"""partner API keys: ``api_keys`` holds sources' and partners' keys (``owner_kind``, ``owner``)

``source`` becomes ``owner`` and ``owner_kind`` says whose key it is ('source' or 'partner'); every key
stored before is a source's. A key authenticates only as its kind of owner (issue 10, point 8: a buyer
pauses itself with its own key).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_source"))
        batch_op.alter_column("source", new_column_name="owner", existing_type=sa.String(length=64))
        batch_op.add_column(
            sa.Column("owner_kind", sa.String(length=16), nullable=False, server_default="source")
        )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("owner_kind", server_default=None, existing_type=sa.String(length=16))
        batch_op.create_index(
            batch_op.f("ix_api_keys_owner_kind_owner"), ["owner_kind", "owner"], unique=False
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_api_keys_owner_kind"), "owner_kind IN ('source', 'partner')"
        )


def downgrade() -> None:
    """Downgrade schema: partners' keys go (a source key table cannot hold them)."""
    op.execute("DELETE FROM api_keys WHERE owner_kind <> 'source'")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_api_keys_owner_kind"), type_="check")
        batch_op.drop_index(batch_op.f("ix_api_keys_owner_kind_owner"))
        batch_op.drop_column("owner_kind")
        batch_op.alter_column("owner", new_column_name="source", existing_type=sa.String(length=64))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_source"), ["source"], unique=False)
