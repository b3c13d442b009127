"""oversells are listed oldest first: index (status, created_at, id) replaces (status, id)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 10:00:00
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # GET /v1/oversells pages by (created_at, id); ids are random uuid4, so (status, id)
    # served an order nobody asked for.
    with op.batch_alter_table("oversells", schema=None) as batch_op:
        batch_op.drop_index("ix_oversells_status")
        batch_op.create_index("ix_oversells_status_created", ["status", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oversells", schema=None) as batch_op:
        batch_op.drop_index("ix_oversells_status_created")
        batch_op.create_index("ix_oversells_status", ["status", "id"], unique=False)
