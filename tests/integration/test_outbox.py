"""The outbox stream: commit order, no gaps, even when transactions commit out of id order."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from productsync.domain.inventory import MovementKind
from productsync.services import logs, stock
from productsync.store.uow import transaction


async def _sequence(db) -> None:  # type: ignore[no-untyped-def]
    await transaction(db, logs.sequence_events)


async def _events_after(db, actor, cursor):  # type: ignore[no-untyped-def]
    await _sequence(db)
    return await transaction(
        db, lambda uow: logs.list_events(uow, actor, after=cursor, limit=1000), readonly=True
    )


async def test_events_are_cloudevents_in_commit_order_and_filtered_by_partner(database, world) -> None:
    start = (await _events_after(database, world.admin, 0))[-1][0]
    for d in (5, -2, 3):
        await transaction(
            database,
            lambda uow, d=d: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=world.product.id,
                delta=Decimal(d),
                kind=MovementKind.ADJUSTMENT,
            ),
        )
    mine = [
        e for _, e in await _events_after(database, world.actor_a, start) if e["subject"] == world.product.sku
    ]
    assert [e["data"]["level"]["on_hand"] for e in mine] == ["5", "3", "6"]
    assert [e["productversion"] for e in mine] == [1, 2, 3]
    first = mine[0]
    assert first["specversion"] == "1.0" and first["type"] == "productsync.stock.changed"
    assert first["time"].endswith("Z") and first["source"] == "/productsync"
    others = [
        e for _, e in await _events_after(database, world.actor_c, start) if e["subject"] == world.product.sku
    ]
    assert others == []
    shared = [
        e for _, e in await _events_after(database, world.actor_b, start) if e["subject"] == world.product.sku
    ]
    assert len(shared) == 3


async def test_a_transaction_that_commits_late_is_not_skipped_by_a_reader(database, world) -> None:
    """T1 inserts its event first but commits after T2; a reader that already moved past
    T2's event must still receive T1's (an id-ordered cursor would lose it)."""
    if database.is_sqlite:
        return  # one writer at a time: commit order is insert order by construction
    start = (await _events_after(database, world.admin, 0))[-1][0]
    t1_inserted = asyncio.Event()
    release_t1 = asyncio.Event()

    async def slow(uow):  # type: ignore[no-untyped-def]
        await stock.adjust_stock(
            uow, world.actor_a, location_id=world.loc_a.id, product_id=world.product.id, delta=Decimal(1)
        )
        t1_inserted.set()
        await release_t1.wait()

    t1 = asyncio.create_task(transaction(database, slow))
    await t1_inserted.wait()
    await transaction(
        database,
        lambda uow: stock.adjust_stock(
            uow, world.actor_a, location_id=world.loc_hub.id, product_id=world.product.id, delta=Decimal(1)
        ),
    )
    seen = await _events_after(database, world.admin, start)
    cursor = seen[-1][0]
    assert [e["data"]["location_code"] for _, e in seen if e["subject"] == world.product.sku] == [
        world.loc_hub.code
    ]
    release_t1.set()
    await t1
    later = await _events_after(database, world.admin, cursor)
    assert [e["data"]["location_code"] for _, e in later if e["subject"] == world.product.sku] == [
        world.loc_a.code
    ]
    seqs = [s for s, _ in seen + later]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
