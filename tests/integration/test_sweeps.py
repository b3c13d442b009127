"""Background sweeps on the real databases: one transaction per row, a row that raises
is skipped for a backoff and reported while the others keep expiring; jobs run in their
own loops; the clock is moved instead of slept on."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, insert, update

from productsync.bootstrap import Hub, Job, SweepHealth, expire_lots, expire_reservations, run_job
from productsync.config import Settings
from productsync.domain.catalog import NewProduct
from productsync.domain.instants import ManualClock
from productsync.domain.inventory import MovementKind
from productsync.domain.reservations import ReservationStatus
from productsync.services import reservations, stock
from productsync.services.reservations import LineRequest
from productsync.store.tables import lots as lots_table
from productsync.store.tables import reservations as reservations_table
from productsync.store.tables import stock_levels
from productsync.store.uow import transaction
from tests.conftest import ref

D = Decimal


class Timer:
    """A monotonic timer the test moves by hand (the sweep backoff reads it)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _hub(database, clock: ManualClock, timer: Timer) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(), database, clock=clock, sweeps=SweepHealth(first_backoff=30, timer=timer))


async def _product(db, world):  # type: ignore[no-untyped-def]
    from productsync.services import catalog

    async def make(uow):  # type: ignore[no-untyped-def]
        sports = await uow.categories.get_by_code("sports")
        return await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("SE-"),
                name="Sweep item",
                category_id=sports.id,
                owner_partner_id=world.a.id,
                attributes={"size": "M", "material": "cotton"},
            ),
        )

    return await transaction(db, make)


async def _stocked_hold(db, world, quantity: int = 2):  # type: ignore[no-untyped-def]
    product = await _product(db, world)
    await transaction(
        db,
        lambda uow: stock.adjust_stock(
            uow,
            world.actor_a,
            location_id=world.loc_a.id,
            product_id=product.id,
            delta=D(5),
            kind=MovementKind.RECEIPT,
        ),
    )
    held = await transaction(
        db,
        lambda uow: reservations.reserve(
            uow, world.actor_a, [LineRequest(quantity=D(quantity), product_id=product.id)], ttl_seconds=60
        ),
    )
    return product, held


async def _status(db, reservation_id):  # type: ignore[no-untyped-def]
    async def read(uow):  # type: ignore[no-untyped-def]
        return (await uow.reservations.get(reservation_id)).status

    return await transaction(db, read, readonly=True)


async def _set_reserved(db, product_id, location_id, value) -> None:  # type: ignore[no-untyped-def]
    async def write(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(
            update(stock_levels)
            .where(stock_levels.c.product_id == product_id, stock_levels.c.location_id == location_id)
            .values(reserved=value)
        )

    await transaction(db, write)


async def test_a_hold_whose_settlement_raises_does_not_stop_the_others_from_expiring(database, world) -> None:  # type: ignore[no-untyped-def]
    poisoned_product, poisoned = await _stocked_hold(database, world)
    _, first = await _stocked_hold(database, world)
    _, second = await _stocked_hold(database, world)
    # The books disagree for one hold: its level holds nothing, so giving it back raises.
    await _set_reserved(database, poisoned_product.id, world.loc_a.id, D(0))
    clock, timer = ManualClock(datetime.now(UTC)), Timer()
    hub = _hub(database, clock, timer)

    assert await expire_reservations(hub) == 0  # nothing is due yet: no sleeping, no expiry
    clock.advance(timedelta(minutes=2))
    await expire_reservations(hub)

    assert await _status(database, first.id) is ReservationStatus.EXPIRED
    assert await _status(database, second.id) is ReservationStatus.EXPIRED
    assert await _status(database, poisoned.id) is ReservationStatus.HELD
    report = hub.sweeps.report()["reservation-expiry"]
    assert report["failing_rows"] == 1
    (row,) = report["rows"]
    assert row["id"] == str(poisoned.id) and row["failures"] == 1 and "Conflict" in row["error"]

    # Skipped while its backoff runs: a second round does not try it again.
    await expire_reservations(hub)
    assert hub.sweeps.report()["reservation-expiry"]["rows"][0]["failures"] == 1

    # Repaired and past its backoff, it goes through and leaves the report.
    await _set_reserved(database, poisoned_product.id, world.loc_a.id, D(2))
    timer.t += 31
    await expire_reservations(hub)
    assert await _status(database, poisoned.id) is ReservationStatus.EXPIRED
    assert hub.sweeps.report()["reservation-expiry"]["failing_rows"] == 0


async def test_many_failing_holds_are_not_read_again_while_a_good_one_expires(  # type: ignore[no-untyped-def]
    database, world, monkeypatch
) -> None:
    """300 holds whose settlement raises and one that is fine: every listing reads at most
    a batch, and a second round does not read the failing ones again."""
    _, good = await _stocked_hold(database, world)
    long_ago = datetime.now(UTC) - timedelta(days=1)  # first-expired first: listed before the good one
    poisoned = {uuid.uuid4() for _ in range(300)}
    rows = [
        {
            "id": rid,
            "status": ReservationStatus.HELD.value,
            "expires_at": long_ago,
            "lines": [],
            "version": 1,
            "created_at": long_ago,
            "updated_at": long_ago,
        }
        for rid in poisoned
    ]

    async def add(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(insert(reservations_table), rows)

    async def remove(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(delete(reservations_table).where(reservations_table.c.id.in_(poisoned)))

    real_expire, real_list = reservations.expire_reservation, reservations.due_reservation_ids
    listed: list[int] = []

    async def expire(uow, rid, now):  # type: ignore[no-untyped-def]
        if rid in poisoned:
            raise RuntimeError("the books disagree")
        return await real_expire(uow, rid, now)

    async def list_due(uow, now, **kw):  # type: ignore[no-untyped-def]
        found = await real_list(uow, now, **kw)
        listed.append(len(found))
        return found

    monkeypatch.setattr(reservations, "expire_reservation", expire)
    monkeypatch.setattr(reservations, "due_reservation_ids", list_due)
    await transaction(database, add)
    try:
        clock, timer = ManualClock(datetime.now(UTC) + timedelta(minutes=2)), Timer()
        hub = _hub(database, clock, timer)
        await expire_reservations(hub)
        assert await _status(database, good.id) is ReservationStatus.EXPIRED
        assert hub.sweeps.report()["reservation-expiry"]["failing_rows"] == 300
        assert max(listed) <= 101, listed  # a batch per listing, not the batch plus every failing row
        assert sum(listed) <= 301 + 100, listed  # each failing row read about once
        listed.clear()
        await expire_reservations(hub)  # all 300 in backoff: the listing reads none of them
        assert sum(listed) == 0, listed
    finally:
        await transaction(database, remove)


async def test_an_extended_hold_is_not_expired_by_a_sweep_that_listed_it_before(database, world) -> None:  # type: ignore[no-untyped-def]
    _, held = await _stocked_hold(database, world)
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert held.id in await transaction(
        database, lambda uow: reservations.due_reservation_ids(uow, later, limit=10_000), readonly=True
    )
    await transaction(
        database, lambda uow: reservations.extend(uow, world.actor_a, held.id, ttl_seconds=3600)
    )
    assert not await transaction(database, lambda uow: reservations.expire_reservation(uow, held.id, later))
    assert await _status(database, held.id) is ReservationStatus.HELD


async def test_a_lot_whose_write_off_raises_does_not_stop_other_lots_expiring(database, world) -> None:  # type: ignore[no-untyped-def]
    async def polish(uow):  # type: ignore[no-untyped-def]
        from productsync.services import catalog

        cosmetics = await uow.categories.get_by_code("cosmetics")
        return await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("COS-"),
                name="Sweep polish",
                category_id=cosmetics.id,
                owner_partner_id=world.a.id,
                attributes={"volume_ml": 10, "pao_months": 12, "ingredients": ["water"]},
            ),
        )

    made = []
    for _ in range(3):
        product = await transaction(database, polish)
        expires = (datetime.now(UTC) + timedelta(days=5)).date()
        await transaction(
            database,
            lambda uow, product=product, expires=expires: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=product.id,
                delta=D(3),
                kind=MovementKind.RECEIPT,
                lot_number=ref("L"),
                expires_on=expires,
            ),
        )
        made.append(product)
    # One level says it holds less than its lot: writing that lot off must fail.
    poisoned = made[0]

    async def shrink(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(
            update(stock_levels)
            .where(stock_levels.c.product_id == poisoned.id, stock_levels.c.location_id == world.loc_a.id)
            .values(on_hand=D(1))
        )

    await transaction(database, shrink)
    clock, timer = ManualClock(datetime.now(UTC) + timedelta(days=7)), Timer()
    hub = _hub(database, clock, timer)
    await expire_lots(hub)

    async def left(uow, product_id):  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        q = select(lots_table.c.quantity).where(lots_table.c.product_id == product_id)
        return (await uow.stock.conn.execute(q)).scalar_one()

    for product in made[1:]:
        assert await transaction(database, lambda uow, p=product: left(uow, p.id), readonly=True) == 0
    assert await transaction(database, lambda uow: left(uow, poisoned.id), readonly=True) == 3
    report = hub.sweeps.report()["lot-expiry"]
    assert report["failing_rows"] == 1

    async def repair(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(
            update(stock_levels)
            .where(stock_levels.c.product_id == poisoned.id, stock_levels.c.location_id == world.loc_a.id)
            .values(on_hand=D(3))
        )

    # Give the level back its ledger figure so later whole-database checks see no drift.
    await transaction(database, repair)


async def test_one_failing_job_does_not_stop_another() -> None:
    hub = Hub(Settings(), None)  # type: ignore[arg-type]
    runs = {"broken": 0, "fine": 0}

    async def broken(hub: Hub) -> None:
        runs["broken"] += 1
        raise RuntimeError("boom")

    async def fine(hub: Hub) -> None:
        runs["fine"] += 1

    tasks = [
        asyncio.create_task(run_job(hub, Job("broken", lambda s: 0.01, broken))),
        asyncio.create_task(run_job(hub, Job("fine", lambda s: 0.01, fine))),
    ]
    await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert runs["broken"] >= 3 and runs["fine"] >= 3
    report = hub.sweeps.report()
    assert report["broken"]["job_error"]["failures"] == runs["broken"]
    assert report["fine"]["job_error"] is None
