"""pool rate demand and lending

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:36:32.599203
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pool_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_gbps", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("demand_gbps", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("borrowed_gbps", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("lent_gbps", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pool_states", schema=None) as batch_op:
        batch_op.drop_column("lent_gbps")
        batch_op.drop_column("borrowed_gbps")
        batch_op.drop_column("demand_gbps")
        batch_op.drop_column("rate_gbps")
