"""A new channel's backfill over a big catalog, built in pages on both databases.

Nothing is sent over the network: deliveries are claimed and recorded as accepted
directly (``_receive``), which is what the dispatcher does around the connectors. A
"receiver" here keeps, per thing, the last state that arrived and the highest version.
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, update

from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.inventory import LocationKind
from productsync.domain.pricing import PriceListKind
from productsync.services import channels, dispatch, locations, pricing, snapshots, stock
from productsync.store.tables import deliveries, stock_levels
from productsync.store.uow import UnitOfWork, transaction
from tests.bulk import bulk_catalog, on_hand_of
from tests.conftest import ref

RECEIVER = "https://receiver.invalid/hooks"  # never called: deliveries are recorded, not sent


async def _settle(db: Any) -> None:
    """Leftovers of earlier tests sharing the database are not this test's business."""
    await transaction(db, dispatch.fan_out)
    while await transaction(db, snapshots.backfill_step):
        pass

    async def park(uow: UnitOfWork) -> None:
        await uow.stock.conn.execute(
            update(deliveries)
            .where(deliveries.c.status.in_(("pending", "in_flight")))
            .values(status="superseded")
        )

    await transaction(db, park)


async def _catalog(db: Any, world: Any, n: int, *, priced: bool = True) -> dict[str, Any]:
    """A partner of its own with ``n`` products at a location of its own (and prices)."""
    admin = world.admin

    async def base(uow: UnitOfWork) -> dict[str, Any]:
        from productsync.services import partners

        partner = await partners.create_partner(uow, admin, code=ref("bf-"), name="Big")
        loc = await locations.create_location(
            uow, admin, code=ref("BF-"), name="WH", kind=LocationKind.WAREHOUSE, owner_partner_id=partner.id
        )
        pl = await pricing.create_price_list(
            uow,
            admin,
            name="bf",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=None,
        )
        sports = await uow.categories.get_by_code("sports")
        return {"partner": partner, "loc": loc, "pl": pl, "sports": sports}

    c = await transaction(db, base)
    c["prefix"] = ref("SE-").upper() + "-"
    c["ids"] = await bulk_catalog(
        db,
        admin,
        n=n,
        sku_prefix=c["prefix"],
        owner_partner_id=c["partner"].id,
        category_id=c["sports"].id,
        location_id=c["loc"].id,
        price_list_id=c["pl"].id if priced else None,
    )
    return c


async def _channel(db: Any, world: Any, partner_id: uuid.UUID, location_id: uuid.UUID, pl: Any = None) -> Any:
    new = NewChannel(
        name=ref("ch-"),
        kind=ChannelKind.WEBHOOK,
        owner_partner_id=None,
        url=RECEIVER,
        partner_ids=(partner_id,),
        location_ids=(location_id,),
        price_list_id=pl.id if pl is not None else None,
    )
    channel, _ = await transaction(db, lambda uow: channels.create_channel(uow, world.admin, new))
    return channel


@contextmanager
def _statements(db: Any) -> Iterator[list[str]]:
    """Every statement sent to the database meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


async def _receive(db: Any, channel_id: uuid.UUID, got: list[dict[str, Any]]) -> int:
    """Claim everything due and record it as accepted; the channel's events go to ``got``
    in the order they would have been sent. Returns how many were claimed."""

    async def round_(uow: UnitOfWork) -> int:
        claimed = await dispatch.claim(uow, limit=1000)
        got.extend(c.event for c in claimed if c.channel.id == channel_id)
        await dispatch.record_attempts(uow, [(c, dispatch.Attempt(True, 200)) for c in claimed])
        return len(claimed)

    total = 0
    while n := await transaction(db, round_):
        total += n
    return total


def _key(e: dict[str, Any]) -> tuple[str, str, str]:
    data = e["data"]
    level = data.get("level") or {}
    return (e["type"], e["subject"], str(level.get("location_id") or data.get("price_list_id") or ""))


def _last(got: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """What a receiver applying events in arrival order ends up with."""
    return {_key(e): e for e in got}


async def _levels(db: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    async def read(uow: UnitOfWork) -> dict[uuid.UUID, Decimal]:
        rows = await uow.stock.conn.execute(select(stock_levels.c.product_id, stock_levels.c.on_hand))
        wanted = set(ids)
        return {r.product_id: r.on_hand for r in rows if r.product_id in wanted}

    return await transaction(db, read, readonly=True)


async def test_a_channel_over_5000_products_gets_every_current_state_in_a_bounded_number_of_statements(
    database, world
) -> None:
    await _settle(database)
    n = 5000
    c = await _catalog(database, world, n)
    channel = await _channel(database, world, c["partner"].id, c["loc"].id, c["pl"])
    with _statements(database) as fan_out_sql:
        await transaction(database, dispatch.fan_out)
    steps = 0
    with _statements(database) as page_sql:
        while await transaction(database, snapshots.backfill_step):
            steps += 1
    pages = math.ceil(n / snapshots.PAGE)
    # Subscribing costs the fan-out a few statements, not a pass over the catalog.
    assert len(fan_out_sql) < 40
    # In pages: a constant number of statements per page (O(pages), not O(products)).
    assert pages <= steps <= pages + 1
    assert len(page_sql) <= 20 * steps, len(page_sql)

    got: list[dict[str, Any]] = []
    await _receive(database, channel.id, got)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in got:
        by_type.setdefault(e["type"].replace("product.created", "product.updated"), []).append(e)
    products = by_type["productsync.product.updated"]
    levels = by_type["productsync.stock.changed"]
    prices = by_type["productsync.price.changed"]
    # Each product exactly once: its full state, its level at the channel's location, its price.
    assert len(products) == len(levels) == len(prices) == n and len(got) == 3 * n
    skus = [f"{c['prefix']}{i:06d}" for i in range(n)]
    assert sorted(e["subject"] for e in products) == skus
    on_hand = {e["subject"]: e["data"]["level"]["on_hand"] for e in levels}
    assert all(on_hand[sku] == str(on_hand_of(i)) for i, sku in enumerate(skus))
    assert {e["data"]["level"]["location_id"] for e in levels} == {str(c["loc"].id)}
    assert {e["data"]["price_list_id"] for e in prices} == {str(c["pl"].id)}
    # The first product was made through the services after the channel's subscription
    # point: its live events stand in for its snapshot, every other product's is a snapshot.
    live = {e["subject"] for e in got if e["origin"] != snapshots.SNAPSHOT_ORIGIN}
    assert live == {skus[0]}
    # The same shapes as the per-product state used for corrections (and used before).
    sample = random.Random(7).sample(range(1, n), 20)

    async def reference(uow: UnitOfWork) -> list[dict[str, Any]]:
        out = []
        for i in sample:
            product = await uow.products.get(c["ids"][i])
            assert product is not None
            out += [
                {"type": e.type.value, "subject": e.subject, "data": e.data, "version": e.version}
                for e in await snapshots.product_state(
                    uow, channel, product, origin=snapshots.SNAPSHOT_ORIGIN
                )
            ]
        return out

    expected = await transaction(database, reference, readonly=True)
    sampled = {skus[i] for i in sample}
    delivered = [
        {"type": e["type"], "subject": e["subject"], "data": e["data"], "version": e["productversion"]}
        for e in got
        if e["subject"] in sampled
    ]

    def canon(rows: list[dict[str, Any]]) -> list[str]:
        return sorted(repr(sorted(r.items())) for r in rows)

    for row in delivered + expected:  # the claim adds the channel's view; in force is per build
        row["data"] = {k: v for k, v in row["data"].items() if k not in ("in_force", "channel")}
    assert canon(delivered) == canon(expected)


async def test_live_changes_during_a_backfill_all_arrive_and_the_final_state_wins(database, world) -> None:
    await _settle(database)
    n = 2400
    c = await _catalog(database, world, n, priced=False)
    channel = await _channel(database, world, c["partner"].id, c["loc"].id)
    await transaction(database, dispatch.fan_out)  # subscribes the channel
    rng = random.Random(11)
    changed: set[int] = set()

    async def change(i: int) -> None:
        await transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow,
                world.admin,
                location_id=c["loc"].id,
                product_id=c["ids"][i],
                delta=Decimal(rng.choice((-1, 2))),
            ),
        )
        changed.add(i)

    async def pages() -> None:
        while await transaction(database, lambda uow: snapshots.backfill_step(uow, page=300)):
            await asyncio.sleep(0)

    async def live() -> None:
        # Products in pages already built, in pages still to come, and the page boundaries.
        for _ in range(60):
            await change(rng.choice((0, 1, 299, 300, 301, rng.randrange(n), rng.randrange(n), n - 1)))
            await transaction(database, dispatch.fan_out)
            await asyncio.sleep(0)

    await asyncio.gather(pages(), live())
    for i in (5, 1500, n - 1):  # and a few after the backfill ended
        await change(i)
    await transaction(database, dispatch.fan_out)
    got: list[dict[str, Any]] = []
    await _receive(database, channel.id, got)

    hub = await _levels(database, c["ids"])
    last = _last(got)
    skus = {f"{c['prefix']}{i:06d}": c["ids"][i] for i in range(n)}
    level_state = {k[1]: e for k, e in last.items() if k[0] == "productsync.stock.changed"}
    assert set(level_state) == set(skus)  # no gap: every product's level arrived
    # The last state that arrived is the hub's, for every product (changed or not).
    assert all(Decimal(level_state[sku]["data"]["level"]["on_hand"]) == hub[pid] for sku, pid in skus.items())
    # And versions never went backwards per thing (the newest state was sent last).
    seen: dict[tuple[str, str, str], int] = {}
    for e in got:
        assert e["productversion"] >= seen.get(_key(e), 0), e["subject"]
        seen[_key(e)] = e["productversion"]
    assert len(changed) > 5
    # No duplicate that matters: at most one snapshot per thing.
    snaps = [_key(e) for e in got if e["origin"] == snapshots.SNAPSHOT_ORIGIN]
    assert len(snaps) == len(set(snaps))


async def test_another_channels_live_events_are_fanned_out_while_a_big_backfill_is_midway(
    database, world
) -> None:
    await _settle(database)
    c = await _catalog(database, world, 3000, priced=False)
    big = await _channel(database, world, c["partner"].id, c["loc"].id)
    other = await _channel(database, world, world.a.id, world.loc_a.id)
    await transaction(database, dispatch.fan_out)
    for _ in range(2):  # the small channel's one-page snapshot, and the big one's first page
        assert await transaction(database, snapshots.backfill_step)
    state = await transaction(database, lambda uow: uow.backfills.get(big.id), readonly=True)
    assert state is not None  # the big backfill has pages left

    async def adjust_other() -> None:
        await transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow, world.admin, location_id=world.loc_a.id, product_id=world.product.id, delta=Decimal(3)
            ),
        )

    async def queued_for_other() -> int:
        async def q(uow: UnitOfWork) -> int:
            rows = await uow.deliveries.find(other.id, status="pending", limit=100)
            return len([r for r in rows if (r.aggregate or "").startswith("stock:")])

        return await transaction(database, q, readonly=True)

    await adjust_other()
    await transaction(database, dispatch.fan_out)
    assert await queued_for_other() == 1
    assert await transaction(database, lambda uow: uow.backfills.get(big.id), readonly=True) is not None

    if database.engine.dialect.name == "postgresql":
        # A page transaction open right now (it holds no sequencing or fan-out lock): the
        # other channel's next event is sequenced and fanned out without waiting for it.
        async with UnitOfWork(database) as page:
            assert await snapshots.backfill_step(page)
            await adjust_other()
            await asyncio.wait_for(transaction(database, dispatch.fan_out), timeout=5)
            # the older pending state was superseded by the new one
            assert await queued_for_other() == 1
            await page.commit()
    while await transaction(database, snapshots.backfill_step):
        pass
    assert await transaction(database, lambda uow: uow.backfills.get(big.id), readonly=True) is None


@pytest.mark.parametrize("status", ["paused"])
async def test_a_channel_paused_midway_stops_its_backfill_and_re_enabling_starts_over(
    database, world, status: str
) -> None:
    await _settle(database)
    c = await _catalog(database, world, 1200, priced=False)
    channel = await _channel(database, world, c["partner"].id, c["loc"].id)
    await transaction(database, dispatch.fan_out)
    assert await transaction(database, lambda uow: snapshots.backfill_step(uow, page=500))

    async def set_status(value: str) -> None:
        await transaction(
            database,
            lambda uow: channels.update_channel(
                uow, world.admin, channel.id, {"status": value}, expected_version=None
            ),
        )

    await set_status(status)
    await transaction(database, dispatch.fan_out)
    while await transaction(database, snapshots.backfill_step):
        pass
    assert await transaction(database, lambda uow: uow.backfills.get(channel.id), readonly=True) is None
    await set_status("enabled")
    await transaction(database, dispatch.fan_out)
    while await transaction(database, snapshots.backfill_step):
        pass
    got: list[dict[str, Any]] = []
    await _receive(database, channel.id, got)
    levels = {k[1] for k in _last(got) if k[0] == "productsync.stock.changed"}
    assert len(levels) == 1200
