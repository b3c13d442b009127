"""Reservations under load on PostgreSQL, against a real server.

    python bench/reservations.py            # 64 clients, 20 s per run, 2 server processes

Seeds two partners (the bundle owner and a partner sharing its catalog with it), one
location, 1,000 products with plenty of stock and 20 two-component bundles whose
components belong to the two partners; starts ``productsync serve --workers 2``; then
drives 64 concurrent keep-alive clients posting ``/v1/reservations`` for 20 s each:

  (a) 1-3 lines on random products,
  (o) the same, open loop: the 64 connections together offer --rate (500) per second on a
      fixed schedule, latency counted from when each request was due (the latency a
      shop sees at that load, rather than the queueing of 64 clients at saturation),
  (b) every client on one hot SKU,
  (c) one bundle of two components of two partners,
  (d) a scarce SKU: 64 clients race for 500 units (an oversell would show here).

Prints reservations/s and p50/p99 latency per run, and the oversell count: levels
whose reserved exceeds on_hand or disagrees with the live holds (``productsync
check``), plus holds granted beyond the scarce SKU's stock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.stock_adjust import free_port, start, stop  # noqa: E402
from productsync.domain.access import system_actor  # noqa: E402
from productsync.domain.catalog import Component, NewProduct, ProductKind  # noqa: E402
from productsync.domain.inventory import LocationKind, MovementKind  # noqa: E402
from productsync.services import access, catalog, locations, partners, stock  # noqa: E402
from productsync.services.catalog import ensure_default_categories  # noqa: E402
from productsync.store import migrate  # noqa: E402
from productsync.store.database import create_database  # noqa: E402
from productsync.store.uow import transaction  # noqa: E402
from tests import services as test_services  # noqa: E402

ADMIN = system_actor("bench")
SCARCE = 500


async def seed(url: str, n_products: int, n_bundles: int) -> dict[str, object]:
    await asyncio.to_thread(migrate.upgrade, url)
    db = create_database(url)
    await transaction(db, ensure_default_categories)

    async def build(uow):  # type: ignore[no-untyped-def]
        owner = await partners.create_partner(uow, ADMIN, code="bench-curator", name="Curator")
        other = await partners.create_partner(uow, ADMIN, code="bench-polish", name="Polish")
        await partners.share_catalog(uow, ADMIN, owner_id=other.id, grantee_id=owner.id)
        loc = await locations.create_location(
            uow, ADMIN, code="WH-RES", name="Bench", kind=LocationKind.WAREHOUSE, owner_partner_id=None
        )
        sports = await uow.categories.get_by_code("sports")

        async def product(i: int, who: object, quantity: int, **over: object) -> str:
            made = await catalog.create_product(
                uow,
                ADMIN,
                NewProduct(
                    sku=f"SE-R{i:05d}-{uuid.uuid4().hex[:4]}",
                    name=f"Bench item {i}",
                    category_id=sports.id,
                    owner_partner_id=who.id,  # type: ignore[attr-defined]
                    attributes={"size": "M", "material": "steel"},
                    **over,  # type: ignore[arg-type]
                ),
            )
            if quantity:
                await stock.adjust_stock(
                    uow,
                    ADMIN,
                    location_id=loc.id,
                    product_id=made.id,
                    delta=Decimal(quantity),
                    kind=MovementKind.RECEIPT,
                )
            return str(made.id)

        ids = [await product(i, owner, 1_000_000) for i in range(n_products)]
        scarce = await product(n_products, owner, SCARCE)
        bundles = []
        for j in range(n_bundles):
            theirs = await product(n_products + 1 + j, other, 1_000_000)
            bundles.append(
                await product(
                    n_products + 1000 + j,
                    owner,
                    0,
                    kind=ProductKind.BUNDLE,
                    components=[
                        Component(uuid.UUID(ids[j]), Decimal(1)),
                        Component(uuid.UUID(theirs), Decimal(1)),
                    ],
                )
            )
        _, key = await access.create_key(
            uow, ADMIN, partner_id=owner.id, scopes=access.PARTNER_DEFAULT_SCOPES
        )
        return {"key": key, "ids": ids, "scarce": scarce, "bundles": bundles}

    seeded = await transaction(db, build)
    await db.dispose()
    return seeded


def row(name: str, r: loadgen.Result) -> str:
    refused = sum(v for k, v in r.statuses.items() if k == 409)
    other = sum(v for k, v in r.statuses.items() if not 200 <= k < 300 and k != 409)
    return f"| {name:<44} | {r.rps:7.0f} | {r.pct(50):6.1f} | {r.pct(99):6.1f} | {refused:5d} | {other:5d} |"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--bundles", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--runs", default="aobcd", help="which runs, e.g. 'a' or 'ac' (d is always run)")
    parser.add_argument("--rate", type=float, default=500, help="offered reservations/s of run (o)")
    parser.add_argument(
        "--pool", type=int, default=None, help="PRODUCTSYNC_DB_POOL_SIZE (default: the hub's)"
    )
    args = parser.parse_args()
    url = await test_services.create_postgres_database()
    try:
        seeded = await seed(url, args.products, args.bundles)
        env = {
            **os.environ,
            "PRODUCTSYNC_DATABASE_URL": url,
            "PRODUCTSYNC_LOG_LEVEL": "warning",
            # Servers on PostgreSQL need the key that seals channel secrets (the same in every process).
            "PRODUCTSYNC_SECRET_KEY": (
                os.environ.get("PRODUCTSYNC_SECRET_KEY") or Fernet.generate_key().decode()
            ),
        }
        if args.pool:  # else the hub's default pool, which is what ships
            env["PRODUCTSYNC_DB_POOL_SIZE"] = str(args.pool)
        port = free_port()
        host = f"127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {seeded['key']}"}
        ids: list[str] = seeded["ids"]  # type: ignore[assignment]
        bundles: list[str] = seeded["bundles"]  # type: ignore[assignment]

        def post(body: dict[str, object]) -> bytes:
            return loadgen.request_bytes(host, "/v1/reservations", body, headers)

        def lines(rng):  # type: ignore[no-untyped-def]
            chosen = rng.sample(ids, rng.randint(1, 3))
            return post({"lines": [{"product_id": p, "quantity": rng.randint(1, 3)} for p in chosen]})

        runs = {
            "(a) 1-3 random lines": lines,
            f"(o) as (a), open loop at {args.rate:.0f}/s offered": lines,
            "(b) one hot SKU": lambda rng: post({"lines": [{"product_id": ids[0], "quantity": 1}]}),
            "(c) bundle of 2 partners' components": lambda rng: post(
                {"lines": [{"product_id": rng.choice(bundles), "quantity": 1}]}
            ),
            f"(d) scarce SKU ({SCARCE} units)": lambda rng: post(
                {"lines": [{"product_id": seeded["scarce"], "quantity": 1}]}
            ),
        }
        runs = {name: make for name, make in runs.items() if name[1] in args.runs + "d"}
        server = start(
            [
                sys.executable,
                "-m",
                "productsync",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env,
            port,
            "/v1/health",
        )
        results = {}
        try:
            for name, make in runs.items():
                results[name] = await loadgen.run(
                    "127.0.0.1",
                    port,
                    make,
                    connections=args.clients,
                    seconds=args.seconds,
                    warmup=1.0,
                    rate=args.rate if name.startswith("(o)") else None,
                )
        finally:
            stop(server)
        scarce_run = results[f"(d) scarce SKU ({SCARCE} units)"]
        # The warm-up's holds are not in the counters: ask the database for the truth.
        db = create_database(url)

        async def scarce_level(uow):  # type: ignore[no-untyped-def]
            return await uow.stock.get_level(uuid.UUID(str(seeded["scarce"])), next(iter(await _locs(uow))))

        level = await transaction(db, scarce_level, readonly=True)
        await db.dispose()
        checked = subprocess.run(
            [sys.executable, "-m", "productsync", "check"], env=env, capture_output=True, text=True
        )
        drift_lines = (
            0
            if checked.returncode == 0
            else checked.stdout.count("reserved") + checked.stdout.count("on_hand")
        )
        oversells = (
            drift_lines + max(0, int(level.reserved) - SCARCE) + (1 if level.reserved > level.on_hand else 0)
        )
        print(
            f"\n{args.clients} clients, {args.seconds:.0f} s per run, PostgreSQL, "
            f"{args.workers} server processes, {os.cpu_count()} cores"
        )
        print("| run                                          | res/s   | p50 ms | p99 ms | 409   | other |")
        print("|----------------------------------------------|---------|--------|--------|-------|-------|")
        for name, r in results.items():
            print(row(name, r))
        print(
            f"\nscarce SKU: {int(level.reserved)} of {SCARCE} held, on_hand {int(level.on_hand)}; "
            f"409s in the measured window: {scarce_run.statuses.get(409, 0)}"
        )
        last = checked.stdout.strip().splitlines()[-1] if checked.stdout.strip() else checked.stderr
        print(f"integrity check: {last}")
        print(f"oversells: {oversells}")
    finally:
        await test_services.drop_postgres_database(url)


async def _locs(uow):  # type: ignore[no-untyped-def]
    return [loc.id for loc in await uow.locations.find(None) if loc.code == "WH-RES"]


if __name__ == "__main__":
    asyncio.run(main())
