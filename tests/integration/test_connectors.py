"""Connectors against real counterparts: RabbitMQ on 127.0.0.1:5672 and local servers
speaking the Shopify GraphQL Admin API (tests/shopify_graphql.py) and WooCommerce REST v3
(tests/platforms.py) shapes."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from decimal import Decimal

import aio_pika
import httpx
import pytest

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import catalog, channels, pricing, stock
from productsync.store.uow import transaction
from productsync.sync.connectors import Connectors
from productsync.sync.dispatcher import dispatch_once
from tests.integration.test_dispatch import _flush_backlog
from tests.platforms import FakeWooCommerce
from tests.services import unavailable
from tests.shopify_graphql import FakeShopifyGraphQL

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=2, amqp_url=AMQP_URL), database)


def _admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def _drain(hub, connectors, rounds=30):  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient() as client:
        for _ in range(rounds):
            if not await dispatch_once(hub, client, connectors=connectors):
                return


async def _adjust(hub, world, delta):  # type: ignore[no-untyped-def]
    await transaction(
        hub.db,
        lambda uow: stock.adjust_stock(
            uow, world.actor_a, location_id=world.loc_a.id, product_id=world.product.id, delta=Decimal(delta)
        ),
    )


async def _price_list(hub, world, amount):  # type: ignore[no-untyped-def]
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
    await _set_price(hub, world, pl.id, amount)
    return pl


async def _set_price(hub, world, list_id, amount):  # type: ignore[no-untyped-def]
    await transaction(
        hub.db,
        lambda uow: pricing.put_prices(
            uow, world.actor_a, list_id, world.product.id, [PriceEntry(Decimal(1), Decimal(amount))]
        ),
    )


async def _storefront(hub, world, kind, url, credentials, external_id, **over):  # type: ignore[no-untyped-def]
    """A storefront channel seeing loc_a, with ``world.product`` mapped to ``external_id``."""
    values = dict(name=kind.value, kind=kind, owner_partner_id=None, url=url, location_ids=(world.loc_a.id,))
    values.update(over)
    channel, _ = await transaction(
        hub.db,
        lambda uow: channels.create_channel(
            uow,
            _admin(world),
            NewChannel(**values),
            credentials=credentials,
            targets=hub.settings.target_policy(),
        ),
    )
    await transaction(
        hub.db,
        lambda uow: channels.upsert_mappings(
            uow, _admin(world), channel.id, [channels.MappingIn(external_id, product_id=world.product.id)]
        ),
    )
    return channel


async def test_rabbitmq_channel_publishes_cloudevents_with_sku_routing_keys(hub, world) -> None:
    await _flush_backlog(hub)
    exchange_name = f"test-{uuid.uuid4().hex[:8]}"
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the broker is reported the same way
        unavailable("RabbitMQ at 127.0.0.1:5672", exc)
    async with connection:
        ch = await connection.channel()
        exchange = await ch.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await ch.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="stock.changed.#")
        await _adjust(hub, world, 6)  # before the channel: reaches it through the snapshot
        channel, _ = await transaction(
            hub.db,
            lambda uow: channels.create_channel(
                uow,
                _admin(world),
                NewChannel(
                    name="bus",
                    kind=ChannelKind.RABBITMQ,
                    owner_partner_id=None,
                    config={"exchange": exchange_name},
                    location_ids=(world.loc_a.id,),
                ),
            ),
        )
        connectors = Connectors(hub.settings)
        try:
            await _drain(hub, connectors)
            await _adjust(hub, world, -2)
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        got = []
        while (message := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            got.append(message)
        await exchange.delete()
    assert [m.routing_key for m in got] == [f"stock.changed.{world.product.sku}"] * 2
    events = [json.loads(m.body) for m in got]
    assert [e["data"]["level"]["on_hand"] for e in events] == ["6", "4"]
    assert all(
        m.message_id == e["id"] and m.content_type == "application/cloudevents+json"
        for m, e in zip(got, events, strict=True)
    )
    assert events[-1]["data"]["channel"] == {"id": str(channel.id), "available_to_sell": "4"}
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in got)


async def test_rabbitmq_down_means_retry_not_loss(hub, world) -> None:
    await _flush_backlog(hub)
    broken = Hub(hub.settings.model_copy(update={"amqp_url": "amqp://guest:guest@127.0.0.1:1/"}), hub.db)
    channel, _ = await transaction(
        hub.db,
        lambda uow: channels.create_channel(
            uow,
            _admin(world),
            NewChannel(
                name="bus", kind=ChannelKind.RABBITMQ, owner_partner_id=None, location_ids=(world.loc_a.id,)
            ),
        ),
    )
    connectors = Connectors(broken.settings)
    try:
        await _drain(broken, connectors, rounds=2)
    finally:
        await connectors.aclose()
    rows = await transaction(
        hub.db, lambda uow: uow.deliveries.find(channel.id, status="pending", limit=100), readonly=True
    )
    assert rows and all(r.attempts == 1 and "broker" in (r.last_error or "") for r in rows)


async def test_shopify_connector_sets_inventory_price_and_content_over_the_graphql_admin_api(
    hub, world
) -> None:
    await _flush_backlog(hub)
    await _adjust(hub, world, 10)
    pl = await _price_list(hub, world, "19.90")
    with FakeShopifyGraphQL(token="shpat_test") as shop:
        shop.add_variant(808950810, product=632910392, item=39072856, available=0)
        await _storefront(
            hub,
            world,
            ChannelKind.SHOPIFY,
            shop.url,
            {"access_token": "shpat_test"},
            "808950810",
            config={"location_id": 655441491},
            price_list_id=pl.id,
            buffer_stock=Decimal(2),
            locale="de-DE",
        )
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)
            assert shop.available(808950810) == 8  # 10 on hand − buffer 2
            variant = shop.variants["gid://shopify/ProductVariant/808950810"]
            assert variant["price"] == "19.90"
            product = shop.products["gid://shopify/Product/632910392"]
            assert product["title"] == world.product.name and product["status"] == "ACTIVE"
            # Live changes; and a 429 with Retry-After is retried, not lost.
            shop.fail_next.append((429, {"Retry-After": "0"}))
            await _adjust(hub, world, -7)
            await _set_price(hub, world, pl.id, "17.50")
            await _drain(hub, connectors)
            from tests.integration.test_dispatch import _make_due

            await _make_due(hub)
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        assert shop.available(808950810) == 1  # never below zero: 3 − 2
        assert variant["price"] == "17.50"
        sets = shop.ops("inventorySetQuantities")
        assert [q["input"]["quantities"][0]["changeFromQuantity"] for q in sets] == [0, 8]
        # One lookup serves price, texts and stock (sent concurrently): the variant's ids and
        # the quantity the first stock push compares against.
        assert len(shop.ops("productVariant")) == 1


async def test_woocommerce_connector_updates_stock_and_price_in_rest_v3_shapes(hub, world) -> None:
    await _flush_backlog(hub)
    await _adjust(hub, world, 5)
    pl = await _price_list(hub, world, "9.95")
    with FakeWooCommerce(key="ck_test", secret="cs_test") as woo:
        woo.add_product("794")
        await _storefront(
            hub,
            world,
            ChannelKind.WOOCOMMERCE,
            woo.url,
            {"consumer_key": "ck_test", "consumer_secret": "cs_test"},
            "794",
            price_list_id=pl.id,
        )
        connectors = Connectors(hub.settings)
        try:
            await _drain(hub, connectors)
            assert woo.products["794"]["stock_quantity"] == 5 and woo.products["794"]["manage_stock"] is True
            assert woo.products["794"]["regular_price"] == "9.95"
            assert woo.products["794"]["name"] == world.product.name
            await transaction(
                hub.db,
                lambda uow: catalog.archive_product(
                    uow, world.actor_a, world.product.id, expected_version=None
                ),
            )
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        assert woo.products["794"]["status"] == "draft"


async def test_wrong_platform_credentials_are_a_failed_try_with_the_platform_answer(hub, world) -> None:
    await _flush_backlog(hub)
    with FakeWooCommerce(key="ck_test", secret="cs_test") as woo:
        woo.add_product("1")
        channel = await _storefront(
            hub,
            world,
            ChannelKind.WOOCOMMERCE,
            woo.url,
            {"consumer_key": "ck_test", "consumer_secret": "wrong"},
            "1",
        )
        connectors = Connectors(hub.settings)
        try:
            await _drain(hub, connectors, rounds=2)
        finally:
            await connectors.aclose()
    rows = await transaction(hub.db, lambda uow: uow.deliveries.find(channel.id, limit=100), readonly=True)
    failed = [r for r in rows if r.last_status_code == 401]
    assert failed and "woocommerce_rest_cannot_edit" in (failed[0].last_error or "")
    assert "cs_test" not in json.dumps([r.last_error for r in rows]) and "wrong" not in str(rows)
