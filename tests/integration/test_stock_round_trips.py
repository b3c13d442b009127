"""Round trips of the stock-adjustment hot path, and the refusals that come after its write.

On PostgreSQL a plain adjustment (a product in no bundle and no lot-tracked category, a
whole delta without a unit) reads its product and location and changes the level in one
statement, then writes ledger row, audit record and event in a second one: with
``BEGIN`` and ``COMMIT``, 4 round trips (it was 5). The access rules run on what the first
statement returned, so a refusal must take the level change back: nothing of it may stay.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from productsync.domain.errors import Conflict, Forbidden, InsufficientStock, InvalidInput, NotFound
from productsync.domain.inventory import MovementKind
from productsync.services import catalog, stock
from productsync.store.tables import audit_log, outbox, stock_movements
from productsync.store.uow import UnitOfWork, transaction
from tests.conftest import count_rows

D = Decimal
# Statements one plain adjustment sends, BEGIN and COMMIT not counted (asyncpg sends those
# outside the cursor). SQLite keeps the simpler path: target read, level change, ledger
# row, audit record, event (its round trips are in-process calls).
MAX_STATEMENTS = {"postgresql": 2, "sqlite": 5}


async def _statements(db: Any, call: Any) -> tuple[Any, list[str]]:
    sent: list[str] = []

    def catch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", catch)
    try:
        result = await transaction(db, call)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", catch)
    return result, sent


async def _state(db: Any, world: Any) -> tuple[Any, int, int, int]:
    levels = await transaction(
        db, lambda uow: uow.stock.get_level(world.product.id, world.loc_a.id), readonly=True
    )
    return (
        levels,
        await count_rows(db, stock_movements, product_id=world.product.id),
        await count_rows(db, outbox, product_id=world.product.id, type="productsync.stock.changed"),
        await count_rows(db, audit_log, entity_id=f"{world.product.id}:{world.loc_a.id}"),
    )


def _adjust(world: Any, delta: int | str, actor: Any = None, **kw: Any) -> Any:
    kw.setdefault("product_id", world.product.id)
    return lambda uow: stock.adjust_stock(
        uow, actor or world.actor_a, location_id=kw.pop("location_id", world.loc_a.id), delta=D(delta), **kw
    )


async def test_a_plain_adjustment_sends_at_most_two_statements_on_postgresql(database, world) -> None:
    limit = MAX_STATEMENTS[database.engine.dialect.name]
    await transaction(database, _adjust(world, 10, kind=MovementKind.RECEIPT))  # the level exists now
    for call, expected in (
        (_adjust(world, -1, kind=MovementKind.SALE), D(9)),
        (_adjust(world, 2), D(11)),
        (_adjust(world, -3, product_id=None, sku=f" {world.product.sku.lower()} "), D(8)),
    ):
        change, sent = await _statements(database, call)
        assert len(sent) <= limit, sent
        assert change.level.on_hand == expected and change.product.id == world.product.id
        assert change.location.id == world.loc_a.id and change.movement_id is not None
    level, movements, events, audits = await _state(database, world)
    assert level.on_hand == 8 and level.version == 4
    assert (movements, events, audits) == (4, 4, 4)  # ledger = level, one event and record each


@pytest.mark.parametrize(
    ("who", "delta", "error"),
    [
        ("actor_b", 1, Forbidden),  # can read A's catalog, cannot write it
        ("actor_c", 1, NotFound),  # cannot even see it
        ("actor_a", "0.5", InvalidInput),  # half a piece
        ("actor_a", -50, InsufficientStock),
    ],
)
async def test_a_refused_adjustment_leaves_no_trace(database, world, who, delta, error) -> None:
    await transaction(database, _adjust(world, 10, kind=MovementKind.RECEIPT))
    before = await _state(database, world)
    with pytest.raises(error):
        await transaction(database, _adjust(world, delta, getattr(world, who)))
    assert await _state(database, world) == before


async def test_an_archived_product_takes_no_stock_change_back_after_the_write(database, world) -> None:
    await transaction(database, _adjust(world, 10, kind=MovementKind.RECEIPT))
    await transaction(database, lambda uow: catalog.archive_product(uow, world.actor_a, world.product.id))
    before = await _state(database, world)
    with pytest.raises(Conflict):
        await transaction(database, _adjust(world, -1))
    assert await _state(database, world) == before


async def test_a_first_receipt_at_a_new_location_still_creates_the_level(database, world) -> None:
    change = await transaction(
        database, _adjust(world, 4, kind=MovementKind.RECEIPT, location_id=world.loc_hub.id)
    )
    assert change.level.on_hand == 4 and change.level.version == 1
    with pytest.raises(NotFound):
        await transaction(database, _adjust(world, 1, world.actor_c, location_id=world.loc_hub.id))


@pytest.mark.parametrize("who", ["actor_b", "actor_c"])
async def test_a_refused_adjustment_does_not_wait_for_the_row_lock(database, world, who) -> None:
    """Only a write the caller may make takes the level's row lock: a partner that may not
    write the product is refused at once, not after whoever holds the level commits."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: every write waits for the holder")
    await transaction(database, _adjust(world, 10, kind=MovementKind.RECEIPT))
    async with UnitOfWork(database) as holder:
        await _adjust(world, 1)(holder)  # holds the level's row lock until the block ends
        with pytest.raises((Forbidden, NotFound)):
            await asyncio.wait_for(transaction(database, _adjust(world, 1, getattr(world, who))), 5)
