"""Available-to-sell for a channel: the same number the sync engine pushes to it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product
from productsync.domain.channels import Channel
from productsync.domain.errors import InvalidInput
from productsync.domain.inventory import StockLevel
from productsync.domain.projection import product_available
from productsync.services.bundles import component_levels
from productsync.services.catalog import find_product
from productsync.services.channels import owned_channel
from productsync.services.lots import counted_levels
from productsync.store.uow import UnitOfWork

MAX_BULK = 200


@dataclass(frozen=True)
class Availability:
    product: Product
    channel: Channel
    available: Decimal  # the channel's locations' availability minus its buffer, never below zero
    levels: list[StockLevel]  # the levels that count for the channel


def _for(channel: Channel, product: Product, levels: dict[uuid.UUID, list[StockLevel]]) -> Availability:
    own = levels.get(product.id, [])
    counted = [lv for lv in own if channel.counts_location(lv.location_id)]
    return Availability(product, channel, product_available(product, levels, channel), counted)


async def availability(
    uow: UnitOfWork,
    actor: Actor,
    *,
    channel_id: uuid.UUID,
    product_ids: list[uuid.UUID] | None = None,
    skus: list[str] | None = None,
) -> list[Availability]:
    """For each product named (by id or SKU), what the channel may sell. A product the
    channel does not see has nothing to sell there (0), one the caller cannot see is 404."""
    actor.require(Scope.CATALOG_READ)
    product_ids, skus = product_ids or [], skus or []
    if not product_ids and not skus:
        raise InvalidInput("name at least one product (product_id or sku)", field="sku")
    if len(product_ids) + len(skus) > MAX_BULK:
        raise InvalidInput(f"at most {MAX_BULK} products per request", field="sku")
    channel = await owned_channel(uow, actor, channel_id)
    products = [await find_product(uow, actor, product_id=pid) for pid in product_ids]
    products += [await find_product(uow, actor, sku=sku) for sku in skus]
    levels = await counted_levels(uow, await component_levels(uow, products), channel.min_shelf_life_days)
    out = []
    for p in products:
        seen = channel.sees(owner_partner_id=p.owner_partner_id, category_id=p.category_id)
        out.append(_for(channel, p, levels) if seen else Availability(p, channel, Decimal(0), []))
    return out
