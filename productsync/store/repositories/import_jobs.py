"""Import jobs: rows with a status, progress and the report."""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from productsync.store.repositories.base import Repository
from productsync.store.tables_jobs import import_jobs

J = import_jobs.c


class ImportJobRepository(Repository):
    async def add(self, row: dict[str, Any]) -> None:
        await self.conn.execute(insert(import_jobs).values(**row))

    async def get(self, job_id: uuid.UUID, owners: AbstractSet[uuid.UUID] | None) -> Row[Any] | None:
        stmt = select(import_jobs).where(J.id == job_id)
        if owners is not None:
            stmt = stmt.where(J.partner_id.in_(owners))
        return (await self.conn.execute(stmt)).first()

    async def change(self, job_id: uuid.UUID, **values: Any) -> None:
        await self.conn.execute(update(import_jobs).where(J.id == job_id).values(**values))

    async def fail_abandoned(self, before: datetime, now: datetime) -> int:
        """Jobs still queued or running whose process stopped beating before ``before``."""
        result = await self.conn.execute(
            update(import_jobs)
            .where(J.status.in_(("queued", "running")), J.heartbeat_at < before)
            .values(status="failed", error="the process running this import stopped", finished_at=now)
        )
        return int(result.rowcount or 0)
