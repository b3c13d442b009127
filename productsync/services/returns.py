"""Returns: goods that come back against a sale, restockable or written off."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.events import stock_changed
from productsync.domain.inventory import Movement, MovementKind
from productsync.domain.quantities import format_quantity
from productsync.domain.units import to_base
from productsync.services.bundles import announce_bundles
from productsync.services.recording import record
from productsync.services.stock import StockChange, _apply, _stock_target, _write
from productsync.store.uow import UnitOfWork


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
