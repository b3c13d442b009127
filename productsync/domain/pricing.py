"""Price lists, tiered prices with validity windows, and price resolution.

Resolution rule for ``resolve(entries, quantity, at)``:

1. candidates are entries valid at ``at`` (``valid_from <= at < valid_to``, open
   ends allowed) whose ``min_quantity <= quantity``;
2. the entries that started most recently win: a promotion or a scheduled price
   change overrides the open-ended list price for as long as it is valid;
3. among those, the highest quantity tier wins.

So a promotion replaces the regular tiers while it runs; give it its own tiers
if quantity breaks should still apply during it.

Channels are told the price *in force* (``price_in_force``): the unit price of one
sellable unit now, and, while a window that ends is running below the open-ended
price, that regular price beside it, so storefronts can show their own sale fields.
The price in force only changes at a *window boundary* (an entry's ``valid_from`` or
``valid_to``); ``boundaries`` lists those still ahead, so a scheduler can announce
each one when it comes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.instants import to_utc
from productsync.domain.money import minor_units, parse_amount
from productsync.domain.quantities import BaseUnit


class PriceListKind(StrEnum):
    RETAIL = "retail"
    PARTNER = "partner"


@dataclass(frozen=True)
class PriceList:
    id: uuid.UUID
    name: str
    owner_partner_id: uuid.UUID | None
    currency: str
    kind: PriceListKind
    region: str | None
    created_at: datetime


@dataclass(frozen=True)
class PriceEntry:
    min_quantity: Decimal
    amount: Decimal
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def valid_at(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )

    @property
    def is_promotion(self) -> bool:
        return self.valid_from is not None or self.valid_to is not None

    def snapshot(self) -> dict[str, Any]:
        return {
            "min_quantity": str(self.min_quantity.normalize()),
            "amount": str(self.amount),
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }


def check_entries(currency: str, entries: list[PriceEntry]) -> list[PriceEntry]:
    """Validate a product's full set of entries on one list before it replaces the old set."""
    out: list[PriceEntry] = []
    seen: set[tuple[Decimal, datetime | None, datetime | None]] = set()
    for i, e in enumerate(entries):
        field = f"prices[{i}]"
        if e.min_quantity <= 0:
            raise InvalidInput(f"{field}.min_quantity must be positive", field=f"{field}.min_quantity")
        valid_from = None if e.valid_from is None else to_utc(e.valid_from, field=f"{field}.valid_from")
        valid_to = None if e.valid_to is None else to_utc(e.valid_to, field=f"{field}.valid_to")
        e = PriceEntry(e.min_quantity, e.amount, valid_from, valid_to)  # noqa: PLW2901
        if e.valid_from and e.valid_to and e.valid_to <= e.valid_from:
            raise InvalidInput(f"{field}.valid_to must be after valid_from", field=f"{field}.valid_to")
        key = (e.min_quantity, e.valid_from, e.valid_to)
        if key in seen:
            raise Conflict(
                f"{field} repeats a tier and window already given", code=ErrorCode.DUPLICATE, field=field
            )
        seen.add(key)
        amount = parse_amount(e.amount, currency, field=f"{field}.amount")
        out.append(PriceEntry(e.min_quantity, amount, e.valid_from, e.valid_to))
    return out


@dataclass(frozen=True)
class ResolvedPrice:
    unit_amount: Decimal
    total: Decimal
    entry: PriceEntry
    regular_unit_amount: Decimal | None


def _rank(e: PriceEntry) -> tuple[int, float, Decimal]:
    started = e.valid_from.timestamp() if e.valid_from is not None else float("-inf")
    return (1 if e.is_promotion else 0, started, e.min_quantity)


def resolve(
    entries: list[PriceEntry], quantity: Decimal, at: datetime, *, currency: str, ref: object = ""
) -> ResolvedPrice:
    """The one effective unit price for ``quantity`` at instant ``at`` (see module doc)."""
    if quantity <= 0:
        raise InvalidInput("quantity must be positive", code=ErrorCode.INVALID_QUANTITY, field="quantity")
    at = to_utc(at, field="at")
    candidates = [e for e in entries if e.valid_at(at) and e.min_quantity <= quantity]
    if not candidates:
        raise NotFound("price", ref or f"for quantity {quantity} at {at.isoformat()}")
    best = max(candidates, key=_rank)
    regular = [e for e in candidates if not e.is_promotion]
    regular_amount = max(regular, key=_rank).amount if regular and best.is_promotion else None
    quantum = Decimal(1).scaleb(-minor_units(currency))
    total = (best.amount * quantity).quantize(quantum, rounding=ROUND_HALF_UP)
    return ResolvedPrice(best.amount, total, best, regular_amount)


@dataclass(frozen=True)
class PriceInForce:
    """The price one sellable unit costs at an instant, for channels.

    ``regular_amount`` is the open-ended price (no ``valid_to``) that a running window
    replaces; it is set only while such a window is in force, so ``on_sale`` holds when
    that window is cheaper than the regular price and ends (a window with no end is a
    price change, not a sale; a dearer window is a surcharge, shown as the price)."""

    amount: Decimal
    currency: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    regular_amount: Decimal | None = None

    @property
    def on_sale(self) -> bool:
        ends = self.valid_to is not None
        return ends and self.regular_amount is not None and self.amount < self.regular_amount

    def snapshot(self) -> dict[str, Any]:
        return {
            "amount": str(self.amount),
            "currency": self.currency,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "regular_amount": None if self.regular_amount is None else str(self.regular_amount),
        }


def sellable_unit(entries: list[PriceEntry], base_unit: BaseUnit) -> Decimal:
    """The quantity a channel's one price is for: one piece, or the smallest tier of a
    product sold by measure (a price per ml means nothing to a storefront)."""
    if base_unit is BaseUnit.PIECE or not entries:
        return Decimal(1)
    return min(e.min_quantity for e in entries)


def price_in_force(
    entries: list[PriceEntry], at: datetime, *, currency: str, base_unit: BaseUnit
) -> PriceInForce | None:
    """The price in force at ``at`` for one sellable unit (None when no entry applies)."""
    if not entries:
        return None
    quantity = sellable_unit(entries, base_unit)
    try:
        best = resolve(entries, quantity, at, currency=currency).entry
    except NotFound:
        return None
    regular = None
    if best.valid_to is not None:
        at = to_utc(at, field="at")
        open_ended = [
            e for e in entries if e.valid_to is None and e.valid_at(at) and e.min_quantity <= quantity
        ]
        regular = max(open_ended, key=_rank).amount if open_ended else None
    return PriceInForce(best.amount, currency, best.valid_from, best.valid_to, regular)


def boundaries(entries: list[PriceEntry], after: datetime) -> list[datetime]:
    """The instants after ``after`` where some entry starts or ends, in order: the only
    moments at which the price in force can change without a write."""
    instants = {t for e in entries for t in (e.valid_from, e.valid_to) if t is not None and t > after}
    return sorted(instants)
