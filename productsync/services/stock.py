"""Locations, stock levels and the movement ledger."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product, ProductStatus
from productsync.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from productsync.domain.events import stock_changed
from productsync.domain.inventory import (
    CountAccuracy,
    Location,
    LocationKind,
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
from productsync.domain.lots import DEFAULT_TIME_ZONE, check_time_zone
from productsync.domain.quantities import BaseUnit, format_quantity, to_quantity
from productsync.domain.units import to_base
from productsync.services import lots
from productsync.services.bundles import announce_bundles, bundle_stock
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
    time_zone: str = DEFAULT_TIME_ZONE,
) -> Location:
    """A partner creates its own locations; only admins create hub-wide ones (no owner).
    The time zone (IANA) is where its lots' expiry dates are read."""
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
    zone = check_time_zone(time_zone)
    location = Location(uuid.uuid4(), code, name.strip(), kind, owner_partner_id, uow.now, zone)
    await uow.locations.add(location)
    await record(
        uow,
        actor,
        action="location.created",
        entity_type="location",
        entity_id=location.id,
        owner=owner_partner_id,
        before=None,
        after={"code": code, "name": location.name, "kind": kind.value, "time_zone": zone},
    )
    return location


async def list_locations(uow: UnitOfWork, actor: Actor) -> list[Location]:
    return await uow.locations.find(actor.readable_owners())


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
    _check_target(actor, product, location, ref=sku or product_id)
    return product, location


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
) -> tuple[Product, Location, StockLevel, Decimal] | None:
    """The common adjustment (PostgreSQL, whole delta, no unit): read the target and change
    its level in one statement, then apply every rule of ``_stock_target`` to what came
    back; a refusal raises, and the transaction takes the change back. None when this
    shortcut does not apply or changed nothing (the caller takes the usual path, which
    also says why a change cannot happen)."""
    actor.require(Scope.STOCK_WRITE)
    plain = _plain_delta(delta, kind)
    sku_key = sku.strip().upper() if sku is not None and product_id is None else None
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
        await find_product(uow, actor, product_id=product_id, sku=sku)  # raises: not found
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
) -> StockChange:
    """Move stock by ``delta``. The never-negative rule is checked by the database
    in the same statement that writes (a conditional update), so concurrent
    adjustments cannot interleave between a check and a write."""
    done = None
    if unit is None or not unit.strip():
        done = await _adjust_at_target(
            uow, actor, product_id=product_id, sku=sku, location_id=location_id, delta=delta, kind=kind
        )
    if done is not None:
        product, location, level, delta = done
    else:
        product, location = await _stock_target(
            uow, actor, product_id=product_id, sku=sku, location_id=location_id
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


async def inventory_accuracy(
    uow: UnitOfWork, actor: Actor, location_id: uuid.UUID | None = None
) -> CountAccuracy:
    """Cycle-count accuracy over the caller's products (every product for an admin),
    at one location or everywhere."""
    actor.require(Scope.CATALOG_READ)
    if location_id is not None:
        found = await uow.locations.get(location_id)
        if found is None or not actor.can_read(found.owner_partner_id):
            raise NotFound("location", location_id)
    owners = actor.readable_owners()
    counted = await uow.stock.count_accuracy(location_id, owners)
    # Sold at a channel but never on the shelf: the ledger is right, the shelf was short.
    open_count, missing = await uow.oversells.open_totals(
        owners=actor.readable_owners(), location_id=location_id
    )
    return replace(counted, open_oversells=open_count, oversold=missing)


async def ledger_drift(uow: UnitOfWork) -> list[dict[str, object]]:
    """Integrity check: levels whose ``on_hand`` disagrees with the sum of their ledger,
    or whose ``reserved`` disagrees with the holds of the live reservations."""
    drift: list[dict[str, object]] = [
        {**d, "field": "on_hand", "recorded": d["on_hand"], "recomputed": d["ledger"]}
        for d in await uow.stock.ledger_drift()
    ]
    held: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = {}
    held_lots: dict[uuid.UUID, Decimal] = {}
    for reservation in await uow.reservations.held():
        for hold in reservation.holds():
            key = (hold.product_id, hold.location_id)
            held[key] = held.get(key, Decimal(0)) + hold.quantity
            if hold.lot_id is not None:
                held_lots[hold.lot_id] = held_lots.get(hold.lot_id, Decimal(0)) + hold.quantity
    drift += [{**d, "field": f"lot {d['lot_id']} quantity"} for d in await uow.lots.drift()]
    lots_found = {lot.id: lot for lot in await uow.lots.reserved_lots(set(held_lots))}
    for lot_id in set(lots_found) | set(held_lots):
        lot, expected = lots_found.get(lot_id), held_lots.get(lot_id, Decimal(0))
        if lot is None or lot.reserved != expected:
            drift.append(
                {
                    "product_id": lot.product_id if lot else None,
                    "location_id": lot.location_id if lot else None,
                    "field": f"lot {lot_id} reserved",
                    "recorded": lot.reserved if lot else None,
                    "recomputed": expected,
                }
            )
    for level in await uow.stock.reserved_levels(set(held)):
        expected = held.get((level.product_id, level.location_id), Decimal(0))
        if level.reserved != expected:
            drift.append(
                {
                    "product_id": level.product_id,
                    "location_id": level.location_id,
                    "field": "reserved",
                    "recorded": level.reserved,
                    "recomputed": expected,
                }
            )
    return drift


@dataclass(frozen=True)
class Transfer:
    product: Product
    transfer_id: uuid.UUID
    quantity: Decimal
    source: StockChange
    destination: StockChange


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


async def transfer_stock(
    uow: UnitOfWork,
    actor: Actor,
    *,
    from_location_id: uuid.UUID,
    to_location_id: uuid.UUID,
    quantity: Decimal | str | int,
    product_id: uuid.UUID | None = None,
    sku: str | None = None,
    unit: str | None = None,
    reason: str | None = None,
) -> Transfer:
    """Move stock between two locations as one atomic pair of ``transfer`` movements that
    share a transfer id. Held stock stays where it is held. The two levels are written in
    the global lock order (by location id), so crossing transfers cannot deadlock."""
    if from_location_id == to_location_id:
        raise InvalidInput("a transfer needs two different locations", field="to_location_id")
    product, source = await _stock_target(
        uow, actor, product_id=product_id, sku=sku, location_id=from_location_id
    )
    _, destination = await _stock_target(
        uow, actor, product_id=product.id, sku=None, location_id=to_location_id
    )
    amount = to_base(quantity, unit, base=product.base_unit, packs=product.packs)
    if amount <= 0:
        raise InvalidInput(
            "a transfer quantity must be positive", code=ErrorCode.INVALID_QUANTITY, field="quantity"
        )
    transfer_id = uuid.uuid4()
    legs = sorted([(source, -amount), (destination, amount)], key=lambda leg: leg[0].id)
    levels: dict[uuid.UUID, StockLevel] = {}
    for location, delta in legs:
        levels[location.id] = await _apply(uow, product, location, delta, spare_held=delta < 0)
    # Lots travel with the stock: first-expiring out of the source, the same lots in.
    out = await lots.take(uow, product, source.id, amount, on_hand_after=levels[source.id].on_hand, sale=True)
    into = []
    for part in out:
        if part.lot is None:
            into.append(lots.Part(None, -part.quantity))
            continue
        arrived = await uow.lots.receive(
            product.id, destination.id, part.lot.lot_number, part.lot.expires_on, -part.quantity, uow.now
        )
        if arrived is None:
            raise Conflict(
                f"lot {part.lot.lot_number} exists at {destination.code} with another expiry date",
                code=ErrorCode.DUPLICATE,
            )
        into.append(lots.Part(arrived.id, -part.quantity))
    changes: dict[uuid.UUID, StockChange] = {}
    events = []
    for location, delta, parts in ((source, -amount, out), (destination, amount, into)):
        level = levels[location.id]
        movements = [
            Movement(
                product.id,
                location.id,
                MovementKind.TRANSFER,
                p.quantity,
                level.on_hand,
                reason,
                transfer_id=transfer_id,
                lot_id=p.lot_id,
            )
            for p in parts
        ]
        changes[location.id] = StockChange(
            product, location, level, await _write(uow, actor, movements), delta
        )
        movement = replace(movements[0], quantity=delta, lot_id=None)
        events.append(
            stock_changed(product, level, movement, location_code=location.code, origin=actor.origin)
        )
    await record(
        uow,
        actor,
        action="stock.transfer",
        entity_type="transfer",
        entity_id=transfer_id,
        owner=product.owner_partner_id,
        before=None,
        after={
            "product_id": str(product.id),
            "from": levels[source.id].snapshot(),
            "to": levels[destination.id].snapshot(),
            "quantity": str(amount),
        },
        events=events,  # a bundle's number does not move: the total stays the same
    )
    return Transfer(product, transfer_id, amount, changes[source.id], changes[destination.id])


@dataclass(frozen=True)
class Return:
    product: Product
    sale_movement_id: int
    quantity: Decimal
    restockable: bool
    change: StockChange  # the level after the return (and its write-off, if not restockable)


async def return_sale(
    uow: UnitOfWork,
    actor: Actor,
    *,
    sale_movement_id: int,
    quantity: Decimal | str | int,
    restockable: bool,
    reason: str,
    unit: str | None = None,
) -> Return:
    """Goods come back against a sale. Restockable: a ``return`` movement at the sale's
    location, sellable again. Not restockable (damaged, opened): the return and an equal
    write-off, both linked to the sale, so the ledger shows what came back and why it is
    not on the shelf. A sale can take back at most what it sold, over all its returns."""
    actor.require(Scope.STOCK_WRITE)
    if not reason.strip():
        raise InvalidInput("a return needs a reason", field="reason")
    sale = await uow.stock.movement(sale_movement_id, for_update=True)
    if sale is None or sale.kind != MovementKind.SALE.value:
        raise NotFound("sale", sale_movement_id)
    product, location = await _stock_target(
        uow, actor, product_id=sale.product_id, sku=None, location_id=sale.location_id
    )
    amount = to_base(quantity, unit, base=product.base_unit, packs=product.packs)
    if amount <= 0:
        raise InvalidInput(
            "a return quantity must be positive", code=ErrorCode.INVALID_QUANTITY, field="quantity"
        )
    returned = await uow.stock.returned_for(sale_movement_id)
    if returned + amount > -sale.quantity:
        raise Conflict(
            f"sale {sale_movement_id} sold {format_quantity(-sale.quantity)}; "
            f"{format_quantity(returned)} already came back",
            code=ErrorCode.INVALID_QUANTITY,
            sold=format_quantity(-sale.quantity),
            returned=format_quantity(returned),
        )
    level = await _apply(uow, product, location, amount, spare_held=False)
    # Back into the lot it was sold from, unless that lot has expired meanwhile: then
    # it cannot be sold again and is written off at once.
    lot = await uow.lots.get(sale.lot_id) if sale.lot_id is not None else None
    if lot is not None and lot.expired(uow.now):
        restockable, reason = False, f"{reason} (lot {lot.lot_number} expired)"
    if lot is not None:
        await uow.lots.receive(product.id, location.id, lot.lot_number, lot.expires_on, amount, uow.now)
    movements = [
        Movement(
            product.id,
            location.id,
            MovementKind.RETURN,
            amount,
            level.on_hand,
            reason,
            sale_movement_id=sale_movement_id,
            restockable=restockable,
            lot_id=lot.id if lot else None,
        )
    ]
    if not restockable:
        level = await _apply(uow, product, location, -amount, spare_held=False)
        if lot is not None and await uow.lots.take(lot.id, amount, uow.now) is None:
            raise AssertionError("a lot just received into could not give it back")
        movements.append(
            Movement(
                product.id,
                location.id,
                MovementKind.ADJUSTMENT,
                -amount,
                level.on_hand,
                f"not restockable: {reason}",
                sale_movement_id=sale_movement_id,
                lot_id=lot.id if lot else None,
            )
        )
    movement_id = await _write(uow, actor, movements)
    last = movements[-1]
    await record(
        uow,
        actor,
        action="stock.return",
        entity_type="stock_level",
        entity_id=f"{product.id}:{location.id}",
        owner=product.owner_partner_id,
        before=None,
        after={**level.snapshot(), "sale_movement_id": sale_movement_id, "restockable": restockable},
        events=[
            stock_changed(product, level, last, location_code=location.code, origin=actor.origin),
            *await announce_bundles(uow, {product.id}, origin=actor.origin),
        ],
    )
    return Return(
        product,
        sale_movement_id,
        amount,
        restockable,
        StockChange(product, location, level, movement_id, amount),
    )
