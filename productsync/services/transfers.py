"""Transfers: stock moved between two locations as one atomic pair of movements."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from productsync.domain.access import Actor
from productsync.domain.catalog import Product
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput
from productsync.domain.events import stock_changed
from productsync.domain.inventory import Movement, MovementKind, StockLevel
from productsync.domain.units import to_base
from productsync.services import lots
from productsync.services.recording import record
from productsync.services.stock import StockChange, _apply, _stock_target, _write
from productsync.store.uow import UnitOfWork


@dataclass(frozen=True)
class Transfer:
    product: Product
    transfer_id: uuid.UUID
    quantity: Decimal
    source: StockChange
    destination: StockChange


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
    partner: str | None = None,
) -> Transfer:
    """Move stock between two locations as one atomic pair of ``transfer`` movements that
    share a transfer id. Held stock stays where it is held. The two levels are written in
    the global lock order (by location id), so crossing transfers cannot deadlock."""
    if from_location_id == to_location_id:
        raise InvalidInput("a transfer needs two different locations", field="to_location_id")
    product, source = await _stock_target(
        uow, actor, product_id=product_id, sku=sku, location_id=from_location_id, partner=partner
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
