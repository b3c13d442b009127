"""Tables: channel onboarding proposals (matched, ambiguous, unmatched).

Kept out of ``tables.py`` (one module per area); registered on the same ``metadata``,
which ``tables.py`` imports at its end so Alembic and the schema tests see them.

A proposal is what one read of a channel's catalog proposed (its counts); its rows are
the report, one per channel item or unmatched hub product, kept so the caller can page
through them and apply exactly what was shown (not a new read's different answer).
"""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text, Uuid

from productsync.store.tables import metadata
from productsync.store.types import UTCDateTime

onboarding_proposals = Table(
    "onboarding_proposals",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("channel_id", Uuid, ForeignKey("channels.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("items_read", Integer, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("alias_schemes", JSON, nullable=True),
    Column("created_by", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),  # applied or discarded
    Column("result", JSON, nullable=True),  # what applying did
    CheckConstraint("status IN ('proposed', 'applied', 'discarded')", name="status_known"),
    Index("ix_onboarding_proposals_channel", "channel_id", "created_at"),
)

onboarding_rows = Table(
    "onboarding_rows",
    metadata,
    Column("proposal_id", Uuid, ForeignKey("onboarding_proposals.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("status", String(24), nullable=False),
    Column("external_id", String(200), nullable=True),
    Column("product_id", Uuid, nullable=True),
    Column("rule", String(16), nullable=True),
    Column("candidates", JSON, nullable=False),
    Column("reason", Text, nullable=True),
    Column("item", JSON, nullable=True),  # the channel item as read (for creating products)
    Index("ix_onboarding_rows_status", "proposal_id", "status", "seq"),
)
