"""stock-write hot path: no schema change

Reserved for the bundle-lookup fix, which needed none: the component index of
bundle_components exists since 0005, and the lookup now goes through it. Kept (as a
no-op) so the revision chain of databases that already ran it stays intact.

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
