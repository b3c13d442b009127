"""Stock levels and the movement ledger.

The hot path (adjust by delta) is one conditional UPDATE … RETURNING: the row
lock is held only from that statement to commit, and the "never negative" rule
is part of the WHERE clause, so no read-then-write race can exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Uuid, bindparam, case, func, insert, or_, select, text, true, update
from sqlalchemy.engine import Row

from productsync.domain.access import Actor
from productsync.domain.catalog import Product, ProductKind, ProductStatus
from productsync.domain.inventory import CountAccuracy, Location, Movement, StockLevel
from productsync.domain.quantities import MAX_QUANTITY
from productsync.domain.reservations import Hold
from productsync.store.repositories.base import Repository
from productsync.store.repositories.catalog import (
    TARGET_BY_ID,
    TARGET_BY_OWNED_SKU,
    TARGET_BY_SKU,
    ProductRepository,
)
from productsync.store.repositories.log import JournalRepository
from productsync.store.tables import locations, lots, products, stock_levels, stock_movements
from productsync.store.types import Quantity, UTCDateTime, scaled


def _level(row: Row[Any]) -> StockLevel:
    return StockLevel(
        product_id=row.product_id,
        location_id=row.location_id,
        on_hand=row.on_hand,
        reserved=row.reserved,
        safety_stock=row.safety_stock,
        version=row.version,
        updated_at=row.updated_at,
    )


_L = stock_levels.c

# Hot-path statements are built once: constructing and cache-keying a statement
# per call costs more CPU than executing it.
_DELTA_RULES = (
    _L.on_hand + bindparam("b_delta", type_=Quantity()) >= 0,
    _L.on_hand + bindparam("b_delta", type_=Quantity()) <= bindparam("b_max", type_=Quantity()),
    # A sale may not take stock that reservations hold (b_held is 1 for sales, else 0).
    # Typed Integer: untyped, it would take Quantity's scaling from ``reserved`` (x1000).
    _L.on_hand + bindparam("b_delta", type_=Quantity()) >= _L.reserved * bindparam("b_held", type_=Integer()),
)
_DELTA_VALUES = {
    "on_hand": _L.on_hand + bindparam("b_delta", type_=Quantity()),
    "version": _L.version + 1,
    "updated_at": bindparam("b_now", type_=UTCDateTime()),
}
_APPLY_DELTA = (
    update(stock_levels)
    .where(_L.product_id == bindparam("b_product"), _L.location_id == bindparam("b_location"), *_DELTA_RULES)
    .values(_DELTA_VALUES)
    .returning(*stock_levels.c)
)


def _apply_at_target(target_read: Any) -> Any:
    """The target read (product + location) and the conditional level change in one
    statement (PostgreSQL): the product's row is not needed to decide the change, only
    to check the caller's rights afterwards (a refusal rolls the change back). The level
    columns come back as ``lv_*``, all None when nothing changed (no level, or the
    change would break a rule); no row at all when the product or location is missing,
    and one row per product when a SKU named several (none of them changed: n_found)."""
    target = target_read.cte("target")
    changed = (
        update(stock_levels)
        .where(
            _L.product_id == target.c.id,
            _L.location_id == target.c.loc_id,
            # A SKU several partners use names no product yet: the caller must choose.
            target.c.n_found == 1,
            *_DELTA_RULES,
            # Only a write the caller's rules will allow takes the row lock (they still
            # decide, on what comes back); b_writer is None for an admin, else its partner.
            target.c.status == ProductStatus.ACTIVE.value,
            target.c.kind != ProductKind.BUNDLE.value,
            or_(
                bindparam("b_writer", type_=Uuid()).is_(None),
                target.c.owner_partner_id == bindparam("b_writer", type_=Uuid()),
            ),
            or_(
                target.c.loc_owner_partner_id.is_(None),
                target.c.loc_owner_partner_id == target.c.owner_partner_id,
            ),
        )
        .values(_DELTA_VALUES)
        .returning(*stock_levels.c)
        .cte("changed")
    )
    return select(target, *(c.label(f"lv_{c.name}") for c in changed.c)).select_from(
        target.outerjoin(changed, true())
    )


_LEVELS_OF = select(stock_levels).where(_L.product_id.in_(bindparam("b_ids", expanding=True)))
_APPLY_AT_ID = _apply_at_target(TARGET_BY_ID)
_APPLY_AT_SKU = _apply_at_target(TARGET_BY_SKU)
# A partner key's SKU: its own product, read through the unique (owner, sku) index.
_APPLY_AT_OWNED_SKU = _apply_at_target(TARGET_BY_OWNED_SKU)
_ADD_MOVEMENT = insert(stock_movements).returning(stock_movements.c.id)

_Q = Quantity()
_NOW = UTCDateTime()
_KEY = (_L.product_id == bindparam("b_product"), _L.location_id == bindparam("b_location"))
# A hold: reserved grows only while what is free covers it, decided by the database
# on the row's newest version (PostgreSQL re-checks the WHERE after waiting for a lock).
_HOLD = (
    update(stock_levels)
    .where(*_KEY, _L.on_hand - _L.reserved - _L.safety_stock >= bindparam("b_qty", type_=_Q))
    .values(
        reserved=_L.reserved + bindparam("b_qty", type_=_Q),
        version=_L.version + 1,
        updated_at=bindparam("b_now", type_=_NOW),
    )
    .returning(*stock_levels.c)
)
_UNHOLD = (
    update(stock_levels)
    .where(*_KEY, _L.reserved >= bindparam("b_qty", type_=_Q))
    .values(
        reserved=_L.reserved - bindparam("b_qty", type_=_Q),
        version=_L.version + 1,
        updated_at=bindparam("b_now", type_=_NOW),
    )
    .returning(*stock_levels.c)
)
# Several holds in one statement (PostgreSQL): the CTE locks the levels in the global
# order (its rows are locked as they leave the sort), then each level is raised only if
# what is free covers its share. Fewer levels coming back means some were short.
_HOLD_MANY_PG = (
    text(
        """
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:b_products AS uuid[]), CAST(:b_locations AS uuid[]),
                             CAST(:b_quantities AS bigint[])) AS w(product_id, location_id, quantity)
    ), locked AS MATERIALIZED (
        SELECT s.product_id, s.location_id FROM stock_levels s
        JOIN wanted w ON s.product_id = w.product_id AND s.location_id = w.location_id
        ORDER BY s.product_id, s.location_id
        FOR UPDATE OF s
    )
    UPDATE stock_levels s
    SET reserved = s.reserved + w.quantity, version = s.version + 1, updated_at = :b_now
    FROM wanted w, locked l
    WHERE s.product_id = w.product_id AND s.location_id = w.location_id
      AND l.product_id = s.product_id AND l.location_id = s.location_id
      AND s.on_hand - s.reserved - s.safety_stock >= w.quantity
    RETURNING s.*
    """
    )
    .bindparams(bindparam("b_now", type_=_NOW))
    .columns(*stock_levels.c)
)
# Committing a hold: the held quantity leaves both reserved and on_hand.
_SELL_HELD = (
    update(stock_levels)
    .where(*_KEY, _L.reserved >= bindparam("b_qty", type_=_Q), _L.on_hand >= bindparam("b_qty", type_=_Q))
    .values(
        reserved=_L.reserved - bindparam("b_qty", type_=_Q),
        on_hand=_L.on_hand - bindparam("b_qty", type_=_Q),
        version=_L.version + 1,
        updated_at=bindparam("b_now", type_=_NOW),
    )
    .returning(*stock_levels.c)
)


def movement_row(movement: Movement, actor: Actor, request_id: str | None, now: datetime) -> dict[str, Any]:
    return {
        "product_id": movement.product_id,
        "location_id": movement.location_id,
        "kind": movement.kind.value,
        "quantity": movement.quantity,
        "on_hand_after": movement.on_hand_after,
        "expected": movement.expected,
        "reason": movement.reason,
        "reservation_id": movement.reservation_id,
        "sale_movement_id": movement.sale_movement_id,
        "transfer_id": movement.transfer_id,
        "restockable": movement.restockable,
        "lot_id": movement.lot_id,
        "actor_key_id": actor.key_id,
        "actor_partner_id": actor.partner_id,
        "origin": actor.origin,
        "request_id": request_id,
        "created_at": now,
    }


class StockRepository(Repository):
    async def try_apply_delta(
        self,
        product_id: uuid.UUID,
        location_id: uuid.UUID,
        delta: Decimal,
        now: datetime,
        *,
        spare_held: bool = False,
    ) -> StockLevel | None:
        """Apply ``delta`` if the result stays within 0..MAX_QUANTITY (and, with
        ``spare_held``, not below what reservations hold); None when the level is missing
        or the result would leave that range (the caller tells which)."""
        params = {
            "b_product": product_id,
            "b_location": location_id,
            "b_delta": delta,
            "b_now": now,
            "b_max": MAX_QUANTITY,
            "b_held": 1 if spare_held else 0,
        }
        row = (await self.conn.execute(_APPLY_DELTA, params)).first()
        return _level(row) if row else None

    async def apply_at_target(
        self,
        products: ProductRepository,
        location_id: uuid.UUID,
        *,
        product_id: uuid.UUID | None,
        sku: str | None,
        delta: Decimal,
        now: datetime,
        spare_held: bool,
        writer: uuid.UUID | None,
    ) -> tuple[Product, Location, StockLevel | None] | None:
        """``try_apply_delta`` and the product + location read in one round trip
        (PostgreSQL only). By SKU, ``writer``'s own product (a partner writes only its
        own), or for an admin (``writer`` None) the one product using the SKU. None when
        the product or the location does not exist, or the SKU names several products
        (nothing changed; the caller works out which is meant); the level None when it
        was not changed (the caller tells why, as after ``try_apply_delta``, or because
        the product is archived, a bundle, not ``writer``'s (None: anyone's) or at
        another partner's location). The caller checks its rights on what comes back
        and raises (rolling the change back) when they do not allow the change."""
        params: dict[str, Any] = {
            "b_location": location_id,
            "b_delta": delta,
            "b_now": now,
            "b_max": MAX_QUANTITY,
            "b_held": 1 if spare_held else 0,
            "b_writer": writer,
        }
        if product_id is not None:
            stmt, params["b_id"] = _APPLY_AT_ID, product_id
        elif writer is not None:
            stmt, params["b_sku"], params["b_owner"] = _APPLY_AT_OWNED_SKU, sku, writer
        else:
            stmt, params["b_sku"] = _APPLY_AT_SKU, sku
        result = await self.conn.execute(stmt, params)
        # By id or by an owner's SKU at most one row comes back; an admin's SKU may bring
        # one per partner using it, and then nothing was changed (n_found).
        rows = [result.first()] if stmt is not _APPLY_AT_SKU else result.fetchmany(2)
        if len(rows) != 1 or rows[0] is None:
            return None
        row = rows[0]
        product, location = products.target_of(row)
        m = row._mapping
        level = None
        if m["lv_product_id"] is not None:
            level = StockLevel(
                product_id=m["lv_product_id"],
                location_id=m["lv_location_id"],
                on_hand=m["lv_on_hand"],
                reserved=m["lv_reserved"],
                safety_stock=m["lv_safety_stock"],
                version=m["lv_version"],
                updated_at=m["lv_updated_at"],
            )
        return product, location, level

    async def _level_change(self, stmt: Any, hold: Hold, now: datetime) -> StockLevel | None:
        params = {
            "b_product": hold.product_id,
            "b_location": hold.location_id,
            "b_qty": hold.quantity,
            "b_now": now,
        }
        row = (await self.conn.execute(stmt, params)).first()
        return _level(row) if row else None

    async def try_hold(self, hold: Hold, now: datetime) -> StockLevel | None:
        """Raise reserved by the hold if that much is free; None if not (or no level)."""
        return await self._level_change(_HOLD, hold, now)

    async def try_hold_levels(
        self, wanted: dict[tuple[uuid.UUID, uuid.UUID], Decimal], now: datetime
    ) -> dict[tuple[uuid.UUID, uuid.UUID], StockLevel] | None:
        """Raise several levels at once (PostgreSQL; None elsewhere, hold one by one).
        Returns the levels raised: all of ``wanted`` or, when some were short, fewer
        (every one of them locked by now, so undoing and re-reading cannot lose a race)."""
        if not self.is_postgres:
            return None
        keys = sorted(wanted)
        params = {
            "b_products": [p for p, _ in keys],
            "b_locations": [loc for _, loc in keys],
            "b_quantities": [scaled(wanted[k]) for k in keys],
            "b_now": now,
        }
        rows = await self.conn.execute(_HOLD_MANY_PG, params)
        return {(r.product_id, r.location_id): _level(r) for r in rows}

    async def unhold(self, hold: Hold, now: datetime) -> StockLevel | None:
        return await self._level_change(_UNHOLD, hold, now)

    async def sell_held(self, hold: Hold, now: datetime) -> StockLevel | None:
        return await self._level_change(_SELL_HELD, hold, now)

    async def levels_for_update(self, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[StockLevel]]:
        """Every level of these products, locked in the global order (product, location)."""
        out: dict[uuid.UUID, list[StockLevel]] = {pid: [] for pid in product_ids}
        stmt = (
            select(stock_levels)
            .where(_L.product_id.in_(product_ids))
            .order_by(_L.product_id, _L.location_id)
            .with_for_update()
        )
        for r in await self.conn.execute(stmt):
            out[r.product_id].append(_level(r))
        return out

    async def ensure_level(self, product_id: uuid.UUID, location_id: uuid.UUID, now: datetime) -> None:
        """Create an empty level if none exists (races are absorbed by ON CONFLICT)."""
        await self.conn.execute(
            self.insert_ignore(
                stock_levels,
                {
                    "product_id": product_id,
                    "location_id": location_id,
                    "on_hand": Decimal(0),
                    "reserved": Decimal(0),
                    "safety_stock": Decimal(0),
                    "version": 0,
                    "updated_at": now,
                },
            )
        )

    async def get_level(
        self, product_id: uuid.UUID, location_id: uuid.UUID, *, for_update: bool = False
    ) -> StockLevel | None:
        stmt = select(stock_levels).where(_L.product_id == product_id, _L.location_id == location_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _level(row) if row else None

    async def save_level(self, level: StockLevel, now: datetime) -> None:
        await self.conn.execute(
            update(stock_levels)
            .where(_L.product_id == level.product_id, _L.location_id == level.location_id)
            .values(
                on_hand=level.on_hand,
                reserved=level.reserved,
                safety_stock=level.safety_stock,
                version=level.version,
                updated_at=now,
            )
        )

    async def levels_for_products(self, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[StockLevel]]:
        """Every level of many products in one query (the dispatcher's per-round read)."""
        out: dict[uuid.UUID, list[StockLevel]] = {pid: [] for pid in product_ids}
        if product_ids:
            for r in await self.conn.execute(_LEVELS_OF, {"b_ids": list(product_ids)}):
                out[r.product_id].append(_level(r))
        return out

    async def levels_for_product(self, product_id: uuid.UUID) -> list[tuple[StockLevel, str]]:
        """Levels with their location codes, in location-code order."""
        stmt = (
            select(stock_levels, locations.c.code)
            .join(locations, locations.c.id == _L.location_id)
            .where(_L.product_id == product_id)
            .order_by(locations.c.code)
        )
        return [(_level(r), r.code) for r in await self.conn.execute(stmt)]

    async def add_movement(
        self,
        movement: Movement,
        actor: Actor,
        request_id: str | None,
        now: datetime,
        journal: JournalRepository | None = None,
    ) -> int:
        """Append a ledger row. Given the transaction's journal, the pending audit record
        and event ride along in the same statement where the database allows it."""
        row = movement_row(movement, actor, request_id, now)
        if journal is not None:
            movement_id = await journal.add_with_movement(row)
            if movement_id is not None:
                return movement_id
        result = await self.conn.execute(_ADD_MOVEMENT, row)
        return int(result.scalar_one())

    async def movement(self, movement_id: int, *, for_update: bool = False) -> Row[Any] | None:
        stmt = select(stock_movements).where(stock_movements.c.id == movement_id)
        if for_update:  # serializes returns against one sale
            stmt = stmt.with_for_update()
        return (await self.conn.execute(stmt)).first()

    async def returned_for(self, sale_movement_id: int) -> Decimal:
        """What has come back against a sale so far."""
        stmt = select(func.sum(stock_movements.c.quantity)).where(
            stock_movements.c.sale_movement_id == sale_movement_id,
            stock_movements.c.kind == "return",
        )
        total = (await self.conn.execute(stmt)).scalar_one()
        return Decimal(total) if total is not None else Decimal(0)

    async def movements(
        self,
        product_id: uuid.UUID,
        location_id: uuid.UUID | None = None,
        *,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Row[Any]]:
        """Ledger rows, each with the number of the lot it moved (None if untracked)."""
        stmt = (
            select(stock_movements, lots.c.lot_number)
            .outerjoin(lots, lots.c.id == stock_movements.c.lot_id)
            .where(stock_movements.c.product_id == product_id, stock_movements.c.id > after_id)
            .order_by(stock_movements.c.id)
            .limit(limit)
        )
        if location_id is not None:
            stmt = stmt.where(stock_movements.c.location_id == location_id)
        return list(await self.conn.execute(stmt))

    async def reserved_levels(self, also: set[tuple[uuid.UUID, uuid.UUID]]) -> list[StockLevel]:
        """Levels that hold something, plus the named ones (to compare with live holds)."""
        rows = list(await self.conn.execute(select(stock_levels).where(_L.reserved != 0)))
        out = {(r.product_id, r.location_id): _level(r) for r in rows}
        for product_id, location_id in also - set(out):
            level = await self.get_level(product_id, location_id)
            if level is not None:
                out[(product_id, location_id)] = level
        return list(out.values())

    async def count_accuracy(
        self, location_id: uuid.UUID | None = None, owners: AbstractSet[uuid.UUID] | None = None
    ) -> CountAccuracy:
        """A count's first ledger row carries ``expected``; every row of it carries the
        counted ``on_hand_after``. ``owners`` limits it to those partners' products."""
        m = stock_movements.c
        matched = func.sum(case((m.expected == m.on_hand_after, 1), else_=0))
        stmt = select(func.count(), matched).where(m.kind == "count", m.expected.is_not(None))
        if location_id is not None:
            stmt = stmt.where(m.location_id == location_id)
        if owners is not None:
            stmt = stmt.where(
                m.product_id.in_(select(products.c.id).where(products.c.owner_partner_id.in_(owners)))
            )
        total, hits = (await self.conn.execute(stmt)).one()
        return CountAccuracy(matched=int(hits or 0), counts=int(total or 0))

    async def ledger_drift(self) -> list[dict[str, Any]]:
        """Levels whose on_hand differs from the sum of their ledger (should be none)."""
        sums = (
            select(
                stock_movements.c.product_id,
                stock_movements.c.location_id,
                func.sum(stock_movements.c.quantity).label("ledger"),
            )
            .group_by(stock_movements.c.product_id, stock_movements.c.location_id)
            .subquery()
        )
        stmt = select(_L.product_id, _L.location_id, _L.on_hand, sums.c.ledger).outerjoin(
            sums, (sums.c.product_id == _L.product_id) & (sums.c.location_id == _L.location_id)
        )
        drift = []
        for r in await self.conn.execute(stmt):
            ledger = r.ledger if r.ledger is not None else Decimal(0)
            if ledger != r.on_hand:
                drift.append(
                    {
                        "product_id": r.product_id,
                        "location_id": r.location_id,
                        "on_hand": r.on_hand,
                        "ledger": ledger,
                    }
                )
        return drift
