"""Channel onboarding bench: matching alone, and a whole WooCommerce store end to end.

    python bench/onboarding.py --items 100000 --store 5000 --db sqlite
    python bench/onboarding.py --store 20000 --db postgres

1. ``match_catalog`` (pure) on ``--items`` channel items against as many hub products:
   60 % match by SKU, 20 % by a UPC-A against the hub's EAN-13, 20 % match nothing.
2. End to end on a fresh database (temporary SQLite file or new PostgreSQL database):
   ``--store`` hub products of one partner, a local WooCommerce-shaped store
   (tests/platforms.py, 127.0.0.1) with as many items in the same mix, then
   ``sync.onboarding.onboard`` (read every page over HTTP, match, store the proposal) and
   ``services.onboarding.apply`` (write the mappings, queue each product's state).

Prints seconds, items/s and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from stdnum import ean  # noqa: E402

from productsync.bootstrap import Hub  # noqa: E402
from productsync.config import Settings  # noqa: E402
from productsync.domain import catalog as rules  # noqa: E402
from productsync.domain.access import Scope, system_actor  # noqa: E402
from productsync.domain.catalog import NewProduct  # noqa: E402
from productsync.domain.channel_catalog import ChannelItem  # noqa: E402
from productsync.domain.channels import ChannelKind, NewChannel  # noqa: E402
from productsync.domain.matching import HubProduct, match_catalog  # noqa: E402
from productsync.services import channels, onboarding, partners  # noqa: E402
from productsync.services.catalog import ensure_default_categories  # noqa: E402
from productsync.store import migrate  # noqa: E402
from productsync.store.database import create_database  # noqa: E402
from productsync.store.secrets import SecretBox  # noqa: E402
from productsync.store.uow import transaction  # noqa: E402
from productsync.sync.onboarding import onboard  # noqa: E402
from tests import services as test_services  # noqa: E402
from tests.platforms import FakeWooCommerce  # noqa: E402


def upc(i: int) -> str:
    body = f"7{i:010d}"
    return body + ean.calc_check_digit(body)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def kind_of(i: int) -> str:
    return ("sku", "sku", "sku", "gtin", "none")[i % 5]


def bench_matching(n: int) -> None:
    hub = [HubProduct(uuid.UUID(int=i + 1), f"SE-B-{i:07d}", gtins=("0" + upc(i),)) for i in range(n)]
    items = []
    for i in range(n):
        k = kind_of(i)
        sku = f"se-b-{i:07d}" if k == "sku" else (None if k == "gtin" else f"X-{i}")
        items.append(ChannelItem(str(i), sku=sku, barcode=upc(i) if k == "gtin" else None))
    t = time.perf_counter()
    report = match_catalog(items, hub, {})
    s = time.perf_counter() - t
    print(
        f"matching  {n:>8,} items x {n:,} products: {s:6.2f} s  {n / s:>10,.0f} items/s  "
        f"{dict(report.counts)}"
    )


async def bench_store(n: int, backend: str) -> None:
    if backend == "postgres":
        url = await test_services.create_postgres_database()
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/onboard.db"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        db = create_database(url, pool_size=5)
        db.secret_box = SecretBox(Fernet.generate_key())
        hub = Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=30), db)
        admin = system_actor("bench")
        await transaction(db, ensure_default_categories)

        async def seed(uow):  # type: ignore[no-untyped-def]
            partner = await partners.create_partner(uow, admin, code="bench", name="Bench")
            sports = await uow.categories.get_by_code("sports")
            for i in range(n):
                new = NewProduct(
                    sku=f"SE-B-{i:07d}",
                    name=f"Bench {i}",
                    category_id=sports.id,
                    owner_partner_id=partner.id,
                    barcodes=["0" + upc(i)],
                    attributes={"size": "M", "material": "steel"},
                )
                await uow.products.add(rules.create_product(new, sports, now=uow.now))
            return partner

        partner = await transaction(db, seed)
        actor = replace(admin, partner_id=partner.id, scopes=frozenset({Scope.ADMIN, Scope.CHANNELS_ADMIN}))
        with FakeWooCommerce("ck_b", "cs_b") as woo:
            for i in range(n):
                k = kind_of(i)
                sku = f"se-b-{i:07d}" if k == "sku" else ("" if k == "gtin" else f"X-{i}")
                woo.add_product(str(i + 1), sku=sku, global_unique_id=upc(i) if k == "gtin" else "")
            channel, _ = await transaction(
                db,
                lambda uow: channels.create_channel(
                    uow,
                    actor,
                    NewChannel(
                        name="bench", kind=ChannelKind.WOOCOMMERCE, owner_partner_id=partner.id, url=woo.url
                    ),
                    credentials={"consumer_key": "ck_b", "consumer_secret": "cs_b"},
                    targets=hub.settings.target_policy(),
                ),
            )
            t = time.perf_counter()
            proposal = await onboard(hub, actor, channel.id)
            read = time.perf_counter() - t
        t = time.perf_counter()
        result = await transaction(db, lambda uow: onboarding.apply(uow, actor, channel.id, proposal.id))
        applied = time.perf_counter() - t
        print(
            f"{backend:<9} {n:>8,} store items: onboard (read+match+store) {read:6.2f} s "
            f"({n / read:,.0f} items/s), apply {applied:6.2f} s ({result.mapped:,} mappings, "
            f"{result.events:,} events); counts {proposal.counts}; peak RSS {rss_mb():,.0f} MB"
        )
        await db.dispose()
    finally:
        if backend == "postgres":
            await test_services.drop_postgres_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--items", type=int, default=100_000, help="items for the pure matching run (0: skip)"
    )
    parser.add_argument("--store", type=int, default=5_000, help="items in the local store (0: skip)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    os.environ.setdefault("PRODUCTSYNC_SECRET_KEY", Fernet.generate_key().decode())
    if args.items:
        bench_matching(args.items)
    if args.store:
        asyncio.run(bench_store(args.store, args.db))


if __name__ == "__main__":
    main()
