"""Lots inside stock levels. Every quantity change is a conditional update, like levels."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from collections.abc import Set as AbstractSet
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, insert, or_, select, update
from sqlalchemy.engine import Row

from productsync.domain.lots import DEFAULT_TIME_ZONE, Lot, local_date
from productsync.store.repositories.base import Repository
from productsync.store.tables import locations, lots, products, stock_movements
from productsync.store.types import Quantity

_T = lots.c
_Q = Quantity()
# The lot's location's time zone rides along with every read that decides expiry. A
# column subquery, not a join: FOR UPDATE then locks the lot rows only, never locations.
_ZONE = (
    select(locations.c.time_zone).where(locations.c.id == _T.location_id).scalar_subquery().label("time_zone")
)
_LOTS = select(lots, _ZONE)


def _lot(row: Row[Any]) -> Lot:
    """A lot; rows written back by RETURNING carry no zone (nothing reads expiry off them)."""
    return Lot(
        id=row.id,
        product_id=row.product_id,
        location_id=row.location_id,
        lot_number=row.lot_number,
        expires_on=row.expires_on,
        quantity=row.quantity,
        reserved=row.reserved,
        time_zone=row._mapping.get("time_zone") or DEFAULT_TIME_ZONE,
    )


class LotRepository(Repository):
    async def for_products(
        self, product_ids: set[uuid.UUID], *, for_update: bool = False
    ) -> dict[tuple[uuid.UUID, uuid.UUID], list[Lot]]:
        """Lots with stock, per level. Locked in the global order when asked."""
        out: dict[tuple[uuid.UUID, uuid.UUID], list[Lot]] = {}
        if not product_ids:
            return out
        stmt = _LOTS.where(_T.product_id.in_(product_ids), _T.quantity > 0).order_by(
            _T.product_id, _T.location_id, _T.id
        )
        if for_update:
            stmt = stmt.with_for_update()
        for r in await self.conn.execute(stmt):
            out.setdefault((r.product_id, r.location_id), []).append(_lot(r))
        return out

    async def for_level(self, product_id: uuid.UUID, location_id: uuid.UUID) -> list[Lot]:
        """One level's lots, locked (the level row is already ours: level, then its lots)."""
        stmt = (
            _LOTS.where(_T.product_id == product_id, _T.location_id == location_id, _T.quantity > 0)
            .order_by(_T.id)
            .with_for_update()
        )
        return [_lot(r) for r in await self.conn.execute(stmt)]

    async def get(self, lot_id: uuid.UUID) -> Lot | None:
        row = (await self.conn.execute(_LOTS.where(_T.id == lot_id))).first()
        return _lot(row) if row else None

    async def receive(
        self,
        product_id: uuid.UUID,
        location_id: uuid.UUID,
        lot_number: str,
        expires_on: date,
        quantity: Decimal,
        now: datetime,
    ) -> Lot | None:
        """Add to the lot (creating it); None when the lot exists with another expiry."""
        stmt = (
            update(lots)
            .where(
                _T.product_id == product_id,
                _T.location_id == location_id,
                _T.lot_number == lot_number,
                _T.expires_on == expires_on,
            )
            .values(quantity=_T.quantity + quantity, updated_at=now)
            .returning(*lots.c)
        )
        row = (await self.conn.execute(stmt)).first()
        if row is not None:
            return _lot(row)
        clash = await self.conn.execute(
            select(_T.id).where(
                _T.product_id == product_id, _T.location_id == location_id, _T.lot_number == lot_number
            )
        )
        if clash.first() is not None:
            return None
        lot_id = uuid.uuid4()
        await self.conn.execute(
            insert(lots).values(
                id=lot_id,
                product_id=product_id,
                location_id=location_id,
                lot_number=lot_number,
                expires_on=expires_on,
                quantity=quantity,
                reserved=Decimal(0),
                near_expiry_announced=False,
                created_at=now,
                updated_at=now,
            )
        )
        return Lot(lot_id, product_id, location_id, lot_number, expires_on, quantity, Decimal(0))

    async def _change(self, lot_id: uuid.UUID, condition: Any, now: datetime, **values: Any) -> Lot | None:
        stmt = (
            update(lots).where(_T.id == lot_id, condition).values(**values, updated_at=now).returning(*lots.c)
        )
        row = (await self.conn.execute(stmt)).first()
        return _lot(row) if row else None

    async def hold(self, lot_id: uuid.UUID, q: Decimal, now: datetime) -> Lot | None:
        return await self._change(lot_id, _T.quantity - _T.reserved >= q, now, reserved=_T.reserved + q)

    async def unhold(self, lot_id: uuid.UUID, q: Decimal, now: datetime) -> Lot | None:
        return await self._change(lot_id, _T.reserved >= q, now, reserved=_T.reserved - q)

    async def sell_held(self, lot_id: uuid.UUID, q: Decimal, now: datetime) -> Lot | None:
        return await self._change(
            lot_id,
            and_(_T.reserved >= q, _T.quantity >= q),
            now,
            reserved=_T.reserved - q,
            quantity=_T.quantity - q,
        )

    async def take(self, lot_id: uuid.UUID, q: Decimal, now: datetime) -> Lot | None:
        """Remove free (unheld) stock from the lot."""
        return await self._change(lot_id, _T.quantity - _T.reserved >= q, now, quantity=_T.quantity - q)

    async def _expiring_within(self, now: datetime, days: int) -> ColumnElement[bool]:
        """Lots that expire within ``days`` whole local days after today where they are
        stocked (days=0: already expired; 1: expired or in their last day). The zones
        are few: one condition per local date they have at ``now``."""
        zones = (await self.conn.execute(select(locations.c.time_zone).distinct())).scalars().all()
        by_date: dict[date, list[str]] = {}
        for zone in zones:
            by_date.setdefault(local_date(now, zone), []).append(zone)
        if not by_date:
            return false()
        return or_(
            *(
                and_(
                    _T.location_id.in_(select(locations.c.id).where(locations.c.time_zone.in_(names))),
                    _T.expires_on < today + timedelta(days=days),
                )
                for today, names in sorted(by_date.items())
            )
        )

    async def find(
        self,
        *,
        owners: AbstractSet[uuid.UUID] | None,
        now: datetime,
        expiring_within_days: int | None,
        product_id: uuid.UUID | None = None,
        location_id: uuid.UUID | None = None,
        limit: int = 500,
    ) -> list[Lot]:
        """Lots with stock; with ``expiring_within_days`` N, those whose expiry date is at
        most N days after today at their location (the expired ones too)."""
        stmt = _LOTS.join(products, products.c.id == _T.product_id).where(_T.quantity > 0)
        if owners is not None:
            stmt = stmt.where(products.c.owner_partner_id.in_(owners))
        if expiring_within_days is not None:
            stmt = stmt.where(await self._expiring_within(now, expiring_within_days + 1))
        if product_id is not None:
            stmt = stmt.where(_T.product_id == product_id)
        if location_id is not None:
            stmt = stmt.where(_T.location_id == location_id)
        stmt = stmt.order_by(_T.expires_on, _T.lot_number, _T.id).limit(limit)
        return [_lot(r) for r in await self.conn.execute(stmt)]

    async def expired_free(
        self, now: datetime, limit: int, *, exclude: Collection[uuid.UUID] = ()
    ) -> list[Lot]:
        """Lots expired at ``now`` (in their location's zone) with unheld stock to write off;
        rows another process has are skipped, and so are ``exclude`` (the sweep's rows in
        backoff, so they are not read again)."""
        stmt = (
            _LOTS.where(await self._expiring_within(now, 0), _T.quantity - _T.reserved > 0)
            .order_by(_T.product_id, _T.location_id, _T.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if exclude:
            stmt = stmt.where(_T.id.not_in(list(exclude)))
        return [_lot(r) for r in await self.conn.execute(stmt)]

    async def near_expiry_unannounced(self, now: datetime, within_days: int, limit: int) -> list[Lot]:
        """Lots with stock expiring within ``within_days`` local days, not yet announced."""
        stmt = (
            _LOTS.where(
                await self._expiring_within(now, within_days),
                _T.quantity > 0,
                _T.near_expiry_announced.is_(False),
            )
            .order_by(_T.expires_on)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_lot(r) for r in await self.conn.execute(stmt)]

    async def mark_announced(self, lot_ids: list[uuid.UUID]) -> None:
        if lot_ids:
            await self.conn.execute(update(lots).where(_T.id.in_(lot_ids)).values(near_expiry_announced=True))

    async def reserved_lots(self, also: set[uuid.UUID]) -> list[Lot]:
        """Lots that hold something, plus the named ones (to compare with live holds)."""
        stmt = _LOTS.where(_T.reserved != 0)
        if also:
            stmt = _LOTS.where((_T.reserved != 0) | _T.id.in_(also))
        return [_lot(r) for r in await self.conn.execute(stmt)]

    async def drift(self) -> list[dict[str, Any]]:
        """Lots whose quantity differs from the sum of their ledger rows."""
        sums = (
            select(stock_movements.c.lot_id, func.sum(stock_movements.c.quantity).label("ledger"))
            .where(stock_movements.c.lot_id.is_not(None))
            .group_by(stock_movements.c.lot_id)
            .subquery()
        )
        stmt = select(lots, sums.c.ledger).outerjoin(sums, sums.c.lot_id == _T.id)
        out = []
        for r in await self.conn.execute(stmt):
            ledger = r.ledger if r.ledger is not None else Decimal(0)
            if ledger != r.quantity:
                out.append(
                    {
                        "lot_id": r.id,
                        "product_id": r.product_id,
                        "location_id": r.location_id,
                        "recorded": r.quantity,
                        "recomputed": ledger,
                    }
                )
        return out
