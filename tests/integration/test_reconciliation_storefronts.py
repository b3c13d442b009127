"""Reconciliation of storefronts seeded with deliberate drift, on SQLite and PostgreSQL: a
Shopify shop over the GraphQL Admin API (tests/shopify_graphql.py, paged and bulk reads)
and a WooCommerce store over REST v3 (tests/platforms.py). Each holds one item per case
(in sync, wrong stock, wrong price, wrong title, a mapped item gone from the store, an
item the hub does not know); the report names exactly those, and ``push`` repairs what a
push can (a listing gone from a store is not re-created by sending state: it stays
``missing`` until it is listed and mapped again)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from productsync.domain.channels import ChannelKind, NewChannel
from productsync.services import channels
from productsync.services.channels import MappingIn
from productsync.store.uow import transaction
from productsync.sync.reconcile import reconcile
from tests.conftest import ref
from tests.integration.test_dispatch import _flush_backlog
from tests.integration.test_reconciliation import admin_of, deliver_all, findings_of, hub, seed_products
from tests.platforms import FakeWooCommerce
from tests.shopify_graphql import FakeShopifyGraphQL

__all__ = ["hub"]  # the fixture, shared with test_reconciliation.py

TOKEN, LOCATION = "shpat_reconcile", 655441491
KEY, SECRET = "ck_reconcile", "cs_reconcile"
CASES = ["ok", "stock", "price", "text", "gone"]


async def _channel(hub, world, kind, url, pl, credentials, mapping, **config):  # type: ignore[no-untyped-def]
    async def make(uow):  # type: ignore[no-untyped-def]
        channel, _ = await channels.create_channel(
            uow,
            admin_of(world),
            NewChannel(
                name=ref("rc-"),
                kind=kind,
                owner_partner_id=world.a.id,
                url=url,
                partner_ids=(world.a.id,),
                location_ids=(world.loc_a.id,),
                price_list_id=pl.id,
                config={"reconcile_repair": "push", **config},
            ),
            credentials=credentials,
            targets=hub.settings.target_policy(),
        )
        await channels.upsert_mappings(
            uow,
            admin_of(world),
            channel.id,
            [MappingIn(external_id=e, product_id=p) for e, p in mapping.items()],
        )
        return channel

    return await transaction(hub.db, make)


async def _check(hub, world, channel, p, extra_sku: str | None, drift) -> None:  # type: ignore[no-untyped-def]
    await deliver_all(hub)  # the backfill: the store now holds the hub's state
    first = await reconcile(hub, admin_of(world), channel.id)
    assert first.status == "succeeded", first.error
    assert (first.expected, first.counts["missing"], first.matched) == (6, 1, 5)  # "gone" was never there
    drift()
    summary = await reconcile(hub, admin_of(world), channel.id)
    assert summary.status == "succeeded", summary.error
    assert (summary.expected, summary.matched) == (6, 2)
    assert summary.consistency_rate == pytest.approx(2 / 6)
    assert await findings_of(hub, world, channel.id, summary.run_id) == {
        ("missing", p["gone"].sku),
        ("extra", extra_sku),
        ("wrong_stock", p["stock"].sku),
        ("wrong_price", p["price"].sku),
        ("wrong_text", p["text"].sku),
    }
    await deliver_all(hub)
    again = await reconcile(hub, admin_of(world), channel.id)
    assert again.counts == {"missing": 1, "extra": 1, "wrong_stock": 0, "wrong_price": 0, "wrong_text": 0}
    assert again.consistency_rate == pytest.approx(5 / 6)


@pytest.mark.parametrize("bulk", [False, True], ids=["pages", "bulk-operation"])
async def test_a_shopify_shop_is_reported_exactly_and_push_repairs_it(hub, world, bulk) -> None:
    await _flush_backlog(hub)
    pl, p = await seed_products(hub, world, CASES)
    extra_sku = ref("SE-SHOPONLY-").upper()
    with FakeShopifyGraphQL(TOKEN, location=LOCATION) as shop:
        mapping = {}
        for n, name in enumerate(["ok", "stock", "price", "text"], start=1):
            shop.add_variant(1000 + n, product=500 + n, item=9000 + n, sku=p[name].sku, price="1.00")
            mapping[str(1000 + n)] = p[name].id
        shop.add_variant(1009, product=509, item=9009, sku=None, title=world.product.name)
        mapping["1009"] = world.product.id
        mapping["1999"] = p["gone"].id  # mapped, but no longer in the shop
        shop.add_variant(1010, product=510, item=9010, sku=extra_sku, available=4)
        config = {"location_id": LOCATION, **({"bulk_threshold": 1} if bulk else {"page_size": 2})}
        channel = await _channel(
            hub, world, ChannelKind.SHOPIFY, shop.url, pl, {"access_token": TOKEN}, mapping, **config
        )

        def drift() -> None:
            with shop.lock:
                shop.levels[("gid://shopify/InventoryItem/9002", shop.location)] = 3
                shop.variants["gid://shopify/ProductVariant/1003"]["price"] = "12.50"
                shop.products["gid://shopify/Product/504"]["title"] = "Old racket"

        await _check(hub, world, channel, p, extra_sku, drift)
        assert bool(shop.ops("bulkOperationRunQuery")) is bulk
        assert (
            shop.available(1002) == 5 and shop.products["gid://shopify/Product/504"]["title"] == "Racket text"
        )


class Woo(FakeWooCommerce):
    """WooCommerce derives ``price`` from ``regular_price`` and ``sale_price`` on save."""

    def route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[Any, ...]:
        answer = super().route(method, path, headers, body)
        m = re.fullmatch(r"/wp-json/wc/v3/products/(\d+)(?:/variations/(\d+))?", path)
        if method == "PUT" and m and answer[0] == 200:
            record = self.products[m.group(1) + (f"/{m.group(2)}" if m.group(2) else "")]
            record["price"] = record.get("sale_price") or record.get("regular_price") or ""
        return answer


async def test_a_woocommerce_store_is_reported_exactly_and_push_repairs_it(hub, world) -> None:
    await _flush_backlog(hub)
    pl, p = await seed_products(hub, world, CASES)
    extra_sku = ref("SE-WOOONLY-").upper()
    with Woo(KEY, SECRET) as woo:
        mapping = {}
        for n, name in enumerate(["ok", "stock", "price", "text"], start=1):
            woo.add_product(str(100 + n), sku=p[name].sku, name="?", price="1.00", regular_price="1.00")
            mapping[str(100 + n)] = p[name].id
        woo.add_product("109", name=world.product.name)
        mapping["109"] = world.product.id
        mapping["199"] = p["gone"].id
        woo.add_product("110", sku=extra_sku, name="Woo only", manage_stock=True, stock_quantity=2)
        channel = await _channel(
            hub,
            world,
            ChannelKind.WOOCOMMERCE,
            woo.url,
            pl,
            {"consumer_key": KEY, "consumer_secret": SECRET},
            mapping,
        )

        def drift() -> None:
            with woo.lock:
                woo.products["102"]["stock_quantity"] = 3
                woo.products["103"].update(price="12.50", regular_price="12.50")
                woo.products["104"]["name"] = "Old racket"

        await _check(hub, world, channel, p, extra_sku, drift)
        assert woo.products["102"]["stock_quantity"] == 5 and woo.products["104"]["name"] == "Racket text"
