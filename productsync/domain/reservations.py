"""Reservations: holds on stock for a while, then committed (sold), released or expired.

Allocation is a pure function here: given what each location has free, it decides
where every line is held, what is backordered, or which lines are short. The store
then applies the holds as conditional updates in one global order (product id, then
location id), so two multi-line reservations can never wait on each other in a
cycle and no hold can take more than is free at the moment it is written.

Allocation rule when a line names no location: fewest splits first (one location
that can hold the whole line, the one with the most free stock among those), else
split across locations from the most free stock down. Ties go to the lower location
id so the outcome does not depend on the order rows came back in.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from productsync.domain.errors import Conflict, ErrorCode, InsufficientStock, InvalidInput
from productsync.domain.quantities import format_quantity

DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(days=7)
MAX_LINES = 100


class ReservationStatus(StrEnum):
    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Hold:
    """So much of one product held at one location (raises that level's ``reserved``)."""

    product_id: uuid.UUID
    location_id: uuid.UUID
    quantity: Decimal
    lot_id: uuid.UUID | None = None  # lot-tracked products hold a lot, first-expiring first


@dataclass(frozen=True)
class Need:
    """What one request line needs of one stock-keeping product: the product itself,
    or for a bundle line, one of its components (``line`` ties them together)."""

    line: int
    product_id: uuid.UUID
    sku: str
    quantity: Decimal
    locations: tuple[uuid.UUID, ...]  # where it may be held (one when the line names it)
    backorder: bool = False


@dataclass(frozen=True)
class Line:
    """A request line as allocated (what the client asked for, and how it is held)."""

    product_id: uuid.UUID
    sku: str
    quantity: Decimal
    location_id: uuid.UUID | None
    holds: tuple[Hold, ...]
    backordered: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "product_id": str(self.product_id),
            "sku": self.sku,
            "quantity": format_quantity(self.quantity),
            "location_id": str(self.location_id) if self.location_id else None,
            "backordered": format_quantity(self.backordered),
            "holds": [
                {
                    "product_id": str(h.product_id),
                    "location_id": str(h.location_id),
                    "quantity": format_quantity(h.quantity),
                    "lot_id": str(h.lot_id) if h.lot_id else None,
                }
                for h in self.holds
            ],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Line:
        return cls(
            product_id=uuid.UUID(raw["product_id"]),
            sku=raw["sku"],
            quantity=Decimal(raw["quantity"]),
            location_id=uuid.UUID(raw["location_id"]) if raw.get("location_id") else None,
            backordered=Decimal(raw.get("backordered") or 0),
            holds=tuple(
                Hold(
                    uuid.UUID(h["product_id"]),
                    uuid.UUID(h["location_id"]),
                    Decimal(h["quantity"]),
                    uuid.UUID(h["lot_id"]) if h.get("lot_id") else None,
                )
                for h in raw["holds"]
            ),
        )


@dataclass(frozen=True)
class Reservation:
    id: uuid.UUID
    partner_id: uuid.UUID | None
    channel_id: uuid.UUID | None
    external_ref: str | None
    status: ReservationStatus
    expires_at: datetime
    lines: tuple[Line, ...]
    version: int
    created_at: datetime
    updated_at: datetime

    def holds(self) -> list[Hold]:
        """Every hold, merged per level and in the global lock order."""
        return merge_holds(h for line in self.lines for h in line.holds)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def check_open(self, now: datetime) -> None:
        """Commit and extend need a live hold: not finished, not past its time."""
        if self.status is not ReservationStatus.HELD:
            raise Conflict(
                f"reservation {self.id} is {self.status.value}",
                code=ErrorCode.RESERVATION_CLOSED,
                status=self.status.value,
            )
        if self.is_expired(now):
            raise Conflict(
                f"reservation {self.id} expired at {self.expires_at.isoformat()}",
                code=ErrorCode.RESERVATION_EXPIRED,
                expires_at=self.expires_at.isoformat(),
            )

    def finish(self, status: ReservationStatus, now: datetime) -> Reservation:
        return replace(self, status=status, version=self.version + 1, updated_at=now)

    def extend(self, ttl: timedelta, now: datetime) -> Reservation:
        self.check_open(now)
        return replace(self, expires_at=now + ttl, version=self.version + 1, updated_at=now)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "status": self.status.value,
            "expires_at": self.expires_at.isoformat(),
            "channel_id": str(self.channel_id) if self.channel_id else None,
            "external_ref": self.external_ref,
            "lines": [line.to_json() for line in self.lines],
            "version": self.version,
        }


def check_ttl(seconds: float | None) -> timedelta:
    if seconds is None:
        return DEFAULT_TTL
    if not 1 <= seconds <= MAX_TTL.total_seconds():
        raise InvalidInput(
            f"ttl_seconds must be between 1 and {int(MAX_TTL.total_seconds())}", field="ttl_seconds"
        )
    return timedelta(seconds=seconds)


def merge_holds(holds: Any) -> list[Hold]:
    """One hold per level (summed), sorted by (product id, location id): the order every
    multi-row stock write locks in."""
    merged: dict[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None], Decimal] = defaultdict(Decimal)
    for h in holds:
        merged[(h.product_id, h.location_id, h.lot_id)] += h.quantity
    ordered = sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or uuid.UUID(int=0)))
    return [Hold(p, loc, q, lot) for (p, loc, lot), q in ordered]


@dataclass(frozen=True)
class Shortage:
    line: int
    product_id: uuid.UUID
    sku: str
    requested: Decimal
    available: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "product_id": str(self.product_id),
            "sku": self.sku,
            "requested": format_quantity(self.requested),
            "available": format_quantity(self.available),
        }


@dataclass(frozen=True)
class Allocation:
    holds: dict[int, list[Hold]]  # per request line
    backordered: dict[int, Decimal]


Free = dict[tuple[uuid.UUID, uuid.UUID], Decimal]


def allocate(needs: list[Need], free: Free) -> Allocation:
    """Place every need, all or nothing: an ``InsufficientStock`` names every short line
    (with what was free for it) and nothing is held."""
    left = dict(free)
    holds: dict[int, list[Hold]] = defaultdict(list)
    backordered: dict[int, Decimal] = defaultdict(Decimal)
    short: list[Shortage] = []
    for need in needs:
        options = [(left.get((need.product_id, loc), Decimal(0)), loc) for loc in need.locations]
        total = sum((q for q, _ in options), Decimal(0))
        whole = [(q, loc) for q, loc in options if q >= need.quantity]
        if whole:
            order = [min(whole, key=lambda o: (-o[0], o[1]))]
        else:
            order = sorted(options, key=lambda o: (-o[0], o[1]))
        wanted = need.quantity
        for q, loc in order:
            if wanted <= 0:
                break
            take = min(q, wanted)
            if take > 0:
                holds[need.line].append(Hold(need.product_id, loc, take))
                left[(need.product_id, loc)] = q - take
                wanted -= take
        if wanted > 0:
            if need.backorder:
                backordered[need.line] += wanted
            else:
                short.append(Shortage(need.line, need.product_id, need.sku, need.quantity, total))
    if short:
        raise shortage_error(short)
    return Allocation(dict(holds), dict(backordered))


def shortage_error(short: list[Shortage]) -> InsufficientStock:
    first = short[0]
    more = f" (and {len(short) - 1} more line(s))" if len(short) > 1 else ""
    return InsufficientStock(
        f"line {first.line}: {format_quantity(first.requested)} of {first.sku} requested, "
        f"{format_quantity(first.available)} available{more}; nothing was reserved",
        short_lines=[s.to_json() for s in short],
    )
