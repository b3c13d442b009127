"""backfills in pages: snapshot payloads beside the outbox, backfill progress, claim indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import productsync.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_PENDING = "status = 'pending'"
_WAITING = "status IN ('pending', 'in_flight')"


def upgrade() -> None:
    op.create_table(
        "snapshot_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("time", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_snapshot_events")),
    )
    op.create_table(
        "channel_backfills",
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("from_seq", sa.BigInteger(), nullable=False),
        sa.Column("after_sku", sa.String(length=64), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("started_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_backfills_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_backfills")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_channel_due",
            ["channel_id", "next_attempt_at"],
            unique=False,
            postgresql_where=sa.text(_PENDING),
            sqlite_where=sa.text(_PENDING),
        )
        batch_op.create_index(
            "ix_deliveries_waiting_pair",
            ["channel_id", "aggregate", "event_seq"],
            unique=False,
            postgresql_where=sa.text(_WAITING),
            sqlite_where=sa.text(_WAITING),
        )
    # A backfill that was requested but not yet built is simply requested again: the
    # channel keeps backfill_requested_at, and the new dispatcher starts it in pages.


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_waiting_pair")
        batch_op.drop_index("ix_deliveries_channel_due")
    # Channels with a backfill in progress, or snapshot deliveries still waiting, ask for
    # a backfill again (the old code then builds it whole); those deliveries lose their
    # payload with the table and are superseded.
    op.execute(
        "UPDATE channels SET backfill_requested_at = COALESCE("
        " (SELECT b.started_at FROM channel_backfills b WHERE b.channel_id = channels.id),"
        " (SELECT MAX(d.created_at) FROM deliveries d WHERE d.channel_id = channels.id"
        "  AND d.status IN ('pending', 'in_flight')"
        "  AND d.event_id IN (SELECT event_id FROM snapshot_events)))"
        " WHERE backfill_requested_at IS NULL"
    )
    op.execute(
        "UPDATE deliveries SET status = 'superseded' WHERE status IN ('pending', 'in_flight')"
        " AND event_id IN (SELECT event_id FROM snapshot_events)"
    )
    op.drop_table("channel_backfills")
    op.drop_table("snapshot_events")
