"""command approval and schedule; pre-allocation records per metric

Commands gain the statuses ``scheduled`` (held until their ``not_before``), ``needs_approval``
and ``approved``; pre-allocation records keep only the metrics that were predicted (the others
are NULL) and IO in MB/s next to the IOPS columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD = ("planned", "applied", "failed", "skipped")
_NEW = (*_OLD, "scheduled", "needs_approval", "approved")
_METRICS = (
    "cpu_need",
    "cpu_allocated",
    "memory_need_gib",
    "memory_allocated_gib",
    "network_need_gbps",
    "network_allocated_gbps",
    "io_need_iops",
    "io_allocated_iops",
)


def _in(values: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_commands_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_commands_status"), _in(_NEW))
    with op.batch_alter_table("pre_allocations", schema=None) as batch_op:
        for name in _METRICS:
            batch_op.alter_column(name, existing_type=sa.Float(), nullable=True)
        batch_op.add_column(sa.Column("io_need_mbps", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("io_allocated_mbps", sa.Float(), nullable=True))


def downgrade() -> None:
    op.execute(
        "UPDATE commands SET status = 'planned' "
        "WHERE status IN ('scheduled', 'needs_approval', 'approved')"
    )
    for name in _METRICS:
        op.execute(f"UPDATE pre_allocations SET {name} = 0 WHERE {name} IS NULL")
    with op.batch_alter_table("pre_allocations", schema=None) as batch_op:
        batch_op.drop_column("io_allocated_mbps")
        batch_op.drop_column("io_need_mbps")
        for name in _METRICS:
            batch_op.alter_column(name, existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_commands_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_commands_status"), _in(_OLD))
