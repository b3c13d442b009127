"""What a channel should see right now: its whole slice as events directed at it.

Used for a new (or re-enabled) channel's backfill and for corrections after an
inbound change lost its conflict. The events have the live events' shapes (full
state plus version), so a receiver needs no second code path.

A backfill is built in pages, each its own short transaction, outside the outbox
sequencer and the fan-out lock, so a catalog of any size never holds up the events of
the other channels:

1. **Subscribe** (``subscribe``, inside ``fan_out``): the channel's backfill row records
   ``from_seq`` = the fan-out cursor. That fan-out and every later one route each event
   after ``from_seq`` to the channel as live news; nothing else happens under the locks.
2. **Pages** (``backfill_step``): the next ~1,000 products of its slice (by SKU) with
   their levels, bundle components and prices in a handful of set-based reads; their
   events go to ``snapshot_events`` and one delivery each to ``deliveries`` (multi-row
   INSERTs) with ``event_seq = from_seq``. Memory is one page.

Why no gap: take any thing (product, level, price) of the slice and its last change
before the backfill ends. If that change's event has ``seq > from_seq`` it is routed to
the channel live. Otherwise it committed before ``from_seq`` was recorded (an event is
sequenced only once committed), so the page, read in a later transaction, sees it or a
newer state; and a newer state would have its own event after ``from_seq``. Either way
the channel is sent the hub's final state.

Why no duplicate that matters, and why the final state is the last one sent: a snapshot
delivery sits at ``from_seq``, so per (channel, thing) it orders after every live
delivery at or before ``from_seq`` (those still pending are superseded as the page is
queued: the page's state is at least as new) and before every live one after it (which
supersede it when still waiting, and are sent after it otherwise). A thing that already
has a live delivery after ``from_seq`` gets no snapshot at all: that live event, or a
later one, carries its final state. Every event carries the full state and its version,
so a receiver keeping the highest version ends with the hub's state whatever it got
twice, and the claim order (oldest first per thing) sends the newest state last.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from productsync.domain import deliveries as rules
from productsync.domain.catalog import Product
from productsync.domain.channels import Channel, ChannelStatus
from productsync.domain.deliveries import DeliveryStatus
from productsync.domain.events import (
    DomainEvent,
    EventType,
    bundle_stock_changed,
    price_changed,
    product_event,
    stock_snapshot,
)
from productsync.domain.inventory import StockLevel
from productsync.domain.pricing import PriceEntry, PriceList, price_in_force
from productsync.domain.projection import bundle_available
from productsync.store.repositories.log import event_row
from productsync.store.uow import UnitOfWork

SNAPSHOT_ORIGIN = "snapshot"
PAGE = 1000


@dataclass(frozen=True)
class StateReads:
    """What the states of a set of products are built from, read in a few queries."""

    levels: dict[uuid.UUID, list[StockLevel]]  # the products' and their components', all locations
    codes: dict[uuid.UUID, str]  # location codes
    prices: dict[uuid.UUID, tuple[list[PriceEntry], int]]  # on the channel's list; absent: never priced
    price_list: PriceList | None


async def read_states(
    uow: UnitOfWork, channel: Channel, products: list[Product], *, price_list: PriceList | None = None
) -> StateReads:
    """Levels (products and bundle components), location codes and prices of many
    products: four queries whatever their number."""
    ids = {p.id for p in products} | {c.product_id for p in products for c in p.components}
    levels = await uow.stock.levels_for_products(ids)
    codes = await uow.locations.codes({lv.location_id for lvs in levels.values() for lv in lvs})
    prices: dict[uuid.UUID, tuple[list[PriceEntry], int]] = {}
    if channel.price_list_id is not None:
        price_list = price_list or await uow.prices.get_list(channel.price_list_id)
        prices = await uow.backfills.prices(channel.price_list_id, [p.id for p in products])
    return StateReads(levels, codes, prices, price_list)


def state_events(
    channel: Channel, product: Product, reads: StateReads, *, origin: str, at: datetime
) -> list[DomainEvent]:
    """The product, its levels at the channel's locations (in location-code order) and its
    price on the channel's list, as events directed at the channel."""
    out = [product_event(EventType.PRODUCT_UPDATED, product, origin=origin, channel_id=channel.id)]
    if product.is_bundle:
        parts = [lv for c in product.components for lv in reads.levels.get(c.product_id, [])]
        out.append(
            bundle_stock_changed(
                product,
                bundle_available(product.components, reads.levels),
                parts,
                origin=origin,
                channel_id=channel.id,
            )
        )
    own = [lv for lv in reads.levels.get(product.id, []) if lv.location_id in reads.codes]
    for level in sorted(own, key=lambda lv: reads.codes[lv.location_id]):
        if not channel.counts_location(level.location_id):
            continue
        code = reads.codes[level.location_id]
        out.append(stock_snapshot(product, level, location_code=code, channel_id=channel.id, origin=origin))
    entries, version = reads.prices.get(product.id, ([], 0))
    price_list = reads.price_list
    if version and price_list is not None:
        in_force = price_in_force(entries, at, currency=price_list.currency, base_unit=product.base_unit)
        out.append(
            price_changed(
                product,
                price_list.id,
                price_list.currency,
                [e.snapshot() for e in entries],
                version=version,
                list_owner=price_list.owner_partner_id,
                origin=origin,
                channel_id=channel.id,
                in_force=in_force.snapshot() if in_force else None,
            )
        )
    return out


async def product_state(
    uow: UnitOfWork,
    channel: Channel,
    product: Product,
    *,
    origin: str,
    price_list: PriceList | None = None,
) -> list[DomainEvent]:
    """The product, its levels at the channel's locations and its price on the channel's list
    (pass ``price_list`` when calling for many products: it is then read once)."""
    reads = await read_states(uow, channel, [product], price_list=price_list)
    return state_events(channel, product, reads, origin=origin, at=uow.now)


async def subscribe(uow: UnitOfWork, channel: Channel, *, at_seq: int) -> bool:
    """Start (or start over) the channel's backfill at outbox position ``at_seq``; called
    by the fan-out, which routes every event after ``at_seq`` to the channel. False when
    a page of its previous backfill is being built right now: the fan-out then leaves the
    request standing and subscribes the channel on a later round (it never waits)."""
    if not await uow.backfills.try_hold(channel.id):
        return False
    await uow.backfills.start(channel.id, at_seq, uow.now)
    return True


async def backfill_waiting(uow: UnitOfWork) -> bool:
    """Whether some channel's backfill has pages left (a cheap read-only probe)."""
    return await uow.backfills.in_progress()


async def backfill_step(uow: UnitOfWork, *, page: int = PAGE) -> bool:
    """Build one page of one channel's backfill (its own transaction; see the module
    docstring for why pages keep the no-gap guarantee). Returns False when no backfill
    had work to do. Several dispatchers never build pages of one channel at once."""
    job = None
    for waiting in await uow.backfills.waiting():
        if await uow.backfills.try_hold(waiting.channel_id):
            job = await uow.backfills.get(waiting.channel_id)  # as it is now that we hold it
            break
    if job is None:
        return False
    channel = await uow.channels.get(job.channel_id)
    if channel is None or channel.status is not ChannelStatus.ENABLED:
        # Paused or disabled midway: re-enabling asks for a fresh backfill.
        await uow.backfills.finish(job.channel_id)
        return True
    owners = set(channel.partner_ids) or None
    products = await uow.products.find(owners=owners, after_sku=job.after_sku, limit=page)
    chosen = [
        p for p in products if channel.sees(owner_partner_id=p.owner_partner_id, category_id=p.category_id)
    ]
    events: list[DomainEvent] = []
    if chosen:
        reads = await read_states(uow, channel, chosen)
        for start in range(0, len(chosen), 100):
            for p in chosen[start : start + 100]:
                events += state_events(channel, p, reads, origin=SNAPSHOT_ORIGIN, at=uow.now)
            await asyncio.sleep(0)  # let the claim loop sharing this event loop run meanwhile
    queued = await _queue(uow, channel.id, int(job.from_seq), events)
    if len(products) < page:
        await uow.backfills.finish(channel.id)
    else:
        await uow.backfills.advance(channel.id, products[-1].sku, queued, uow.now)
    return True


async def _queue(uow: UnitOfWork, channel_id: uuid.UUID, from_seq: int, events: list[DomainEvent]) -> int:
    """One page's snapshot deliveries, set-based: things with a live delivery queued after
    ``from_seq`` are left out (it carries their final state), pending deliveries at or
    before ``from_seq`` of the others are superseded, then payloads and deliveries are
    inserted in multi-row statements."""
    keyed = [(rules.aggregate_key(e.type.value, e.data, e.product_id), e) for e in events]
    covered = await uow.deliveries.newer_than(channel_id, from_seq, [a for a, _ in keyed if a])
    keep = [(a, e) for a, e in keyed if a is None or a not in covered]
    if not keep:
        return 0
    await uow.deliveries.supersede_up_to(channel_id, from_seq, [a for a, _ in keep if a], uow.now)
    await uow.backfills.add_events([event_row(e, uow.now) for _, e in keep])
    rows: list[dict[str, Any]] = [
        {
            "event_seq": from_seq,
            "event_id": e.id,
            "channel_id": channel_id,
            "aggregate": a,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": uow.now,
            "event_time": uow.now,
            "created_at": uow.now,
            "delivered_at": None,
        }
        for a, e in keep
    ]
    await uow.deliveries.add(rows)
    return len(rows)
