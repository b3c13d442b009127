"""oversells: channel sales recorded beyond the stock the hub had

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 18:20:00
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
