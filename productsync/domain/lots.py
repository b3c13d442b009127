"""Lots: a lot number and an expiry date for part of a level's stock.

Lot-tracked categories (cosmetics) receive stock only with a lot number and expiry
date. Stock leaves first-expiring-first (FEFO). A lot is usable through the whole of
its expiry date where it is stocked: it expires at the first instant of the next day
in its location's time zone (``expires_at``), not at a UTC midnight that falls in the
middle of a local business day. From then on it no longer counts as available, is
never allocated, and the scheduler writes it off with an ``expiry`` movement. A
channel may ask for a minimum remaining shelf life (whole local days after today):
lots closer to expiry than that do not count for it and are never allocated to its
reservations.

Stock that came back without a lot (a return, a count that found more) is kept as
the level's untracked remainder (``on_hand`` minus the lots); it leaves after the
lots, and channels that require a shelf life do not count it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from productsync.domain.errors import InvalidInput
from productsync.domain.inventory import StockLevel
from productsync.domain.quantities import format_quantity

_LOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,59}$")
NEAR_EXPIRY_DAYS = 30
DEFAULT_TIME_ZONE = "UTC"
_NEVER = datetime.max.replace(tzinfo=UTC)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@cache
def _known_zones() -> frozenset[str]:
    """Read once (it scans the tz database). Membership refuses what ZoneInfo would open
    but IANA does not name: paths, and the host's own "localtime" (a hub's rule must not
    depend on the machine it runs on)."""
    return frozenset(available_timezones() - {"localtime", "Factory"})


def check_time_zone(name: str) -> str:
    """An IANA time zone name that the zone database knows, e.g. ``Pacific/Auckland``."""
    zone = name.strip()
    if zone not in _known_zones():
        raise InvalidInput(
            f"{name!r} is not an IANA time zone name (like Europe/Berlin or UTC)", field="time_zone"
        )
    return zone


def local_date(now: datetime, time_zone: str) -> date:
    """The calendar date at ``now`` (an aware instant) in the zone."""
    return now.astimezone(_zone(time_zone)).date()


def expires_at(expires_on: date, time_zone: str) -> datetime:
    """The instant (UTC) a lot with this expiry date stops being usable: the first
    instant of the next day in the zone. A midnight skipped by a DST jump resolves to
    the jump itself (zoneinfo reads a missing wall time with the offset before it)."""
    if expires_on >= date.max - timedelta(days=1):
        return _NEVER
    local = datetime.combine(expires_on + timedelta(days=1), time(), tzinfo=_zone(time_zone))
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Lot:
    id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    lot_number: str
    expires_on: date
    quantity: Decimal
    reserved: Decimal
    time_zone: str = DEFAULT_TIME_ZONE  # its location's: the lot expires at the end of its date there

    @property
    def free(self) -> Decimal:
        return max(Decimal(0), self.quantity - self.reserved)

    @property
    def expires_at(self) -> datetime:
        return expires_at(self.expires_on, self.time_zone)

    def days_left(self, now: datetime) -> int:
        """Whole local days after today that it stays usable: 0 on its expiry date, -1 once expired."""
        return (self.expires_on - local_date(now, self.time_zone)).days

    def expired(self, now: datetime) -> bool:
        return self.days_left(now) < 0

    def eligible(self, now: datetime, min_shelf_life_days: int = 0) -> bool:
        """Not expired, with at least the required days left after today."""
        return self.days_left(now) >= max(0, min_shelf_life_days)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "product_id": str(self.product_id),
            "location_id": str(self.location_id),
            "lot_number": self.lot_number,
            "expires_on": self.expires_on.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "quantity": format_quantity(self.quantity),
            "reserved": format_quantity(self.reserved),
        }


def check_lot(
    lot_number: str | None,
    expires_on: date | None,
    *,
    tracked: bool,
    now: datetime,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> str | None:
    """A receipt of a lot-tracked product names its lot and an expiry not yet passed at
    the receiving location; others name none."""
    if not tracked:
        if lot_number is not None or expires_on is not None:
            raise InvalidInput("this product's category does not track lots", field="lot_number")
        return None
    if lot_number is None or expires_on is None:
        raise InvalidInput(
            "a receipt of a lot-tracked product needs lot_number and expires_on", field="lot_number"
        )
    number = lot_number.strip()
    if not _LOT_RE.match(number):
        raise InvalidInput(
            "lot_number must be 1-60 letters, digits, '.', '_', '/' or '-'", field="lot_number"
        )
    if expires_on < local_date(now, time_zone):
        raise InvalidInput(
            "the lot is already expired", field="expires_on", expires_on=expires_on.isoformat()
        )
    return number


def fefo(lots: list[Lot]) -> list[Lot]:
    """First-expiring first; ties by lot number so the order is stable."""
    return sorted(lots, key=lambda lot: (lot.expires_on, lot.lot_number, lot.id))


def sellable_free(lots: list[Lot], now: datetime, min_shelf_life_days: int = 0) -> Decimal:
    return sum((lot.free for lot in lots if lot.eligible(now, min_shelf_life_days)), Decimal(0))


def take_fefo(
    lots: list[Lot],
    quantity: Decimal,
    now: datetime,
    min_shelf_life_days: int = 0,
    *,
    every_lot: bool = False,
) -> tuple[list[tuple[Lot, Decimal]], Decimal]:
    """What to take from which lot, first-expiring first among the eligible lots' free
    stock (``every_lot``: expired ones too, first); also what the lots cannot cover."""
    taken: list[tuple[Lot, Decimal]] = []
    left = quantity
    for lot in fefo([lot for lot in lots if every_lot or lot.eligible(now, min_shelf_life_days)]):
        if left <= 0:
            break
        take = min(lot.free, left)
        if take > 0:
            taken.append((lot, take))
            left -= take
    return taken, left


def capped_levels(
    levels: list[StockLevel],
    lots: dict[tuple[uuid.UUID, uuid.UUID], list[Lot]],
    now: datetime,
    min_shelf_life_days: int = 0,
) -> list[StockLevel]:
    """Levels as a channel may count them: a level with lots counts only its unexpired
    lots' free stock with enough shelf life left (plus the untracked remainder when no
    shelf life is required). Expired stock never counts, even before its write-off."""
    out = []
    for level in levels:
        own = lots.get((level.product_id, level.location_id))
        if not own:
            out.append(level)
            continue
        untracked = max(Decimal(0), level.on_hand - sum((lot.quantity for lot in own), Decimal(0)))
        counted = sellable_free(own, now, min_shelf_life_days) + (
            untracked if min_shelf_life_days <= 0 else 0
        )
        capped = min(level.available, counted)
        out.append(replace(level, on_hand=level.reserved + level.safety_stock + capped))
    return out
