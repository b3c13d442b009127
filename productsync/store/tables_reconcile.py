"""Tables: reconciliation reports, per-SKU findings and consistency history.

Kept out of ``tables.py`` (one module per area); registered on the same ``metadata``,
which ``tables.py`` imports at its end so Alembic and the schema tests see them.

A run is one comparison of a channel with the hub (its counts and consistency rate);
the runs of a channel are its consistency history. Findings are the per-SKU report,
written in bulk when the run finishes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
)

from productsync.store.tables import metadata
from productsync.store.types import UTCDateTime

reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("channel_id", Uuid, ForeignKey("channels.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("repair", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("expected", Integer, nullable=False, default=0),
    Column("matched", Integer, nullable=False, default=0),
    Column("items_read", Integer, nullable=False, default=0),
    Column("consistency_rate", Float, nullable=True),
    Column("counts", JSON, nullable=False),  # findings per kind
    Column("repaired", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_by", String(100), nullable=True),
    CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status_known"),
    CheckConstraint("trigger IN ('on_demand', 'scheduled')", name="trigger_known"),
    Index("ix_reconciliation_runs_channel", "channel_id", "started_at"),
)

reconciliation_findings = Table(
    "reconciliation_findings",
    metadata,
    Column("run_id", Uuid, ForeignKey("reconciliation_runs.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("sku", String(200), nullable=True),
    Column("product_id", Uuid, nullable=True),
    Column("external_id", String(200), nullable=True),
    Column("hub_value", Text, nullable=True),
    Column("channel_value", Text, nullable=True),
    Index("ix_reconciliation_findings_kind", "run_id", "kind", "seq"),
)
