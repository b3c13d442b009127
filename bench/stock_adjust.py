"""Stock adjustments under load, against a real server, with a same-run baseline.

    python bench/stock_adjust.py            # both backends, 32 clients, 20 s per run

For each backend (SQLite file, PostgreSQL): seed a partner, a location and 1,000
products; start ``productsync serve``; drive 32 concurrent keep-alive clients
posting ``/v1/stock/adjustments`` (+/-1 on a random product, then all on one hot
product) for 20 s each, each run followed at once by the same run against a bare
FastAPI endpoint doing one single-row UPDATE per request on the same database (so a
pair sees about the same machine load). Prints
adjustments/s, p50/p99, the ratio to the baseline and, on PostgreSQL, how many new
database connections (sessions) were opened during each run (after 3 s of the same
load that fill the pools): a pool that fits the load opens none once warm. Checks
afterwards that every level still equals its ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import baseline_app, loadgen  # noqa: E402
from productsync.domain.access import system_actor  # noqa: E402
from productsync.domain.catalog import NewProduct  # noqa: E402
from productsync.domain.inventory import LocationKind, MovementKind  # noqa: E402
from productsync.services import access, catalog, locations, partners, stock  # noqa: E402
from productsync.services.catalog import ensure_default_categories  # noqa: E402
from productsync.store import migrate  # noqa: E402
from productsync.store.database import create_database  # noqa: E402
from productsync.store.uow import transaction  # noqa: E402
from tests import services as test_services  # noqa: E402

ADMIN = system_actor("bench")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(url: str, n_products: int) -> tuple[str, str, list[str]]:
    await asyncio.to_thread(migrate.upgrade, url)
    db = create_database(url)
    await transaction(db, ensure_default_categories)

    async def build(uow):  # type: ignore[no-untyped-def]
        p = await partners.create_partner(uow, ADMIN, code="bench-partner", name="Bench")
        loc = await locations.create_location(
            uow, ADMIN, code="WH-BENCH", name="Bench", kind=LocationKind.WAREHOUSE, owner_partner_id=p.id
        )
        sports = await uow.categories.get_by_code("sports")
        ids = []
        for i in range(n_products):
            prod = await catalog.create_product(
                uow,
                ADMIN,
                NewProduct(
                    sku=f"SE-B{i:05d}",
                    name=f"Bench item {i}",
                    category_id=sports.id,
                    owner_partner_id=p.id,
                    attributes={"size": "M", "material": "steel"},
                ),
            )
            await stock.adjust_stock(
                uow,
                ADMIN,
                location_id=loc.id,
                product_id=prod.id,
                delta=Decimal(1_000_000),
                kind=MovementKind.RECEIPT,
            )
            ids.append(str(prod.id))
        _, key = await access.create_key(uow, ADMIN, partner_id=p.id, scopes=access.PARTNER_DEFAULT_SCOPES)
        return key, str(loc.id), ids

    key, loc, ids = await transaction(db, build)
    await db.dispose()
    return key, loc, ids


def start(
    cmd: list[str], env: dict[str, str], port: int, health: str, log: str | None = None
) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{health}", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not start: {cmd}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


class Sessions:
    """Sessions PostgreSQL has opened for the bench database (``pg_stat_database``), read
    over one connection kept open for the whole bench so reading adds none. SQLite: None."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: asyncpg.Connection | None = None

    async def count(self) -> int | None:
        if not self.url.startswith("postgresql"):
            return None
        if self.conn is None:
            self.conn = await asyncpg.connect(self.url)
        await asyncio.sleep(1.5)  # backends report their session start within a second
        return int(
            await self.conn.fetchval(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            )
        )

    async def run(self, *args: object, **kwargs: object) -> tuple[loadgen.Result, int | None]:
        """``loadgen.run`` and the new sessions opened while it ran, after an unmeasured
        3 s at the same load (pools filled: what is counted is churn, not start-up)."""
        if self.url.startswith("postgresql"):
            await loadgen.run(*args, **{**kwargs, "seconds": 3.0, "warmup": 0.0})  # type: ignore[arg-type]
        before = await self.count()
        result = await loadgen.run(*args, **kwargs)  # type: ignore[arg-type]
        after = await self.count()
        return result, None if before is None or after is None else after - before

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


def row(
    name: str,
    measured: tuple[loadgen.Result, int | None],
    base: tuple[loadgen.Result, int | None] | None = None,
) -> str:
    r, opened = measured
    ratio = f"{r.rps / base[0].rps * 100:5.0f}%" if base and base[0].rps else "     -"
    non2xx = sum(v for k, v in r.statuses.items() if not 200 <= k < 300)
    conns = "-" if opened is None else str(opened)
    return (
        f"| {name:<34} | {r.rps:8.0f} | {r.pct(50):7.1f} | {r.pct(99):7.1f} | {ratio} | {non2xx:5d} "
        f"| {conns:>9} |"
    )


async def bench_backend(backend: str, url: str, args: argparse.Namespace) -> list[str]:
    key, loc, ids = await seed(url, args.products)
    workers = 1 if backend == "sqlite" else args.workers
    env = {
        **os.environ,
        "PRODUCTSYNC_DATABASE_URL": url,
        "PRODUCTSYNC_LOG_LEVEL": "warning",
        # Servers on PostgreSQL need the key that seals channel secrets (the same in every process).
        "PRODUCTSYNC_SECRET_KEY": os.environ.get("PRODUCTSYNC_SECRET_KEY") or Fernet.generate_key().decode(),
    }
    if args.pool:  # else the hub's default pool, which is what ships
        env["PRODUCTSYNC_DB_POOL_SIZE"] = str(args.pool)
    port = free_port()
    headers = {"Authorization": f"Bearer {key}"}
    host = f"127.0.0.1:{port}"

    def random_adjust(rng):  # type: ignore[no-untyped-def]
        return loadgen.request_bytes(
            host,
            "/v1/stock/adjustments",
            {"product_id": rng.choice(ids), "location_id": loc, "delta": rng.choice((1, -1))},
            headers,
        )

    def hot_adjust(rng):  # type: ignore[no-untyped-def]
        return loadgen.request_bytes(
            host,
            "/v1/stock/adjustments",
            {"product_id": ids[0], "location_id": loc, "delta": rng.choice((1, -1))},
            headers,
        )

    await baseline_app.prepare(url)
    bport = free_port()
    bhost = f"127.0.0.1:{bport}"
    benv = {**env, "BASELINE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    sessions = Sessions(url)
    hub_cmd = [sys.executable, "-m", "productsync", "serve", "--port", str(port), "--workers", str(workers)]
    base_cmd = [
        *(sys.executable, "-m", "uvicorn", "bench.baseline_app:factory", "--factory"),
        *("--port", str(bport), "--workers", str(workers), "--log-level", "warning", "--no-access-log"),
    ]

    async def measure(
        cmd: list[str], server_env: dict[str, str], on: int, health: str, make: object
    ) -> tuple[loadgen.Result, int | None]:
        """One run against a server started for it: only one server (and its pool of
        connections) is up at a time, so the two never share max_connections."""
        server = start(cmd, server_env, on, health)
        try:
            return await sessions.run("127.0.0.1", on, make, connections=args.clients, seconds=args.seconds)
        finally:
            stop(server)

    def bump(rng):  # type: ignore[no-untyped-def]
        return loadgen.request_bytes(bhost, "/bump", {"id": rng.randrange(baseline_app.ROWS), "delta": 1}, {})

    def bump_one(rng):  # type: ignore[no-untyped-def]
        return loadgen.request_bytes(bhost, "/bump", {"id": 0, "delta": 1}, {})

    # Each hub run is followed at once by its baseline run: on a shared machine the
    # pair sees about the same load.
    try:
        rand = await measure(hub_cmd, env, port, "/v1/health", random_adjust)
        b_rand = await measure(base_cmd, benv, bport, "/docs", bump)
        if args.hot:
            hot = await measure(hub_cmd, env, port, "/v1/health", hot_adjust)
            b_hot = await measure(base_cmd, benv, bport, "/docs", bump_one)
    finally:
        await sessions.close()

    checked = subprocess.run(
        [sys.executable, "-m", "productsync", "check"], env=env, capture_output=True, text=True
    )
    label = f"{backend} ({workers} worker{'s' if workers > 1 else ''})"
    return [
        row(f"{label}: adjust, random SKU", rand, b_rand),
        row(f"{label}: baseline UPDATE, random row", b_rand),
        *(
            [
                row(f"{label}: adjust, one hot SKU", hot, b_hot),
                row(f"{label}: baseline UPDATE, one row", b_hot),
            ]
            if args.hot
            else []
        ),
        f"| {label}: ledger check after the run: {checked.stdout.strip() or checked.stderr.strip()} |",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="server processes on PostgreSQL")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--hot", action=argparse.BooleanOptionalAction, default=True, help="the one-hot-SKU runs too"
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=None,
        help="PRODUCTSYNC_DB_POOL_SIZE for hub and baseline (default: the hub's)",
    )
    args = parser.parse_args()
    lines = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            tmp = tempfile.mkdtemp(prefix="psbench-")
            lines += await bench_backend("sqlite", f"sqlite:///{tmp}/bench.db", args)
        else:
            url = await test_services.create_postgres_database()
            try:
                lines += await bench_backend("postgres", url, args)
            finally:
                await test_services.drop_postgres_database(url)
    print(
        f"\n{args.clients} clients, {args.seconds:.0f} s per run, "
        f"{args.products} products, {os.cpu_count()} cores"
    )
    print(f"| {'run':<34} | req/s    | p50 ms  | p99 ms  | vs base | non-2xx | new conns |")
    print(f"|{'-' * 36}|----------|---------|---------|---------|---------|-----------|")
    for line in lines:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
