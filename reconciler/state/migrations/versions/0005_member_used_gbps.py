"""measured traffic per member of each group's allocation

Allocation rows gain ``member_used_gbps`` (JSON: resource id -> Gbps measured at the cycle's
latest complete step), so ``GET /groups/{id}`` can serve each member's current traffic and its
share of the group's allocation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_used_gbps", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_column("member_used_gbps")
