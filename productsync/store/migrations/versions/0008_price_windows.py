"""price window boundaries announced to channels

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 18:20:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import productsync.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_boundaries",
        sa.Column("price_list_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("announced_at", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("price_list_id", "product_id", "at", name=op.f("pk_price_boundaries")),
    )
    with op.batch_alter_table("price_boundaries", schema=None) as batch_op:
        batch_op.create_index("ix_price_boundaries_due", ["announced_at", "at"], unique=False)
    # Windows written before this revision still open or close ahead: announce those too.
    now = sa.bindparam("now", datetime.now(UTC), type_=productsync.store.types.UTCDateTime())
    op.get_bind().execute(
        sa.text(
            "INSERT INTO price_boundaries (price_list_id, product_id, at) "
            "SELECT price_list_id, product_id, valid_from FROM price_entries WHERE valid_from > :now "
            "UNION "
            "SELECT price_list_id, product_id, valid_to FROM price_entries WHERE valid_to > :now"
        ).bindparams(now)
    )


def downgrade() -> None:
    with op.batch_alter_table("price_boundaries", schema=None) as batch_op:
        batch_op.drop_index("ix_price_boundaries_due")
    op.drop_table("price_boundaries")
