"""Per-channel availability: the number the sync engine pushes, also readable on demand."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from productsync.domain.access import Scope
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import InvalidInput, NotFound
from productsync.services import availability, channels, stock
from productsync.store.uow import transaction


async def test_availability_sums_the_channel_locations_minus_buffer_and_safety(database, world) -> None:
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    for location, quantity in ((world.loc_a.id, 7), (world.loc_hub.id, 5)):
        await transaction(
            database,
            lambda uow, location=location, quantity=quantity: stock.set_stock(
                uow,
                world.actor_a if location == world.loc_a.id else world.admin,
                location_id=location,
                product_id=world.product.id,
                quantity=Decimal(quantity),
                safety_stock=Decimal(1) if location == world.loc_a.id else None,
            ),
        )

    async def channel(**over):  # type: ignore[no-untyped-def]
        values = dict(name="s", kind=ChannelKind.SSE, owner_partner_id=None)
        values.update(over)
        made, _ = await transaction(
            database, lambda uow: channels.create_channel(uow, admin_a, NewChannel(**values))
        )
        return made

    async def ats(ch, actor=world.actor_a) -> Decimal:  # type: ignore[no-untyped-def]
        [found] = await transaction(
            database,
            lambda uow: availability.availability(
                uow, actor, channel_id=ch.id, skus=[world.product.sku.lower()]
            ),
            readonly=True,
        )
        return found.available

    both = await channel(location_ids=(world.loc_a.id, world.loc_hub.id), buffer_stock=Decimal(2))
    assert await ats(both) == Decimal(9)  # (7 − 1 safety) + 5 − 2 buffer
    store_only = await channel(location_ids=(world.loc_a.id,), buffer_stock=Decimal(10))
    assert await ats(store_only) == 0  # never below zero
    other_category = await channel(
        location_ids=(world.loc_a.id,),
        category_ids=(
            (
                await transaction(
                    database, lambda uow: uow.categories.get_by_code("cosmetics"), readonly=True
                )
            ).id,
        ),
    )
    assert await ats(other_category) == 0  # the channel does not carry it
    with pytest.raises(NotFound):  # not C's channel
        await ats(both, world.actor_c)
    with pytest.raises(InvalidInput):
        await transaction(
            database,
            lambda uow: availability.availability(uow, world.actor_a, channel_id=both.id),
            readonly=True,
        )
