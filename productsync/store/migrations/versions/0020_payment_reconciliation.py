"""payment records for payments-against-sales reconciliation

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23 21:15:00
"""

import sqlalchemy as sa
from alembic import op

import productsync.store.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("payment_ref", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("quantity", productsync.store.types.Quantity(), nullable=True),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("owner_partner_id", sa.Uuid(), nullable=True),
        sa.Column("price_list_id", sa.Uuid(), nullable=True),
        sa.Column("price_currency", sa.String(length=3), nullable=True),
        sa.Column("unit_amount", productsync.store.types.ExactDecimal(), nullable=True),
        sa.Column("expected_minor", sa.BigInteger(), nullable=True),
        sa.Column("check_note", sa.String(length=300), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("occurred_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('paid', 'refunded')", name=op.f("ck_payment_records_kind_known")),
        sa.CheckConstraint(
            "outcome IN ('applied', 'ignored', 'refused')", name=op.f("ck_payment_records_outcome_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_records")),
        sa.UniqueConstraint("source", "event_id", name="uq_payment_records_source_event"),
    )
    with op.batch_alter_table("payment_records", schema=None) as batch_op:
        batch_op.create_index("ix_payment_records_occurred", ["occurred_at", "id"], unique=False)
        batch_op.create_index("ix_payment_records_payment", ["payment_ref"], unique=False)
    op.create_table(
        "payment_movements",
        sa.Column("movement_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_record_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_record_id"],
            ["payment_records.id"],
            name=op.f("fk_payment_movements_payment_record_id_payment_records"),
        ),
        sa.PrimaryKeyConstraint("movement_id", name=op.f("pk_payment_movements")),
    )
    with op.batch_alter_table("payment_movements", schema=None) as batch_op:
        batch_op.create_index("ix_payment_movements_payment_record_id", ["payment_record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_movements_payment_record_id")
    op.drop_table("payment_movements")
    with op.batch_alter_table("payment_records", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_records_payment")
        batch_op.drop_index("ix_payment_records_occurred")
    op.drop_table("payment_records")
