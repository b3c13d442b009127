"""Channel sales as facts: record what was sold, oversell what was missing, resolve it.

A sale reported by a channel or a payment gateway has happened; the hub records it.
``record_channel_sale`` locks the level, works out what a sale may take there (not what
reservations hold, not expired lots; see domain/oversells.py), records the sale of that
much through ``stock.adjust_stock`` (so the never-negative rule is still enforced by the
statement that writes), and the rest as an open oversell: one ledger-visible record (the
sale's ledger row names it; when nothing could be taken, a zero-quantity sale row does),
an audit record and a ``productsync.stock.oversold`` event, all in the caller's
transaction. The caller's idempotency (one answer per source event id) keeps a resent
sale from counting twice; the oversell's unique (source, event_id) key is the backstop.

A sale a partner types in (``POST /v1/stock/adjustments``) has not happened yet and is
still refused when stock is short; it never comes here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product, ProductStatus
from productsync.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from productsync.domain.events import stock_oversold
from productsync.domain.inventory import Location, Movement, MovementKind, StockLevel, empty_level
from productsync.domain.oversells import (
    Oversell,
    OversellResolution,
    OversellStatus,
    ledger_note,
    sellable,
    split_sale,
)
from productsync.domain.quantities import format_quantity, to_quantity
from productsync.services import lots, stock
from productsync.services.catalog import find_product
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

REASON_MAX = 500  # stock_movements.reason
REF_MAX = 255  # oversells.order_ref


@dataclass(frozen=True)
class ChannelSale:
    """A recorded channel sale: what left the shelf, and the oversell for the rest."""

    product: Product
    location: Location
    level: StockLevel
    taken: Decimal
    movement_id: int | None
    oversell: Oversell | None

    def written(self) -> dict[str, Any]:
        """The JSON a channel gets back (``oversold``/``oversell_id`` only when short)."""
        body: dict[str, Any] = {
            "delta": format_quantity(-self.taken),
            "level": self.level.snapshot(),
            "movement_id": self.movement_id,
        }
        if self.oversell is not None:
            body["oversold"] = format_quantity(self.oversell.quantity)
            body["oversell_id"] = str(self.oversell.id)
        return body


def _sellable_target(product: Product, location: Location) -> None:
    """The same refusals as any stock write: a bundle has no stock of its own, an
    archived product is not sold, and another partner's location is not stocked."""
    if product.is_bundle:
        raise Conflict(
            f"{product.sku} is a bundle: its stock is derived from its components; report those",
            code=ErrorCode.BUNDLE_STOCK,
        )
    if product.status is ProductStatus.ARCHIVED:
        raise Conflict(f"product {product.sku} is archived", code=ErrorCode.ARCHIVED)
    if location.owner_partner_id not in (None, product.owner_partner_id):
        raise Forbidden(
            f"location {location.code} belongs to another partner; it holds no stock of {product.sku}"
        )


def _with_note(reason: str, note: str) -> str:
    return f"{reason[: REASON_MAX - len(note) - 2]}; {note}"


async def record_channel_sale(
    uow: UnitOfWork,
    actor: Actor,
    *,
    product: Product,
    location_id: uuid.UUID,
    quantity: Decimal,
    source: str,
    event_id: str,
    channel_id: uuid.UUID | None,
    order_ref: str | None,
    reason: str,
) -> ChannelSale:
    """Record a sale that already happened at a channel: sell what the level can give,
    open an oversell for the rest. Never refused for want of stock."""
    location = await uow.locations.get(location_id)
    if location is None:
        raise NotFound("location", location_id)
    _sellable_target(product, location)
    quantity = to_quantity(quantity, unit=product.base_unit)
    if quantity <= 0:
        raise InvalidInput("quantity must be positive", code=ErrorCode.INVALID_QUANTITY, field="quantity")
    level = await uow.stock.get_level(product.id, location.id, for_update=True)
    is_tracked = level is not None and bool(await lots.tracked(uow, [product]))
    level_lots = await uow.lots.for_level(product.id, location.id) if is_tracked else []
    split = split_sale(quantity, sellable(level, level_lots, uow.now, tracked=is_tracked))
    oversell_id = uuid.uuid4()
    note = _with_note(reason, ledger_note(oversell_id, split.missing)) if split.missing else reason
    movement_id: int | None = None
    after = level or empty_level(product.id, location.id)
    if split.taken > 0:
        change = await stock.adjust_stock(
            uow,
            actor,
            location_id=location.id,
            product_id=product.id,
            delta=-split.taken,
            kind=MovementKind.SALE,
            reason=note,
        )
        after, movement_id = change.level, change.movement_id
    elif split.missing > 0:
        # Nothing could be taken: a zero-quantity sale row keeps the oversell in the ledger.
        empty_sale = Movement(product.id, location.id, MovementKind.SALE, Decimal(0), after.on_hand, note)
        movement_id = await uow.stock.add_movement(empty_sale, actor, uow.request_id, uow.now)
    if not split.missing:
        return ChannelSale(product, location, after, split.taken, movement_id, None)
    oversell = Oversell(
        id=oversell_id,
        product_id=product.id,
        location_id=location.id,
        owner_partner_id=product.owner_partner_id,
        channel_id=channel_id,
        source=source,
        event_id=event_id,
        order_ref=order_ref[:REF_MAX] if order_ref else None,
        sold=quantity,
        quantity=split.missing,
        movement_id=movement_id,
        status=OversellStatus.OPEN,
        created_at=uow.now,
    )
    await uow.oversells.add(oversell)
    snapshot = oversell.snapshot()
    await record(
        uow,
        actor,
        action="stock.oversold",
        entity_type="oversell",
        entity_id=oversell.id,
        owner=product.owner_partner_id,
        before=None,
        after={**snapshot, "taken": format_quantity(split.taken), "level": after.snapshot()},
        events=[stock_oversold(product, snapshot, after, location_code=location.code, origin=actor.origin)],
    )
    return ChannelSale(product, location, after, split.taken, movement_id, oversell)


# --- the list a person works through -------------------------------------------------------


async def list_oversells(
    uow: UnitOfWork,
    actor: Actor,
    *,
    status: OversellStatus | None,
    channel_id: uuid.UUID | None,
    product_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Oversell]:
    """Oversells of the products the caller can read (all for an admin), oldest first
    (by when they were recorded); ``after`` is the (created_at, id) the last page ended on."""
    actor.require(Scope.CATALOG_READ)
    if product_id is not None:
        await find_product(uow, actor, product_id=product_id)  # 404 unless visible
    return await uow.oversells.find(
        owners=actor.readable_owners(),
        status=status,
        channel_id=channel_id,
        product_id=product_id,
        after=after,
        limit=limit,
    )


async def get_oversell(uow: UnitOfWork, actor: Actor, oversell_id: uuid.UUID) -> Oversell:
    actor.require(Scope.CATALOG_READ)
    found = await uow.oversells.get(oversell_id)
    if found is None or not actor.can_read(found.owner_partner_id):
        raise NotFound("oversell", oversell_id)
    return found


async def open_totals(
    uow: UnitOfWork, actor: Actor, location_id: uuid.UUID | None = None
) -> tuple[int, Decimal]:
    """How many oversells of the caller's products are open, and how much they lack."""
    actor.require(Scope.CATALOG_READ)
    return await uow.oversells.open_totals(owners=actor.readable_owners(), location_id=location_id)


@dataclass(frozen=True)
class Settlement:
    """What a person decided for an oversell, and what it needs to carry it out."""

    resolution: OversellResolution
    note: str | None = None
    substitute_product_id: uuid.UUID | None = None
    receive: bool = False
    lot_number: str | None = None
    expires_on: date | None = None


@dataclass(frozen=True)
class Resolved:
    oversell: Oversell
    movement_ids: list[int]


async def _restock(uow: UnitOfWork, actor: Actor, o: Oversell, s: Settlement) -> list[int]:
    """The missing goods go to the customer now: sold from the oversell's location,
    received there first when ``receive`` says they have just arrived."""
    moved = []
    if s.receive:
        received = await stock.adjust_stock(
            uow,
            actor,
            location_id=o.location_id,
            product_id=o.product_id,
            delta=o.quantity,
            kind=MovementKind.RECEIPT,
            reason=f"received for oversell {o.id}",
            lot_number=s.lot_number,
            expires_on=s.expires_on,
        )
        moved.append(received.movement_id)
    elif s.lot_number is not None or s.expires_on is not None:
        raise InvalidInput("lot_number and expires_on go with receive=true", field="lot_number")
    sold = await stock.adjust_stock(
        uow,
        actor,
        location_id=o.location_id,
        product_id=o.product_id,
        delta=-o.quantity,
        kind=MovementKind.SALE,
        reason=f"oversell {o.id} fulfilled",
    )
    return [m for m in (*moved, sold.movement_id) if m is not None]


async def _cancel(uow: UnitOfWork, actor: Actor, o: Oversell, s: Settlement) -> list[int]:
    """The channel cancelled or refunded the missing part: nothing moves."""
    if s.receive or s.substitute_product_id is not None:
        raise InvalidInput(
            "a cancel moves no stock: give neither receive nor a substitute", field="resolution"
        )
    return []


async def _substitute(uow: UnitOfWork, actor: Actor, o: Oversell, s: Settlement) -> list[int]:
    """Another product went out instead: the missing quantity of it is sold. That
    quantity is in the oversold product's base unit, so the substitute must be counted in
    the same unit (a piece count is no weight); any other unit, even a convertible one, is
    refused (422 ``invalid-unit``) rather than guessed."""
    if s.substitute_product_id is None:
        raise InvalidInput(
            "a substitute resolution names substitute_product_id", field="substitute_product_id"
        )
    if s.substitute_product_id == o.product_id:
        raise InvalidInput(
            "the substitute is the oversold product itself: use restock", field="substitute_product_id"
        )
    found = await uow.products.get_many({o.product_id, s.substitute_product_id})
    oversold, substitute = found.get(o.product_id), found.get(s.substitute_product_id)
    if substitute is None or not actor.can_read(substitute.owner_partner_id):
        raise NotFound("product", s.substitute_product_id)
    if oversold is not None and substitute.base_unit is not oversold.base_unit:
        raise InvalidInput(
            f"{substitute.sku} is counted in {substitute.base_unit.value}, {oversold.sku} in"
            f" {oversold.base_unit.value}: a substitute must share the oversold product's unit",
            code=ErrorCode.INVALID_UNIT,
            field="substitute_product_id",
        )
    sold = await stock.adjust_stock(
        uow,
        actor,
        location_id=o.location_id,
        product_id=s.substitute_product_id,
        delta=-o.quantity,
        kind=MovementKind.SALE,
        reason=f"substitute for oversell {o.id}",
    )
    return [sold.movement_id] if sold.movement_id is not None else []


Resolver = Callable[[UnitOfWork, Actor, Oversell, Settlement], Awaitable[list[int]]]
RESOLVERS: dict[OversellResolution, Resolver] = {
    OversellResolution.RESTOCK: _restock,
    OversellResolution.CANCEL: _cancel,
    OversellResolution.SUBSTITUTE: _substitute,
}


async def resolve_oversell(
    uow: UnitOfWork, actor: Actor, oversell_id: uuid.UUID, settlement: Settlement
) -> Resolved:
    """Close an open oversell the way a person decided (see domain/oversells.py
    RESOLUTIONS); the product's owner (or an admin) decides, once."""
    actor.require(Scope.STOCK_WRITE)
    found = await uow.oversells.get(oversell_id, for_update=True)
    if found is None:
        raise NotFound("oversell", oversell_id)
    actor.check_write(found.owner_partner_id, "oversell", oversell_id)
    if found.status is not OversellStatus.OPEN:
        raise Conflict(
            f"oversell {oversell_id} is already resolved ({found.resolution})",
            code=ErrorCode.OVERSELL_RESOLVED,
            resolution=found.resolution.value if found.resolution else None,
        )
    if settlement.resolution is not OversellResolution.SUBSTITUTE and settlement.substitute_product_id:
        raise InvalidInput(
            "substitute_product_id goes with resolution=substitute", field="substitute_product_id"
        )
    movement_ids = await RESOLVERS[settlement.resolution](uow, actor, found, settlement)
    by = str(actor.key_id) if actor.key_id is not None else actor.origin
    if not await uow.oversells.resolve(
        oversell_id,
        resolution=settlement.resolution,
        note=settlement.note,
        substitute_product_id=settlement.substitute_product_id,
        now=uow.now,
        by=by,
    ):
        raise Conflict(f"oversell {oversell_id} was resolved meanwhile", code=ErrorCode.OVERSELL_RESOLVED)
    resolved = await uow.oversells.get(oversell_id)
    assert resolved is not None
    await record(
        uow,
        actor,
        action="oversell.resolved",
        entity_type="oversell",
        entity_id=oversell_id,
        owner=found.owner_partner_id,
        before=found.snapshot(),
        after={**resolved.snapshot(), "movement_ids": movement_ids},
    )
    return Resolved(resolved, movement_ids)
