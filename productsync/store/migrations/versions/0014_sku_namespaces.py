"""SKU namespaces per partner: unique (owner_partner_id, sku)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 21:15:00
"""

from alembic import op  # noqa: F401 - placeholder reserved by the issue-11 plan; filled in by its owner

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
