"""channel reconciliation reports and consistency history

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 21:15:00
"""

import sqlalchemy as sa
from alembic import op

import productsync.store.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("repair", sa.String(length=16), nullable=False),
        sa.Column("started_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("items_read", sa.Integer(), nullable=False),
        sa.Column("consistency_rate", sa.Float(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name=op.f("ck_reconciliation_runs_status_known")
        ),
        sa.CheckConstraint(
            "trigger IN ('on_demand', 'scheduled')", name=op.f("ck_reconciliation_runs_trigger_known")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_reconciliation_runs_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_runs_channel", ["channel_id", "started_at"], unique=False)
    op.create_table(
        "reconciliation_findings",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("hub_value", sa.Text(), nullable=True),
        sa.Column("channel_value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_findings_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_reconciliation_findings")),
    )
    with op.batch_alter_table("reconciliation_findings", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_findings_kind", ["run_id", "kind", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_findings", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_findings_kind")
    op.drop_table("reconciliation_findings")
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_runs_channel")
    op.drop_table("reconciliation_runs")
