"""Property-based: any sequence of receipts, holds, commits, releases, expiries, sales,
returns, transfers and bundle reservations keeps the inventory invariants, on SQLite
and PostgreSQL.

After every step: on_hand, reserved and available are never negative, nothing held is
sold from under a hold (reserved <= on_hand), every level equals the sum of its ledger
and its reserved equals the holds of the live reservations (``ledger_drift`` is empty),
and a reservation either holds every line exactly or changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from productsync.domain.access import system_actor
from productsync.domain.catalog import Component, NewProduct, ProductKind
from productsync.domain.errors import Conflict, InsufficientStock
from productsync.domain.inventory import LocationKind, MovementKind
from productsync.domain.reservations import ReservationStatus
from productsync.services import catalog, partners, reservations, stock
from productsync.services.catalog import ensure_default_categories
from productsync.services.reservations import LineRequest
from productsync.store.database import create_database
from productsync.store.tables import reservations as reservations_table
from productsync.store.tables import stock_levels, stock_movements
from productsync.store.uow import transaction

ADMIN = system_actor("property-test")
SIMPLE = ["A", "B", "C"]  # C allows backorders
loc = st.integers(0, 1)
line = st.tuples(st.sampled_from([*SIMPLE, "K"]), st.integers(1, 4), st.none() | loc)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("receipt"), st.sampled_from(SIMPLE), loc, st.integers(1, 8)),
        st.tuples(st.just("reserve"), st.lists(line, min_size=1, max_size=3)),
        st.tuples(st.sampled_from(["commit", "release", "expire"]), st.integers(0, 20)),
        st.tuples(st.just("sale"), st.sampled_from(SIMPLE), loc, st.integers(1, 4)),
        st.tuples(st.just("return"), st.integers(0, 20), st.integers(1, 3), st.booleans()),
        st.tuples(st.just("transfer"), st.sampled_from(SIMPLE), loc, st.integers(1, 4)),
    ),
    min_size=1,
    max_size=30,
)


async def _world(db: Any) -> tuple[dict[str, Any], list[Any]]:
    async def setup(uow):  # type: ignore[no-untyped-def]
        owner = await partners.create_partner(uow, ADMIN, code=f"rp-{uuid.uuid4().hex[:10]}", name="P")
        locations = [
            await stock.create_location(
                uow,
                ADMIN,
                code=f"RL{i}-{uuid.uuid4().hex[:10]}",
                name="L",
                kind=LocationKind.STORE,
                owner_partner_id=owner.id,
            )
            for i in range(2)
        ]
        sports = await uow.categories.get_by_code("sports")

        async def make(name: str, **over: Any) -> Any:
            return await catalog.create_product(
                uow,
                ADMIN,
                NewProduct(
                    sku=f"SE-{name}{uuid.uuid4().hex[:10]}",
                    name=name,
                    category_id=sports.id,
                    owner_partner_id=owner.id,
                    attributes={"size": "M", "material": "x"},
                    **over,
                ),
            )

        products = {name: await make(name, allow_backorders=name == "C") for name in SIMPLE}
        products["K"] = await make(
            "K",
            kind=ProductKind.BUNDLE,
            components=[Component(products["A"].id, Decimal(1)), Component(products["B"].id, Decimal(2))],
        )
        return products, locations

    return await transaction(db, setup)


async def _levels(db: Any, ids: set[uuid.UUID]) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[Decimal, Decimal]]:
    async def read(uow):  # type: ignore[no-untyped-def]
        rows = await uow.stock.conn.execute(select(stock_levels).where(stock_levels.c.product_id.in_(ids)))
        return {(r.product_id, r.location_id): (r.on_hand, r.reserved) for r in rows}

    return await transaction(db, read, readonly=True)


async def _run(url: str, sequence: list[tuple[Any, ...]]) -> None:
    db = create_database(url, pool_size=2)
    try:
        await transaction(db, ensure_default_categories)
        products, locations = await _world(db)
        ids = {p.id for name, p in products.items() if name != "K"}
        held: list[Any] = []
        sales: list[int] = []
        for op in sequence:
            before = await _levels(db, ids)
            if op[0] == "receipt":
                await transaction(
                    db,
                    lambda uow, op=op: stock.adjust_stock(
                        uow,
                        ADMIN,
                        location_id=locations[op[2]].id,
                        product_id=products[op[1]].id,
                        delta=Decimal(op[3]),
                        kind=MovementKind.RECEIPT,
                    ),
                )
            elif op[0] == "reserve":
                lines = [
                    LineRequest(
                        quantity=q,
                        product_id=products[name].id,
                        location_id=None if where is None else locations[where].id,
                    )
                    for name, q, where in op[1]
                ]
                try:
                    r = await transaction(
                        db, lambda uow, lines=lines: reservations.reserve(uow, ADMIN, lines)
                    )
                except InsufficientStock:
                    assert await _levels(db, ids) == before, "a refused reservation changed stock"
                else:
                    held.append(r)
                    _check_lines(r, products)
                    after = await _levels(db, ids)
                    added = sum(h.quantity for h in r.holds())
                    assert sum(v[1] for v in after.values()) - sum(v[1] for v in before.values()) == added
            elif op[0] in ("commit", "release", "expire") and held:
                r = held[op[1] % len(held)]
                await _finish(db, op[0], r, sales)
            elif op[0] == "sale":
                try:
                    change = await transaction(
                        db,
                        lambda uow, op=op: stock.adjust_stock(
                            uow,
                            ADMIN,
                            location_id=locations[op[2]].id,
                            product_id=products[op[1]].id,
                            delta=-Decimal(op[3]),
                            kind=MovementKind.SALE,
                        ),
                    )
                    sales.append(change.movement_id)
                except InsufficientStock:
                    on_hand, reserved = before.get((products[op[1]].id, locations[op[2]].id), (0, 0))
                    assert on_hand - reserved < op[3]
            elif op[0] == "return" and sales:
                try:
                    await transaction(
                        db,
                        lambda uow, op=op: stock.return_sale(
                            uow,
                            ADMIN,
                            sale_movement_id=sales[op[1] % len(sales)],
                            quantity=Decimal(op[2]),
                            restockable=op[3],
                            reason="property",
                        ),
                    )
                except Conflict:  # more than the sale sold: refused, nothing changed
                    assert await _levels(db, ids) == before
            elif op[0] == "transfer":
                source, target = locations[op[2]], locations[1 - op[2]]
                try:
                    await transaction(
                        db,
                        lambda uow, op=op, s=source, t=target: stock.transfer_stock(
                            uow,
                            ADMIN,
                            product_id=products[op[1]].id,
                            from_location_id=s.id,
                            to_location_id=t.id,
                            quantity=Decimal(op[3]),
                        ),
                    )
                except InsufficientStock:
                    on_hand, reserved = before.get((products[op[1]].id, source.id), (0, 0))
                    assert on_hand - reserved < op[3]
            await _check_invariants(db, ids)
    finally:
        await db.dispose()


def _check_lines(r: Any, products: dict[str, Any]) -> None:
    """All or nothing: every line is held in full (backorders aside), bundles as components."""
    by_id = {p.id: p for p in products.values()}
    for line in r.lines:
        product = by_id[line.product_id]
        if product.is_bundle:
            for c in product.components:
                got = sum(h.quantity for h in line.holds if h.product_id == c.product_id)
                assert got == line.quantity * c.quantity
        else:
            assert sum(h.quantity for h in line.holds) + line.backordered == line.quantity
            assert line.backordered == 0 or product.allow_backorders


async def _finish(db: Any, action: str, r: Any, sales: list[int]) -> None:
    current = await transaction(db, lambda uow: uow.reservations.get(r.id), readonly=True)
    if action == "expire":

        async def backdate(uow):  # type: ignore[no-untyped-def]
            await uow.stock.conn.execute(
                update(reservations_table)
                .where(reservations_table.c.id == r.id)
                .values(expires_at=uow.now - timedelta(seconds=1))
            )

        if current.status is ReservationStatus.HELD:
            await transaction(db, backdate)
            while await transaction(db, reservations.expire_due):
                pass
            done = await transaction(db, lambda uow: uow.reservations.get(r.id), readonly=True)
            assert done.status is ReservationStatus.EXPIRED
        return
    fn = reservations.commit if action == "commit" else reservations.release
    try:
        done = await transaction(db, lambda uow: fn(uow, ADMIN, r.id))
    except Conflict:
        assert current.status is not ReservationStatus.HELD or current.is_expired(current.updated_at)
        return
    if action == "commit" and current.status is ReservationStatus.HELD:

        async def sold(uow):  # type: ignore[no-untyped-def]
            rows = await uow.stock.conn.execute(
                select(stock_movements.c.id).where(stock_movements.c.reservation_id == r.id)
            )
            return [row.id for row in rows]

        sales.extend(await transaction(db, sold, readonly=True))
    if current.status is ReservationStatus.HELD:
        expected = ReservationStatus.COMMITTED if action == "commit" else ReservationStatus.RELEASED
    else:
        expected = current.status  # a finished reservation answers as it is
    assert done.status is expected


async def _check_invariants(db: Any, ids: set[uuid.UUID]) -> None:
    async def read(uow):  # type: ignore[no-untyped-def]
        levels = await uow.stock.levels_for_products(ids)
        return [lv for lvs in levels.values() for lv in lvs], await stock.ledger_drift(uow)

    levels, drift = await transaction(db, read, readonly=True)
    for lv in levels:
        assert lv.on_hand >= 0 and lv.reserved >= 0 and lv.available >= 0
        assert lv.reserved <= lv.on_hand, "held stock was sold or moved away"
    assert [d for d in drift if d["product_id"] in ids] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=ops)
def test_any_sequence_of_inventory_operations_keeps_the_invariants(
    database_url: str, sequence: list[tuple[Any, ...]]
) -> None:
    asyncio.run(_run(database_url, sequence))
