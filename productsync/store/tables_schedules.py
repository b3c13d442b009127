"""Tables: scheduled jobs (leader-claimed) and feed runs.

Kept out of ``tables.py`` (one module per area); registered on the same ``metadata``,
which ``tables.py`` imports at its end so Alembic and the schema tests see them.

A schedule is one recurring job (a channel's file feed, pull feed or reconciliation),
kept in step with the channel's config by the scheduler. A process runs a due job only
after claiming its row (``SKIP LOCKED`` on PostgreSQL) and setting a lease on it; a
process that dies mid-run leaves a lease that runs out, and the job runs again.
``state`` holds what the next run needs (export cursors, the feed's ETag).

A feed run is one execution of a schedule: its counts, the rows it could not take
(line and reason) and its error; the channel's ``feed-runs`` list.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
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

schedules = Table(
    "schedules",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("channel_id", Uuid, ForeignKey("channels.id"), nullable=True, index=True),
    Column("every_seconds", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("next_run_at", UTCDateTime, nullable=False),
    Column("last_run_at", UTCDateTime, nullable=True),
    Column("last_status", String(16), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("running_since", UTCDateTime, nullable=True),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("runs", Integer, nullable=False),
    Column("state", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("every_seconds > 0", name="every_positive"),
    CheckConstraint("kind IN ('file_feed', 'pull_feed', 'reconcile')", name="kind_known"),
    Index("ix_schedules_due", "next_run_at"),
)

feed_runs = Table(
    "feed_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("schedule_id", Uuid, ForeignKey("schedules.id"), nullable=False),
    Column("channel_id", Uuid, ForeignKey("channels.id"), nullable=True),
    Column("kind", String(20), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("runner", String(100), nullable=False),
    Column("counts", JSON, nullable=False),
    Column("errors", JSON, nullable=False),  # rows not taken: [{"line", "reason"}], capped
    Column("error", Text, nullable=True),
    CheckConstraint("status IN ('running', 'succeeded', 'partial', 'failed')", name="status_known"),
    CheckConstraint("trigger IN ('scheduled', 'manual')", name="trigger_known"),
    Index("ix_feed_runs_channel", "channel_id", "started_at"),
    Index("ix_feed_runs_schedule", "schedule_id", "started_at"),
)
