"""Lots inside stock levels. Every quantity change is a conditional update, like levels."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Row

from productsync.domain.lots import Lot
from productsync.store.repositories.base import Repository
from productsync.store.tables import lots, products, stock_movements
from productsync.store.types import Quantity

_T = lots.c
_Q = Quantity()


def _lot(row: Row[Any]) -> Lot:
    return Lot(
        id=row.id,
        product_id=row.product_id,
        location_id=row.location_id,
        lot_number=row.lot_number,
        expires_on=row.expires_on,
        quantity=row.quantity,
        reserved=row.reserved,
    )


class LotRepository(Repository):
    async def for_products(
        self, product_ids: set[uuid.UUID], *, for_update: bool = False
    ) -> dict[tuple[uuid.UUID, uuid.UUID], list[Lot]]:
        """Lots with stock, per level. Locked in the global order when asked."""
        out: dict[tuple[uuid.UUID, uuid.UUID], list[Lot]] = {}
        if not product_ids:
            return out
        stmt = (
            select(lots)
            .where(_T.product_id.in_(product_ids), _T.quantity > 0)
            .order_by(_T.product_id, _T.location_id, _T.id)
        )
        if for_update:
            stmt = stmt.with_for_update()
        for r in await self.conn.execute(stmt):
            out.setdefault((r.product_id, r.location_id), []).append(_lot(r))
        return out

    async def for_level(self, product_id: uuid.UUID, location_id: uuid.UUID) -> list[Lot]:
        """One level's lots, locked (the level row is already ours: level, then its lots)."""
        stmt = (
            select(lots)
            .where(_T.product_id == product_id, _T.location_id == location_id, _T.quantity > 0)
            .order_by(_T.id)
            .with_for_update()
        )
        return [_lot(r) for r in await self.conn.execute(stmt)]

    async def get(self, lot_id: uuid.UUID) -> Lot | None:
        row = (await self.conn.execute(select(lots).where(_T.id == lot_id))).first()
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

    async def find(
        self,
        *,
        owners: set[uuid.UUID] | None,
        expiring_before: date | None,
        product_id: uuid.UUID | None = None,
        location_id: uuid.UUID | None = None,
        limit: int = 500,
    ) -> list[Lot]:
        stmt = select(lots).join(products, products.c.id == _T.product_id).where(_T.quantity > 0)
        if owners is not None:
            stmt = stmt.where(products.c.owner_partner_id.in_(owners))
        if expiring_before is not None:
            stmt = stmt.where(_T.expires_on < expiring_before)
        if product_id is not None:
            stmt = stmt.where(_T.product_id == product_id)
        if location_id is not None:
            stmt = stmt.where(_T.location_id == location_id)
        stmt = stmt.order_by(_T.expires_on, _T.lot_number, _T.id).limit(limit)
        return [_lot(r) for r in await self.conn.execute(stmt)]

    async def expired_free(self, today: date, limit: int) -> list[Lot]:
        """Expired lots with unheld stock to write off; rows another process has are skipped."""
        stmt = (
            select(lots)
            .where(_T.expires_on <= today, _T.quantity - _T.reserved > 0)
            .order_by(_T.product_id, _T.location_id, _T.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_lot(r) for r in await self.conn.execute(stmt)]

    async def near_expiry_unannounced(self, before: date, limit: int) -> list[Lot]:
        stmt = (
            select(lots)
            .where(_T.expires_on < before, _T.quantity > 0, _T.near_expiry_announced.is_(False))
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
        stmt = select(lots).where(_T.reserved != 0)
        if also:
            stmt = select(lots).where((_T.reserved != 0) | _T.id.in_(also))
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
