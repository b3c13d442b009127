"""channel onboarding proposals

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 21:15:00
"""

from alembic import op  # noqa: F401 - placeholder reserved by the issue-11 plan; filled in by its owner

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
