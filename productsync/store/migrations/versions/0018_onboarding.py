"""channel onboarding proposals

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 21:15:00
"""

import sqlalchemy as sa
from alembic import op

import productsync.store.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "onboarding_proposals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("items_read", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("alias_schemes", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", productsync.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", productsync.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'applied', 'discarded')",
            name=op.f("ck_onboarding_proposals_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_onboarding_proposals_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_proposals")),
    )
    with op.batch_alter_table("onboarding_proposals", schema=None) as batch_op:
        batch_op.create_index("ix_onboarding_proposals_channel", ["channel_id", "created_at"], unique=False)
    op.create_table(
        "onboarding_rows",
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("rule", sa.String(length=16), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("item", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["onboarding_proposals.id"],
            name=op.f("fk_onboarding_rows_proposal_id_onboarding_proposals"),
        ),
        sa.PrimaryKeyConstraint("proposal_id", "seq", name=op.f("pk_onboarding_rows")),
    )
    with op.batch_alter_table("onboarding_rows", schema=None) as batch_op:
        batch_op.create_index("ix_onboarding_rows_status", ["proposal_id", "status", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("onboarding_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_onboarding_rows_status")
    op.drop_table("onboarding_rows")
    with op.batch_alter_table("onboarding_proposals", schema=None) as batch_op:
        batch_op.drop_index("ix_onboarding_proposals_channel")
    op.drop_table("onboarding_proposals")
