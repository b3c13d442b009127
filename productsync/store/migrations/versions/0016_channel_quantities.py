"""last quantity the hub knows a storefront channel holds

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 21:15:00
"""

import sqlalchemy as sa
from alembic import op

import productsync.store.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The changeFromQuantity of the next Shopify inventorySetQuantities, per mapped item.
    op.create_table(
        "channel_quantities",
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=True),
        sa.Column("updated_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        # A push sent but not confirmed (see tables_channel_state.py).
        sa.Column("pending_key", sa.String(length=400), nullable=True),
        sa.Column("pending_from", sa.Integer(), nullable=True),
        sa.Column("pending_quantity", sa.Integer(), nullable=True),
        sa.Column("pending_at", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_channel_quantities_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "external_id", name=op.f("pk_channel_quantities")),
    )


def downgrade() -> None:
    op.drop_table("channel_quantities")
