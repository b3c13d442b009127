"""stock-write hot path: components looked up from bundle_components

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 18:20:00
"""

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
