"""Full CSV exports of a big catalog: rows/s and peak memory.

    python bench/bulk_export.py --db postgres --rows 1000000     # target: 1M products in <= 30 s
    python bench/bulk_export.py --db sqlite --rows 100000

A fresh database (a new PostgreSQL database, or a temporary SQLite file) gets one
product, one stock level and one price made through the services (so every column holds
what the hub itself writes), then ``--rows`` copies of each made set-based in SQL
(``generate_series`` / a recursive CTE: a million rows in seconds, not through the API).
Then a full CSV export of products, of stock and of prices runs through
``services.exports.open_export`` as ``GET /v1/exports/{kind}`` and ``productsync export``
run it, the bytes counted and dropped. Prints rows/s per kind and the process's peak RSS
before and after the exports (the export itself should add a page's worth, whatever the
size). Bounded by ``--timeout`` seconds; the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Uuid, bindparam, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from productsync.domain.access import system_actor  # noqa: E402
from productsync.domain.catalog import NewProduct  # noqa: E402
from productsync.domain.inventory import LocationKind  # noqa: E402
from productsync.domain.pricing import PriceEntry, PriceListKind  # noqa: E402
from productsync.services import catalog, locations, partners, pricing, stock  # noqa: E402
from productsync.services.catalog import ensure_default_categories  # noqa: E402
from productsync.services.exports import ExportRequest, open_export  # noqa: E402
from productsync.store import migrate  # noqa: E402
from productsync.store.database import Database, create_database  # noqa: E402
from productsync.store.uow import UnitOfWork, transaction  # noqa: E402
from tests import services as test_services  # noqa: E402

ADMIN = system_actor("bench")
PREFIX = "SE-X"
_COPY = (
    "description, category_id, owner_partner_id, base_unit, barcodes, texts, tax_class, attributes, "
    "status, version, created_at, updated_at, kind, components, allow_backorders, packs"
)


def _series(dialect: str) -> tuple[str, str, str, str]:
    """A numbers source 1..:n, a new uuid, a zero-padded number, per dialect."""
    if dialect == "postgresql":
        return "generate_series(1, :n) AS s(g)", "", "gen_random_uuid()", "lpad(g::text, 7, '0')"
    cte = "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n) "
    return "s", cte, "lower(hex(randomblob(16)))", "substr('0000000' || g, -7)"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def seed(db: Database, rows: int) -> None:
    """One product with a level and a price through the services, then ``rows - 1``
    copies of each, set-based."""

    async def template(uow: UnitOfWork) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        p = await partners.create_partner(uow, ADMIN, code="bench-export", name="Bench export")
        loc = await locations.create_location(
            uow, ADMIN, code="WH-EXPORT", name="Bench", kind=LocationKind.WAREHOUSE, owner_partner_id=p.id
        )
        pl = await pricing.create_price_list(
            uow,
            ADMIN,
            name="Bench",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=p.id,
        )
        sports = await uow.categories.get_by_code("sports")
        assert sports is not None
        product = await catalog.create_product(
            uow,
            ADMIN,
            NewProduct(
                sku=f"{PREFIX}0000000",
                name="Bulk item 0",
                category_id=sports.id,
                owner_partner_id=p.id,
                description="A racket, light and strong",
                barcodes=["4006381333931"],
                texts={"de": {"name": "Schläger"}},
                attributes={"size": "M", "material": "carbon", "weight_g": 287.5},
            ),
        )
        await stock.set_stock(uow, ADMIN, location_id=loc.id, product_id=product.id, quantity=Decimal(7))
        await pricing.put_prices(uow, ADMIN, pl.id, product.id, [PriceEntry(Decimal(1), Decimal("19.99"))])
        return product.id, loc.id, pl.id

    template_id, _, _ = await transaction(db, template)
    source, cte, new_id, padded = _series(db.dialect)
    ids = {"t": template_id}
    statements = [
        # The product copies; barcodes are unique, so the copies carry none.
        f"{cte}INSERT INTO products (id, sku, name, {_COPY}) "
        f"SELECT {new_id}, '{PREFIX}' || {padded}, 'Bulk item ' || g, "
        + _COPY.replace("barcodes", "'[]'")
        + f" FROM products t, {source} WHERE t.id = :t AND g < :n",
        "INSERT INTO stock_levels "
        "(product_id, location_id, on_hand, reserved, safety_stock, version, updated_at) "
        "SELECT p.id, l.location_id, l.on_hand, l.reserved, l.safety_stock, l.version, l.updated_at "
        "FROM products p, stock_levels l WHERE l.product_id = :t AND p.id <> :t "
        f"AND p.sku LIKE '{PREFIX}%'",
        "INSERT INTO product_prices (price_list_id, product_id, version, updated_at) "
        "SELECT h.price_list_id, p.id, h.version, h.updated_at "
        "FROM products p, product_prices h WHERE h.product_id = :t AND p.id <> :t "
        f"AND p.sku LIKE '{PREFIX}%'",
        "INSERT INTO price_entries (price_list_id, product_id, min_quantity, amount, valid_from, valid_to) "
        "SELECT e.price_list_id, p.id, e.min_quantity, e.amount, e.valid_from, e.valid_to "
        "FROM products p, price_entries e WHERE e.product_id = :t AND p.id <> :t "
        f"AND p.sku LIKE '{PREFIX}%'",
    ]
    async with db.engine.begin() as conn:
        for sql in statements:
            stmt = text(sql).bindparams(bindparam("t", type_=Uuid))
            params: dict[str, Any] = {**ids}
            if ":n" in sql:
                params["n"] = rows
            await conn.execute(stmt, params)
        if not db.is_sqlite:
            await conn.execute(text("ANALYZE"))


class Counter:
    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def write(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        self.lines += chunk.count(b"\n")


async def export_kind(db: Database, kind: str) -> dict[str, Any]:
    sink = Counter()
    cpu = time.process_time()  # this process's CPU, all threads: less noisy than wall time on a busy machine
    started = time.perf_counter()
    opened = await open_export(db, ADMIN, ExportRequest(kind, "csv"))  # type: ignore[arg-type]
    async for chunk in opened.chunks():
        sink.write(chunk)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "kind": kind,
        "rows": opened.rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(opened.rows / seconds) if seconds else None,
        "cpu_seconds": round(cpu, 2),
        "mb": round(sink.bytes / 1e6, 1),
    }


async def _run(db_kind: str, rows: int, kinds: list[str]) -> dict[str, Any]:
    if db_kind == "postgres":
        url = await test_services.create_postgres_database()
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-export-")
        url = f"sqlite:///{tmp.name}/hub.db"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        db = create_database(url)
        try:
            await transaction(db, ensure_default_categories)
            started = time.perf_counter()
            await seed(db, rows)
            seeded = time.perf_counter() - started
            load = os.getloadavg()[0]
            before = peak_rss_mb()
            results = [await export_kind(db, kind) for kind in kinds]
            return {
                "db": db_kind,
                "rows": rows,
                "seed_seconds": round(seeded, 1),
                "load_average_1m": round(load, 1),
                "peak_rss_mb_before": round(before),
                "peak_rss_mb_after": round(peak_rss_mb()),
                "exports": results,
            }
        finally:
            await db.dispose()
    finally:
        if db_kind == "postgres":
            await test_services.drop_postgres_database(url)
        elif tmp is not None:
            tmp.cleanup()


def run(
    db: str, rows: int, *, kinds: tuple[str, ...] = ("products", "stock", "prices"), timeout: float = 900
) -> dict:  # type: ignore[type-arg]
    """Seed ``rows`` products (each with a level and a price) and time full CSV exports."""
    if db not in ("postgres", "sqlite"):
        raise ValueError("db must be postgres or sqlite")
    return asyncio.run(asyncio.wait_for(_run(db, rows, list(kinds)), timeout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--kinds", default="products,stock,prices")
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    args = parser.parse_args()
    result = run(args.db, args.rows, kinds=tuple(args.kinds.split(",")), timeout=args.timeout)
    for r in result["exports"]:
        print(
            f"{result['db']:<8} {r['kind']:<9} {r['rows']:>9,} rows  {r['seconds']:>7.2f} s  "
            f"{r['rows_per_s'] or 0:>9,} rows/s  {r['mb']:>7.1f} MB  (exporter CPU {r['cpu_seconds']:.1f} s)"
        )
    print(
        f"seed {result['seed_seconds']} s; load average {result['load_average_1m']} at start; "
        f"peak RSS {result['peak_rss_mb_before']} MB before the exports, "
        f"{result['peak_rss_mb_after']} MB after"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
