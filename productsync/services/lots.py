"""Lots: receiving into a lot, taking stock out first-expiring-first, the expiry
write-off and near-expiry news, and listing lots by how soon they expire.

Every write here runs after the level row it belongs to was written (and so locked)
in the same transaction: level first, then its lots, the one lock order all paths use.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from productsync.domain.access import Actor, Scope, system_actor
from productsync.domain.catalog import Product
from productsync.domain.errors import Conflict, ErrorCode, InsufficientStock, InvalidInput
from productsync.domain.events import lot_event, stock_changed
from productsync.domain.inventory import Movement, MovementKind, StockLevel
from productsync.domain.lots import (
    DEFAULT_TIME_ZONE,
    NEAR_EXPIRY_DAYS,
    Lot,
    capped_levels,
    check_lot,
    take_fefo,
)
from productsync.domain.quantities import format_quantity
from productsync.services.bundles import announce_bundles
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork


@dataclass(frozen=True)
class Part:
    """One slice of a stock change: from or into one lot, or the untracked remainder."""

    lot_id: uuid.UUID | None
    quantity: Decimal  # signed, like the movement
    lot: Lot | None = None


async def tracked(uow: UnitOfWork, products: list[Product]) -> set[uuid.UUID]:
    """The ids of those products whose category tracks lots."""
    categories = await uow.categories.lot_tracked({p.category_id for p in products})
    return {p.id for p in products if p.category_id in categories}


async def receive(
    uow: UnitOfWork,
    product: Product,
    location_id: uuid.UUID,
    quantity: Decimal,
    *,
    lot_number: str | None,
    expires_on: date | None,
    required: bool,
) -> list[Part]:
    """Stock coming in: into the named lot, else untracked (only where no lot is required).
    A lot already expired at the location (its time zone) is refused."""
    is_tracked = bool(await tracked(uow, [product]))
    if lot_number is None and expires_on is None and not (required and is_tracked):
        return [Part(None, quantity)]
    zone = DEFAULT_TIME_ZONE
    if is_tracked and expires_on is not None:  # only a lot receipt asks for the zone
        location = await uow.locations.get(location_id)
        zone = location.time_zone if location is not None else DEFAULT_TIME_ZONE
    number = check_lot(lot_number, expires_on, tracked=is_tracked, now=uow.now, time_zone=zone)
    assert number is not None and expires_on is not None
    lot = await uow.lots.receive(product.id, location_id, number, expires_on, quantity, uow.now)
    if lot is None:
        raise Conflict(
            f"lot {number} is already stocked here with another expiry date",
            code=ErrorCode.DUPLICATE,
            lot_number=number,
        )
    return [Part(lot.id, quantity)]


async def take(
    uow: UnitOfWork,
    product: Product,
    location_id: uuid.UUID,
    quantity: Decimal,
    *,
    on_hand_after: Decimal,
    sale: bool,
) -> list[Part]:
    """Stock going out (already taken off the level): first-expiring lot first, then the
    untracked remainder. A sale never takes expired stock; other decreases (shrinkage,
    a count that found less, a transfer) take from any lot, expired first."""
    if not await tracked(uow, [product]):
        return [Part(None, -quantity)]
    lots = await uow.lots.for_level(product.id, location_id)
    chosen, left = take_fefo(lots, quantity, uow.now, every_lot=not sale)
    untracked = max(Decimal(0), on_hand_after + quantity - sum((lot.quantity for lot in lots), Decimal(0)))
    if left > untracked:
        raise InsufficientStock(
            f"only {format_quantity(quantity - left + untracked)} of {product.sku} can leave here: "
            "the rest is expired or held",
            product_id=str(product.id),
            location_id=str(location_id),
        )
    parts = []
    for lot, q in chosen:
        if await uow.lots.take(lot.id, q, uow.now) is None:
            raise AssertionError("a locked lot changed under us")
        parts.append(Part(lot.id, -q, lot))
    if left > 0:
        parts.append(Part(None, -left))
    return parts


async def list_lots(
    uow: UnitOfWork,
    actor: Actor,
    *,
    expiring_within_days: int | None,
    product_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> list[Lot]:
    """Lots with stock the caller may see, first-expiring first."""
    actor.require(Scope.CATALOG_READ)
    if expiring_within_days is not None and not 0 <= expiring_within_days <= 3650:
        raise InvalidInput("expiring_within_days must be 0-3650", field="expiring_within_days")
    owners = actor.readable_owners()
    return await uow.lots.find(
        owners=owners,
        now=uow.now,
        expiring_within_days=expiring_within_days,
        product_id=product_id,
        location_id=location_id,
    )


async def expire_lots(uow: UnitOfWork, *, limit: int = 50, now: datetime | None = None) -> int:
    """Write off the unheld stock of expired lots (an ``expiry`` movement each) and
    announce it; announce lots that come within NEAR_EXPIRY_DAYS of expiry, once. All in
    this one transaction (tests and tools; the scheduler uses ``expire_lot``, one lot
    per transaction, and ``announce_near_expiry``)."""
    if now is not None:
        uow.now = now  # the whole use case happens at the clock's instant
    actor = system_actor("scheduler")
    due = await uow.lots.expired_free(uow.now, limit)
    products = await uow.products.get_many({lot.product_id for lot in due})
    codes = await uow.locations.codes({lot.location_id for lot in due})
    for lot in due:
        await _write_off(uow, actor, products[lot.product_id], lot, codes[lot.location_id])
    return len(due) + await announce_near_expiry(uow, uow.now, limit=limit)


async def expired_lot_ids(
    uow: UnitOfWork, now: datetime, *, limit: int, exclude: Collection[uuid.UUID] = ()
) -> list[uuid.UUID]:
    """Lots expired at ``now`` with unheld stock, but not ``exclude`` (the scheduler's
    to-do list; each is then written off in a transaction of its own)."""
    return [lot.id for lot in await uow.lots.expired_free(now, limit, exclude=exclude)]


async def expire_lot(uow: UnitOfWork, lot_id: uuid.UUID, now: datetime) -> bool:
    """Write off one expired lot's unheld stock at ``now`` (the clock's instant). One lot
    per transaction: a lot whose books disagree fails alone. The level is locked first
    (the global order: level, then its lots), then the lot is read again, so a process
    that got there first is seen and nothing is written twice; False when there is
    nothing (left) to write off."""
    uow.now = now
    peek = await uow.lots.get(lot_id)
    if peek is None:
        return False
    await uow.stock.get_level(peek.product_id, peek.location_id, for_update=True)
    lot = await uow.lots.get(lot_id)
    if lot is None or not lot.expired(now) or lot.free <= 0:
        return False
    products = await uow.products.get_many({lot.product_id})
    codes = await uow.locations.codes({lot.location_id})
    await _write_off(uow, system_actor("scheduler"), products[lot.product_id], lot, codes[lot.location_id])
    return True


async def announce_near_expiry(uow: UnitOfWork, now: datetime, *, limit: int = 100) -> int:
    """Announce, once, lots that come within NEAR_EXPIRY_DAYS of expiry at ``now``."""
    uow.now = now
    actor = system_actor("scheduler")
    near = await uow.lots.near_expiry_unannounced(uow.now, NEAR_EXPIRY_DAYS, limit)
    near = [lot for lot in near if not lot.expired(uow.now)]
    if near:
        near_products = await uow.products.get_many({lot.product_id for lot in near})
        for lot in near:
            await record(
                uow,
                actor,
                action="lot.near_expiry",
                entity_type="lot",
                entity_id=lot.id,
                owner=near_products[lot.product_id].owner_partner_id,
                before=None,
                after=lot.snapshot(),
                events=[lot_event(near_products[lot.product_id], lot, expired=False, origin=actor.origin)],
            )
        await uow.lots.mark_announced([lot.id for lot in near])
    return len(near)


async def _write_off(uow: UnitOfWork, actor: Actor, product: Product, lot: Lot, location_code: str) -> None:
    """The lot's unheld stock leaves its level with an ``expiry`` movement, announced."""
    level = await uow.stock.try_apply_delta(lot.product_id, lot.location_id, -lot.free, uow.now)
    if level is None:
        raise Conflict("an expired lot is larger than its level; run `productsync check`")
    if await uow.lots.take(lot.id, lot.free, uow.now) is None:
        raise Conflict("the expired lot changed meanwhile; it is written off on the next round")
    movement = Movement(
        lot.product_id,
        lot.location_id,
        MovementKind.EXPIRY,
        -lot.free,
        level.on_hand,
        f"lot {lot.lot_number} expired on {lot.expires_on.isoformat()}",
        lot_id=lot.id,
    )
    await uow.stock.add_movement(movement, actor, uow.request_id, uow.now)
    await _announce_expiry(uow, actor, product, lot, level, movement, location_code)


async def _announce_expiry(
    uow: UnitOfWork,
    actor: Actor,
    product: Product,
    lot: Lot,
    level: StockLevel,
    movement: Movement,
    location_code: str,
) -> None:
    await record(
        uow,
        actor,
        action="lot.expired",
        entity_type="lot",
        entity_id=lot.id,
        owner=product.owner_partner_id,
        before=lot.snapshot(),
        after=level.snapshot(),
        events=[
            stock_changed(product, level, movement, location_code=location_code, origin=actor.origin),
            lot_event(product, lot, expired=True, origin=actor.origin),
            *await announce_bundles(uow, {product.id}, origin=actor.origin),
        ],
    )


async def counted_levels(
    uow: UnitOfWork, levels: dict[uuid.UUID, list[StockLevel]], min_shelf_life_days: int = 0
) -> dict[uuid.UUID, list[StockLevel]]:
    """Levels as a channel counts them (see ``capped_levels``): one lot query for all."""
    lot_map = await uow.lots.for_products(set(levels))
    if not lot_map:
        return levels
    return {pid: capped_levels(lvs, lot_map, uow.now, min_shelf_life_days) for pid, lvs in levels.items()}
