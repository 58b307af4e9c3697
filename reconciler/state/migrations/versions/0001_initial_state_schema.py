"""initial state schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 04:31:32.791647
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "accuracy",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("predicted", sa.JSON(), nullable=False),
        sa.Column("actual", sa.Float(), nullable=False),
        sa.Column("model_kind", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accuracy")),
    )
    with op.batch_alter_table("accuracy", schema=None) as batch_op:
        batch_op.create_index(
            "ix_accuracy_group_metric_ts", ["group_id", "metric", "ts"], unique=False
        )

    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("pool", sa.String(length=128), nullable=False),
        sa.Column("gbps", sa.Float(), nullable=False),
        sa.Column("used_gbps", sa.Float(), nullable=True),
        sa.Column("ledger", sa.JSON(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index("ix_allocations_group_at", ["group_id", "at"], unique=False)
        batch_op.create_index("ix_allocations_run", ["run_id"], unique=False)
        batch_op.create_index("ix_allocations_at", ["at"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'write')", name=op.f("ck_api_tokens_scope")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('planned', 'applied', 'failed', 'skipped')", name=op.f("ck_commands_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index("ix_commands_run", ["run_id"], unique=False)
        batch_op.create_index("ix_commands_target", ["target"], unique=False)

    op.create_table(
        "composer_snapshots",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_composer_snapshots")),
    )
    with op.batch_alter_table("composer_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_composer_snapshots_at"), ["at"], unique=False)

    op.create_table(
        "forecasts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quantiles", sa.JSON(), nullable=False),
        sa.Column("model_kind", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecasts")),
    )
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_forecasts_group_metric_made", ["group_id", "metric", "made_at"], unique=False
        )

    op.create_table(
        "group_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('formed', 'grew', 'shrank', 'merged', 'split', 'dissolved', 'overridden')",
            name=op.f("ck_group_events_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_events")),
    )
    with op.batch_alter_table("group_events", schema=None) as batch_op:
        batch_op.create_index("ix_group_events_group_at", ["group_id", "at"], unique=False)

    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("policy_class", sa.String(length=64), nullable=True),
        sa.Column("pinned_gbps", sa.Float(), nullable=True),
        sa.Column("tag_selector", sa.JSON(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dissolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('discovered', 'manual', 'tenant', 'shared-services')",
            name=op.f("ck_groups_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_dissolved_at"), ["dissolved_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_groups_name"), ["name"], unique=False)

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "pool_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("pool", sa.String(length=128), nullable=False),
        sa.Column("parent", sa.String(length=128), nullable=True),
        sa.Column("capacity_gbps", sa.Float(), nullable=False),
        sa.Column("allocated_gbps", sa.Float(), nullable=False),
        sa.Column("used_gbps", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_states")),
    )
    with op.batch_alter_table("pool_states", schema=None) as batch_op:
        batch_op.create_index("ix_pool_states_at", ["at"], unique=False)
        batch_op.create_index("ix_pool_states_run", ["run_id"], unique=False)

    op.create_table(
        "pre_allocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cpu_need", sa.Float(), nullable=False),
        sa.Column("cpu_allocated", sa.Float(), nullable=False),
        sa.Column("memory_need_gib", sa.Float(), nullable=False),
        sa.Column("memory_allocated_gib", sa.Float(), nullable=False),
        sa.Column("network_need_gbps", sa.Float(), nullable=False),
        sa.Column("network_allocated_gbps", sa.Float(), nullable=False),
        sa.Column("io_need_iops", sa.Float(), nullable=False),
        sa.Column("io_allocated_iops", sa.Float(), nullable=False),
        sa.Column("latency_need_ms", sa.Float(), nullable=True),
        sa.Column("latency_allocated_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_allocations")),
    )
    with op.batch_alter_table("pre_allocations", schema=None) as batch_op:
        batch_op.create_index("ix_pre_allocations_group_at", ["group_id", "at"], unique=False)

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("step_timings", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name=op.f("ck_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runs_started"), ["started"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=128), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_memberships_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index("ix_memberships_group_until", ["group_id", "until"], unique=False)
        batch_op.create_index("ix_memberships_resource", ["resource_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_resource")
        batch_op.drop_index("ix_memberships_group_until")

    op.drop_table("memberships")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_started"))

    op.drop_table("runs")
    with op.batch_alter_table("pre_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_pre_allocations_group_at")

    op.drop_table("pre_allocations")
    with op.batch_alter_table("pool_states", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_states_run")
        batch_op.drop_index("ix_pool_states_at")

    op.drop_table("pool_states")
    op.drop_table("leases")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_name"))
        batch_op.drop_index(batch_op.f("ix_groups_dissolved_at"))

    op.drop_table("groups")
    with op.batch_alter_table("group_events", schema=None) as batch_op:
        batch_op.drop_index("ix_group_events_group_at")

    op.drop_table("group_events")
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.drop_index("ix_forecasts_group_metric_made")

    op.drop_table("forecasts")
    with op.batch_alter_table("composer_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_composer_snapshots_at"))

    op.drop_table("composer_snapshots")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index("ix_commands_target")
        batch_op.drop_index("ix_commands_run")

    op.drop_table("commands")
    op.drop_table("api_tokens")
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_allocations_run")
        batch_op.drop_index("ix_allocations_at")
        batch_op.drop_index("ix_allocations_group_at")

    op.drop_table("allocations")
    with op.batch_alter_table("accuracy", schema=None) as batch_op:
        batch_op.drop_index("ix_accuracy_group_metric_ts")

    op.drop_table("accuracy")
