"""Price windows reaching the channels when they open and close.

A price write emits the price in force *then*; a promotion that starts or ends later
changes the price in force with nobody writing. Each such instant (a boundary, kept in
``price_boundaries`` by ``put_prices``) is announced here once it is due: one
``price.changed`` per (list, product), a new version of the unchanged tier set carrying
the price in force at ``now``. Exactly once, however many processes run the scheduler:
a pair is announced only by whoever holds its header row (PostgreSQL ``SKIP LOCKED``;
SQLite writers are serialized) and the boundaries are marked announced in the same
transaction as the event. Boundaries that came due while nothing ran are announced
together, once, on the next round. The scheduler job that calls this every second in
each process is ``announce_price_windows`` in bootstrap.py.
"""

from __future__ import annotations

from datetime import datetime

from productsync.domain.access import system_actor
from productsync.domain.events import price_changed
from productsync.domain.pricing import price_in_force
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

BATCH = 100


async def announce_due_boundaries(uow: UnitOfWork, now: datetime, *, limit: int = BATCH) -> int:
    """Announce up to ``limit`` (list, product) pairs whose window boundaries are due at
    ``now``; returns how many were announced. A pair another process holds (announcing
    it, or a PUT that replaces its windows and announces the new price itself) is left."""
    actor = system_actor("scheduler")
    announced = 0
    for list_id, product_id in await uow.prices.due_pairs(now, limit):
        if not await uow.prices.try_lock_header(list_id, product_id):
            continue
        if not await uow.prices.mark_announced(list_id, product_id, now):
            continue  # announced or replaced since due_pairs read it
        product = await uow.products.get(product_id)
        price_list = await uow.prices.get_list(list_id)
        if product is None or price_list is None:
            continue
        version = await uow.prices.bump_version(list_id, product_id)
        entries, _ = await uow.prices.entries(list_id, product_id)
        in_force = price_in_force(entries, now, currency=price_list.currency, base_unit=product.base_unit)
        snapshot = in_force.snapshot() if in_force else None
        await record(
            uow,
            actor,
            action="prices.window_boundary",
            entity_type="product_prices",
            entity_id=f"{list_id}:{product_id}",
            owner=price_list.owner_partner_id or product.owner_partner_id,
            before=None,
            after={"version": version, "price_in_force": snapshot, "at": now.isoformat()},
            events=[
                price_changed(
                    product,
                    list_id,
                    price_list.currency,
                    [e.snapshot() for e in entries],
                    version=version,
                    list_owner=price_list.owner_partner_id,
                    origin=actor.origin,
                    in_force=snapshot,
                )
            ],
        )
        announced += 1
    return announced


async def next_boundary(uow: UnitOfWork) -> datetime | None:
    """The earliest boundary not yet announced (a read, so idle rounds write nothing)."""
    return await uow.prices.next_boundary()
