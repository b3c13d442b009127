"""Lots with expiry on both databases: receipts need them, FEFO out, shelf life per
channel, expiry write-off and near-expiry news, and the integrity check seeing a
corrupted row."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import InvalidInput
from productsync.domain.inventory import MovementKind
from productsync.services import availability, catalog, channels, lots, reservations, stock, stock_checks
from productsync.services.reservations import LineRequest
from productsync.store.tables import lots as lots_table
from productsync.store.tables import outbox, stock_levels
from productsync.store.uow import transaction
from tests.conftest import count_rows, ref

D = Decimal
TODAY = date.today()


async def _polish(db, world):  # type: ignore[no-untyped-def]
    async def make(uow):  # type: ignore[no-untyped-def]
        cosmetics = await uow.categories.get_by_code("cosmetics")
        return await catalog.create_product(
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

    return await transaction(db, make)


async def _receive(db, world, product, quantity, lot, days):  # type: ignore[no-untyped-def]
    return await transaction(
        db,
        lambda uow: stock.adjust_stock(
            uow,
            world.actor_a,
            location_id=world.loc_a.id,
            product_id=product.id,
            delta=D(quantity),
            kind=MovementKind.RECEIPT,
            lot_number=lot,
            expires_on=None if days is None else TODAY + timedelta(days=days),
        ),
    )


async def _lots(db, world, product):  # type: ignore[no-untyped-def]
    found = await transaction(
        db,
        lambda uow: lots.list_lots(uow, world.actor_a, expiring_within_days=None, product_id=product.id),
        readonly=True,
    )
    return {lot.lot_number: (lot.quantity, lot.reserved) for lot in found}


async def test_lot_tracked_receipts_need_a_lot_and_sales_take_the_first_expiring(database, world) -> None:
    polish = await _polish(database, world)
    for lot, days in ((None, None), ("L1", None), ("L1", -1)):  # -1: expired (0 is its last day)
        with pytest.raises(InvalidInput):
            await _receive(database, world, polish, 5, lot, days)
    with pytest.raises(InvalidInput):  # an untracked category takes no lot
        await transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=world.product.id,
                delta=D(1),
                kind=MovementKind.RECEIPT,
                lot_number="X1",
                expires_on=TODAY + timedelta(days=9),
            ),
        )
    await _receive(database, world, polish, 5, "LATE", 300)
    await _receive(database, world, polish, 3, "SOON", 40)
    await _receive(database, world, polish, 2, "MID", 120)
    await transaction(
        database,
        lambda uow: stock.adjust_stock(
            uow,
            world.actor_a,
            location_id=world.loc_a.id,
            product_id=polish.id,
            delta=D(-4),
            kind=MovementKind.SALE,
        ),
    )
    assert await _lots(database, world, polish) == {"MID": (1, 0), "LATE": (5, 0)}
    # A hold pins the first-expiring lot; committing sells exactly that lot.
    held = await transaction(
        database,
        lambda uow: reservations.reserve(uow, world.actor_a, [LineRequest(quantity=2, product_id=polish.id)]),
    )
    assert await _lots(database, world, polish) == {"MID": (1, 1), "LATE": (5, 1)}
    await transaction(database, lambda uow: reservations.commit(uow, world.actor_a, held.id))
    assert await _lots(database, world, polish) == {"LATE": (4, 0)}
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []


async def test_a_channel_with_a_shelf_life_rule_neither_counts_nor_gets_short_lots(database, world) -> None:
    polish = await _polish(database, world)
    await _receive(database, world, polish, 4, "SHORT", 30)
    await _receive(database, world, polish, 2, "LONG", 200)
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))

    async def channel(days):  # type: ignore[no-untyped-def]
        made, _ = await transaction(
            database,
            lambda uow: channels.create_channel(
                uow,
                admin_a,
                NewChannel(
                    name="c",
                    kind=ChannelKind.SSE,
                    owner_partner_id=None,
                    location_ids=(world.loc_a.id,),
                    config={"min_shelf_life_days": days},
                ),
            ),
        )
        return made

    curator, anyone = await channel(90), await channel(0)
    for ch, expected in ((curator, 2), (anyone, 6)):
        [found] = await transaction(
            database,
            lambda uow, ch=ch: availability.availability(
                uow, admin_a, channel_id=ch.id, product_ids=[polish.id]
            ),
            readonly=True,
        )
        assert found.available == expected
    held = await transaction(
        database,
        lambda uow: reservations.reserve(
            uow, admin_a, [LineRequest(quantity=2, product_id=polish.id)], channel_id=curator.id
        ),
    )
    assert {h.lot_id for h in held.lines[0].holds} == {next(iter(held.lines[0].holds)).lot_id}
    assert await _lots(database, world, polish) == {"SHORT": (4, 0), "LONG": (2, 2)}
    with pytest.raises(Exception) as refused:
        await transaction(
            database,
            lambda uow: reservations.reserve(
                uow, admin_a, [LineRequest(quantity=1, product_id=polish.id)], channel_id=curator.id
            ),
        )
    assert refused.value.data["short_lines"][0]["available"] == "0"
    with pytest.raises(InvalidInput):
        await channel(-1)


async def test_expired_lots_are_written_off_and_announced(database, world) -> None:
    polish = await _polish(database, world)
    await _receive(database, world, polish, 3, "OLD", 10)
    await _receive(database, world, polish, 2, "NEW", 400)

    async def backdate(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(
            update(lots_table)
            .where(lots_table.c.product_id == polish.id, lots_table.c.lot_number == "OLD")
            .values(expires_on=TODAY - timedelta(days=1))
        )

    await transaction(database, backdate)
    news_before = await count_rows(database, outbox, product_id=polish.id)
    while await transaction(database, lots.expire_lots):
        pass
    assert await _lots(database, world, polish) == {"NEW": (2, 0)}
    level = await transaction(
        database, lambda uow: uow.stock.get_level(polish.id, world.loc_a.id), readonly=True
    )
    assert level.on_hand == 2
    moves = await transaction(database, lambda uow: uow.stock.movements(polish.id), readonly=True)
    assert [(m.kind, m.quantity) for m in moves][-1] == ("expiry", D(-3))
    # a stock change, the expiry, and the near-expiry note of the 10-day lot before it
    assert await count_rows(database, outbox, product_id=polish.id) >= news_before + 2
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []


async def test_the_check_sees_a_lot_hold_that_no_reservation_explains(database, world) -> None:
    """A lot whose ``reserved`` is not backed by any live hold is drift, held or not."""
    polish = await _polish(database, world)
    await _receive(database, world, polish, 3, "STRAY", 90)
    held = await transaction(
        database,
        lambda uow: reservations.reserve(uow, world.actor_a, [LineRequest(quantity=1, product_id=polish.id)]),
    )
    await transaction(database, lambda uow: reservations.release(uow, world.actor_a, held.id))
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []

    async def set_reserved(uow, value):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(
            update(lots_table).where(lots_table.c.product_id == polish.id).values(reserved=value)
        )

    await transaction(database, lambda uow: set_reserved(uow, D(2)))
    try:
        drift = await transaction(database, stock_checks.ledger_drift, readonly=True)
    finally:  # the database is shared with the tests after this one
        await transaction(database, lambda uow: set_reserved(uow, D(0)))
    assert [(d["field"].endswith(" reserved"), d["recorded"], d["recomputed"]) for d in drift] == [
        (True, D(2), D(0))
    ]


def test_the_check_command_reports_a_corrupted_level(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On a database of its own: healthy → 0 differences; one row changed by hand → reported."""
    import asyncio

    from productsync.store.database import create_database
    from productsync.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'check.db'}"
    upgrade(url)
    env = {"PRODUCTSYNC_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    seeded = subprocess.run(
        [sys.executable, "-m", "productsync", "demo"], env=env, capture_output=True, text=True
    )
    assert seeded.returncode == 0, seeded.stderr
    healthy = subprocess.run(
        [sys.executable, "-m", "productsync", "check"], env=env, capture_output=True, text=True
    )
    assert healthy.returncode == 0 and "0 levels differ" in healthy.stdout, healthy.stdout

    async def corrupt() -> None:
        db = create_database(url)
        async with db.engine.begin() as conn:
            row = (await conn.execute(stock_levels.select().limit(1))).first()
            await conn.execute(
                update(stock_levels)
                .where(
                    stock_levels.c.product_id == row.product_id, stock_levels.c.location_id == row.location_id
                )
                .values(on_hand=row.on_hand + 1)
            )
        await db.dispose()

    asyncio.run(corrupt())
    broken = subprocess.run(
        [sys.executable, "-m", "productsync", "check"], env=env, capture_output=True, text=True
    )
    assert broken.returncode == 1
    assert "1 level(s) differ" in broken.stdout and "on_hand" in broken.stdout, broken.stdout
