"""Stock use cases on both databases, including many concurrent writers."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from productsync.domain.errors import CompareFailed, Forbidden, InsufficientStock, InvalidInput, NotFound
from productsync.domain.inventory import MovementKind
from productsync.services import locations, stock, stock_checks
from productsync.store.tables import audit_log, outbox, stock_movements
from productsync.store.uow import transaction
from tests.conftest import count_rows

D = Decimal


async def _adjust(db, world, delta, actor=None, **kw):  # type: ignore[no-untyped-def]
    return await transaction(
        db,
        lambda uow: stock.adjust_stock(
            uow,
            actor or world.actor_a,
            location_id=kw.pop("location_id", world.loc_a.id),
            product_id=world.product.id,
            delta=D(delta),
            **kw,
        ),
    )


async def _ledger(db, world, location_id=None):  # type: ignore[no-untyped-def]
    async def q(uow):  # type: ignore[no-untyped-def]
        stmt = select(func.coalesce(func.sum(stock_movements.c.quantity), 0), func.count()).where(
            stock_movements.c.product_id == world.product.id,
            stock_movements.c.location_id == (location_id or world.loc_a.id),
        )
        return tuple((await uow.stock.conn.execute(stmt)).one())

    total, count = await transaction(db, q, readonly=True)
    return D(total), count


async def test_adjustments_move_stock_and_keep_ledger_audit_and_events(database, world) -> None:
    await _adjust(database, world, 10, kind=MovementKind.RECEIPT, reason="delivery")
    change = await _adjust(database, world, -3, kind=MovementKind.SALE)
    assert change.level.on_hand == 7 and change.level.version == 2
    assert await _ledger(database, world) == (D(7), 2)
    assert (
        await count_rows(database, outbox, product_id=world.product.id, type="productsync.stock.changed") == 2
    )
    assert await count_rows(database, audit_log, entity_id=f"{world.product.id}:{world.loc_a.id}") == 2


async def test_a_change_that_would_go_negative_is_refused_and_leaves_no_trace(database, world) -> None:
    await _adjust(database, world, 2)
    events = await count_rows(database, outbox)
    with pytest.raises(InsufficientStock):
        await _adjust(database, world, -3)
    with pytest.raises(InsufficientStock):  # a level that does not exist yet holds 0
        await _adjust(database, world, -1, location_id=world.loc_hub.id)
    assert await _ledger(database, world) == (D(2), 1)
    assert await count_rows(database, outbox) == events


@pytest.mark.parametrize(
    ("delta", "kind", "error"),
    [
        (D("0.5"), MovementKind.ADJUSTMENT, InvalidInput),
        (D(0), MovementKind.ADJUSTMENT, InvalidInput),
        (D(-1), MovementKind.RECEIPT, InvalidInput),
        (D(1), MovementKind.SALE, InvalidInput),
    ],
)
async def test_bad_deltas_are_refused(database, world, delta, kind, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        await _adjust(database, world, delta, kind=kind)
    assert await _ledger(database, world) == (D(0), 0)


async def test_stock_of_another_partner_cannot_be_touched(database, world) -> None:
    with pytest.raises(NotFound):
        await _adjust(database, world, 1, actor=world.actor_c)
    with pytest.raises(Exception) as err:
        await _adjust(database, world, 1, actor=world.actor_b)
    assert type(err.value).__name__ == "Forbidden"


async def test_compare_and_set_refuses_a_moved_value(database, world) -> None:
    await _adjust(database, world, 5)

    async def set_to(q, cmp):  # type: ignore[no-untyped-def]
        return await transaction(
            database,
            lambda uow: stock.set_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=world.product.id,
                quantity=D(q),
                compare_quantity=None if cmp is None else D(cmp),
                safety_stock=D(1),
            ),
        )

    change = await set_to(8, 5)
    assert (change.level.on_hand, change.quantity, change.level.available) == (8, 3, 7)
    with pytest.raises(CompareFailed):
        await set_to(1, 5)
    with pytest.raises(InvalidInput):
        await set_to(-1, None)
    assert await _ledger(database, world) == (D(8), 2)


async def test_levels_read_per_location_with_totals(database, world) -> None:
    await _adjust(database, world, 4)
    await _adjust(database, world, 6, location_id=world.loc_hub.id)
    ps = await transaction(
        database, lambda uow: stock.get_stock(uow, world.actor_b, world.product.id), readonly=True
    )
    assert sorted(level.on_hand for level, _ in ps.levels) == [4, 6]
    assert ps.totals.on_hand == 10 and ps.totals.available == 10


async def test_stock_cannot_live_at_another_partners_location(database, world) -> None:
    from productsync.domain.inventory import LocationKind

    loc_c = await transaction(
        database,
        lambda uow: locations.create_location(
            uow,
            world.admin,
            code=f"C-{world.c.code[-8:]}",
            name="C",
            kind=LocationKind.STORE,
            owner_partner_id=world.c.id,
        ),
    )
    with pytest.raises(Forbidden, match="belongs to another partner"):  # 403, not a 409 conflict
        await _adjust(database, world, 1, actor=world.admin, location_id=loc_c.id)


async def test_fifty_concurrent_writers_on_one_level_end_exact(database, world) -> None:
    """Mixed +/- adjustments race on one level; some must be refused. At the end the level
    equals the sum of accepted deltas, never went negative, and matches its ledger."""
    await _adjust(database, world, 20)
    rng = random.Random(7)
    deltas = [rng.choice([-7, -5, -3, 2, 4]) for _ in range(50)]

    async def one(d: int) -> int:
        try:
            await _adjust(database, world, d)
            return d
        except InsufficientStock:
            return 0

    accepted = await asyncio.gather(*(one(d) for d in deltas))
    refused = sum(1 for d, a in zip(deltas, accepted, strict=True) if a == 0)
    ps = await transaction(
        database, lambda uow: stock.get_stock(uow, world.actor_a, world.product.id), readonly=True
    )
    level = next(lv for lv, _ in ps.levels if lv.location_id == world.loc_a.id)
    assert level.on_hand == 20 + sum(accepted)
    assert level.on_hand >= 0
    assert refused > 0, "the scenario is meant to make some writers fail"
    total, count = await _ledger(database, world)
    assert total == level.on_hand
    assert count == 1 + 50 - refused
    assert level.version == count
    drift = await transaction(database, stock_checks.ledger_drift, readonly=True)
    assert drift == []
