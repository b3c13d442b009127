"""Shopify stock pushes through the dispatcher: how many per second, and what one costs.

    python bench/shopify_push.py --products 200 --rounds 3 --db sqlite
    python bench/shopify_push.py --db postgres

A fresh database (a SQLite file, or a new PostgreSQL database on 127.0.0.1:5432), one
Shopify channel mapping ``--products`` products to variants of a local shop on 127.0.0.1
(the GraphQL Admin API server of tests/shopify_graphql.py; run against an older tree,
whose connector spoke REST, it uses that tree's REST stand-in: that is how the numbers
before and after the move to GraphQL were taken, with the same script). First the
channel's snapshot is pushed (a price list is not set: stock only); then ``--rounds``
times every product's stock changes by one (one transaction each) and the dispatcher
drains it with ``dispatch_once`` rounds of up to 200 deliveries. Prints pushes/s per
phase and the platform calls made.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(os.environ.get("PRODUCTSYNC_TREE", Path(__file__).resolve().parents[1]))))

os.environ.setdefault("PRODUCTSYNC_WEBHOOK_ALLOW_LOOPBACK", "1")


async def main(args: argparse.Namespace) -> None:
    from cryptography.fernet import Fernet

    from productsync.bootstrap import Hub
    from productsync.config import Settings
    from productsync.domain.access import system_actor
    from productsync.domain.catalog import NewProduct
    from productsync.domain.channels import ChannelKind, NewChannel
    from productsync.domain.inventory import LocationKind
    from productsync.services import catalog, channels, locations, partners, stock
    from productsync.services.catalog import ensure_default_categories
    from productsync.store import migrate
    from productsync.store.database import create_database
    from productsync.store.secrets import SecretBox
    from productsync.store.uow import transaction
    from productsync.sync.connectors import Connectors
    from productsync.sync.dispatcher import dispatch_once
    from tests import services as test_services

    graphql = True
    try:
        from tests.shopify_graphql import FakeShopifyGraphQL
    except ImportError:
        graphql = False
        from tests.platforms import FakeShopify  # type: ignore[attr-defined]

    if args.db == "postgres":
        url = await test_services.create_postgres_database()
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/hub.db"
    await asyncio.to_thread(migrate.upgrade, url)
    db = create_database(url, pool_size=30)
    db.secret_box = SecretBox(Fernet.generate_key())
    hub = Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=5), db)
    admin = system_actor("bench")
    await transaction(db, ensure_default_categories)
    tag = uuid.uuid4().hex[:6]

    async def seed(uow):  # type: ignore[no-untyped-def]
        partner = await partners.create_partner(uow, admin, code=f"b-{tag}", name="Bench")
        loc = await locations.create_location(
            uow, admin, code=f"L-{tag}", name="Store", kind=LocationKind.STORE, owner_partner_id=partner.id
        )
        sports = await uow.categories.get_by_code("sports")
        made = []
        for n in range(args.products):
            made.append(
                await catalog.create_product(
                    uow,
                    admin,
                    NewProduct(
                        sku=f"SE-{tag}-{n}",
                        name=f"Racket {n}",
                        category_id=sports.id,
                        owner_partner_id=partner.id,
                        attributes={"size": "L2", "material": "carbon"},
                    ),
                )
            )
        return loc, made

    loc, products = await transaction(db, seed)
    for p in products:
        await transaction(
            db,
            lambda uow, p=p: stock.adjust_stock(
                uow, admin, location_id=loc.id, product_id=p.id, delta=Decimal(50)
            ),
        )
    shop = FakeShopifyGraphQL(token="t") if graphql else FakeShopify(token="t")
    with shop:
        if graphql:  # the shop's query budget: --restore points/s (Shopify: 100 standard, 1000 Plus)
            shop.bucket(maximum=max(1000.0, args.restore * 20), restore_rate=args.restore)
        for n in range(args.products):
            if graphql:
                shop.add_variant(1000 + n, product=2000 + n, item=3000 + n, available=0)
            else:
                shop.add_variant(1000 + n, product_id=2000 + n, inventory_item_id=3000 + n)
        channel, _ = await transaction(
            db,
            lambda uow: channels.create_channel(
                uow,
                admin,
                NewChannel(
                    name="shop",
                    kind=ChannelKind.SHOPIFY,
                    owner_partner_id=None,
                    url=shop.url,
                    location_ids=(loc.id,),
                    config={"location_id": 655441491},
                ),
                credentials={"access_token": "t"},
                targets=hub.settings.target_policy(),
            ),
        )
        await transaction(
            db,
            lambda uow: channels.upsert_mappings(
                uow,
                admin,
                channel.id,
                [channels.MappingIn(str(1000 + n), product_id=p.id) for n, p in enumerate(products)],
            ),
        )
        kwargs = {"db": db} if "db" in inspect.signature(Connectors).parameters else {}
        connectors = Connectors(hub.settings, **kwargs)

        async def drain() -> tuple[int, float]:
            sent, started = 0, time.perf_counter()
            while True:
                n = await dispatch_once(hub, connectors=connectors, batch=200)
                if not n:
                    return sent, time.perf_counter() - started
                sent += n

        rows = []
        try:
            sent, took = await drain()
            rows.append(("snapshot (first push)", sent, took, len(shop.requests)))
            for r in range(args.rounds):
                before = len(shop.requests)
                for p in products:
                    await transaction(
                        db,
                        lambda uow, p=p, d=Decimal(-1 if r % 2 else 1): stock.adjust_stock(
                            uow, admin, location_id=loc.id, product_id=p.id, delta=d
                        ),
                    )
                sent, took = await drain()
                rows.append((f"round {r + 1}", sent, took, len(shop.requests) - before))
        finally:
            await connectors.aclose()
    budget = f", shop restores {args.restore:g} points/s" if graphql else ""
    print(f"{'GraphQL' if graphql else 'REST'} connector, {args.db}, {args.products} products{budget}")
    if graphql:
        print(f"THROTTLED answers: {shop.throttled}")
    print(f"{'phase':<24}{'deliveries':>12}{'seconds':>10}{'per s':>10}{'calls':>8}")
    for name, sent, took, calls in rows:
        print(f"{name:<24}{sent:>12}{took:>10.2f}{sent / took if took else 0:>10.0f}{calls:>8}")
    await db.dispose()
    if args.db == "postgres":
        await test_services.drop_postgres_database(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--restore",
        type=float,
        default=1e6,
        help="the local shop's restore rate, points/s (default: unlimited)",
    )
    asyncio.run(main(parser.parse_args()))
