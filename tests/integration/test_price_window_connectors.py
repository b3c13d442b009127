"""Storefronts get their platforms' own sale fields for a price window, and lose them
when it closes: local Shopify GraphQL Admin API and WooCommerce REST v3 servers on 127.0.0.1.

The storefront view is computed when a delivery is sent (real time), so the window
here really closes: it ends three seconds after it is written."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.channels import ChannelKind
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import price_windows, pricing
from productsync.store.uow import transaction
from productsync.sync.connectors import Connectors
from tests.integration.test_connectors import _drain, _storefront
from tests.integration.test_dispatch import _flush_backlog
from tests.platforms import FakeWooCommerce
from tests.shopify_graphql import FakeShopifyGraphQL

D = Decimal
WOO_FIELDS = ("regular_price", "sale_price", "date_on_sale_from_gmt", "date_on_sale_to_gmt")


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=2), database)


def _gmt(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


async def test_a_running_promotion_shows_as_a_sale_and_is_taken_back_when_it_ends(hub, world) -> None:
    await _flush_backlog(hub)
    pl = await transaction(
        hub.db,
        lambda uow: pricing.create_price_list(
            uow,
            world.actor_a,
            name="shop",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=None,
        ),
    )
    with FakeShopifyGraphQL(token="shpat_test") as shop, FakeWooCommerce(key="ck", secret="cs") as woo:
        shop.add_variant(808950810, product=632910392, item=39072856)
        woo.add_product("794")
        common = {"price_list_id": pl.id}
        await _storefront(
            hub,
            world,
            ChannelKind.SHOPIFY,
            shop.url,
            {"access_token": "shpat_test"},
            "808950810",
            config={"location_id": 655441491},
            **common,
        )
        await _storefront(
            hub,
            world,
            ChannelKind.WOOCOMMERCE,
            woo.url,
            {"consumer_key": "ck", "consumer_secret": "cs"},
            "794",
            **common,
        )
        start = datetime.now(UTC) - timedelta(minutes=5)
        end = datetime.now(UTC) + timedelta(seconds=3)
        await transaction(
            hub.db,
            lambda uow: pricing.put_prices(
                uow,
                world.actor_a,
                pl.id,
                world.product.id,
                [PriceEntry(D(1), D("10")), PriceEntry(D(1), D("7.5"), start, end)],
            ),
        )
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)
            variant = shop.variants["gid://shopify/ProductVariant/808950810"]
            assert (variant["price"], variant["compareAtPrice"]) == ("7.50", "10.00")
            woo_now = tuple(woo.products["794"][k] for k in WOO_FIELDS)
            assert woo_now == ("10.00", "7.50", _gmt(start), _gmt(end))

            await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.05)
            now = datetime.now(UTC)
            await transaction(hub.db, lambda uow: price_windows.announce_due_boundaries(uow, now))
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        variant = shop.variants["gid://shopify/ProductVariant/808950810"]
        assert (variant["price"], variant["compareAtPrice"]) == ("10.00", None)
        assert tuple(woo.products["794"][k] for k in WOO_FIELDS) == ("10.00", "", None, None)
