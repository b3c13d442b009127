"""Lots expire at the end of their date in their location's time zone, on both
databases: receipts, availability, FEFO sales, holds, the expiry sweep and the lot list.

The zones are Pacific/Kiritimati (UTC+14) and Etc/GMT+12 (UTC-12): 26 hours apart, so at
any moment the east is at least one calendar day ahead of the west. A lot dated the
west's today is in its last day in the west and already expired in the east."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import InsufficientStock, InvalidInput
from productsync.domain.inventory import LocationKind, MovementKind
from productsync.domain.lots import local_date
from productsync.services import (
    availability,
    catalog,
    channels,
    locations,
    lots,
    reservations,
    stock,
    stock_checks,
)
from productsync.services.reservations import LineRequest
from productsync.store.tables import lots as lots_table
from productsync.store.uow import transaction
from tests.conftest import ref

D = Decimal
EAST, WEST = "Pacific/Kiritimati", "Etc/GMT+12"


async def _setup(db, world):  # type: ignore[no-untyped-def]
    async def make(uow):  # type: ignore[no-untyped-def]
        cosmetics = await uow.categories.get_by_code("cosmetics")
        polish = await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("COS-"),
                name="Polish",
                category_id=cosmetics.id,
                owner_partner_id=world.a.id,
                attributes={"ingredients": ["resin"], "volume_ml": 10, "pao_months": 12},
            ),
        )
        made = {}
        for zone in (EAST, WEST):
            made[zone] = await locations.create_location(
                uow,
                world.admin,
                code=ref("TZ-"),
                name=zone,
                kind=LocationKind.STORE,
                owner_partner_id=world.a.id,
                time_zone=zone,
            )
        return polish, made

    return await transaction(db, make)


async def _receive(db, world, polish, location, quantity, lot, expires_on):  # type: ignore[no-untyped-def]
    return await transaction(
        db,
        lambda uow: stock.adjust_stock(
            uow,
            world.actor_a,
            location_id=location.id,
            product_id=polish.id,
            delta=D(quantity),
            kind=MovementKind.RECEIPT,
            lot_number=lot,
            expires_on=expires_on,
        ),
    )


async def test_locations_keep_an_iana_time_zone_and_default_to_utc(database, world) -> None:
    async def make(uow, zone):  # type: ignore[no-untyped-def]
        kw = {} if zone is None else {"time_zone": zone}
        return await locations.create_location(
            uow, world.admin, code=ref("Z-"), name="z", kind=LocationKind.STORE, owner_partner_id=None, **kw
        )

    plain = await transaction(database, lambda uow: make(uow, None))
    berlin = await transaction(database, lambda uow: make(uow, "Europe/Berlin"))
    with pytest.raises(InvalidInput):
        await transaction(database, lambda uow: make(uow, "Europe/Atlantis"))
    listed = await transaction(
        database, lambda uow: locations.list_locations(uow, world.admin), readonly=True
    )
    zones = {loc.id: loc.time_zone for loc in listed}
    assert (zones[plain.id], zones[berlin.id]) == ("UTC", "Europe/Berlin")
    got = await transaction(database, lambda uow: uow.locations.get(berlin.id), readonly=True)
    assert got.time_zone == "Europe/Berlin"


async def test_a_lot_counts_until_its_date_ends_where_it_is_stocked(database, world) -> None:
    polish, at = await _setup(database, world)
    now = datetime.now(UTC)
    west_today = local_date(now, WEST)
    assert local_date(now, EAST) > west_today
    # Receipts: a lot in its last day is taken in the west, refused in the east.
    with pytest.raises(InvalidInput):
        await _receive(database, world, polish, at[EAST], 1, "TODAY", west_today)
    await _receive(database, world, polish, at[WEST], 2, "WTODAY", west_today)
    await _receive(database, world, polish, at[WEST], 5, "WLATER", west_today + timedelta(days=200))
    await _receive(database, world, polish, at[EAST], 4, "ETODAY", west_today + timedelta(days=10))
    await _receive(database, world, polish, at[EAST], 3, "ELATER", west_today + timedelta(days=200))

    async def backdate(uow):  # type: ignore[no-untyped-def]
        # The same date as the west's last-day lot: the east's day is already over.
        await uow.stock.conn.execute(
            update(lots_table)
            .where(lots_table.c.product_id == polish.id, lots_table.c.lot_number == "ETODAY")
            .values(expires_on=west_today)
        )

    await transaction(database, backdate)

    # GET /v1/lots' use case: both lots dated west_today are listed as expiring within 0
    # days, only the east's as expired.
    listed = await transaction(
        database,
        lambda uow: lots.list_lots(uow, world.actor_a, expiring_within_days=0, product_id=polish.id),
        readonly=True,
    )
    now = datetime.now(UTC)
    assert {(lot.lot_number, lot.time_zone, lot.expired(now)) for lot in listed} == {
        ("WTODAY", WEST, False),
        ("ETODAY", EAST, True),
    }

    # Availability: the east's expired lot never counts, the west's last-day lot does.
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    channel, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow,
            admin_a,
            NewChannel(
                name="tz",
                kind=ChannelKind.SSE,
                owner_partner_id=None,
                location_ids=(at[EAST].id, at[WEST].id),
            ),
        ),
    )
    [found] = await transaction(
        database,
        lambda uow: availability.availability(uow, admin_a, channel_id=channel.id, product_ids=[polish.id]),
        readonly=True,
    )
    assert found.available == 2 + 5 + 3
    by_location = {lv.location_id: lv.available for lv in found.levels}
    assert (by_location[at[EAST].id], by_location[at[WEST].id]) == (3, 7)

    # A hold in the west pins the last-day lot first (FEFO); in the east it skips the
    # expired one, and cannot hold more than the unexpired lots have.
    held = await transaction(
        database,
        lambda uow: reservations.reserve(
            uow,
            world.actor_a,
            [
                LineRequest(quantity=1, product_id=polish.id, location_id=at[WEST].id),
                LineRequest(quantity=3, product_id=polish.id, location_id=at[EAST].id),
            ],
        ),
    )
    pinned = {h.lot_id for line in held.lines for h in line.holds}
    lot_ids = {lot.lot_number: lot.id for lot in listed}
    assert lot_ids["WTODAY"] in pinned and lot_ids["ETODAY"] not in pinned
    with pytest.raises(InsufficientStock):
        await transaction(
            database,
            lambda uow: reservations.reserve(
                uow, world.actor_a, [LineRequest(quantity=1, product_id=polish.id, location_id=at[EAST].id)]
            ),
        )
    await transaction(database, lambda uow: reservations.release(uow, world.actor_a, held.id))

    # A sale takes the west's last-day lot first; the east sells nothing expired.
    async def sell(location, quantity):  # type: ignore[no-untyped-def]
        return await transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=location.id,
                product_id=polish.id,
                delta=D(-quantity),
                kind=MovementKind.SALE,
            ),
        )

    await sell(at[WEST], 1)
    with pytest.raises(InsufficientStock):
        await sell(at[EAST], 4)  # 7 on hand, but only ELATER's 3 unexpired

    # The sweep writes off the east's lot and leaves the west's alone until its day ends.
    while await transaction(database, lots.expire_lots):
        pass
    left = await transaction(
        database,
        lambda uow: lots.list_lots(uow, world.actor_a, expiring_within_days=None, product_id=polish.id),
        readonly=True,
    )
    assert {lot.lot_number: lot.quantity for lot in left} == {"WTODAY": 1, "WLATER": 5, "ELATER": 3}
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []
