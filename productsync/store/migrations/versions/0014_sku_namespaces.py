"""SKU namespaces per partner: unique (owner_partner_id, sku)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 21:15:00

A SKU was unique hub-wide, so a partner whose catalog used a SKU another partner
already had could not onboard it. Now it is unique per owner partner; the product id
stays the hub-wide identity. Existing data already satisfies the new rule (hub-wide
unique implies unique per owner), so upgrading rewrites no row. The old
(owner_partner_id, sku) index is replaced by the unique constraint on the same
columns, and lookups by SKU alone get their own index.

Downgrading restores the hub-wide rule, which data written since may break: then it
refuses, naming the SKUs several partners use, instead of failing half-way.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint("uq_products_sku", type_="unique")
        batch_op.drop_index("ix_products_owner_sku")
        batch_op.create_unique_constraint("uq_products_owner_sku", ["owner_partner_id", "sku"])
        batch_op.create_index("ix_products_sku", ["sku"], unique=False)


def _shared_skus(limit: int = 20) -> list[str]:
    stmt = sa.text(
        "SELECT sku FROM products GROUP BY sku HAVING COUNT(*) > 1 ORDER BY sku LIMIT :n"
    ).bindparams(n=limit)
    return [row[0] for row in op.get_bind().execute(stmt)]


def downgrade() -> None:
    shared = _shared_skus()
    if shared:
        raise RuntimeError(
            "cannot downgrade below 0014: SKUs would be unique hub-wide again, but these are "
            f"used by more than one partner: {', '.join(shared)}"
            f"{' (and more)' if len(shared) == 20 else ''}. Give all but one product of each "
            "such SKU another SKU in the database (the API never changes a SKU), then downgrade again."
        )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_sku")
        batch_op.drop_constraint("uq_products_owner_sku", type_="unique")
        batch_op.create_index("ix_products_owner_sku", ["owner_partner_id", "sku"], unique=False)
        batch_op.create_unique_constraint("uq_products_sku", ["sku"])
