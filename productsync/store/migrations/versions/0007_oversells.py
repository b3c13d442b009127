"""oversells: channel sales recorded beyond the stock the hub had

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 18:20:00
"""

import sqlalchemy as sa
from alembic import op

import productsync.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oversells",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("owner_partner_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("order_ref", sa.String(length=255), nullable=True),
        sa.Column("sold", productsync.store.types.Quantity(), nullable=False),
        sa.Column("quantity", productsync.store.types.Quantity(), nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("substitute_product_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_oversells_quantity_positive")),
        sa.CheckConstraint("sold >= quantity", name=op.f("ck_oversells_sold_covers_missing")),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_oversells_status_known")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_oversells_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_oversells_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oversells")),
        sa.UniqueConstraint("source", "event_id", name="uq_oversells_source_event"),
    )
    with op.batch_alter_table("oversells", schema=None) as batch_op:
        batch_op.create_index("ix_oversells_status", ["status", "id"], unique=False)
        batch_op.create_index("ix_oversells_owner", ["owner_partner_id", "status"], unique=False)
        batch_op.create_index("ix_oversells_product", ["product_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oversells", schema=None) as batch_op:
        batch_op.drop_index("ix_oversells_product")
        batch_op.drop_index("ix_oversells_owner")
        batch_op.drop_index("ix_oversells_status")
    op.drop_table("oversells")
