"""audit records carry the product (and price list or location) they concern

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Which half of a pair id is the product and which the scope (price list, location):
# prices are recorded as "<price list>:<product>", stock as "<product>:<location>".
_PAIRS = {"product_prices": (2, 1), "stock_level": (1, 2)}


def _part(n: int, dialect: str) -> str:
    """SQL for half ``n`` (1 or 2) of ``entity_id`` as the dialect stores a Uuid."""
    if dialect == "postgresql":
        return f"CAST(split_part(entity_id, ':', {n}) AS uuid)"
    # SQLite keeps a Uuid as 32 lowercase hex digits.
    half = (
        "substr(entity_id, 1, instr(entity_id, ':') - 1)"
        if n == 1
        else "substr(entity_id, instr(entity_id, ':') + 1)"
    )
    return f"lower(replace({half}, '-', ''))"


def _backfill(dialect: str) -> None:
    # Only well-formed ids: anything else keeps NULL and is still found by entity_id.
    if dialect == "postgresql":
        uuid_re = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
        whole = f"entity_id ~ '^{uuid_re}$'"
        pair = f"entity_id ~ '^{uuid_re}:{uuid_re}$'"
        product = "CAST(entity_id AS uuid)"
    else:
        whole = "length(entity_id) = 36 AND instr(entity_id, ':') = 0"
        pair = "length(entity_id) = 73 AND instr(entity_id, ':') = 37"
        product = "lower(replace(entity_id, '-', ''))"
    op.execute(f"UPDATE audit_log SET product_id = {product} WHERE entity_type = 'product' AND {whole}")
    for entity_type, (product_part, scope_part) in _PAIRS.items():
        op.execute(
            f"UPDATE audit_log SET product_id = {_part(product_part, dialect)},"
            f" scope_id = {_part(scope_part, dialect)}"
            f" WHERE entity_type = '{entity_type}' AND {pair}"
        )


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("scope_id", sa.Uuid(), nullable=True))
    _backfill(op.get_bind().dialect.name)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entity_id", ["entity_id", "id"], unique=False)
        batch_op.create_index("ix_audit_product", ["product_id", "id"], unique=False)
        batch_op.create_index("ix_audit_scope", ["scope_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_scope")
        batch_op.drop_index("ix_audit_product")
        batch_op.drop_index("ix_audit_entity_id")
        batch_op.drop_column("scope_id")
        batch_op.drop_column("product_id")
