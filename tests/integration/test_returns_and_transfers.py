"""Returns linked to their sale and transfers as one atomic pair, on both databases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from productsync.domain.errors import Conflict, InsufficientStock, InvalidInput, NotFound
from productsync.domain.inventory import MovementKind
from productsync.services import reservations, returns, stock, stock_checks, transfers
from productsync.services.reservations import LineRequest
from productsync.store.uow import transaction

D = Decimal


async def _adjust(db, actor, world, delta, kind, location=None):  # type: ignore[no-untyped-def]
    return await transaction(
        db,
        lambda uow: stock.adjust_stock(
            uow,
            actor,
            location_id=location or world.loc_a.id,
            product_id=world.product.id,
            delta=D(delta),
            kind=kind,
        ),
    )


async def _moves(db, world):  # type: ignore[no-untyped-def]
    return await transaction(db, lambda uow: uow.stock.movements(world.product.id, limit=1000), readonly=True)


async def test_returns_are_linked_to_their_sale_and_capped_by_it(database, world) -> None:
    await _adjust(database, world.actor_a, world, 10, MovementKind.RECEIPT)
    sale = await _adjust(database, world.actor_a, world, -4, MovementKind.SALE)

    async def give_back(quantity, restockable, reason="customer changed mind"):  # type: ignore[no-untyped-def]
        return await transaction(
            database,
            lambda uow: returns.return_sale(
                uow,
                world.actor_a,
                sale_movement_id=sale.movement_id,
                quantity=D(quantity),
                restockable=restockable,
                reason=reason,
            ),
        )

    back = await give_back(1, True)
    assert back.change.level.on_hand == 7
    damaged = await give_back(2, False, "bottle broken")
    assert damaged.change.level.on_hand == 7  # came back and was written off
    with pytest.raises(Conflict):  # 3 of 4 came back already
        await give_back(2, True)
    with pytest.raises(InvalidInput):
        await give_back(1, True, reason=" ")
    with pytest.raises(NotFound):  # a receipt is not a sale
        receipt = (await _moves(database, world))[0]
        await transaction(
            database,
            lambda uow: returns.return_sale(
                uow, world.actor_a, sale_movement_id=receipt.id, quantity=D(1), restockable=True, reason="x"
            ),
        )
    with pytest.raises(NotFound):  # another partner's sale is invisible
        await transaction(
            database,
            lambda uow: returns.return_sale(
                uow,
                world.actor_c,
                sale_movement_id=sale.movement_id,
                quantity=D(1),
                restockable=True,
                reason="x",
            ),
        )
    linked = [
        (m.kind, m.quantity, m.restockable) for m in await _moves(database, world) if m.sale_movement_id
    ]
    assert linked == [("return", 1, True), ("return", 2, False), ("adjustment", -2, None)]
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []


async def test_a_transfer_is_one_atomic_pair_and_leaves_held_stock_in_place(database, world) -> None:
    await _adjust(database, world.actor_a, world, 5, MovementKind.RECEIPT)
    moved = await transaction(
        database,
        lambda uow: transfers.transfer_stock(
            uow,
            world.actor_a,
            product_id=world.product.id,
            from_location_id=world.loc_a.id,
            to_location_id=world.loc_hub.id,
            quantity=D(2),
            reason="rebalance",
        ),
    )
    assert (moved.source.level.on_hand, moved.destination.level.on_hand) == (3, 2)
    pair = [m for m in await _moves(database, world) if m.transfer_id == moved.transfer_id]
    assert sorted(m.quantity for m in pair) == [-2, 2] and {m.kind for m in pair} == {"transfer"}
    await transaction(
        database,
        lambda uow: reservations.reserve(
            uow,
            world.actor_a,
            [LineRequest(quantity=D(3), product_id=world.product.id, location_id=world.loc_a.id)],
        ),
    )
    with pytest.raises(InsufficientStock):  # all 3 at the store are held
        await transaction(
            database,
            lambda uow: transfers.transfer_stock(
                uow,
                world.actor_a,
                product_id=world.product.id,
                from_location_id=world.loc_a.id,
                to_location_id=world.loc_hub.id,
                quantity=D(1),
            ),
        )
    for bad in (
        dict(from_location_id=world.loc_a.id, to_location_id=world.loc_a.id, quantity=D(1)),
        dict(from_location_id=world.loc_hub.id, to_location_id=world.loc_a.id, quantity=D(0)),
    ):
        with pytest.raises(InvalidInput):
            await transaction(
                database,
                lambda uow, bad=bad: transfers.transfer_stock(
                    uow, world.actor_a, product_id=world.product.id, **bad
                ),
            )
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []


async def test_cycle_counts_feed_inventory_accuracy(database, world) -> None:
    await _adjust(database, world.actor_a, world, 5, MovementKind.RECEIPT)
    for counted in (5, 4, 4):  # matched, found one less, matched again
        await transaction(
            database,
            lambda uow, counted=counted: stock.set_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=world.product.id,
                quantity=D(counted),
            ),
        )
    found = await transaction(
        database,
        lambda uow: stock_checks.inventory_accuracy(uow, world.actor_a, world.loc_a.id),
        readonly=True,
    )
    assert (found.matched, found.counts, found.percent) == (2, 3, D("66.7"))
    # Another partner sees none of these counts, and not this location at all.
    theirs = await transaction(
        database, lambda uow: stock_checks.inventory_accuracy(uow, world.actor_c), readonly=True
    )
    assert (theirs.counts, theirs.percent) == (0, None)
    with pytest.raises(NotFound):
        await transaction(
            database,
            lambda uow: stock_checks.inventory_accuracy(uow, world.actor_c, world.loc_a.id),
            readonly=True,
        )
