"""Bulk import bench: N products with stock and one price each, from CSV.

    python bench/bulk.py import --rows 1000000 --db postgres
    python bench/bulk.py import --rows 100000 --db sqlite

A fresh database (a new PostgreSQL database, or a temporary SQLite file) gets one
partner, one location and one price list; the CSV is generated (each row a sports
product with a valid GTIN-13, its on-hand count at the location and one price); then
``productsync import`` runs in a subprocess, timed, its peak RSS read with
``getrusage(RUSAGE_CHILDREN)``. The run is bounded (``--timeout``): a slow import fails
with a message, never hangs. A second run of the same file measures the idempotent
re-import (nothing changes). Export and reconcile benches live beside this one
(bench/bulk_export.py, bench/bulk_reconcile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from productsync.domain.access import system_actor  # noqa: E402
from productsync.domain.inventory import LocationKind  # noqa: E402
from productsync.domain.pricing import PriceListKind  # noqa: E402
from productsync.services import locations, partners, pricing  # noqa: E402
from productsync.services.catalog import ensure_default_categories  # noqa: E402
from productsync.store import migrate  # noqa: E402
from productsync.store.database import create_database  # noqa: E402
from productsync.store.uow import UnitOfWork, transaction  # noqa: E402
from tests import services as test_services  # noqa: E402

TARGETS = {"postgres": (60.0, 500.0), "sqlite": (30.0, None)}


def gtin13(i: int) -> str:
    body = f"200{i:09d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def generate(path: Path, rows: int, partner: str, location: str, price_list: str) -> None:
    attributes = json.dumps({"size": "M", "material": "steel"})
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "sku",
                "partner",
                "name",
                "category",
                "barcodes",
                "attributes",
                "location",
                "on_hand",
                "price_list",
                "price",
            ]
        )
        for i in range(rows):
            w.writerow(
                [
                    f"SE-BULK-{i:07d}",
                    partner,
                    f"Bulk item {i}",
                    "sports",
                    gtin13(i),
                    attributes,
                    location,
                    i % 97 + 1,
                    price_list,
                    f"{i % 500 + 1}.{i % 100:02d}",
                ]
            )


async def seed(url: str) -> tuple[str, str, str]:
    await asyncio.to_thread(migrate.upgrade, url)
    db = create_database(url, pool_size=2)
    admin = system_actor("bench")
    try:
        await transaction(db, ensure_default_categories)

        async def build(uow: UnitOfWork) -> tuple[str, str, str]:
            p = await partners.create_partner(uow, admin, code="bulk-partner", name="Bulk")
            await locations.create_location(
                uow,
                admin,
                code="BULK-WH",
                name="Bulk warehouse",
                kind=LocationKind.WAREHOUSE,
                owner_partner_id=None,
            )
            pl = await pricing.create_price_list(
                uow,
                admin,
                name="bulk retail",
                currency="EUR",
                kind=PriceListKind.RETAIL,
                region=None,
                owner_partner_id=p.id,
            )
            return p.code, "BULK-WH", str(pl.id)

        return await transaction(db, build)
    finally:
        await db.dispose()


def run_import(url: str, path: Path, timeout: float, env_extra: dict[str, str]) -> tuple[float, float, str]:
    env = {**os.environ, "PRODUCTSYNC_DATABASE_URL": url, **env_extra}
    cmd = [sys.executable, "-c", "from productsync.cli import main; main()", "import", str(path), "--quiet"]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu0 = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    t = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SystemExit(
            f"import did not finish within {timeout:.0f} s (bounded run; raise --timeout)"
        ) from None
    seconds = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss = usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    if done.returncode != 0:
        raise SystemExit(
            f"import failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    # CPU seconds of the importer: on a shared machine the wall time says how busy it was.
    return (
        seconds,
        max(rss, before) / 1024,
        f"{done.stdout.strip().splitlines()[-1]}; importer CPU {cpu:.0f} s",
    )


async def main_import(rows: int, dbkind: str, timeout: float, keep: bool, again: bool = True) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bulk-import-"))
    url = (
        await test_services.create_postgres_database()
        if dbkind == "postgres"
        else f"sqlite:///{tmp / 'bench.db'}"
    )
    env_extra = {"PRODUCTSYNC_SECRET_KEY": "", "PRODUCTSYNC_DATA_DIR": str(tmp)}
    try:
        partner, location, price_list = await seed(url)
        path = tmp / "products.csv"
        t = time.perf_counter()
        generate(path, rows, partner, location, price_list)
        print(
            f"generated {rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s"
        )
        seconds, rss, last = await asyncio.to_thread(run_import, url, path, timeout, env_extra)
        print(
            f"import   {rows:,} rows on {dbkind}: {seconds:.1f} s, {rows / seconds:,.0f} rows/s, "
            f"peak RSS {rss:.0f} MB  [{last}]"
        )
        goal_s, goal_mb = TARGETS[dbkind]
        verdict = "met" if seconds <= goal_s and (goal_mb is None or rss <= goal_mb) else "NOT met"
        print(f"target {goal_s:.0f} s" + (f", {goal_mb:.0f} MB" if goal_mb else "") + f": {verdict}")
        if not again:
            return
        again_s, rss2, last2 = await asyncio.to_thread(run_import, url, path, timeout, env_extra)
        print(
            f"re-import (no change): {again_s:.1f} s, {rows / again_s:,.0f} rows/s, "
            f"peak RSS {rss2:.0f} MB  [{last2}]"
        )
    finally:
        if dbkind == "postgres" and not keep:
            await test_services.drop_postgres_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    imp = sub.add_parser("import", help="import N products with stock and a price from CSV")
    imp.add_argument("--rows", type=int, default=100_000)
    imp.add_argument("--db", choices=["postgres", "sqlite"], default="sqlite")
    imp.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds per run")
    imp.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    imp.add_argument("--no-again", action="store_true", help="skip the second (idempotent) run")
    args = parser.parse_args()
    asyncio.run(main_import(args.rows, args.db, args.timeout, args.keep, again=not args.no_again))


if __name__ == "__main__":
    main()
