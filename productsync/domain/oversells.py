"""Oversells: a channel sold more than the hub had.

A sale reported by a channel (a storefront, a POS, a paid Stripe or Shopify order) has
already happened: refusing it would not undo it, only hide it. So the hub records the
sale of what it can sell and an *oversell* for the rest: the missing quantity, the
channel and the order, open until a person resolves it. ``on_hand`` never goes below
zero and stock held by reservations is never taken for it.

What "can be sold" at a level is decided here, as a pure function of the locked level
and its lots (the same rules a sale follows in ``services/stock.adjust_stock``): not
what reservations hold, not expired lots.

Resolutions (``RESOLUTIONS`` documents each one):

- ``restock``: the missing goods turned up (or arrived) and went to the customer: the
  missing quantity is sold now from the oversell's location, optionally received there
  first in the same transaction.
- ``cancel``: the missing part of the order was cancelled or refunded at the channel;
  nothing moves.
- ``substitute``: another product was sent instead; the missing quantity of the
  substitute is sold from the oversell's location.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from productsync.domain.inventory import StockLevel
from productsync.domain.lots import Lot, sellable_free
from productsync.domain.quantities import format_quantity


class OversellStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class OversellResolution(StrEnum):
    RESTOCK = "restock"
    CANCEL = "cancel"
    SUBSTITUTE = "substitute"


RESOLUTIONS: dict[OversellResolution, str] = {
    OversellResolution.RESTOCK: (
        "the missing quantity is sold now from the oversell's location (with receive=true it "
        "is received there first, in the same transaction); 409 if the stock is not there"
    ),
    OversellResolution.CANCEL: "the missing part was cancelled or refunded at the channel; nothing moves",
    OversellResolution.SUBSTITUTE: (
        "substitute_product_id was sent instead: the missing quantity of it is sold from the "
        "oversell's location; 409 if it is not there"
    ),
}


@dataclass(frozen=True)
class SaleSplit:
    """A channel sale cut into what the hub takes from stock and what it lacks."""

    taken: Decimal
    missing: Decimal


def sellable(level: StockLevel | None, lots: list[Lot], now: datetime, *, tracked: bool) -> Decimal:
    """What a sale may take from a level: on hand minus what reservations hold and, for a
    lot-tracked product, no more than the unexpired lots' free stock plus the untracked
    remainder (exactly what ``lots.take`` lets a sale take)."""
    if level is None:
        return Decimal(0)
    free = max(Decimal(0), level.on_hand - level.reserved)
    if not tracked:
        return free
    untracked = max(Decimal(0), level.on_hand - sum((lot.quantity for lot in lots), Decimal(0)))
    return min(free, sellable_free(lots, now) + untracked)


def split_sale(quantity: Decimal, can_sell: Decimal) -> SaleSplit:
    """Take what there is (never more than sold), the rest is missing."""
    taken = max(Decimal(0), min(quantity, can_sell))
    return SaleSplit(taken, quantity - taken)


@dataclass(frozen=True)
class Oversell:
    """The part of a recorded channel sale the hub had no stock for."""

    id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    owner_partner_id: uuid.UUID
    channel_id: uuid.UUID | None
    source: str  # "channel:<id>" or "stripe"
    event_id: str  # the source's event id: one oversell per event, ever
    order_ref: str | None
    sold: Decimal  # what the channel reported sold
    quantity: Decimal  # what was missing
    movement_id: int | None  # the ledger row of the sale (names this oversell)
    status: OversellStatus
    created_at: datetime
    resolution: OversellResolution | None = None
    note: str | None = None
    substitute_product_id: uuid.UUID | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "product_id": str(self.product_id),
            "location_id": str(self.location_id),
            "channel_id": str(self.channel_id) if self.channel_id else None,
            "source": self.source,
            "event_id": self.event_id,
            "order_ref": self.order_ref,
            "sold": format_quantity(self.sold),
            "quantity": format_quantity(self.quantity),
            "movement_id": self.movement_id,
            "status": self.status.value,
            "resolution": self.resolution.value if self.resolution else None,
            "note": self.note,
            "substitute_product_id": str(self.substitute_product_id) if self.substitute_product_id else None,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by,
        }


def ledger_note(oversell_id: uuid.UUID, missing: Decimal) -> str:
    """What the sale's ledger row says, so the movement listing shows the oversell."""
    return f"oversold {format_quantity(missing)} (oversell {oversell_id})"
