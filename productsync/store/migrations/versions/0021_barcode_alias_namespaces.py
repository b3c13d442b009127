"""Barcode and alias namespaces per partner: unique (owner_partner_id, gtin14) and
(owner_partner_id, scheme, code)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-23 22:40:00

A GTIN names a trade item, not its seller, and an alias code (a supplier's or a
marketplace's) may be the same for two sellers: two independent partners selling the
same item could not both register it, and the 409 told one that another held it. Like
SKUs (0014), both keys are now unique per owner partner. The tables get the product's
owner as a column (filled from products; a product's owner never changes), so the
database itself enforces "unique per owner" in the primary key, and lookups by the key
alone get their own index.

Downgrading restores the hub-wide rule, which data written since may break: then it
refuses, naming the keys several partners use, instead of failing half-way.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_LIMIT = 20


def _add_owner(table: str, key: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_partner_id", sa.Uuid(), nullable=True))
    op.execute(
        f"UPDATE {table} SET owner_partner_id = "
        f"(SELECT products.owner_partner_id FROM products WHERE products.id = {table}.product_id)"
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column("owner_partner_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_constraint(f"pk_{table}", type_="primary")
        batch_op.create_primary_key(f"pk_{table}", ["owner_partner_id", *key])
        batch_op.create_foreign_key(
            f"fk_{table}_owner_partner_id_partners", "partners", ["owner_partner_id"], ["id"]
        )
        batch_op.create_index(f"ix_{table}_{'_'.join(key)}", key, unique=False)


def upgrade() -> None:
    _add_owner("product_barcodes", ["gtin14"])
    _add_owner("product_aliases", ["scheme", "code"])


def _shared(table: str, key: list[str]) -> list[str]:
    cols = ", ".join(key)
    stmt = sa.text(
        f"SELECT {cols} FROM {table} GROUP BY {cols} HAVING COUNT(*) > 1 ORDER BY {cols} LIMIT :n"
    ).bindparams(n=_LIMIT)
    return [":".join(row) for row in op.get_bind().execute(stmt)]


def _drop_owner(table: str, key: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_index(f"ix_{table}_{'_'.join(key)}")
        batch_op.drop_constraint(f"fk_{table}_owner_partner_id_partners", type_="foreignkey")
        batch_op.drop_constraint(f"pk_{table}", type_="primary")
        batch_op.create_primary_key(f"pk_{table}", key)
        batch_op.drop_column("owner_partner_id")


def downgrade() -> None:
    problems = []
    for what, table, key in (
        ("barcodes", "product_barcodes", ["gtin14"]),
        ("aliases", "product_aliases", ["scheme", "code"]),
    ):
        shared = _shared(table, key)
        if shared:
            more = " (and more)" if len(shared) == _LIMIT else ""
            problems.append(f"{what} used by more than one partner: {', '.join(shared)}{more}")
    if problems:
        raise RuntimeError(
            "cannot downgrade below 0021: barcodes and aliases would be unique hub-wide again, but "
            + "; ".join(problems)
            + ". Remove all but one partner's barcode/alias of each (PATCH the product's barcodes, "
            "PUT its aliases), then downgrade again."
        )
    _drop_owner("product_barcodes", ["gtin14"])
    _drop_owner("product_aliases", ["scheme", "code"])
