"""The channel's view of a product at send time (see domain/projection.py)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from productsync.domain.catalog import ProductStatus
from productsync.domain.channels import Channel
from productsync.domain.pricing import price_in_force
from productsync.domain.projection import ChannelView, localized, product_available
from productsync.services.bundles import component_levels
from productsync.services.lots import counted_levels
from productsync.store.uow import UnitOfWork


async def credentials(uow: UnitOfWork, channel_id: uuid.UUID) -> dict[str, str]:
    sealed = await uow.channels.sealed_credentials(channel_id)
    return dict(json.loads(uow.secrets.open(sealed))) if sealed else {}


async def channel_view(
    uow: UnitOfWork, channel: Channel, product_id: uuid.UUID, *, at: datetime, with_credentials: bool
) -> ChannelView | None:
    product = await uow.products.get(product_id)
    if product is None:
        return None
    levels = await counted_levels(uow, await component_levels(uow, [product]), channel.min_shelf_life_days)
    in_force = None
    if channel.price_list_id is not None:
        price_list = await uow.prices.get_list(channel.price_list_id)
        entries, _ = await uow.prices.entries(channel.price_list_id, product.id)
        if price_list is not None:
            # None when no entry is valid right now: the channel keeps what it has.
            in_force = price_in_force(entries, at, currency=price_list.currency, base_unit=product.base_unit)
    name, description = localized(product, channel.locale)
    return ChannelView(
        sku=product.sku,
        external_ids=await uow.mappings.external_ids(channel.id, product.id),
        available=product_available(product, levels, channel),
        price=in_force.amount if in_force else None,
        currency=in_force.currency if in_force else None,
        name=name,
        description=description,
        active=product.status is ProductStatus.ACTIVE,
        credentials=await credentials(uow, channel.id) if with_credentials else {},
        price_in_force=in_force,
    )
