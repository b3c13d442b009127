"""Tables: import and export jobs.

Kept out of ``tables.py`` (one module per area); registered on the same ``metadata``,
which ``tables.py`` imports at its end so Alembic and the schema tests see them.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, Table, Uuid

from productsync.store.tables import metadata
from productsync.store.types import UTCDateTime

# An upload being imported: status queued|running|succeeded|failed, progress (rows, bytes
# of total), the report. ``heartbeat_at`` moves while it runs, so a job whose process
# died is recognisable (marked failed when a process starts).
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("partner_id", Uuid, nullable=True),
    Column("key_id", Uuid, nullable=True),
    Column("kind", String(20), nullable=True),
    Column("format", String(10), nullable=False),
    Column("error_policy", String(20), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("options", JSON, nullable=False),
    Column("file_name", String(300), nullable=True),
    Column("status", String(16), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("bytes_read", BigInteger, nullable=False),
    Column("total_bytes", BigInteger, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("report", JSON, nullable=True),
    Column("error", String(1000), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("heartbeat_at", UTCDateTime, nullable=True),
    Index("ix_import_jobs_status", "status", "heartbeat_at"),
    Index("ix_import_jobs_partner", "partner_id", "created_at"),
)
