"""Inbound receipts (once per external event id) and the conflict review queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from productsync.store.repositories.base import Repository
from productsync.store.tables import conflicts, inbound_receipts

_R = inbound_receipts.c
_C = conflicts.c


class ReceiptRepository(Repository):
    async def claim(self, source: str, event_id: str, now: datetime) -> tuple[int, dict[str, Any]] | None:
        """Take an event id for this transaction; returns the first answer when it was
        taken before. On PostgreSQL a concurrent twin waits here until the first commits
        (and then gets its answer) or rolls back (and then takes the id itself)."""
        stmt = self.insert_ignore(
            inbound_receipts,
            {"source": source, "event_id": event_id, "status_code": 0, "response": {}, "created_at": now},
        )
        if (await self.conn.execute(stmt)).rowcount == 1:
            return None
        row = (
            await self.conn.execute(
                select(_R.status_code, _R.response).where(_R.source == source, _R.event_id == event_id)
            )
        ).one()
        return int(row.status_code), dict(row.response)

    async def get(self, source: str, event_id: str) -> tuple[int, dict[str, Any]] | None:
        stmt = select(_R.status_code, _R.response).where(_R.source == source, _R.event_id == event_id)
        row = (await self.conn.execute(stmt)).first()
        return (int(row.status_code), dict(row.response)) if row else None

    async def settle(self, source: str, event_id: str, status_code: int, response: dict[str, Any]) -> None:
        await self.conn.execute(
            update(inbound_receipts)
            .where(_R.source == source, _R.event_id == event_id)
            .values(status_code=status_code, response=response)
        )


class ConflictRepository(Repository):
    async def add(self, row: dict[str, Any]) -> None:
        await self.conn.execute(conflicts.insert().values(**row))

    async def get(self, conflict_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        stmt = select(conflicts).where(_C.id == conflict_id)
        if for_update and self.is_postgres:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return dict(row._mapping) if row else None

    async def find(
        self,
        *,
        owners: set[uuid.UUID | None] | set[uuid.UUID] | None,
        status: str | None,
        channel_id: uuid.UUID | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        stmt = select(conflicts).order_by(_C.id).limit(limit)
        if owners is not None:
            stmt = stmt.where(_C.owner_partner_id.in_(owners))
        if status:
            stmt = stmt.where(_C.status == status)
        if channel_id:
            stmt = stmt.where(_C.channel_id == channel_id)
        if after:
            stmt = stmt.where(_C.id > after)
        return [dict(r._mapping) for r in await self.conn.execute(stmt)]

    async def resolve(self, conflict_id: uuid.UUID, resolution: str, value: Any, now: datetime) -> None:
        await self.conn.execute(
            update(conflicts)
            .where(_C.id == conflict_id)
            .values(status="resolved", resolution=resolution, resolved_value=value, resolved_at=now)
        )
