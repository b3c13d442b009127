"""What a channel should see right now: its whole slice as events directed at it.

Used for a new (or re-enabled) channel's backfill and for corrections after an
inbound change lost its conflict. The events have the live events' shapes (full
state plus version), so a receiver needs no second code path.
"""

from __future__ import annotations

from productsync.domain.catalog import Product
from productsync.domain.channels import Channel
from productsync.domain.events import (
    DomainEvent,
    EventType,
    bundle_stock_changed,
    price_changed,
    product_event,
    stock_snapshot,
)
from productsync.domain.pricing import PriceList, price_in_force
from productsync.domain.projection import bundle_available
from productsync.services.bundles import component_levels
from productsync.store.repositories.log import event_row
from productsync.store.uow import UnitOfWork

SNAPSHOT_ORIGIN = "snapshot"
PAGE = 500


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
    out = [product_event(EventType.PRODUCT_UPDATED, product, origin=origin, channel_id=channel.id)]
    if product.is_bundle:
        levels = await component_levels(uow, [product])
        parts = [lv for c in product.components for lv in levels.get(c.product_id, [])]
        out.append(
            bundle_stock_changed(
                product,
                bundle_available(product.components, levels),
                parts,
                origin=origin,
                channel_id=channel.id,
            )
        )
    for level, code in await uow.stock.levels_for_product(product.id):
        if channel.location_ids and level.location_id not in channel.location_ids:
            continue
        out.append(stock_snapshot(product, level, location_code=code, channel_id=channel.id, origin=origin))
    if channel.price_list_id is not None:
        entries, version = await uow.prices.entries(channel.price_list_id, product.id)
        price_list = price_list or await uow.prices.get_list(channel.price_list_id)
        if version and price_list is not None:
            in_force = price_in_force(
                entries, uow.now, currency=price_list.currency, base_unit=product.base_unit
            )
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


async def backfill(uow: UnitOfWork, channel: Channel) -> int:
    """Append the channel's snapshot to the outbox, already in sequence.

    Runs inside the fan-out transaction, which holds the sequencer: every event committed
    before has a lower ``seq`` (its effect is in the snapshot, and it was either fanned
    out before the channel existed or will be delivered before the snapshot, which then
    supersedes it), and every later change gets a higher ``seq`` and is routed to the
    channel as live news. So the channel sees no gap, and per product the last state it
    receives is the hub's."""
    owners = set(channel.partner_ids) or None
    price_list = await uow.prices.get_list(channel.price_list_id) if channel.price_list_id else None
    rows = []
    after: str | None = None
    while True:
        page = await uow.products.find(owners=owners, after_sku=after, limit=PAGE)
        for product in page:
            if channel.sees(owner_partner_id=product.owner_partner_id, category_id=product.category_id):
                for e in await product_state(
                    uow, channel, product, origin=SNAPSHOT_ORIGIN, price_list=price_list
                ):
                    rows.append(event_row(e, uow.now))
        if len(page) < PAGE:
            break
        after = page[-1].sku
    await uow.outbox.append_sequenced(rows)
    await uow.channels.backfilled(channel.id)
    return len(rows)
