"""Stock levels and the movement ledger.

A level is a projection of the ledger: ``on_hand`` is the sum of all movement
quantities for (product, location). ``available`` is what can still be promised:
``on_hand - reserved - safety_stock``, never below zero.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from productsync.domain.errors import CompareFailed, ErrorCode, InsufficientStock, InvalidInput
from productsync.domain.quantities import MAX_QUANTITY, format_quantity


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"


@dataclass(frozen=True)
class Location:
    """A warehouse or store. Without an owner it is a hub-wide location all partners stock."""

    id: uuid.UUID
    code: str
    name: str
    kind: LocationKind
    owner_partner_id: uuid.UUID | None
    created_at: datetime
    time_zone: str = "UTC"  # IANA; lots stocked here expire at the end of their date in it


class MovementKind(StrEnum):
    RECEIPT = "receipt"
    SALE = "sale"
    RETURN = "return"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    TRANSFER = "transfer"
    EXPIRY = "expiry"


# Which sign a movement kind allows: +1 only increases, -1 only decreases, 0 either.
_SIGN = {
    MovementKind.RECEIPT: 1,
    MovementKind.RETURN: 1,
    MovementKind.SALE: -1,
    MovementKind.ADJUSTMENT: 0,
    MovementKind.COUNT: 0,
    MovementKind.TRANSFER: 0,
    MovementKind.EXPIRY: -1,
}


def check_delta(kind: MovementKind, delta: Decimal) -> None:
    """A receipt cannot take stock away and a sale cannot add it; zero moves nothing."""
    if delta == 0 and kind is not MovementKind.COUNT:
        raise InvalidInput("delta must not be zero", code=ErrorCode.INVALID_QUANTITY, field="delta")
    sign = _SIGN[kind]
    if sign > 0 and delta < 0 or sign < 0 and delta > 0:
        word = "positive" if sign > 0 else "negative"
        raise InvalidInput(
            f"a {kind.value} must have a {word} delta",
            code=ErrorCode.INVALID_QUANTITY,
            field="delta",
            kind=kind.value,
        )


@dataclass(frozen=True)
class StockLevel:
    product_id: uuid.UUID
    location_id: uuid.UUID
    on_hand: Decimal
    reserved: Decimal
    safety_stock: Decimal
    version: int
    updated_at: datetime | None = None

    @property
    def available(self) -> Decimal:
        return max(Decimal(0), self.on_hand - self.reserved - self.safety_stock)

    def apply(self, delta: Decimal) -> StockLevel:
        """The level after a movement; a negative ``on_hand`` is refused, never stored."""
        after = self.on_hand + delta
        if after < 0:
            raise insufficient(self, delta)
        if after > MAX_QUANTITY:
            raise too_much(self, delta)
        return replace(self, on_hand=after, version=self.version + 1)

    def set_to(self, quantity: Decimal, *, compare: Decimal | None = None) -> tuple[StockLevel, Decimal]:
        """Absolute set (a count); with ``compare`` it is a compare-and-set."""
        if compare is not None and compare != self.on_hand:
            raise CompareFailed(
                f"on_hand is {format_quantity(self.on_hand)}, not {format_quantity(compare)}",
                current_quantity=format_quantity(self.on_hand),
                version=self.version,
            )
        if quantity < 0:
            raise InvalidInput("quantity must not be negative", code=ErrorCode.INVALID_QUANTITY)
        return replace(self, on_hand=quantity, version=self.version + 1), quantity - self.on_hand

    def snapshot(self) -> dict[str, Any]:
        return {
            "product_id": str(self.product_id),
            "location_id": str(self.location_id),
            "on_hand": format_quantity(self.on_hand),
            "reserved": format_quantity(self.reserved),
            "safety_stock": format_quantity(self.safety_stock),
            "available": format_quantity(self.available),
            "version": self.version,
        }


def empty_level(product_id: uuid.UUID, location_id: uuid.UUID) -> StockLevel:
    return StockLevel(product_id, location_id, Decimal(0), Decimal(0), Decimal(0), 0)


def insufficient(level: StockLevel, delta: Decimal) -> InsufficientStock:
    return InsufficientStock(
        f"on_hand is {format_quantity(level.on_hand)}; a change of {format_quantity(delta)} "
        "would make it negative",
        product_id=str(level.product_id),
        location_id=str(level.location_id),
        on_hand=format_quantity(level.on_hand),
        requested_delta=format_quantity(delta),
    )


def held_back(level: StockLevel, delta: Decimal) -> InsufficientStock:
    """A sale may not take what reservations hold for others."""
    free = max(Decimal(0), level.on_hand - level.reserved)
    return InsufficientStock(
        f"only {format_quantity(free)} can be sold: {format_quantity(level.reserved)} of "
        f"{format_quantity(level.on_hand)} on hand is held by reservations",
        product_id=str(level.product_id),
        location_id=str(level.location_id),
        on_hand=format_quantity(level.on_hand),
        reserved=format_quantity(level.reserved),
        requested_delta=format_quantity(delta),
    )


def too_much(level: StockLevel, delta: Decimal) -> InvalidInput:
    return InvalidInput(
        f"on_hand would exceed the largest storable quantity ({format_quantity(MAX_QUANTITY)})",
        code=ErrorCode.INVALID_QUANTITY,
        on_hand=format_quantity(level.on_hand),
        requested_delta=format_quantity(delta),
    )


@dataclass(frozen=True)
class Movement:
    """One ledger row; the ledger is append-only."""

    product_id: uuid.UUID
    location_id: uuid.UUID
    kind: MovementKind
    quantity: Decimal
    on_hand_after: Decimal
    reason: str | None
    expected: Decimal | None = None
    reservation_id: uuid.UUID | None = None
    sale_movement_id: int | None = None  # a return's sale
    transfer_id: uuid.UUID | None = None  # both halves of a transfer carry it
    restockable: bool | None = None  # returns only
    lot_id: uuid.UUID | None = None


@dataclass(frozen=True)
class CountAccuracy:
    """Cycle counts that found what the hub expected, out of all counts; and the open
    oversells (channel sales the hub had no stock for) that still wait for a person."""

    matched: int
    counts: int
    open_oversells: int = 0
    oversold: Decimal = Decimal(0)

    @property
    def percent(self) -> Decimal | None:
        """None before the first count: 0 % would claim every count was wrong."""
        if not self.counts:
            return None
        return (Decimal(self.matched) * 100 / self.counts).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class StockTotals:
    on_hand: Decimal
    reserved: Decimal
    safety_stock: Decimal
    available: Decimal


def totals(levels: list[StockLevel]) -> StockTotals:
    """Totals over locations. ``available`` sums per-location availability, because
    a surplus at one location cannot cover a deficit held back at another."""
    return StockTotals(
        on_hand=sum((lv.on_hand for lv in levels), Decimal(0)),
        reserved=sum((lv.reserved for lv in levels), Decimal(0)),
        safety_stock=sum((lv.safety_stock for lv in levels), Decimal(0)),
        available=sum((lv.available for lv in levels), Decimal(0)),
    )
