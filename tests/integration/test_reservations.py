"""Reservations on the real databases (SQLite and PostgreSQL): hold, commit, release,
extend, expiry, allocation, backorders, units, bundles across partners."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from productsync.domain.access import Scope
from productsync.domain.catalog import Component, NewProduct, ProductKind
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import (
    Conflict,
    ErrorCode,
    Forbidden,
    InsufficientStock,
    InvalidInput,
    NotFound,
)
from productsync.domain.inventory import MovementKind
from productsync.domain.quantities import BaseUnit
from productsync.domain.reservations import Hold, ReservationStatus
from productsync.services import availability, catalog, channels, reservations, stock, stock_checks
from productsync.services.reservations import LineRequest
from productsync.store.tables import outbox
from productsync.store.tables import reservations as reservations_table
from productsync.store.uow import transaction
from tests.conftest import count_rows, ref

D = Decimal


async def _receive(db, actor, product_id, location_id, quantity) -> None:  # type: ignore[no-untyped-def]
    await transaction(
        db,
        lambda uow: stock.adjust_stock(
            uow,
            actor,
            location_id=location_id,
            product_id=product_id,
            delta=D(quantity),
            kind=MovementKind.RECEIPT,
        ),
    )


async def _level(db, product_id, location_id):  # type: ignore[no-untyped-def]
    return await transaction(db, lambda uow: uow.stock.get_level(product_id, location_id), readonly=True)


async def _reserve(db, actor, *lines, **kw):  # type: ignore[no-untyped-def]
    return await transaction(db, lambda uow: reservations.reserve(uow, actor, list(lines), **kw))


async def _product(db, owner, **over):  # type: ignore[no-untyped-def]
    async def make(uow):  # type: ignore[no-untyped-def]
        sports = await uow.categories.get_by_code("sports")
        values = dict(
            sku=ref("SE-"),
            name="Item",
            category_id=sports.id,
            owner_partner_id=owner.id,
            attributes={"size": "M", "material": "cotton"},
        )
        values.update(over)
        from productsync.domain.access import system_actor

        return await catalog.create_product(uow, system_actor("test"), NewProduct(**values))

    return await transaction(db, make)


async def test_hold_lowers_available_at_once_and_commit_sells(database, world) -> None:
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 5)
    held = await _reserve(
        database,
        world.actor_a,
        LineRequest(quantity=D(2), product_id=world.product.id, location_id=world.loc_a.id),
        external_ref="order-1",
    )
    assert held.status is ReservationStatus.HELD
    level = await _level(database, world.product.id, world.loc_a.id)
    assert (level.on_hand, level.reserved, level.available) == (5, 2, 3)

    done = await transaction(database, lambda uow: reservations.commit(uow, world.actor_a, held.id))
    assert done.status is ReservationStatus.COMMITTED
    level = await _level(database, world.product.id, world.loc_a.id)
    assert (level.on_hand, level.reserved, level.available) == (3, 0, 3)
    moves = await transaction(
        database, lambda uow: uow.stock.movements(world.product.id, world.loc_a.id), readonly=True
    )
    assert [(m.kind, m.quantity, m.reservation_id) for m in moves][-1] == ("sale", D(-2), held.id)
    # Committing again answers with the committed reservation and sells nothing more.
    again = await transaction(database, lambda uow: reservations.commit(uow, world.actor_a, held.id))
    assert again.status is ReservationStatus.COMMITTED
    assert (await _level(database, world.product.id, world.loc_a.id)).on_hand == 3
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []


async def test_one_short_line_fails_the_whole_request_and_names_it(database, world) -> None:
    other = await _product(database, world.a)
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 5)
    await _receive(database, world.actor_a, other.id, world.loc_a.id, 1)
    before = await count_rows(database, reservations_table)
    with pytest.raises(InsufficientStock) as caught:
        await _reserve(
            database,
            world.actor_a,
            LineRequest(quantity=D(2), product_id=world.product.id),
            LineRequest(quantity=D(3), sku=other.sku),
        )
    [short] = caught.value.data["short_lines"]
    assert (short["line"], short["sku"], short["requested"], short["available"]) == (1, other.sku, "3", "1")
    assert (await _level(database, world.product.id, world.loc_a.id)).reserved == 0
    assert (await _level(database, other.id, world.loc_a.id)).reserved == 0
    assert await count_rows(database, reservations_table) == before


async def test_release_gives_back_and_is_idempotent_commit_after_is_refused(database, world) -> None:
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 4)
    held = await _reserve(database, world.actor_a, LineRequest(quantity=D(4), product_id=world.product.id))
    assert (await _level(database, world.product.id, world.loc_a.id)).available == 0
    for _ in range(2):
        released = await transaction(database, lambda uow: reservations.release(uow, world.actor_a, held.id))
        assert released.status is ReservationStatus.RELEASED
    level = await _level(database, world.product.id, world.loc_a.id)
    assert (level.reserved, level.available) == (0, 4)
    with pytest.raises(Conflict) as caught:
        await transaction(database, lambda uow: reservations.commit(uow, world.actor_a, held.id))
    assert caught.value.code is ErrorCode.RESERVATION_CLOSED


async def test_expired_hold_cannot_commit_or_extend_and_the_sweep_gives_it_back(database, world) -> None:
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 3)
    short = await _reserve(
        database, world.actor_a, LineRequest(quantity=D(3), product_id=world.product.id), ttl_seconds=1
    )
    await asyncio.sleep(1.1)
    for action in (
        lambda uow: reservations.commit(uow, world.actor_a, short.id),
        lambda uow: reservations.extend(uow, world.actor_a, short.id, ttl_seconds=60),
    ):
        with pytest.raises(Conflict) as caught:
            await transaction(database, action)
        assert caught.value.code is ErrorCode.RESERVATION_EXPIRED
    assert (await _level(database, world.product.id, world.loc_a.id)).reserved == 3
    while await transaction(database, reservations.expire_due):
        pass
    level = await _level(database, world.product.id, world.loc_a.id)
    assert (level.on_hand, level.reserved, level.available) == (3, 0, 3)
    gone = await transaction(database, lambda uow: reservations.get_reservation(uow, world.actor_a, short.id))
    assert gone.status is ReservationStatus.EXPIRED


async def test_extend_keeps_a_live_hold_past_its_first_time(database, world) -> None:
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 3)
    held = await _reserve(
        database, world.actor_a, LineRequest(quantity=D(1), product_id=world.product.id), ttl_seconds=1
    )
    extended = await transaction(
        database, lambda uow: reservations.extend(uow, world.actor_a, held.id, ttl_seconds=120)
    )
    assert extended.expires_at > held.expires_at
    await asyncio.sleep(1.1)
    await transaction(database, reservations.expire_due)
    done = await transaction(database, lambda uow: reservations.commit(uow, world.actor_a, held.id))
    assert done.status is ReservationStatus.COMMITTED


async def test_allocation_prefers_one_location_then_most_stock_then_splits(database, world) -> None:
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 3)
    await _receive(database, world.admin, world.product.id, world.loc_hub.id, 5)
    one = await _reserve(database, world.actor_a, LineRequest(quantity=D(3), product_id=world.product.id))
    # Both could hold 3; the one with more stock does.
    assert [(h.location_id, h.quantity) for h in one.lines[0].holds] == [(world.loc_hub.id, 3)]
    # 3 free at A, 2 at the hub: 4 fits nowhere whole, so it splits, most stock first.
    split = await _reserve(database, world.actor_a, LineRequest(quantity=D(4), product_id=world.product.id))
    assert sorted((h.location_id == world.loc_a.id, h.quantity) for h in split.lines[0].holds) == [
        (False, 1),
        (True, 3),
    ]


async def test_backorders_hold_what_exists_and_record_the_rest(database, world) -> None:
    item = await _product(database, world.a, allow_backorders=True)
    await _receive(database, world.actor_a, item.id, world.loc_a.id, 2)
    held = await _reserve(database, world.actor_a, LineRequest(quantity=D(5), product_id=item.id))
    assert (held.lines[0].backordered, sum(h.quantity for h in held.lines[0].holds)) == (3, 2)
    level = await _level(database, item.id, world.loc_a.id)
    assert (level.on_hand, level.reserved, level.available) == (2, 2, 0)
    # Without backorders the same request is refused.
    with pytest.raises(InsufficientStock):
        await _reserve(database, world.actor_a, LineRequest(quantity=D(5), product_id=world.product.id))


async def test_a_sale_takes_what_is_free_but_never_held_stock(database, world) -> None:
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 5)
    await _reserve(database, world.actor_a, LineRequest(quantity=D(2), product_id=world.product.id))

    def sell(quantity: int):  # type: ignore[no-untyped-def]
        return transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=world.product.id,
                delta=D(-quantity),
                kind=MovementKind.SALE,
            ),
        )

    await sell(2)  # 3 are free beside the hold: a sale of 2 goes through
    with pytest.raises(InsufficientStock) as caught:
        await sell(2)
    assert "held by reservations" in caught.value.detail
    level = await _level(database, world.product.id, world.loc_a.id)
    assert (level.on_hand, level.reserved) == (3, 2)
    await sell(1)
    level = await _level(database, world.product.id, world.loc_a.id)
    assert (level.on_hand, level.reserved, level.available) == (2, 2, 0)


async def test_shared_products_can_be_reserved_by_the_grantee_only(database, world) -> None:
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 3)
    held = await _reserve(database, world.actor_b, LineRequest(quantity=D(1), sku=world.product.sku))
    assert held.partner_id == world.b.id
    with pytest.raises(NotFound):
        await _reserve(database, world.actor_c, LineRequest(quantity=D(1), sku=world.product.sku))
    # Someone else's reservation is invisible, not forbidden.
    with pytest.raises(NotFound):
        await transaction(database, lambda uow: reservations.commit(uow, world.actor_a, held.id))


async def test_quantities_in_other_units_and_packs_are_converted_exactly(database, world) -> None:
    cosmetics = await transaction(database, lambda uow: uow.categories.get_by_code("alcohol"), readonly=True)
    gin = await _product(
        database,
        world.a,
        sku=ref("ALC-"),
        category_id=cosmetics.id,
        base_unit=BaseUnit.MILLILITRE,
        attributes={"abv": 41.5, "volume_ml": 700, "age_restricted": True},
        packs={"bottle": 700, "case": 4200},
    )
    await _receive(database, world.actor_a, gin.id, world.loc_a.id, 10000)
    held = await _reserve(
        database,
        world.actor_a,
        LineRequest(quantity="1.5", unit="l", product_id=gin.id),
        LineRequest(quantity=2, unit="bottle", product_id=gin.id),
        LineRequest(quantity=1, unit="case", product_id=gin.id),
    )
    assert [line.quantity for line in held.lines] == [1500, 1400, 4200]
    assert (await _level(database, gin.id, world.loc_a.id)).reserved == 7100
    for bad in (
        LineRequest(quantity=1, unit="kg", product_id=gin.id),
        LineRequest(quantity=1, unit="fl oz", product_id=gin.id),
    ):
        with pytest.raises(InvalidInput):
            await _reserve(database, world.actor_a, bad)
    with pytest.raises(InvalidInput):  # a piece is whole
        await _reserve(database, world.actor_a, LineRequest(quantity="0.5", product_id=world.product.id))


async def test_a_channel_allocates_from_its_own_locations_only(database, world) -> None:
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 1)
    await _receive(database, world.admin, world.product.id, world.loc_hub.id, 9)
    store, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow,
            admin_a,
            NewChannel(
                name="pos", kind=ChannelKind.SSE, owner_partner_id=None, location_ids=(world.loc_a.id,)
            ),
        ),
    )
    with pytest.raises(InsufficientStock):
        await _reserve(
            database, admin_a, LineRequest(quantity=D(2), product_id=world.product.id), channel_id=store.id
        )
    held = await _reserve(
        database, admin_a, LineRequest(quantity=D(1), product_id=world.product.id), channel_id=store.id
    )
    assert [h.location_id for h in held.lines[0].holds] == [world.loc_a.id]


async def test_bundle_across_partners_reserves_components_and_announces_itself(database, world) -> None:
    # B owns polish and a bundle of it with A's product (A shares its catalog with B).
    polish = await _product(database, world.b)
    bundle = await _product(
        database,
        world.b,
        kind=ProductKind.BUNDLE,
        components=[Component(polish.id, D(1)), Component(world.product.id, D(2))],
    )
    await _receive(database, world.actor_a, world.product.id, world.loc_hub.id, 5)
    await _receive(database, world.actor_b, polish.id, world.loc_hub.id, 3)
    admin_b = replace(world.actor_b, scopes=frozenset({*world.actor_b.scopes, Scope.CHANNELS_ADMIN}))
    shop, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow, admin_b, NewChannel(name="shop", kind=ChannelKind.SSE, owner_partner_id=None)
        ),
    )

    async def bundles_left() -> Decimal:
        [found] = await transaction(
            database,
            lambda uow: availability.availability(uow, admin_b, channel_id=shop.id, product_ids=[bundle.id]),
            readonly=True,
        )
        return found.available

    assert await bundles_left() == 2  # min(3 / 1, 5 / 2)
    events_before = await count_rows(database, outbox, product_id=bundle.id)
    held = await _reserve(database, world.actor_b, LineRequest(quantity=D(2), product_id=bundle.id))
    assert sorted((h.product_id == polish.id, h.quantity) for h in held.lines[0].holds) == [
        (False, 4),
        (True, 2),
    ]
    assert await bundles_left() == 0
    assert await count_rows(database, outbox, product_id=bundle.id) == events_before + 1
    with pytest.raises(InsufficientStock) as caught:
        await _reserve(database, world.actor_b, LineRequest(quantity=D(1), product_id=bundle.id))
    assert {s["sku"] for s in caught.value.data["short_lines"]} == {world.product.sku}
    # A receipt of a component re-announces the bundle.
    await _receive(database, world.actor_a, world.product.id, world.loc_hub.id, 2)
    assert await count_rows(database, outbox, product_id=bundle.id) == events_before + 2
    assert await bundles_left() == 1
    # A bundle keeps no stock of its own.
    with pytest.raises(Conflict) as bundle_stock:
        await _receive(database, world.actor_b, bundle.id, world.loc_hub.id, 1)
    assert bundle_stock.value.code is ErrorCode.BUNDLE_STOCK


async def test_bundle_components_must_be_shared_with_the_bundle_owner(database, world) -> None:
    lonely = await _product(database, world.c)
    with pytest.raises((NotFound, Forbidden)):  # 403, not a 409 conflict
        await _product(database, world.b, kind=ProductKind.BUNDLE, components=[Component(lonely.id, D(1))])
    with pytest.raises(InvalidInput):
        await _product(database, world.b, kind=ProductKind.BUNDLE, components=[])
    with pytest.raises(NotFound):
        await _product(database, world.b, kind=ProductKind.BUNDLE, components=[Component(uuid.uuid4(), D(1))])


async def test_holding_several_levels_at_once_raises_only_those_with_enough_free(database, world) -> None:
    """The one-statement hold of PostgreSQL (SQLite holds level by level: None)."""
    other = await _product(database, world.a)
    await _receive(database, world.actor_a, world.product.id, world.loc_a.id, 5)
    await _receive(database, world.actor_a, other.id, world.loc_a.id, 1)
    wanted = {(world.product.id, world.loc_a.id): D(2), (other.id, world.loc_a.id): D(3)}

    async def hold(uow, wanted):  # type: ignore[no-untyped-def]
        raised = await uow.stock.try_hold_levels(wanted, uow.now)
        if raised is not None:
            for product_id, location_id in raised:
                await uow.stock.unhold(
                    Hold(product_id, location_id, wanted[(product_id, location_id)]), uow.now
                )
        return raised

    raised = await transaction(database, lambda uow: hold(uow, wanted))
    if database.engine.dialect.name == "sqlite":
        assert raised is None
        return
    assert raised is not None and set(raised) == {(world.product.id, world.loc_a.id)}
    assert raised[(world.product.id, world.loc_a.id)].reserved == 2  # only the level with enough free
    wanted[(other.id, world.loc_a.id)] = D(1)
    both = await transaction(database, lambda uow: hold(uow, wanted))
    assert both is not None and {k: lv.reserved for k, lv in both.items()} == {
        (world.product.id, world.loc_a.id): 2,
        (other.id, world.loc_a.id): 1,
    }
    # every raise was undone above: nothing stays held
    assert (await _level(database, world.product.id, world.loc_a.id)).reserved == 0
    assert (await _level(database, other.id, world.loc_a.id)).reserved == 0
