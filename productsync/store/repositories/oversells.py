"""Oversells: the part of a recorded channel sale the hub had no stock for."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Row

from productsync.domain.oversells import Oversell, OversellResolution, OversellStatus
from productsync.store.repositories.base import Repository
from productsync.store.tables import oversells

_O = oversells.c


def _oversell(row: Row[Any]) -> Oversell:
    values = dict(row._mapping)
    values["status"] = OversellStatus(values["status"])
    if values["resolution"] is not None:
        values["resolution"] = OversellResolution(values["resolution"])
    return Oversell(**values)


class OversellRepository(Repository):
    async def add(self, oversell: Oversell) -> None:
        """A second oversell for the same source event fails on the unique key (the
        inbound receipt normally answers a repeat long before this)."""
        row = {
            k: (v.value if k in ("status", "resolution") and v is not None else v)
            for k, v in asdict(oversell).items()
        }
        await self.conn.execute(insert(oversells).values(**row))

    async def get(self, oversell_id: uuid.UUID, *, for_update: bool = False) -> Oversell | None:
        stmt = select(oversells).where(_O.id == oversell_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _oversell(row) if row else None

    async def find(
        self,
        *,
        owners: frozenset[uuid.UUID] | None,
        status: OversellStatus | None,
        channel_id: uuid.UUID | None,
        product_id: uuid.UUID | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Oversell]:
        """Oldest first: ordered and paged by (created_at, id) (ids are random, so the id
        alone only breaks ties); ``after`` is the last (created_at, id) of the page before.
        ``owners`` None: every partner's; otherwise those partners' products only."""
        stmt = select(oversells).order_by(_O.created_at, _O.id).limit(limit)
        if owners is not None:
            stmt = stmt.where(_O.owner_partner_id.in_(owners))
        if status is not None:
            stmt = stmt.where(_O.status == status.value)
        if channel_id is not None:
            stmt = stmt.where(_O.channel_id == channel_id)
        if product_id is not None:
            stmt = stmt.where(_O.product_id == product_id)
        if after is not None:
            at, last_id = after
            stmt = stmt.where(or_(_O.created_at > at, and_(_O.created_at == at, _O.id > last_id)))
        return [_oversell(r) for r in await self.conn.execute(stmt)]

    async def resolve(
        self,
        oversell_id: uuid.UUID,
        *,
        resolution: OversellResolution,
        note: str | None,
        substitute_product_id: uuid.UUID | None,
        now: datetime,
        by: str,
    ) -> bool:
        """Close an open oversell; False when it was not open any more."""
        result = await self.conn.execute(
            update(oversells)
            .where(_O.id == oversell_id, _O.status == OversellStatus.OPEN.value)
            .values(
                status=OversellStatus.RESOLVED.value,
                resolution=resolution.value,
                note=note,
                substitute_product_id=substitute_product_id,
                resolved_at=now,
                resolved_by=by,
            )
        )
        return bool(result.rowcount == 1)

    async def open_totals(
        self, *, owners: frozenset[uuid.UUID] | None, location_id: uuid.UUID | None = None
    ) -> tuple[int, Decimal]:
        """How many oversells are open and how much they lack in total."""
        stmt = select(func.count(), func.sum(_O.quantity)).where(_O.status == OversellStatus.OPEN.value)
        if owners is not None:
            stmt = stmt.where(_O.owner_partner_id.in_(owners))
        if location_id is not None:
            stmt = stmt.where(_O.location_id == location_id)
        count, total = (await self.conn.execute(stmt)).one()
        return int(count or 0), Decimal(total) if total is not None else Decimal(0)
