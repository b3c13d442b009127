"""Which bundles contain a product: correct on both databases, and on PostgreSQL a cost
that does not grow with the catalog (every stock write asks it).

The cost tests build databases of their own with 1,000 and 20,000 products and no
bundle, inserted set-based and never analyzed (as right after an import, when
PostgreSQL's statistics are the least helpful: at 1,000 products it planned the old
lookup as a scan of every product), and read the rows and buffers each lookup touches
from ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)``: the statement examined is the one the
repository sends, caught on its way to the driver, with its parameters.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text

from productsync.domain.catalog import Component, NewProduct, ProductKind
from productsync.services import catalog
from productsync.store import migrate
from productsync.store.database import Database, create_database
from productsync.store.uow import UnitOfWork, transaction
from tests import services
from tests.conftest import ref


async def _product(uow: UnitOfWork, world: Any, **over: Any) -> Any:
    sports = await uow.categories.get_by_code("sports")
    assert sports is not None
    return await catalog.create_product(
        uow,
        world.admin,
        NewProduct(
            sku=ref("SE-"),
            name="Part",
            category_id=sports.id,
            owner_partner_id=world.a.id,
            attributes={"size": "M", "material": "steel"},
            **over,
        ),
    )


async def test_bundles_containing_names_each_bundle_of_a_component_once(database, world) -> None:  # type: ignore[no-untyped-def]
    async def build(uow: UnitOfWork) -> tuple[Any, ...]:
        c1, c2, loose = [await _product(uow, world) for _ in range(3)]
        both = await _product(
            uow,
            world,
            kind=ProductKind.BUNDLE,
            components=[Component(c1.id, Decimal(1)), Component(c2.id, Decimal(2))],
        )
        only_c2 = await _product(
            uow, world, kind=ProductKind.BUNDLE, components=[Component(c2.id, Decimal(1))]
        )
        return c1, c2, loose, both, only_c2

    c1, c2, loose, both, only_c2 = await transaction(database, build)

    async def ask(uow: UnitOfWork) -> list[set[uuid.UUID]]:
        return [
            {b.id for b in await uow.products.bundles_containing(ids)}
            for ids in ({c1.id}, {c2.id}, {c1.id, c2.id}, {loose.id}, set())
        ]

    assert await transaction(database, ask, readonly=True) == [
        {both.id},
        {both.id, only_c2.id},
        {both.id, only_c2.id},
        set(),
        set(),
    ]

    async def twice(uow: UnitOfWork) -> list[uuid.UUID]:
        return [b.id for b in await uow.products.bundles_containing({c1.id, c2.id})]

    found = await transaction(database, twice, readonly=True)
    assert sorted(found) == sorted([both.id, only_c2.id])  # a bundle of two asked components: once


async def test_a_product_read_as_no_component_becomes_one_within_the_transaction(database, world) -> None:  # type: ignore[no-untyped-def]
    """The stock write path reads "in no bundle" with the product and then skips the
    lookup; a bundle made from it later in the same transaction must still be found."""

    async def body(uow: UnitOfWork) -> tuple[list[Any], list[Any], Any]:
        part = await _product(uow, world)
        read = await uow.products.with_location(world.loc_hub.id, product_id=part.id)
        assert read is not None
        before = await uow.products.bundles_containing({part.id})
        bundle = await _product(
            uow, world, kind=ProductKind.BUNDLE, components=[Component(part.id, Decimal(1))]
        )
        return before, await uow.products.bundles_containing({part.id}), bundle

    before, after, bundle = await transaction(database, body)
    assert before == []
    assert [b.id for b in after] == [bundle.id]


def _touched(plan: dict[str, Any]) -> int:
    """Rows every node of a plan produced, over all its loops (what the executor handled)."""
    own = int(plan.get("Actual Rows", 0)) * int(plan.get("Actual Loops", 1))
    removed = int(plan.get("Rows Removed by Filter", 0)) + int(plan.get("Rows Removed by Index Recheck", 0))
    return own + removed + sum(_touched(p) for p in plan.get("Plans", []))


def _buffers(plan: dict[str, Any]) -> int:
    return int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))


@pytest.fixture(scope="module", params=[1_000, 20_000], ids=lambda n: f"{n} products")
async def big_catalog(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Database, Any]]:
    """A database of its own: one partner, that many products of one category, no bundle."""
    try:
        url = await services.create_postgres_database()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is reported
        services.unavailable("PostgreSQL", exc)
    db: Database | None = None
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        db = create_database(url, pool_size=2)
        await transaction(db, catalog.ensure_default_categories)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO partners (id, code, name, created_at) "
                    "VALUES (gen_random_uuid(), 'big', 'Big', now())"
                )
            )
            await conn.execute(
                text(
                    """
                    INSERT INTO products (id, sku, name, description, category_id, owner_partner_id,
                        base_unit, barcodes, texts, tax_class, attributes, status, version,
                        created_at, updated_at)
                    SELECT gen_random_uuid(), 'SE-BIG' || g, 'Item ' || g, '',
                        (SELECT id FROM categories WHERE code = 'sports'),
                        (SELECT id FROM partners WHERE code = 'big'),
                        'piece', '[]', '{}', 'standard', '{}', 'active', 1, now(), now()
                    FROM generate_series(1, :n) AS g
                    """
                ),
                {"n": request.param},
            )
            await conn.execute(
                text(
                    "INSERT INTO locations (id, code, name, kind, created_at) "
                    "VALUES (gen_random_uuid(), 'BIG-WH', 'Big', 'warehouse', now())"
                )
            )
            some = (await conn.execute(text("SELECT id FROM products ORDER BY sku LIMIT 1"))).scalar_one()
            location = (await conn.execute(text("SELECT id FROM locations"))).scalar_one()
        yield db, (some, location)
    finally:
        if db is not None:
            await db.dispose()
        await services.drop_postgres_database(url)


async def _explain(db: Database, call: Any, *, generic: bool) -> list[dict[str, Any]]:
    """Run ``call(uow)``, catch each statement it sends, and EXPLAIN ANALYZE it with the
    same parameters (as a generic plan too: asyncpg prepares statements, and PostgreSQL
    may switch a prepared statement to its generic plan)."""
    sent: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("EXPLAIN", "BEGIN", "COMMIT", "SET", "RESET")):
            sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", catch)
    try:
        await transaction(db, call, readonly=True)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", catch)
    plans = []
    async with db.engine.connect() as conn:
        if generic:
            await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        for statement, parameters in sent:
            result = await conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
            )
            raw = result.scalar_one()
            plans.append((json.loads(raw) if isinstance(raw, str) else raw)[0])
        await conn.rollback()
    return plans


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_the_component_lookup_touches_a_handful_of_rows_in_a_large_catalog(
    big_catalog: tuple[Database, Any], generic: bool
) -> None:
    db, (product_id, _) = big_catalog

    async def lookup(uow: UnitOfWork) -> None:
        assert await uow.products.bundles_containing({product_id, uuid.uuid4()}) == []

    plans = await _explain(db, lookup, generic=generic)
    assert len(plans) == 1
    top = plans[0]["Plan"]
    # The old form planned a scan of all 1,000 products, probing bundle_components for
    # each (1,000 rows, 2,000+ buffer hits).
    assert _touched(top) <= 10, json.dumps(top, indent=1)
    assert _buffers(top) <= 20, json.dumps(top, indent=1)


async def test_the_stock_target_read_learns_in_one_probe_that_no_bundle_needs_news(
    big_catalog: tuple[Database, Any],
) -> None:
    """The stock write's product + location read answers "in a bundle?" with one index
    probe, and the bundle lookup that follows sends nothing."""
    db, (product_id, location_id) = big_catalog

    async def write_path_reads(uow: UnitOfWork) -> None:
        assert await uow.products.with_location(location_id, product_id=product_id) is not None
        assert await uow.products.bundles_containing({product_id}) == []

    plans = await _explain(db, write_path_reads, generic=False)
    assert len(plans) == 1  # the target read only: no lookup was sent
    top = plans[0]["Plan"]
    assert _touched(top) <= 10, json.dumps(top, indent=1)
    assert _buffers(top) <= 20, json.dumps(top, indent=1)
