"""payment records for payments-against-sales reconciliation

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23 21:15:00
"""

from alembic import op  # noqa: F401 - placeholder reserved by the issue-11 plan; filled in by its owner

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
