"""Stock checks: cycle-count accuracy, and the integrity check of levels, lots and holds
against the ledger and the live reservations."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal

from productsync.domain.access import Actor, Scope
from productsync.domain.errors import NotFound
from productsync.domain.inventory import CountAccuracy
from productsync.store.uow import UnitOfWork


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
