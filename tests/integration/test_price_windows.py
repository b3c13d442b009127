"""Scheduled prices reach the channels when they take effect, on both databases.

The scheduler is driven with a chosen ``now`` (no sleeping): a promotion written for
the future is announced once when it opens and once when it closes, however many
schedulers run, and a boundary missed while nothing ran is announced once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import price_windows, pricing
from productsync.store.tables import outbox, price_boundaries
from productsync.store.uow import transaction

D = Decimal
H = timedelta(hours=1)
EVERYTHING = 10_000  # other tests' due boundaries must not crowd this test's out


async def _list(db, actor) -> Any:  # type: ignore[no-untyped-def]
    return await transaction(
        db,
        lambda uow: pricing.create_price_list(
            uow,
            actor,
            name="Retail",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=None,
        ),
    )


async def _put(db, actor, list_id, product_id, entries) -> Any:  # type: ignore[no-untyped-def]
    return await transaction(db, lambda uow: pricing.put_prices(uow, actor, list_id, product_id, entries))


async def _announce(db, now: datetime) -> int:  # type: ignore[no-untyped-def]
    return await transaction(
        db, lambda uow: price_windows.announce_due_boundaries(uow, now, limit=EVERYTHING)
    )


async def _price_events(db, product_id: uuid.UUID) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    async def read(uow):  # type: ignore[no-untyped-def]
        stmt = (
            select(outbox.c.version, outbox.c.data)
            .where(outbox.c.product_id == product_id, outbox.c.type == "productsync.price.changed")
            .order_by(outbox.c.id)
        )
        return [{"version": r.version, **r.data} for r in await uow.stock.conn.execute(stmt)]

    return list(await transaction(db, read, readonly=True))


def _in_force(event: dict[str, Any]) -> tuple[str, str | None]:
    pif = event["price_in_force"]
    return pif["amount"], pif["regular_amount"]


async def test_a_future_promotion_is_announced_once_when_it_opens_and_once_when_it_closes(
    database, world
) -> None:
    now = datetime.now(UTC)
    start, end = now + H, now + 2 * H
    pl = await _list(database, world.actor_a)
    await _put(
        database,
        world.actor_a,
        pl.id,
        world.product.id,
        [PriceEntry(D(1), D("10")), PriceEntry(D(1), D("7.5"), start, end)],
    )
    [written] = await _price_events(database, world.product.id)
    assert _in_force(written) == ("10.00", None)  # at write time: only the regular price
    assert len(written["prices"]) == 2 and written["currency"] == "EUR"

    await _announce(database, start - timedelta(seconds=1))  # not yet due
    assert len(await _price_events(database, world.product.id)) == 1

    await _announce(database, start)
    await _announce(database, start + timedelta(seconds=1))  # again: nothing new
    events = await _price_events(database, world.product.id)
    assert len(events) == 2
    opened = events[1]
    assert _in_force(opened) == ("7.50", "10.00")
    assert opened["price_in_force"]["valid_to"] == end.isoformat()
    assert opened["version"] == written["version"] + 1  # receivers keeping the highest take it
    assert opened["prices"] == written["prices"]  # the full tier set, unchanged

    await _announce(database, end)
    await _announce(database, end + H)
    events = await _price_events(database, world.product.id)
    assert len(events) == 3
    assert _in_force(events[2]) == ("10.00", None)
    assert events[2]["version"] == opened["version"] + 1


async def test_a_boundary_missed_while_down_is_announced_once(database, world) -> None:
    now = datetime.now(UTC)
    pl = await _list(database, world.actor_a)
    await _put(
        database,
        world.actor_a,
        pl.id,
        world.product.id,
        [PriceEntry(D(1), D("10")), PriceEntry(D(1), D("7.5"), now + H, now + 2 * H)],
    )
    # Everything was down through the whole window: both boundaries are due at once.
    await _announce(database, now + 5 * H)
    await _announce(database, now + 6 * H)
    events = await _price_events(database, world.product.id)
    assert len(events) == 2
    assert _in_force(events[1]) == ("10.00", None)


async def test_a_new_tier_set_replaces_the_windows_ahead(database, world) -> None:
    now = datetime.now(UTC)
    pl = await _list(database, world.actor_a)
    entries = [PriceEntry(D(1), D("10")), PriceEntry(D(1), D("7.5"), now + H, now + 2 * H)]
    await _put(database, world.actor_a, pl.id, world.product.id, entries)
    await _put(database, world.actor_a, pl.id, world.product.id, entries[:1])  # promotion withdrawn
    await _announce(database, now + H)
    await _announce(database, now + 3 * H)
    assert len(await _price_events(database, world.product.id)) == 2  # the two writes, nothing more

    async def rows(uow):  # type: ignore[no-untyped-def]
        stmt = select(price_boundaries.c.at).where(price_boundaries.c.product_id == world.product.id)
        return list((await uow.stock.conn.execute(stmt)).scalars())

    assert await transaction(database, rows, readonly=True) == []


async def test_schedulers_running_at_once_announce_each_boundary_once(database, world) -> None:
    """Several processes' schedulers at the same instant (on PostgreSQL they really
    overlap; the header lock with SKIP LOCKED decides who announces)."""
    now = datetime.now(UTC)
    start = now + H
    lists = [await _list(database, world.actor_a) for _ in range(6)]
    for pl in lists:
        await _put(
            database,
            world.actor_a,
            pl.id,
            world.product.id,
            [PriceEntry(D(1), D("10")), PriceEntry(D(1), D("7.5"), start, None)],
        )
    for _ in range(3):
        counts = await asyncio.gather(*(_announce(database, start) for _ in range(4)))
        assert all(c >= 0 for c in counts)
    events = await _price_events(database, world.product.id)
    per_list: dict[str, int] = {}
    for e in events:
        per_list[e["price_list_id"]] = per_list.get(e["price_list_id"], 0) + 1
    assert per_list == {str(pl.id): 2 for pl in lists}  # the write, then exactly one announcement
    assert all(_in_force(e) == ("7.50", None) for e in events if e["version"] == 2)


async def test_the_scheduler_loop_sleeps_until_the_next_boundary_and_reads_it(database, world) -> None:
    now = datetime.now(UTC)
    pl = await _list(database, world.actor_a)
    await _put(
        database,
        world.actor_a,
        pl.id,
        world.product.id,
        [PriceEntry(D(1), D("10")), PriceEntry(D(1), D("7.5"), now + H, None)],
    )
    nxt = await transaction(database, price_windows.next_boundary, readonly=True)
    assert nxt is not None and nxt.tzinfo is not None and nxt <= now + H


async def test_the_scheduler_job_announces_what_its_clock_says_is_due(database, world) -> None:
    """The job every process runs (bootstrap JOBS, "price-windows"), with a moved clock."""
    from productsync.bootstrap import JOBS, Hub, announce_price_windows
    from productsync.config import Settings
    from productsync.domain.instants import ManualClock

    assert "price-windows" in {job.name for job in JOBS}
    now = datetime.now(UTC)
    pl = await _list(database, world.actor_a)
    await _put(
        database,
        world.actor_a,
        pl.id,
        world.product.id,
        [PriceEntry(D(1), D("10")), PriceEntry(D(1), D("7.5"), now + H, now + 2 * H)],
    )
    clock = ManualClock(now + 30 * timedelta(minutes=1))
    hub = Hub(Settings(), database, clock=clock)
    await announce_price_windows(hub)
    assert len(await _price_events(database, world.product.id)) == 1
    clock.advance(H)
    assert await announce_price_windows(hub) >= 1
    assert await announce_price_windows(hub) == 0
    events = await _price_events(database, world.product.id)
    assert [_in_force(e)[0] for e in events] == ["10.00", "7.50"]


async def test_a_put_racing_the_scheduler_leaves_one_answer_and_no_deadlock(database, world) -> None:
    """A tier set written while its boundary is being announced: both finish (no deadlock:
    header first, then boundaries, everywhere), and the last event carries the new set."""
    now = datetime.now(UTC)
    start = now + H
    pl = await _list(database, world.actor_a)
    promo = [PriceEntry(D(1), D("10")), PriceEntry(D(1), D("7.5"), start, None)]
    await _put(database, world.actor_a, pl.id, world.product.id, promo)
    for round_ in range(5):
        amount = D(20 + round_)
        await asyncio.gather(
            _announce(database, start),
            _put(database, world.actor_a, pl.id, world.product.id, [PriceEntry(D(1), amount), promo[1]]),
        )
    await _announce(database, start)  # whichever went first, the last boundary is announced now
    events = await _price_events(database, world.product.id)
    versions = [e["version"] for e in events]
    assert versions == sorted(set(versions))  # every event a new version
    assert events[-1]["prices"][0]["amount"] == "24.00"
    assert _in_force(events[-1]) == ("7.50", None)  # the scheduled change, in force at start
    await _announce(database, start)
    assert len(await _price_events(database, world.product.id)) == len(events)
