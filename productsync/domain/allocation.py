"""The pure steps around ``allocate``: what a reservation's lines need, what each level
can hold, and which lots the holds of lot-tracked products pin.

    lines --needs()--> [Need]    levels + lots --free()--> Free
                 \\                   /
                  allocate(needs, free)  (domain/reservations.py)
                          |
            holds --pin_lots()--> holds split over lots, first-expiring first

No I/O: the reservation use case reads the levels and lots, runs these, and writes
the holds with the conditional updates that keep the invariant.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from productsync.domain.catalog import Product
from productsync.domain.channels import Channel
from productsync.domain.inventory import StockLevel
from productsync.domain.lots import Lot, sellable_free, take_fefo
from productsync.domain.reservations import Free, Hold, Need

# A line as the use case resolved it: the product, the quantity in its base unit, and
# the location the line named (None: wherever the rules allow).
Requested = tuple[Product, Decimal, uuid.UUID | None]


class LotMap(dict[tuple[uuid.UUID, uuid.UUID], list[Lot]]):
    """Lots per level (product id, location id), and which products track lots at all:
    a tracked product's level can hold only what its eligible lots have free."""

    def __init__(
        self, tracked: set[uuid.UUID], lots: dict[tuple[uuid.UUID, uuid.UUID], list[Lot]] | None = None
    ) -> None:
        super().__init__(lots or {})
        self.tracked = tracked


def needs(
    requested: list[Requested],
    components: dict[uuid.UUID, Product],
    levels: dict[uuid.UUID, list[StockLevel]],
    channel: Channel | None,
) -> list[Need]:
    """What each line needs of each stock-keeping product (a bundle line: each component
    times its quantity), and where it may come from: the line's location, else the
    channel's locations among those stocking it, else wherever it is stocked."""

    def where(product_id: uuid.UUID, location_id: uuid.UUID | None) -> tuple[uuid.UUID, ...]:
        if location_id is not None:
            return (location_id,)
        found = [lv.location_id for lv in levels.get(product_id, [])]
        if channel is not None:
            found = [loc for loc in found if channel.counts_location(loc)]
        return tuple(sorted(found))

    out = []
    for i, (product, quantity, location_id) in enumerate(requested):
        if product.is_bundle:
            for c in product.components:
                part = components[c.product_id]
                out.append(Need(i, part.id, part.sku, quantity * c.quantity, where(part.id, location_id)))
        else:
            out.append(
                Need(
                    i,
                    product.id,
                    product.sku,
                    quantity,
                    where(product.id, location_id),
                    product.allow_backorders,
                )
            )
    return out


def free(
    levels: dict[uuid.UUID, list[StockLevel]], lot_map: LotMap, now: datetime, min_shelf_life_days: int
) -> Free:
    """What each level can hold now; a lot-tracked level only what its eligible lots have
    free (never expired stock, never lots short of the channel's shelf-life rule)."""
    out = {}
    for lvs in levels.values():
        for lv in lvs:
            key = (lv.product_id, lv.location_id)
            out[key] = lv.available
            if lv.product_id in lot_map.tracked:
                out[key] = min(lv.available, sellable_free(lot_map.get(key, []), now, min_shelf_life_days))
    return out


def pin_lots(
    holds: dict[int, list[Hold]], lot_map: LotMap, now: datetime, min_shelf_life_days: int
) -> dict[int, list[Hold]]:
    """Split each hold of a lot-tracked product over its level's lots, first-expiring
    first among the eligible ones (the allocation made sure they cover it); holds of
    untracked products stay as they are. Lines share lots: a later line gets what the
    earlier ones left."""
    if not lot_map.tracked:
        return holds
    left: dict[uuid.UUID, Decimal] = {lot.id: lot.free for lots_ in lot_map.values() for lot in lots_}
    out: dict[int, list[Hold]] = {}
    for line, line_holds in holds.items():
        pinned = []
        for hold in line_holds:
            if hold.product_id not in lot_map.tracked:
                pinned.append(hold)
                continue
            candidates = [
                replace(lot, reserved=lot.quantity - left[lot.id])
                for lot in lot_map.get((hold.product_id, hold.location_id), [])
            ]
            taken, short = take_fefo(candidates, hold.quantity, now, min_shelf_life_days)
            if short > 0:
                raise AssertionError("allocation exceeded the eligible lots")
            for lot, q in taken:
                left[lot.id] -= q
                pinned.append(Hold(hold.product_id, hold.location_id, q, lot.id))
        out[line] = pinned
    return out
