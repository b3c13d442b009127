"""Property-based: any sequence of stock writes, on the real database, keeps the invariants.

Random sequences of adjustments, absolute sets and compare-and-sets run through the
use cases against SQLite and PostgreSQL and are checked against a model: on_hand and
available are never negative, a refused write changes nothing, the level equals the
sum of its ledger, and each accepted write adds exactly one ledger row.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from productsync.domain.access import system_actor
from productsync.domain.catalog import NewProduct
from productsync.domain.errors import CompareFailed, InsufficientStock, InvalidInput
from productsync.domain.inventory import LocationKind
from productsync.services import catalog, locations, partners, stock
from productsync.services.catalog import ensure_default_categories
from productsync.store.database import create_database
from productsync.store.uow import transaction

ADMIN = system_actor("property-test")

ops = st.lists(
    st.one_of(
        st.tuples(st.just("adjust"), st.integers(-30, 30)),
        st.tuples(st.just("set"), st.integers(-3, 40), st.none() | st.integers(0, 40)),
        st.tuples(st.just("safety"), st.integers(0, 15)),
    ),
    min_size=1,
    max_size=25,
)


async def _run(url: str, sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    db = create_database(url, pool_size=2)
    try:
        await transaction(db, ensure_default_categories)

        async def setup(uow):  # type: ignore[no-untyped-def]
            p = await partners.create_partner(uow, ADMIN, code=f"prop-{uuid.uuid4().hex[:10]}", name="P")
            loc = await locations.create_location(
                uow,
                ADMIN,
                code=f"PL-{uuid.uuid4().hex[:10]}",
                name="L",
                kind=LocationKind.STORE,
                owner_partner_id=p.id,
            )
            sports = await uow.categories.get_by_code("sports")
            prod = await catalog.create_product(
                uow,
                ADMIN,
                NewProduct(
                    sku=f"SE-P{uuid.uuid4().hex[:10]}",
                    name="x",
                    category_id=sports.id,
                    owner_partner_id=p.id,
                    attributes={"size": "M", "material": "x"},
                ),
            )
            return prod, loc

        product, location = await transaction(db, setup)
        on_hand, safety, accepted = Decimal(0), Decimal(0), 0
        for op in sequence:
            try:
                if op[0] == "adjust":
                    change = await transaction(
                        db,
                        lambda uow, d=op[1]: stock.adjust_stock(
                            uow, ADMIN, location_id=location.id, product_id=product.id, delta=Decimal(d)
                        ),
                    )
                    on_hand += op[1]
                elif op[0] == "set":
                    cmp = None if op[2] is None else Decimal(op[2])
                    change = await transaction(
                        db,
                        lambda uow, q=op[1], c=cmp: stock.set_stock(
                            uow,
                            ADMIN,
                            location_id=location.id,
                            product_id=product.id,
                            quantity=Decimal(q),
                            compare_quantity=c,
                        ),
                    )
                    on_hand = Decimal(op[1])
                else:
                    change = await transaction(
                        db,
                        lambda uow, s=op[1], q=on_hand: stock.set_stock(
                            uow,
                            ADMIN,
                            location_id=location.id,
                            product_id=product.id,
                            quantity=q,
                            safety_stock=Decimal(s),
                        ),
                    )
                    safety = Decimal(op[1])
                accepted += 1
                assert change.level.on_hand == on_hand
            except InsufficientStock:
                assert op[0] == "adjust" and on_hand + op[1] < 0
            except CompareFailed:
                assert op[0] == "set" and op[2] is not None and Decimal(op[2]) != on_hand
            except InvalidInput:
                assert (op[0] == "adjust" and op[1] == 0) or (op[0] == "set" and op[1] < 0)
            ps = await transaction(db, lambda uow: stock.get_stock(uow, ADMIN, product.id), readonly=True)
            level = ps.levels[0][0] if ps.levels else None
            current = level.on_hand if level else Decimal(0)
            assert current == on_hand >= 0
            if level is not None:
                assert level.safety_stock == safety
                assert level.available == max(Decimal(0), on_hand - safety) >= 0

        async def ledger(uow):  # type: ignore[no-untyped-def]
            return await uow.stock.movements(product.id, location.id, limit=1000)

        rows = await transaction(db, ledger, readonly=True)
        assert len(rows) == accepted
        assert sum((r.quantity for r in rows), Decimal(0)) == on_hand
    finally:
        await db.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=ops)
def test_any_sequence_of_stock_writes_keeps_the_invariants(database_url: str, sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    asyncio.run(_run(database_url, sequence))
