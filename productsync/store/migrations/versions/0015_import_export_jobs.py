"""import and export jobs

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 21:15:00
"""

from alembic import op  # noqa: F401 - placeholder reserved by the issue-11 plan; filled in by its owner

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
