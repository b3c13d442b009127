"""scheduled jobs and feeds

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 21:15:00
"""

import sqlalchemy as sa
from alembic import op

import productsync.store.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=True),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("running_since", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("every_seconds > 0", name=op.f("ck_schedules_every_positive")),
        sa.CheckConstraint(
            "kind IN ('file_feed', 'pull_feed', 'reconcile')", name=op.f("ck_schedules_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_schedules_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("key", name=op.f("uq_schedules_key")),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index("ix_schedules_due", ["next_run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_channel_id"), ["channel_id"], unique=False)
    op.create_table(
        "feed_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("runner", sa.String(length=100), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'partial', 'failed')", name=op.f("ck_feed_runs_status_known")
        ),
        sa.CheckConstraint("trigger IN ('scheduled', 'manual')", name=op.f("ck_feed_runs_trigger_known")),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_feed_runs_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name=op.f("fk_feed_runs_schedule_id_schedules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_runs")),
    )
    with op.batch_alter_table("feed_runs", schema=None) as batch_op:
        batch_op.create_index("ix_feed_runs_channel", ["channel_id", "started_at"], unique=False)
        batch_op.create_index("ix_feed_runs_schedule", ["schedule_id", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feed_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_runs_schedule")
        batch_op.drop_index("ix_feed_runs_channel")
    op.drop_table("feed_runs")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedules_channel_id"))
        batch_op.drop_index("ix_schedules_due")
    op.drop_table("schedules")
