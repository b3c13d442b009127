"""Change events: what happened, carrying the aggregate's full new state.

Each event holds the full new state and its ``version`` rather than a diff, so a
receiver keeps the highest version it has seen, a replay is always harmless, and
a delivery queued behind a newer one for the same thing can be skipped.
Events are serialized as CloudEvents 1.0 at the edge (store/api), not here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from productsync.domain.catalog import Product
from productsync.domain.inventory import Movement, StockLevel
from productsync.domain.lots import Lot
from productsync.domain.quantities import format_quantity


class EventType(StrEnum):
    PRODUCT_CREATED = "productsync.product.created"
    PRODUCT_UPDATED = "productsync.product.updated"
    PRODUCT_ARCHIVED = "productsync.product.archived"
    STOCK_CHANGED = "productsync.stock.changed"
    PRICE_CHANGED = "productsync.price.changed"
    LOT_NEAR_EXPIRY = "productsync.lot.near_expiry"
    LOT_EXPIRED = "productsync.lot.expired"
    STOCK_OVERSOLD = "productsync.stock.oversold"


@dataclass(frozen=True)
class DomainEvent:
    type: EventType
    subject: str
    data: dict[str, Any]
    partner_id: uuid.UUID | None
    product_id: uuid.UUID | None
    origin: str
    id: uuid.UUID
    version: int
    channel_id: uuid.UUID | None = None  # directed at one channel only (snapshot, correction)


def product_event(
    type_: EventType, product: Product, *, origin: str, channel_id: uuid.UUID | None = None
) -> DomainEvent:
    return DomainEvent(
        type=type_,
        subject=product.sku,
        data={"product": product.snapshot()},
        partner_id=product.owner_partner_id,
        product_id=product.id,
        origin=origin,
        id=uuid.uuid4(),
        version=product.version,
        channel_id=channel_id,
    )


def stock_changed(
    product: Product,
    level: StockLevel,
    movement: Movement | None,
    *,
    location_code: str,
    origin: str,
    reservation: dict[str, Any] | None = None,
) -> DomainEvent:
    """Carries the whole level after the change (not only the delta), plus the movement;
    a hold or release moves ``reserved`` without a movement and names the reservation."""
    data: dict[str, Any] = {
        "sku": product.sku,
        "location_code": location_code,
        "level": level.snapshot(),
        "movement": None
        if movement is None
        else {
            "kind": movement.kind.value,
            "quantity": format_quantity(movement.quantity),
            "reason": movement.reason,
        },
    }
    if reservation is not None:
        data["reservation"] = reservation
    return DomainEvent(
        type=EventType.STOCK_CHANGED,
        subject=product.sku,
        data=data,
        partner_id=product.owner_partner_id,
        product_id=product.id,
        origin=origin,
        id=uuid.uuid4(),
        version=level.version,
    )


def bundle_stock_changed(
    bundle: Product,
    available: Decimal,
    component_levels: list[StockLevel],
    *,
    origin: str,
    channel_id: uuid.UUID | None = None,
) -> DomainEvent:
    """A bundle's derived availability moved because a component's stock did. A bundle
    has no level of its own; its version is the sum of its component levels' versions,
    which only grows, so receivers can keep the highest version as for any level."""
    return DomainEvent(
        type=EventType.STOCK_CHANGED,
        subject=bundle.sku,
        data={
            "sku": bundle.sku,
            "location_code": None,
            "level": None,
            "movement": None,
            "bundle": {
                "available": format_quantity(available),
                "components": [
                    {"product_id": str(c.product_id), "quantity": format_quantity(c.quantity)}
                    for c in bundle.components
                ],
            },
        },
        partner_id=bundle.owner_partner_id,
        product_id=bundle.id,
        origin=origin,
        id=uuid.uuid4(),
        version=sum(lv.version for lv in component_levels),
        channel_id=channel_id,
    )


def lot_event(product: Product, lot: Lot, *, expired: bool, origin: str) -> DomainEvent:
    """A lot came within the near-expiry window, or expired and was written off."""
    return DomainEvent(
        type=EventType.LOT_EXPIRED if expired else EventType.LOT_NEAR_EXPIRY,
        subject=product.sku,
        data={"sku": product.sku, "lot": lot.snapshot()},
        partner_id=product.owner_partner_id,
        product_id=product.id,
        origin=origin,
        id=uuid.uuid4(),
        version=1,
    )


def stock_snapshot(
    product: Product, level: StockLevel, *, location_code: str, channel_id: uuid.UUID, origin: str
) -> DomainEvent:
    """A level as it stands, for one channel (its backfill, or a correction it needs):
    ``stock_changed`` with no movement, so receivers need no new code."""
    event = stock_changed(product, level, None, location_code=location_code, origin=origin)
    return replace(event, channel_id=channel_id)


def price_changed(
    product: Product,
    price_list_id: uuid.UUID,
    currency: str,
    entries: list[dict[str, Any]],
    *,
    version: int,
    list_owner: uuid.UUID | None,
    origin: str,
    channel_id: uuid.UUID | None = None,
    in_force: dict[str, Any] | None = None,
) -> DomainEvent:
    """The whole tier set of a product on a list, and the price in force when the event
    was written (``PriceInForce.snapshot``; null when no entry applies then), so a
    receiver that shows one price needs no resolution of its own."""
    return DomainEvent(
        type=EventType.PRICE_CHANGED,
        subject=product.sku,
        data={
            "sku": product.sku,
            "product_id": str(product.id),
            "price_list_id": str(price_list_id),
            "currency": currency,
            "prices": entries,
            "price_in_force": in_force,
            "version": version,
        },
        partner_id=list_owner if list_owner is not None else product.owner_partner_id,
        product_id=product.id,
        origin=origin,
        id=uuid.uuid4(),
        version=version,
        channel_id=channel_id,
    )


def stock_oversold(
    product: Product,
    oversell: dict[str, Any],
    level: StockLevel | None,
    *,
    location_code: str,
    origin: str,
) -> DomainEvent:
    """A channel sold more than the hub had: the sale was recorded for what there was and
    ``oversell`` (its snapshot) names the missing quantity, the channel and the order, for
    a person to resolve. Not a state of the level (``stock.changed`` carries that), so it
    is never coalesced with one."""
    return DomainEvent(
        type=EventType.STOCK_OVERSOLD,
        subject=product.sku,
        data={
            "sku": product.sku,
            "location_code": location_code,
            "oversell": oversell,
            "level": level.snapshot() if level is not None else None,
        },
        partner_id=product.owner_partner_id,
        product_id=product.id,
        origin=origin,
        id=uuid.uuid4(),
        version=level.version if level is not None else 0,
    )
