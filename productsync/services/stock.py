"""Stock levels and the movement ledger: adjustments and counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product, ProductStatus
from productsync.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from productsync.domain.events import stock_changed
from productsync.domain.inventory import (
    Location,
    Movement,
    MovementKind,
    StockLevel,
    StockTotals,
    check_delta,
    empty_level,
    held_back,
    insufficient,
    totals,
)
from productsync.domain.quantities import BaseUnit, to_quantity
from productsync.domain.units import to_base
from productsync.services import lots
from productsync.services.bundles import announce_bundles, bundle_stock
from productsync.services.catalog import find_product
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork


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


async def _stock_target(
    uow: UnitOfWork,
    actor: Actor,
    *,
    product_id: uuid.UUID | None,
    sku: str | None,
    location_id: uuid.UUID,
    partner: str | None = None,
) -> tuple[Product, Location]:
    """The product and location a stock write names, after every access rule. By SKU a
    partner key means its own product (it may write no other); an admin, the one product
    using the SKU; ``partner`` names whose (domain/sku_namespaces.py)."""
    actor.require(Scope.STOCK_WRITE)
    sku_key = _sku_key(sku, product_id, partner)
    both = None
    if product_id is not None or sku_key is not None:
        owner = None if actor.is_admin else actor.partner_id
        both = await uow.products.with_location(location_id, product_id=product_id, sku=sku_key, owner=owner)
    if both is not None and actor.can_read(both[0].owner_partner_id):
        product, location = both
    else:  # the slow path works out which is missing, invisible or ambiguous
        product = await find_product(
            uow, actor, product_id=product_id, sku=sku, partner=partner, for_write=True
        )
        found = await uow.locations.get(location_id)
        if found is None:
            raise NotFound("location", location_id)
        location = found
    _check_target(actor, product, location, ref=sku or product_id)
    return product, location


def _sku_key(sku: str | None, product_id: uuid.UUID | None, partner: str | None) -> str | None:
    """The SKU the one-read paths may look up: none when a product id is given, or when
    ``partner`` names whose SKU it is (rare: the slow path resolves it)."""
    if sku is None or product_id is not None or (partner is not None and partner.strip()):
        return None
    return sku.strip().upper()


def _check_target(actor: Actor, product: Product, location: Location, *, ref: object) -> None:
    """The rules a stock write must pass once its (readable) product and location are known."""
    actor.check_write(product.owner_partner_id, "product", ref)
    if product.is_bundle:
        raise Conflict(
            f"{product.sku} is a bundle: its stock is derived from its components; move theirs",
            code=ErrorCode.BUNDLE_STOCK,
        )
    if product.status is ProductStatus.ARCHIVED:
        raise Conflict(f"product {product.sku} is archived", code=ErrorCode.ARCHIVED)
    if not actor.can_read(location.owner_partner_id):
        raise NotFound("location", location.id)
    if location.owner_partner_id not in (None, product.owner_partner_id):
        raise Forbidden(
            f"location {location.code} belongs to another partner; stock it at your own "
            "or a hub-wide location"
        )


def _plain_delta(delta: Decimal, kind: MovementKind) -> Decimal | None:
    """The delta when, given without a unit, it is a valid quantity of every base unit
    (whole, in range, the right sign for the kind): the level can then change before the
    product is read. None otherwise (the caller reads the product first, so errors come
    in the usual order)."""
    try:
        plain = to_quantity(delta, unit=BaseUnit.PIECE)
        check_delta(kind, plain)
    except InvalidInput:
        return None
    return plain


async def _adjust_at_target(
    uow: UnitOfWork,
    actor: Actor,
    *,
    product_id: uuid.UUID | None,
    sku: str | None,
    location_id: uuid.UUID,
    delta: Decimal,
    kind: MovementKind,
    partner: str | None,
) -> tuple[Product, Location, StockLevel, Decimal] | None:
    """The common adjustment (PostgreSQL, whole delta, no unit): read the target and change
    its level in one statement, then apply every rule of ``_stock_target`` to what came
    back; a refusal raises, and the transaction takes the change back. None when this
    shortcut does not apply or changed nothing (the caller takes the usual path, which
    also says why a change cannot happen)."""
    actor.require(Scope.STOCK_WRITE)
    plain = _plain_delta(delta, kind)
    sku_key = _sku_key(sku, product_id, partner)
    if not uow.stock.is_postgres or plain is None or (product_id is None and sku_key is None):
        return None
    found = await uow.stock.apply_at_target(
        uow.products,
        location_id,
        product_id=product_id,
        sku=sku_key,
        delta=plain,
        now=uow.now,
        spare_held=kind is MovementKind.SALE,
        writer=None if actor.is_admin else actor.partner_id,
    )
    if found is None:
        return None
    product, location, level = found
    if not actor.can_read(product.owner_partner_id):
        await find_product(uow, actor, product_id=product_id, sku=sku, for_write=True)  # raises: not found
        raise AssertionError("an unreadable product was found")
    _check_target(actor, product, location, ref=sku or product_id)
    # A whole delta of no unit is the same quantity in every base unit.
    assert to_base(delta, None, base=product.base_unit, packs=product.packs, field="delta") == plain
    return None if level is None else (product, location, level, plain)


async def adjust_stock(
    uow: UnitOfWork,
    actor: Actor,
    *,
    location_id: uuid.UUID,
    delta: Decimal,
    unit: str | None = None,
    product_id: uuid.UUID | None = None,
    sku: str | None = None,
    kind: MovementKind = MovementKind.ADJUSTMENT,
    reason: str | None = None,
    lot_number: str | None = None,
    expires_on: date | None = None,
    partner: str | None = None,
) -> StockChange:
    """Move stock by ``delta``. The never-negative rule is checked by the database
    in the same statement that writes (a conditional update), so concurrent
    adjustments cannot interleave between a check and a write. A SKU names the
    caller's own product first; ``partner`` (code) says whose SKU it is."""
    done = None
    if unit is None or not unit.strip():
        done = await _adjust_at_target(
            uow,
            actor,
            product_id=product_id,
            sku=sku,
            location_id=location_id,
            delta=delta,
            kind=kind,
            partner=partner,
        )
    if done is not None:
        product, location, level, delta = done
    else:
        product, location = await _stock_target(
            uow, actor, product_id=product_id, sku=sku, location_id=location_id, partner=partner
        )
        # The same conversion as reservations and transfers: any unit of the kind, or a pack.
        delta = to_base(delta, unit, base=product.base_unit, packs=product.packs, field="delta")
        check_delta(kind, delta)
        level = await _apply(uow, product, location, delta, spare_held=kind is MovementKind.SALE)
    if delta > 0:
        parts = await lots.receive(
            uow,
            product,
            location.id,
            delta,
            lot_number=lot_number,
            expires_on=expires_on,
            required=kind is MovementKind.RECEIPT,
        )
    else:
        if lot_number is not None or expires_on is not None:
            raise InvalidInput(
                "stock leaves lots first-expiring-first; do not name a lot", field="lot_number"
            )
        parts = await lots.take(
            uow, product, location.id, -delta, on_hand_after=level.on_hand, sale=kind is MovementKind.SALE
        )
    movements = [
        Movement(product.id, location.id, kind, p.quantity, level.on_hand, reason, lot_id=p.lot_id)
        for p in parts
    ]
    movement = movements[0] if len(movements) == 1 else replace(movements[0], quantity=delta, lot_id=None)
    await record(
        uow,
        actor,
        action=f"stock.{kind.value}",
        entity_type="stock_level",
        entity_id=f"{product.id}:{location.id}",
        owner=product.owner_partner_id,
        before={"on_hand": str(level.on_hand - delta), "version": level.version - 1},
        after=level.snapshot(),
        events=[
            stock_changed(product, level, movement, location_code=location.code, origin=actor.origin),
            *await announce_bundles(uow, {product.id}, origin=actor.origin),
        ],
    )
    movement_id = await _write(uow, actor, movements)
    return StockChange(product, location, level, movement_id, delta)


async def _write(uow: UnitOfWork, actor: Actor, movements: list[Movement]) -> int:
    """Ledger rows of one change (one per lot it touched); the first row's id names it."""
    if len(movements) == 1:
        return await uow.stock.add_movement(movements[0], actor, uow.request_id, uow.now, uow.journal)
    ids = [await uow.stock.add_movement(m, actor, uow.request_id, uow.now) for m in movements]
    return ids[0]


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
    partner: str | None = None,
) -> StockChange:
    """Set on_hand to a counted quantity. The ledger gets a ``count`` movement of the
    difference with the expected (previous) quantity, so counts feed accuracy.
    With ``compare_quantity`` the set only happens if on_hand still equals it."""
    product, location = await _stock_target(
        uow, actor, product_id=product_id, sku=sku, location_id=location_id, partner=partner
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
    if diff < 0:
        parts = await lots.take(uow, product, location.id, -diff, on_hand_after=new.on_hand, sale=False)
    else:
        parts = [lots.Part(None, diff)]
    # Every row of one count carries the counted total, the first also what was expected:
    # inventory accuracy compares the two.
    movements = [
        Movement(
            product.id,
            location.id,
            MovementKind.COUNT,
            p.quantity,
            new.on_hand,
            reason,
            expected=level.on_hand if i == 0 else None,
            lot_id=p.lot_id,
        )
        for i, p in enumerate(parts)
    ]
    movement = replace(movements[0], quantity=diff)
    await record(
        uow,
        actor,
        action="stock.count",
        entity_type="stock_level",
        entity_id=f"{product.id}:{location.id}",
        owner=product.owner_partner_id,
        before=level.snapshot(),
        after=new.snapshot(),
        events=[
            stock_changed(product, new, movement, location_code=location.code, origin=actor.origin),
            *await announce_bundles(uow, {product.id}, origin=actor.origin),
        ],
    )
    movement_id = await _write(uow, actor, movements)
    return StockChange(product, location, new, movement_id, diff)


async def get_stock(uow: UnitOfWork, actor: Actor, product_id: uuid.UUID) -> ProductStock:
    actor.require(Scope.CATALOG_READ)
    product = await find_product(uow, actor, product_id=product_id)
    if product.is_bundle:  # no stock of its own: what its components make, per location
        derived, sums = await bundle_stock(uow, product)
        return ProductStock(product, derived, sums)
    levels = await uow.stock.levels_for_product(product.id)
    return ProductStock(product, levels, totals([lv for lv, _ in levels]))


async def _apply(
    uow: UnitOfWork,
    product: Product,
    location: Location,
    delta: Decimal,
    *,
    spare_held: bool,
) -> StockLevel:
    """One conditional level change (creating the level for an increase), or the reason it
    cannot happen (negative, held for reservations, or beyond the storable maximum)."""
    level = await uow.stock.try_apply_delta(product.id, location.id, delta, uow.now, spare_held=spare_held)
    if level is not None:
        return level
    current = await uow.stock.get_level(product.id, location.id)
    if current is None and delta > 0:
        await uow.stock.ensure_level(product.id, location.id, uow.now)
        level = await uow.stock.try_apply_delta(product.id, location.id, delta, uow.now)
        assert level is not None
        return level
    base = current or empty_level(product.id, location.id)
    base.apply(delta)
    if current is not None and spare_held:
        raise held_back(current, delta)
    raise insufficient(base, delta)
