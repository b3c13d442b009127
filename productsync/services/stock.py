"""Locations, stock levels and the movement ledger."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product, ProductStatus
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.events import stock_changed
from productsync.domain.inventory import (
    Location,
    LocationKind,
    Movement,
    MovementKind,
    StockLevel,
    StockTotals,
    check_delta,
    empty_level,
    insufficient,
    totals,
)
from productsync.domain.quantities import to_quantity
from productsync.services.catalog import find_product
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,38}[A-Za-z0-9]$")


@dataclass(frozen=True)
class StockChange:
    product: Product
    location: Location
    level: StockLevel
    movement_id: int | None
    quantity: Decimal


@dataclass(frozen=True)
class ProductStock:
    product: Product
    levels: list[tuple[StockLevel, str]]
    totals: StockTotals


async def create_location(
    uow: UnitOfWork,
    actor: Actor,
    *,
    code: str,
    name: str,
    kind: LocationKind,
    owner_partner_id: uuid.UUID | None,
) -> Location:
    """A partner creates its own locations; only admins create hub-wide ones (no owner)."""
    actor.require(Scope.STOCK_WRITE)
    if owner_partner_id is None and not actor.is_admin:
        owner_partner_id = actor.partner_id
    if owner_partner_id is not None:
        actor.check_write(owner_partner_id, "partner", owner_partner_id)
        if await uow.partners.get(owner_partner_id) is None:
            raise NotFound("partner", owner_partner_id)
    if not _CODE_RE.match(code):
        raise InvalidInput("location code must be 2-40 letters, digits, '.', '_' or '-'", field="code")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    if await uow.locations.get_by_code(code):
        raise Conflict(f"location {code} already exists", code=ErrorCode.DUPLICATE)
    location = Location(uuid.uuid4(), code, name.strip(), kind, owner_partner_id, uow.now)
    await uow.locations.add(location)
    await record(
        uow,
        actor,
        action="location.created",
        entity_type="location",
        entity_id=location.id,
        owner=owner_partner_id,
        before=None,
        after={"code": code, "name": location.name, "kind": kind.value},
    )
    return location


async def list_locations(uow: UnitOfWork, actor: Actor) -> list[Location]:
    if actor.is_admin:
        return await uow.locations.find(None)
    owners = {p for p in (actor.partner_id, *actor.readable_partners) if p is not None}
    return await uow.locations.find(owners)


async def _stock_target(
    uow: UnitOfWork,
    actor: Actor,
    *,
    product_id: uuid.UUID | None,
    sku: str | None,
    location_id: uuid.UUID,
) -> tuple[Product, Location]:
    """The product and location a stock write names, after every access rule."""
    actor.require(Scope.STOCK_WRITE)
    sku_key = sku.strip().upper() if sku is not None and product_id is None else None
    both = None
    if product_id is not None or sku_key is not None:
        both = await uow.products.with_location(location_id, product_id=product_id, sku=sku_key)
    if both is not None and actor.can_read(both[0].owner_partner_id):
        product, location = both
    else:  # the slow path only works out which of the two is missing or invisible
        product = await find_product(uow, actor, product_id=product_id, sku=sku)
        found = await uow.locations.get(location_id)
        if found is None:
            raise NotFound("location", location_id)
        location = found
    actor.check_write(product.owner_partner_id, "product", sku or product_id)
    if product.status is ProductStatus.ARCHIVED:
        raise Conflict(f"product {product.sku} is archived", code=ErrorCode.ARCHIVED)
    if not actor.can_read(location.owner_partner_id):
        raise NotFound("location", location_id)
    if location.owner_partner_id not in (None, product.owner_partner_id):
        raise Conflict(
            f"location {location.code} belongs to another partner; stock it at your own "
            "or a hub-wide location",
            code=ErrorCode.FORBIDDEN,
        )
    return product, location


async def adjust_stock(
    uow: UnitOfWork,
    actor: Actor,
    *,
    location_id: uuid.UUID,
    delta: Decimal,
    product_id: uuid.UUID | None = None,
    sku: str | None = None,
    kind: MovementKind = MovementKind.ADJUSTMENT,
    reason: str | None = None,
) -> StockChange:
    """Move stock by ``delta``. The never-negative rule is checked by the database
    in the same statement that writes (a conditional update), so concurrent
    adjustments cannot interleave between a check and a write."""
    product, location = await _stock_target(
        uow, actor, product_id=product_id, sku=sku, location_id=location_id
    )
    delta = to_quantity(delta, unit=product.base_unit, field="delta")
    check_delta(kind, delta)
    level = await uow.stock.try_apply_delta(product.id, location.id, delta, uow.now)
    if level is None:
        current = await uow.stock.get_level(product.id, location.id)
        if current is not None or delta < 0:
            # Let the domain rule say why (negative, or beyond the storable maximum).
            (current or empty_level(product.id, location.id)).apply(delta)
            raise insufficient(current or empty_level(product.id, location.id), delta)
        await uow.stock.ensure_level(product.id, location.id, uow.now)
        level = await uow.stock.try_apply_delta(product.id, location.id, delta, uow.now)
        assert level is not None
    movement = Movement(product.id, location.id, kind, delta, level.on_hand, reason)
    await record(
        uow,
        actor,
        action=f"stock.{kind.value}",
        entity_type="stock_level",
        entity_id=f"{product.id}:{location.id}",
        owner=product.owner_partner_id,
        before={"on_hand": str(level.on_hand - delta), "version": level.version - 1},
        after=level.snapshot(),
        events=[stock_changed(product, level, movement, location_code=location.code, origin=actor.origin)],
    )
    movement_id = await uow.stock.add_movement(movement, actor, uow.request_id, uow.now, uow.journal)
    return StockChange(product, location, level, movement_id, delta)


async def set_stock(
    uow: UnitOfWork,
    actor: Actor,
    *,
    location_id: uuid.UUID,
    quantity: Decimal,
    product_id: uuid.UUID | None = None,
    sku: str | None = None,
    compare_quantity: Decimal | None = None,
    safety_stock: Decimal | None = None,
    reason: str | None = None,
) -> StockChange:
    """Set on_hand to a counted quantity. The ledger gets a ``count`` movement of the
    difference with the expected (previous) quantity, so counts feed accuracy.
    With ``compare_quantity`` the set only happens if on_hand still equals it."""
    product, location = await _stock_target(
        uow, actor, product_id=product_id, sku=sku, location_id=location_id
    )
    quantity = to_quantity(quantity, unit=product.base_unit)
    if compare_quantity is not None:
        compare_quantity = to_quantity(compare_quantity, unit=product.base_unit, field="compare_quantity")
    level = await uow.stock.get_level(product.id, location.id, for_update=True)
    if level is None:
        await uow.stock.ensure_level(product.id, location.id, uow.now)
        level = await uow.stock.get_level(product.id, location.id, for_update=True)
        assert level is not None
    new, diff = level.set_to(quantity, compare=compare_quantity)
    if safety_stock is not None:
        safety = to_quantity(safety_stock, unit=product.base_unit, field="safety_stock")
        if safety < 0:
            raise InvalidInput("safety_stock must not be negative", field="safety_stock")
        new = replace(new, safety_stock=safety)
    await uow.stock.save_level(new, uow.now)
    movement = Movement(
        product.id, location.id, MovementKind.COUNT, diff, new.on_hand, reason, expected=level.on_hand
    )
    await record(
        uow,
        actor,
        action="stock.count",
        entity_type="stock_level",
        entity_id=f"{product.id}:{location.id}",
        owner=product.owner_partner_id,
        before=level.snapshot(),
        after=new.snapshot(),
        events=[stock_changed(product, new, movement, location_code=location.code, origin=actor.origin)],
    )
    movement_id = await uow.stock.add_movement(movement, actor, uow.request_id, uow.now, uow.journal)
    return StockChange(product, location, new, movement_id, diff)


async def get_stock(uow: UnitOfWork, actor: Actor, product_id: uuid.UUID) -> ProductStock:
    actor.require(Scope.CATALOG_READ)
    product = await find_product(uow, actor, product_id=product_id)
    levels = await uow.stock.levels_for_product(product.id)
    return ProductStock(product, levels, totals([lv for lv, _ in levels]))


async def ledger_drift(uow: UnitOfWork) -> list[dict[str, object]]:
    """Inventory accuracy check: levels that disagree with the sum of their ledger."""
    return await uow.stock.ledger_drift()
