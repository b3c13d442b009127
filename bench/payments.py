"""Payments reconciliation bench: taking Stripe events with their payment records, and the
report over a window of many payments.

    python bench/payments.py --db sqlite --events 500 --records 100000
    python bench/payments.py --db postgres --events 500 --records 100000

A fresh database (a new PostgreSQL database, or a temporary SQLite file) gets one partner,
location, product (stock to sell) and EUR price list. (a) ``--events`` signed-shape
``payment_intent.succeeded`` events go through ``payments.record_event`` one transaction
each (sale + payment record + expected amount from the list), timed. (b) ``--records``
payment records with their sale rows (plus 1 % sales without a record) are written in bulk,
then the JSON summary (``reconcile``) and the CSV (``csv_chunks``) are timed over them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from productsync.domain.access import system_actor  # noqa: E402
from productsync.domain.catalog import NewProduct  # noqa: E402
from productsync.domain.inventory import LocationKind  # noqa: E402
from productsync.domain.pricing import PriceEntry, PriceListKind  # noqa: E402
from productsync.services import catalog, locations, partners, payments, pricing, stock  # noqa: E402
from productsync.services import payment_reconciliation as recon  # noqa: E402
from productsync.services.catalog import ensure_default_categories  # noqa: E402
from productsync.store import migrate  # noqa: E402
from productsync.store.database import Database, create_database  # noqa: E402
from productsync.store.tables import stock_movements  # noqa: E402
from productsync.store.tables_payments import payment_movements, payment_records  # noqa: E402
from productsync.store.uow import UnitOfWork, transaction  # noqa: E402
from tests import services as test_services  # noqa: E402

ADMIN = system_actor("bench")
CHUNK = 2000


async def _world(db: Database) -> dict[str, Any]:
    async def build(uow: UnitOfWork) -> dict[str, Any]:
        await ensure_default_categories(uow)
        partner = await partners.create_partner(uow, ADMIN, code="bench", name="Bench")
        where = await locations.create_location(
            uow, ADMIN, code="B1", name="Bench store", kind=LocationKind.STORE, owner_partner_id=partner.id
        )
        sports = await uow.categories.get_by_code("sports")
        assert sports is not None
        product = await catalog.create_product(
            uow,
            ADMIN,
            NewProduct(
                sku="SE-BENCH",
                name="Bench ball",
                category_id=sports.id,
                owner_partner_id=partner.id,
                attributes={"size": "M", "material": "rubber"},
            ),
        )
        pl = await pricing.create_price_list(
            uow,
            ADMIN,
            name="EUR",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=partner.id,
        )
        await pricing.put_prices(uow, ADMIN, pl.id, product.id, [PriceEntry(Decimal(1), Decimal("10.00"))])
        await stock.set_stock(
            uow, ADMIN, location_id=where.id, product_id=product.id, quantity=Decimal(10**6)
        )
        return {"partner": partner, "location": where, "product": product, "list": pl}

    return await transaction(db, build)


async def take_events(db: Database, world: dict[str, Any], n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        event = {
            "id": f"evt_bench_{uuid.uuid4().hex}",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"pi_bench_{i}_{uuid.uuid4().hex[:8]}",
                    "amount_received": 1000 if i % 10 else 900,
                    "currency": "eur",
                    "metadata": {
                        "sku": world["product"].sku,
                        "quantity": "1",
                        "location_id": str(world["location"].id),
                        "price_list_id": str(world["list"].id),
                    },
                }
            },
        }
        await transaction(db, lambda uow, e=event: payments.record_event(uow, e))  # type: ignore[misc]
    return time.perf_counter() - started


async def write_records(db: Database, world: dict[str, Any], n: int) -> None:
    product, where = world["product"], world["location"]
    now = datetime.now(UTC)
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)

        async def chunk(uow: UnitOfWork, start: int = start, size: int = size) -> None:
            conn = uow.payments.conn
            moves = [
                {
                    "product_id": product.id,
                    "location_id": where.id,
                    "kind": "sale",
                    "quantity": Decimal(-1),
                    "on_hand_after": Decimal(0),
                    "origin": "stripe",
                    "created_at": now - timedelta(seconds=i),
                    "reason": "bench",
                }
                for i in range(start, start + size)
            ]
            ids = [
                r[0]
                for r in (await conn.execute(insert(stock_movements).returning(stock_movements.c.id), moves))
            ]
            records, links = [], []
            for k, movement_id in enumerate(ids):
                if (start + k) % 100 == 99:
                    continue  # 1 %: a sale of the payment source with no record
                rid = uuid.uuid4()
                records.append(
                    {
                        "id": rid,
                        "source": "stripe",
                        "event_id": f"evt_b_{rid.hex}",
                        "payment_ref": f"pi_b_{rid.hex}",
                        "kind": "paid",
                        "outcome": "applied",
                        "amount_minor": 1000 if k % 20 else 999,
                        "currency": "EUR",
                        "product_id": product.id,
                        "sku": product.sku,
                        "quantity": Decimal(1),
                        "owner_partner_id": product.owner_partner_id,
                        "price_list_id": world["list"].id,
                        "price_currency": "EUR",
                        "unit_amount": Decimal("10.00"),
                        "expected_minor": 1000,
                        "occurred_at": now - timedelta(seconds=start + k),
                        "recorded_at": now,
                    }
                )
                links.append({"movement_id": movement_id, "payment_record_id": rid})
            await conn.execute(insert(payment_records), records)
            await conn.execute(insert(payment_movements), links)

        await transaction(db, chunk)


async def main_async(dbkind: str, events: int, records: int) -> None:
    tmp = tempfile.TemporaryDirectory()
    url = (
        f"sqlite:///{Path(tmp.name) / 'bench.db'}"
        if dbkind == "sqlite"
        else await test_services.create_postgres_database()
    )
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        db = create_database(url, pool_size=4)
        try:
            world = await _world(db)
            seconds = await take_events(db, world, events)
            print(
                f"{dbkind}: {events} Stripe events taken in {seconds:.2f} s"
                f" = {events / seconds:,.0f} events/s"
            )
            t0 = time.perf_counter()
            await write_records(db, world, records)
            print(f"{dbkind}: {records:,} records written in bulk in {time.perf_counter() - t0:.1f} s")
            now = datetime.now(UTC)
            window = recon.Window(now - timedelta(days=30), now + timedelta(hours=1))
            t0 = time.perf_counter()
            report = await recon.reconcile(db, ADMIN, window)
            seconds = time.perf_counter() - t0
            print(
                f"{dbkind}: JSON summary over {report.rows:,} rows in {seconds:.2f} s"
                f" = {report.rows / seconds:,.0f} rows/s; counts {report.counts}"
            )
            t0 = time.perf_counter()
            size = 0
            async for part in recon.csv_chunks(db, ADMIN, window):
                size += len(part)
            seconds = time.perf_counter() - t0
            print(
                f"{dbkind}: CSV {size / 1e6:.1f} MB in {seconds:.2f} s = {report.rows / seconds:,.0f} rows/s"
            )
        finally:
            await db.dispose()
    finally:
        if dbkind == "postgres":
            await test_services.drop_postgres_database(url)
        tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main_async(args.db, args.events, args.records))


if __name__ == "__main__":
    main()
