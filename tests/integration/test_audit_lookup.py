"""The audit of an entity: a product's records include its price and stock changes, on
both databases, and on PostgreSQL finding them costs a few index probes however long the
log (it is the fastest-growing table: every stock write adds a row).

The cost test builds a database of its own with 50,000 unrelated audit rows, inserted
set-based before the migration that adds ``product_id`` (so its backfill runs on them)
and never analyzed (autovacuum is off on the test server), and reads the rows and
buffers the lookup touches from ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` of the
statement the repository sends, with its parameters.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from productsync.domain.access import system_actor
from productsync.domain.catalog import NewProduct
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import catalog, logs, pricing, stock
from productsync.services.recording import record
from productsync.store import migrate
from productsync.store.database import Database, create_database
from productsync.store.tables import audit_log
from productsync.store.uow import UnitOfWork, transaction
from tests import services
from tests.conftest import ref
from tests.integration.test_bundle_lookup import _buffers, _explain, _touched

D = Decimal


async def test_the_audit_of_a_product_has_its_price_and_stock_records_and_no_other_products(
    database: Database, world: Any
) -> None:
    async def build(uow: UnitOfWork) -> tuple[Any, Any]:
        sports = await uow.categories.get_by_code("sports")
        assert sports is not None
        other = await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("SE-"),
                name="Other racket",
                category_id=sports.id,
                owner_partner_id=world.a.id,
                attributes={"size": "L2", "material": "carbon"},
            ),
        )
        pl = await pricing.create_price_list(
            uow,
            world.actor_a,
            name="Retail",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region="de",
            owner_partner_id=None,
        )
        return other, pl

    other, pl = await transaction(database, build)
    for product_id in (world.product.id, other.id):
        await transaction(
            database,
            lambda uow, p=product_id: pricing.put_prices(
                uow, world.actor_a, pl.id, p, [PriceEntry(D(1), D("12"))]
            ),
        )
        await transaction(
            database,
            lambda uow, p=product_id: stock.adjust_stock(
                uow, world.actor_a, location_id=world.loc_a.id, product_id=p, delta=D(3)
            ),
        )

    async def audit(entity_id: str) -> set[tuple[str, str]]:
        rows = await transaction(
            database,
            lambda uow: logs.list_audit(uow, world.actor_a, limit=500, entity_id=entity_id),
            readonly=True,
        )
        return {(r.action, r.entity_id) for r in rows}

    pid, oid, loc = str(world.product.id), str(other.id), str(world.loc_a.id)
    assert await audit(pid) == {
        ("product.created", pid),
        ("prices.replaced", f"{pl.id}:{pid}"),
        ("stock.adjustment", f"{pid}:{loc}"),
    }
    assert {e for _, e in await audit(oid)} == {oid, f"{pl.id}:{oid}", f"{oid}:{loc}"}
    # the price list finds its prices, the location its stock, a pair id only itself
    assert {f"{pl.id}:{pid}", f"{pl.id}:{oid}"} <= {e for _, e in await audit(str(pl.id))}
    assert {f"{pid}:{loc}", f"{oid}:{loc}"} <= {e for _, e in await audit(loc)}
    assert await audit(f"{pid}:{loc}") == {("stock.adjustment", f"{pid}:{loc}")}
    assert await audit("not-an-id") == set()


# Audit rows as the hub wrote them before revision 0012, one per kind the backfill reads.
_OLD_ROWS = """
    INSERT INTO audit_log (at, origin, action, entity_type, entity_id)
    VALUES ('2026-01-01 00:00:00', 'test', 'product.created', 'product', :p),
           ('2026-01-01 00:00:00', 'test', 'prices.replaced', 'product_prices', :l || ':' || :p),
           ('2026-01-01 00:00:00', 'test', 'stock.adjustment', 'stock_level', :p || ':' || :loc),
           ('2026-01-01 00:00:00', 'test', 'channel.created', 'channel', :c),
           ('2026-01-01 00:00:00', 'test', 'api_key.revoked', 'api_key', 'psk_abc'),
           ('2026-01-01 00:00:00', 'test', 'stock.adjustment', 'stock_level', 'odd:pair')
"""


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_the_migration_fills_in_the_product_of_existing_audit_records(
    dialect: str, tmp_path: Path
) -> None:
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        try:
            url = await services.create_postgres_database()
        except Exception as exc:  # noqa: BLE001 - any failure to reach the server is reported
            services.unavailable("PostgreSQL", exc)
    p, lst, loc, c = (uuid.uuid4() for _ in range(4))
    db: Database | None = None
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0011")
        db = create_database(url, pool_size=2)
        async with db.engine.begin() as conn:
            await conn.execute(text(_OLD_ROWS), {"p": str(p), "l": str(lst), "loc": str(loc), "c": str(c)})
        await db.dispose()
        await asyncio.to_thread(migrate.upgrade, url)
        db = create_database(url, pool_size=2)
        async with db.engine.connect() as conn:
            rows = await conn.execute(
                select(audit_log.c.entity_id, audit_log.c.product_id, audit_log.c.scope_id)
            )
            got = {r.entity_id: (r.product_id, r.scope_id) for r in rows}
        assert got == {
            str(p): (p, None),
            f"{lst}:{p}": (p, lst),
            f"{p}:{loc}": (p, loc),
            str(c): (None, None),
            "psk_abc": (None, None),
            "odd:pair": (None, None),
        }
    finally:
        if db is not None:
            await db.dispose()
        if dialect == "postgresql":
            await services.drop_postgres_database(url)


@pytest.fixture(scope="module")
async def long_log() -> AsyncIterator[tuple[Database, uuid.UUID, uuid.UUID]]:
    """A database of its own: 50,000 audit records about other products, price lists,
    locations and channels, then three about one product (created, priced, stocked)."""
    try:
        url = await services.create_postgres_database()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is reported
        services.unavailable("PostgreSQL", exc)
    db: Database | None = None
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0011")
        db = create_database(url, pool_size=2)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    """
                    INSERT INTO audit_log (at, origin, action, entity_type, entity_id)
                    SELECT now(), 'test', 'x', k.entity_type,
                        CASE k.entity_type
                            WHEN 'product_prices' THEN gen_random_uuid() || ':' || gen_random_uuid()
                            WHEN 'stock_level' THEN gen_random_uuid() || ':' || gen_random_uuid()
                            ELSE gen_random_uuid()::text END
                    FROM generate_series(1, 50000) AS g
                    JOIN (VALUES (0, 'stock_level'), (1, 'stock_level'), (2, 'product_prices'),
                                 (3, 'product'), (4, 'channel')) AS k(n, entity_type)
                      ON k.n = g % 5
                    """
                )
            )
        await db.dispose()
        await asyncio.to_thread(migrate.upgrade, url)  # 0012 backfills these rows
        db = create_database(url, pool_size=2)
        product, location, price_list = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        actor = system_actor("test")

        async def write(uow: UnitOfWork) -> None:
            for entity_type, entity_id in (
                ("product", product),
                ("product_prices", f"{price_list}:{product}"),
                ("stock_level", f"{product}:{location}"),
            ):
                await record(
                    uow,
                    actor,
                    action="x",
                    entity_type=entity_type,
                    entity_id=entity_id,
                    owner=None,
                    before=None,
                    after=None,
                )

        await transaction(db, write)
        yield db, product, location
    finally:
        if db is not None:
            await db.dispose()
        await services.drop_postgres_database(url)


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
@pytest.mark.parametrize("about", ["product", "location"])
async def test_the_audit_of_an_entity_reads_a_handful_of_rows_of_a_long_log(
    long_log: tuple[Database, uuid.UUID, uuid.UUID], generic: bool, about: str
) -> None:
    db, product, location = long_log
    asked = product if about == "product" else location
    found: list[Any] = []

    async def lookup(uow: UnitOfWork) -> None:
        found[:] = await uow.audit.find(owners=None, entity_id=str(asked), limit=100)

    plans = await _explain(db, lookup, generic=generic)
    assert len(found) == (3 if about == "product" else 1)
    assert len(plans) == 1
    top = plans[0]["Plan"]
    # The LIKE '%:<id>' form read every row: 140,012 rows over the plan, 1,911 buffers
    # (this form: 13 rows, 10 buffers).
    assert _touched(top) <= 30, json.dumps(top, indent=1)
    assert _buffers(top) <= 30, json.dumps(top, indent=1)
