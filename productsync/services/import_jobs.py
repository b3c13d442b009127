"""Imports over HTTP: a job row per upload, run as a task of the receiving process.

The import itself is ``services.imports.run_import`` (one transaction). While it runs,
its progress lives in this process (``LIVE``) and, on PostgreSQL, is written to the
job row every few seconds with a heartbeat (SQLite has one writer, which the import
holds: the row is written when it ends). A process that starts marks the jobs whose
heartbeat stopped as failed, so no job stays ``running`` forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from productsync.domain.access import Actor
from productsync.domain.errors import DomainError, Forbidden, NotFound
from productsync.domain.imports import ImportKind
from productsync.services.imports import ImportOptions, required_scope, run_import
from productsync.store.database import Database
from productsync.store.repositories.import_jobs import ImportJobRepository
from productsync.store.uow import UnitOfWork, transaction

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
ABANDONED_AFTER = timedelta(minutes=2)


@dataclass
class LiveProgress:
    rows: int = 0
    bytes_read: int = 0


LIVE: dict[uuid.UUID, LiveProgress] = {}  # jobs running in this process


def _jobs(uow: UnitOfWork) -> ImportJobRepository:
    return ImportJobRepository(uow.products.conn)


async def create_job(
    uow: UnitOfWork,
    actor: Actor,
    *,
    job_id: uuid.UUID,
    kind: ImportKind,
    options: ImportOptions,
    file_name: str | None,
    total_bytes: int,
) -> dict[str, Any]:
    """A queued job for an upload the caller may import (the kind's write scope)."""
    scope = required_scope(kind)
    if not actor.has(scope):
        raise Forbidden(f"this key lacks the {scope.value} scope", scope=scope.value)
    row = {
        "id": job_id,
        "partner_id": actor.partner_id,
        "key_id": actor.key_id,
        "kind": kind.value,
        "format": options.fmt.value if options.fmt else "csv",
        "error_policy": options.error_policy.value,
        "dry_run": options.dry_run,
        "options": {
            k: v
            for k, v in {
                "partner": options.partner,
                "location": options.location,
                "price_list": options.price_list,
                "category": options.category,
            }.items()
            if v is not None
        },
        "file_name": file_name,
        "status": "queued",
        "rows": 0,
        "bytes_read": 0,
        "total_bytes": total_bytes,
        "rejected": 0,
        "report": None,
        "error": None,
        "created_at": uow.now,
        "heartbeat_at": uow.now,
    }
    await _jobs(uow).add(row)
    return row


async def get_job(uow: UnitOfWork, actor: Actor, job_id: uuid.UUID) -> dict[str, Any]:
    """A job the caller may see: its own partner's (an admin sees all)."""
    owners = None if actor.is_admin else frozenset({actor.partner_id} if actor.partner_id else set())
    row = await _jobs(uow).get(job_id, owners)
    if row is None:
        raise NotFound("import", job_id)
    job = dict(row._mapping)
    live = LIVE.get(job_id)
    if live is not None and job["status"] in ("queued", "running"):
        job.update(status="running", **asdict(live))
    return job


async def fail_abandoned(db: Database) -> int:
    """Mark failed the jobs whose process died (on SQLite every unfinished one: a single
    process runs them, and it is the one starting)."""

    async def use_case(uow: UnitOfWork) -> int:
        before = uow.now if db.is_sqlite else uow.now - ABANDONED_AFTER
        return await _jobs(uow).fail_abandoned(before, uow.now)

    return await transaction(db, use_case)


async def _set(db: Database, job_id: uuid.UUID, **values: Any) -> None:
    async def use_case(uow: UnitOfWork) -> None:
        await _jobs(uow).change(job_id, heartbeat_at=uow.now, **values)

    await transaction(db, use_case)


async def run_job(
    db: Database,
    actor: Actor,
    job_id: uuid.UUID,
    upload: Path,
    options: ImportOptions,
    *,
    request_id: str | None = None,
) -> None:
    """Run one job to its end; never raises (a failure is the job's status)."""
    live = LIVE.setdefault(job_id, LiveProgress())
    beat = time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    def progress(rows: int, read: int) -> None:
        nonlocal beat
        live.rows, live.bytes_read = rows, read
        if not db.is_sqlite and time.monotonic() - beat > HEARTBEAT_SECONDS:
            beat = time.monotonic()
            task = asyncio.create_task(_set(db, job_id, rows=rows, bytes_read=read))
            pending.add(task)
            task.add_done_callback(pending.discard)

    try:
        await _set(db, job_id, status="running", started_at=_now())
        report = await run_import(db, actor, upload, options, progress=progress, request_id=request_id)
        for task in list(pending):
            await task
        snapshot = report.snapshot()
        await _set(
            db,
            job_id,
            status="succeeded",
            rows=report.rows,
            bytes_read=report.bytes_read,
            rejected=report.rejected,
            report=snapshot,
            finished_at=_now(),
            kind=report.kind.value,
        )
    except DomainError as exc:
        await _set(db, job_id, status="failed", error=exc.detail[:1000], finished_at=_now())
    except Exception as exc:  # noqa: BLE001 - a job's failure is recorded, never lost
        log.exception("import job %s failed", job_id)
        await _set(
            db, job_id, status="failed", error=f"internal error: {type(exc).__name__}", finished_at=_now()
        )
    finally:
        LIVE.pop(job_id, None)
        upload.unlink(missing_ok=True)


def _now() -> datetime:
    return datetime.now(UTC)
