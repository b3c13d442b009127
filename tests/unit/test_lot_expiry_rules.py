"""A lot is usable through the whole of its expiry date where it is stocked: it expires
at the first instant of the next day in its location's time zone, DST days included."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from productsync.domain.errors import InvalidInput
from productsync.domain.inventory import StockLevel
from productsync.domain.lots import (
    Lot,
    capped_levels,
    check_lot,
    check_time_zone,
    expires_at,
    sellable_free,
    take_fefo,
)

D = Decimal
P, A = uuid.uuid4(), uuid.uuid4()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def lot(expires_on: date, zone: str, quantity: int = 5, number: str = "L1") -> Lot:
    return Lot(uuid.uuid4(), P, A, number, expires_on, D(quantity), D(0), time_zone=zone)


@pytest.mark.parametrize(
    ("expires_on", "zone", "ends"),
    [
        (date(2026, 1, 10), "UTC", utc(2026, 1, 11)),
        # New Zealand summer (+13): its day ends 13 hours before UTC's.
        (date(2026, 1, 10), "Pacific/Auckland", utc(2026, 1, 10, 11)),
        # California winter (-8): its day ends 8 hours after UTC's.
        (date(2026, 1, 10), "America/Los_Angeles", utc(2026, 1, 11, 8)),
        # Los Angeles springs forward on 8 March 2026 at 02:00: that day has 23 hours.
        (date(2026, 3, 7), "America/Los_Angeles", utc(2026, 3, 8, 8)),
        (date(2026, 3, 8), "America/Los_Angeles", utc(2026, 3, 9, 7)),
        # Auckland falls back on 5 April 2026 at 03:00: that day has 25 hours.
        (date(2026, 4, 4), "Pacific/Auckland", utc(2026, 4, 4, 11)),
        (date(2026, 4, 5), "Pacific/Auckland", utc(2026, 4, 5, 12)),
        # Chile sprang forward at midnight (8 Sept 2019 00:00 -> 01:00): no local midnight,
        # the day ends at the jump.
        (date(2019, 9, 7), "America/Santiago", utc(2019, 9, 8, 4)),
        (date(9999, 12, 31), "Pacific/Kiritimati", datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_a_lot_expires_when_its_date_ends_at_its_location(
    expires_on: date, zone: str, ends: datetime
) -> None:
    assert expires_at(expires_on, zone) == ends
    one = lot(expires_on, zone)
    if ends.year < 9999:
        just_before = ends - timedelta(microseconds=1)
        assert not one.expired(just_before) and one.eligible(just_before) and one.days_left(just_before) == 0
        assert one.expired(ends) and not one.eligible(ends) and one.days_left(ends) == -1


@pytest.mark.parametrize(
    ("now", "zone", "expired"),
    [
        # 10 Jan 12:00 UTC: Auckland already lives 11 Jan 01:00, Los Angeles 10 Jan 04:00.
        (utc(2026, 1, 10, 12), "UTC", False),
        (utc(2026, 1, 10, 12), "Pacific/Auckland", True),
        (utc(2026, 1, 10, 12), "America/Los_Angeles", False),
        # 11 Jan 03:00 UTC: UTC's 10 Jan is over, Los Angeles is still in its evening.
        (utc(2026, 1, 11, 3), "UTC", True),
        (utc(2026, 1, 11, 3), "America/Los_Angeles", False),
    ],
)
def test_availability_fefo_and_channel_counts_read_expiry_in_the_location_zone(
    now: datetime, zone: str, expired: bool
) -> None:
    gone, later = lot(date(2026, 1, 10), zone, 4, "GONE"), lot(date(2026, 6, 1), zone, 3, "LATER")
    assert gone.expired(now) is expired
    assert sellable_free([gone, later], now) == (3 if expired else 7)
    taken, short = take_fefo([gone, later], D(5), now)
    assert [(t.lot_number, q) for t, q in taken] == (
        [("LATER", 3)] if expired else [("GONE", 4), ("LATER", 1)]
    )
    assert short == (2 if expired else 0)
    level = StockLevel(P, A, D(7), D(0), D(0), 1)
    [counted] = capped_levels([level], {(P, A): [gone, later]}, now)
    assert counted.available == (3 if expired else 7)


def test_a_shelf_life_counts_whole_local_days_after_today() -> None:
    now = utc(2026, 1, 10, 12)  # 11 Jan in Auckland, 10 Jan in Los Angeles
    for zone, left in (("Pacific/Auckland", 29), ("America/Los_Angeles", 30)):
        one = lot(date(2026, 2, 9), zone)
        assert one.days_left(now) == left
        assert one.eligible(now, 30) is (left >= 30)


def test_a_receipt_of_a_lot_expiring_today_there_is_taken_and_one_expired_there_is_refused() -> None:
    now = utc(2026, 1, 10, 12)
    today_utc = date(2026, 1, 10)
    assert check_lot("L1", today_utc, tracked=True, now=now, time_zone="UTC") == "L1"
    assert check_lot("L1", today_utc, tracked=True, now=now, time_zone="America/Los_Angeles") == "L1"
    with pytest.raises(InvalidInput):
        check_lot("L1", today_utc, tracked=True, now=now, time_zone="Pacific/Auckland")
    with pytest.raises(InvalidInput):
        check_lot("L1", today_utc - timedelta(days=1), tracked=True, now=now, time_zone="UTC")


@pytest.mark.parametrize(
    "name", ["UTC", "Europe/Berlin", "Pacific/Auckland", "America/Los_Angeles", " Asia/Tokyo "]
)
def test_time_zones_are_iana_names(name: str) -> None:
    assert check_time_zone(name) == name.strip()


@pytest.mark.parametrize(
    "name",
    ["", "Mars/Olympus_Mons", "localtime", "../../etc/passwd", "/usr/share/zoneinfo/UTC", "+02:00", "CEST"],
)
def test_anything_else_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_time_zone(name)
    assert refused.value.data["field"] == "time_zone"
