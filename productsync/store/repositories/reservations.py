"""Reservations (the holds themselves live in ``stock_levels.reserved``)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row

from productsync.domain.reservations import Line, Reservation, ReservationStatus
from productsync.store.repositories.base import Repository
from productsync.store.repositories.log import JournalRepository
from productsync.store.tables import reservations

_R = reservations.c


def _reservation(row: Row[Any]) -> Reservation:
    return Reservation(
        id=row.id,
        partner_id=row.partner_id,
        channel_id=row.channel_id,
        external_ref=row.external_ref,
        status=ReservationStatus(row.status),
        expires_at=row.expires_at,
        lines=tuple(Line.from_json(raw) for raw in row.lines),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ReservationRepository(Repository):
    def __init__(self, conn: Any, journal: JournalRepository) -> None:
        super().__init__(conn)
        self.journal = journal

    def add(self, r: Reservation) -> None:
        """Written with the transaction's journal at commit (nothing reads it back before)."""
        self.journal.insert_at_commit(
            reservations,
            {
                "id": r.id,
                "partner_id": r.partner_id,
                "channel_id": r.channel_id,
                "external_ref": r.external_ref,
                "status": r.status.value,
                "expires_at": r.expires_at,
                "lines": [line.to_json() for line in r.lines],
                "version": r.version,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            },
        )

    async def save(self, r: Reservation) -> None:
        await self.conn.execute(
            update(reservations)
            .where(_R.id == r.id)
            .values(
                status=r.status.value, expires_at=r.expires_at, version=r.version, updated_at=r.updated_at
            )
        )

    async def get(self, reservation_id: uuid.UUID, *, for_update: bool = False) -> Reservation | None:
        stmt = select(reservations).where(_R.id == reservation_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _reservation(row) if row else None

    async def by_ref(self, external_ref: str, *, for_update: bool = False) -> list[Reservation]:
        stmt = select(reservations).where(_R.external_ref == external_ref).order_by(_R.created_at)
        if for_update:
            stmt = stmt.with_for_update()
        return [_reservation(r) for r in await self.conn.execute(stmt)]

    async def due(
        self, now: datetime, limit: int, *, exclude: Collection[uuid.UUID] = ()
    ) -> list[Reservation]:
        """Held past their time, locked; rows another process is handling are skipped, and
        so are ``exclude`` (the sweep's rows in backoff, so they are not read again)."""
        stmt = (
            select(reservations)
            .where(_R.status == ReservationStatus.HELD.value, _R.expires_at <= now)
            .order_by(_R.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if exclude:
            stmt = stmt.where(_R.id.not_in(list(exclude)))
        return [_reservation(r) for r in await self.conn.execute(stmt)]

    async def held(self) -> list[Reservation]:
        """Every live hold (the integrity check recomputes ``reserved`` from them)."""
        stmt = select(reservations).where(_R.status == ReservationStatus.HELD.value)
        return [_reservation(r) for r in await self.conn.execute(stmt)]
