"""A new channel's backfill over a big catalog, on PostgreSQL: time, peak memory, and how
long another channel's live events wait meanwhile.

    python bench/backfill.py                      # 100,000 products, bounded by --timeout 1800 s

A fresh database gets N products of one partner, each with a stock level and a price
(tests/bulk.py: multi-row inserts). A webhook channel over that partner, its location and
its price list is created, plus a small "live" channel of another partner. Then:

- **time**: from the fan-out that takes the backfill request until every snapshot
  delivery is queued (old code: the fan-out builds the whole snapshot into the outbox
  under the sequencing lock, then later fan-outs turn it into deliveries; new code: the
  fan-out subscribes the channel, then short page transactions queue the deliveries);
- **lock held**: the longest single transaction of that work (old: the fan-out holding the
  sequencer; new: the longest page, which holds no shared lock);
- **live wait**: meanwhile a task changes stock of the live channel's product every 100 ms
  and runs a fan-out; the time from that commit until the other channel's delivery is
  queued (max and median);
- **memory**: growth of the process's peak RSS during that backfill; and the peak of
  Python allocations (tracemalloc) during the backfill of a second channel over a second
  catalog of ``--traced-products`` (tracemalloc slows the old code about fivefold, hence
  a separate, by default smaller, catalog).

Works on the code before and after the paged backfill (it looks for
``snapshots.backfill_step``), so the same command measures both.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from productsync.domain.access import Scope, system_actor  # noqa: E402
from productsync.domain.channels import ChannelKind, NewChannel  # noqa: E402
from productsync.domain.inventory import LocationKind  # noqa: E402
from productsync.domain.pricing import PriceListKind  # noqa: E402
from productsync.services import channels, dispatch, locations, partners, pricing, snapshots, stock  # noqa: E402
from productsync.services.catalog import ensure_default_categories  # noqa: E402
from productsync.store import migrate  # noqa: E402
from productsync.store.database import create_database  # noqa: E402
from productsync.store.secrets import SecretBox  # noqa: E402
from productsync.store.uow import transaction  # noqa: E402
from tests import services as test_services  # noqa: E402
from tests.bulk import bulk_catalog  # noqa: E402

ADMIN = replace(system_actor("bench"), scopes=frozenset(Scope))
PAGED = hasattr(snapshots, "backfill_step")
RECEIVER = "http://bench-receiver.invalid/hook"  # never called: nothing is sent


async def _seed(db: Any, n: int, traced: int) -> dict[str, Any]:
    async def base(uow):  # type: ignore[no-untyped-def]
        made = {
            code: await partners.create_partner(uow, ADMIN, code=f"bf-{code}", name=code)
            for code in ("big", "traced", "live")
        }
        made["loc"] = await locations.create_location(
            uow, ADMIN, code="WH-BF", name="WH", kind=LocationKind.WAREHOUSE, owner_partner_id=None
        )
        made["pl"] = await pricing.create_price_list(
            uow,
            ADMIN,
            name="bf",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=None,
        )
        made["sports"] = await uow.categories.get_by_code("sports")
        return made

    w = await transaction(db, base)
    t0 = time.perf_counter()
    for code, count, prefix in (("big", n, "SE-BF"), ("traced", traced, "SE-TR"), ("live", 1, "SE-LV")):
        ids = await bulk_catalog(
            db,
            ADMIN,
            n=count,
            sku_prefix=prefix,
            owner_partner_id=w[code].id,
            category_id=w["sports"].id,
            location_id=w["loc"].id,
            price_list_id=w["pl"].id,
        )
    w["live_product"] = ids[0]
    print(
        f"seeded {n + traced + 1:,} products, levels and prices in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return w


async def _channel(db: Any, w: dict[str, Any], partner: str) -> Any:
    async def make(uow):  # type: ignore[no-untyped-def]
        new = NewChannel(
            name=partner,
            kind=ChannelKind.WEBHOOK,
            owner_partner_id=None,
            url=RECEIVER,
            partner_ids=(w[partner].id,),
            location_ids=(w["loc"].id,),
            price_list_id=w["pl"].id,
        )
        return (await channels.create_channel(uow, ADMIN, new))[0]

    return await transaction(db, make)


async def _drain_fan_out(db: Any) -> float:
    """Fan-outs until the outbox is read; returns the longest one (seconds)."""
    longest = 0.0
    while True:
        t = time.perf_counter()
        n = await transaction(db, dispatch.fan_out)
        longest = max(longest, time.perf_counter() - t)
        if not n:
            return longest


async def _backfill(db: Any) -> tuple[float, float]:
    """Runs the requested backfill until every snapshot delivery is queued; returns
    (seconds, longest transaction)."""
    t0 = time.perf_counter()
    longest = await _drain_fan_out(db)  # old code: the whole snapshot, then its fan-out
    while PAGED:
        t = time.perf_counter()
        more = await transaction(db, snapshots.backfill_step)
        longest = max(longest, time.perf_counter() - t)
        if not more:
            break
    return time.perf_counter() - t0, longest


async def _live(db: Any, w: dict[str, Any], stop: asyncio.Event, waits: list[float]) -> None:
    """The live channel's product changes every 100 ms; each change is followed by a
    fan-out, timed from the change's commit until its delivery is queued."""
    while not stop.is_set():
        await transaction(
            db,
            lambda uow: stock.adjust_stock(
                uow, ADMIN, location_id=w["loc"].id, product_id=w["live_product"], delta=Decimal(1)
            ),
        )
        t = time.perf_counter()
        await transaction(db, dispatch.fan_out)
        waits.append(time.perf_counter() - t)
        await asyncio.sleep(0.1)


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(n: int, traced: int) -> None:
    url = await test_services.create_postgres_database()
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        db = create_database(url, pool_size=10)
        db.secret_box = SecretBox(Fernet.generate_key())
        await transaction(db, ensure_default_categories)
        w = await _seed(db, n, traced)
        await _channel(db, w, "live")
        await _backfill(db)  # the live channel's own one-product snapshot
        big = await _channel(db, w, "big")
        stop = asyncio.Event()
        waits: list[float] = []
        live = asyncio.create_task(_live(db, w, stop, waits))
        rss0 = _max_rss_mb()
        seconds, longest = await _backfill(db)
        rss = _max_rss_mb() - rss0
        stop.set()
        await live
        queued = await transaction(db, lambda uow: uow.deliveries.counts(big.id), readonly=True)
        other = await _channel(db, w, "traced")
        tracemalloc.start()
        traced_seconds, _ = await _backfill(db)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced_queued = await transaction(db, lambda uow: uow.deliveries.counts(other.id), readonly=True)
        code = "paged backfill" if PAGED else "backfill inside the fan-out"
        print(f"\n{code}, {n:,} products (PostgreSQL):")
        print(f"  snapshot deliveries queued        {sum(queued.values()):,}")
        print(f"  backfill time                     {seconds:.1f} s")
        print(f"  longest transaction               {longest * 1000:.0f} ms")
        if waits:
            print(
                f"  another channel's live fan-out    {len(waits)} during the backfill: "
                f"median {statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms"
            )
        print(f"  peak RSS growth                   {rss:.0f} MB")
        print(
            f"  tracemalloc peak, {traced:,} products: {peak / 1e6:.1f} MB "
            f"({sum(traced_queued.values()):,} deliveries, {traced_seconds:.1f} s traced)"
        )
        await db.dispose()
    finally:
        await test_services.drop_postgres_database(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--traced-products", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(main(args.products, args.traced_products), args.timeout))
