"""The Shopify connector and catalog reader against a local server speaking the GraphQL
Admin API shapes (tests/shopify_graphql.py): compare-and-set stock pushes, idempotent
replays, stale quantities under two conflict policies, throttling, paged and bulk reads."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.channels import ChannelKind, ConflictPolicy
from productsync.domain.conflicts import InboundType
from productsync.domain.projection import ChannelView
from productsync.services import catalog, channel_quantities, inbound
from productsync.services.dispatch import Claimed
from productsync.store.uow import transaction
from productsync.sync.connectors import Connectors
from productsync.sync.guard import TargetGuard
from productsync.sync.shopify_catalog import read_shopify_catalog
from productsync.sync.shopify_graphql import PlatformError, Shop, Throttle
from productsync.sync.shopify_push import ShopifyState, push_shopify
from tests.integration.test_connectors import _adjust, _drain, _price_list, _storefront
from tests.integration.test_dispatch import _flush_backlog, _make_due
from tests.shopify_graphql import FakeShopifyGraphQL

TOKEN = "shpat_test"
VARIANT, PRODUCT, ITEM, LOCATION = 808950810, 632910392, 39072856, 655441491
V_GID = f"gid://shopify/ProductVariant/{VARIANT}"


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=2), database)


async def _shop_channel(
    hub, world, shop, *, policy=ConflictPolicy.MASTER_WINS, external_id=str(VARIANT), **over
):  # type: ignore[no-untyped-def]
    return await _storefront(
        hub,
        world,
        ChannelKind.SHOPIFY,
        shop.url,
        {"access_token": TOKEN},
        external_id,
        config={"location_id": over.pop("location_id", LOCATION)},
        conflict_policy=policy,
        **over,
    )


async def _deliveries(hub, channel):  # type: ignore[no-untyped-def]
    return await transaction(hub.db, lambda uow: uow.deliveries.find(channel.id, limit=100), readonly=True)


async def _on_hand(hub, world) -> Decimal:  # type: ignore[no-untyped-def]
    level = await transaction(
        hub.db, lambda uow: uow.stock.get_level(world.product.id, world.loc_a.id), readonly=True
    )
    return level.on_hand if level else Decimal(0)


async def test_stock_price_and_texts_reach_the_shop_in_the_documented_shapes(hub, world) -> None:
    await _flush_backlog(hub)
    await _adjust(hub, world, 10)
    pl = await _price_list(hub, world, "19.90")
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=4)
        channel = await _shop_channel(hub, world, shop, price_list_id=pl.id, external_id=V_GID)
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        [stock] = shop.ops("inventorySetQuantities")
        delivery_events = {str(r.event_id) for r in await _deliveries(hub, channel)}
        assert stock["key"] in delivery_events
        assert stock["input"] == {
            "name": "available",
            "reason": "correction",
            "referenceDocumentUri": f"productsync://events/{stock['key']}",
            "quantities": [
                {
                    "inventoryItemId": f"gid://shopify/InventoryItem/{ITEM}",
                    "locationId": f"gid://shopify/Location/{LOCATION}",
                    "quantity": 10,
                    "changeFromQuantity": 4,  # read from the shop: the hub knew nothing yet
                }
            ],
        }
        assert shop.available(VARIANT) == 10
        [price] = shop.ops("productVariantsBulkUpdate")
        assert price == {
            "productId": f"gid://shopify/Product/{PRODUCT}",
            "variants": [{"id": V_GID, "price": "19.90", "compareAtPrice": None}],
        }
        [texts] = shop.ops("productUpdate")
        assert texts["product"]["title"] == world.product.name and texts["product"]["status"] == "ACTIVE"
        known = await transaction(
            hub.db, lambda uow: channel_quantities.known_quantity(uow, channel.id, V_GID), readonly=True
        )
        assert known == 10
        assert all(r.status == "delivered" for r in await _deliveries(hub, channel))


async def test_a_push_whose_answer_was_lost_is_replayed_by_its_key_and_applied_once(hub, world) -> None:
    await _flush_backlog(hub)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        channel = await _shop_channel(hub, world, shop)
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)  # the product's snapshot: stock 0 = what the shop holds
            shop.drop_next_answer = True
            await _adjust(hub, world, 6)
            await _drain(hub, connectors, rounds=1)
            assert shop.available(VARIANT) == 6  # applied; the hub never heard back
            failed = [r for r in await _deliveries(hub, channel) if r.status == "pending"]
            assert failed and failed[0].attempts == 1
            await _make_due(hub)
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        requests = [r for r in shop.requests if r[2] and "inventorySetQuantities" in r[2]["query"]]
        assert len(requests) == 2 and requests[0][2]["variables"] == requests[1][2]["variables"]
        assert len(shop.adjustments) == 1  # the replay answered from the idempotency record
        assert all(r.status == "delivered" for r in await _deliveries(hub, channel))
        known = await transaction(
            hub.db,
            lambda uow: channel_quantities.known_quantity(uow, channel.id, str(VARIANT)),
            readonly=True,
        )
        assert known == 6


async def test_a_stale_quantity_under_master_wins_is_overwritten_with_the_hubs(hub, world) -> None:
    await _flush_backlog(hub)
    await _adjust(hub, world, 10)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=10)
        channel = await _shop_channel(hub, world, shop)
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)
            shop.sell(VARIANT, 2)  # the shop sells 2; the hub is not told
            await _adjust(hub, world, -1)
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        sets = shop.ops("inventorySetQuantities")
        # The first compare fails (the shop holds 8, not 10); the second compares against the re-read 8.
        assert [s["input"]["quantities"][0]["changeFromQuantity"] for s in sets] == [10, 8]
        assert sets[1]["key"] == f"{sets[0]['key']}:cas8" and len(shop.adjustments) == 1
        assert shop.available(VARIANT) == 9 and await _on_hand(hub, world) == 9
        audit = await transaction(
            hub.db,
            lambda uow: uow.audit.find(
                owners=None, entity_type="channel", entity_id=str(channel.id), action="channel.stale_quantity"
            ),
            readonly=True,
        )
        stale = [a for a in audit if a.action == "channel.stale_quantity"]
        assert stale and stale[0].after["outcome"] == "overwritten" and stale[0].after["found"] == 8


async def test_a_stale_quantity_under_merge_records_the_units_the_hub_never_heard_of(hub, world) -> None:
    await _flush_backlog(hub)
    await _adjust(hub, world, 10)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=10)
        channel = await _shop_channel(hub, world, shop, policy=ConflictPolicy.MERGE)
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)
            shop.sell(VARIANT, 3)  # 3 sold at the shop: 1 reported (as an order webhook would), 2 not
            change = inbound.InboundChange(
                event_id=f"order-{uuid.uuid4()}",
                type=InboundType.SALE,
                changed_at=datetime.now(UTC),
                external_id=str(VARIANT),
                quantity=Decimal(1),
            )
            await transaction(hub.db, lambda uow: inbound.receive(uow, world.actor_a, channel.id, change))
            await _adjust(hub, world, -1)  # the hub's own change: 10 − 1 reported − 1 = 8, pushed against 10
            await _drain(hub, connectors)
            await _drain(hub, connectors)  # again: nothing more to settle
        finally:
            await connectors.aclose()
        assert await _on_hand(hub, world) == 6  # the 2 unreported units became a channel sale
        assert shop.available(VARIANT) == 6
        movements = await transaction(
            hub.db, lambda uow: uow.stock.movements(world.product.id, limit=500), readonly=True
        )
        stale_sales = [m for m in movements if m.kind == "sale" and "without a notice" in (m.reason or "")]
        assert len(stale_sales) == 1 and stale_sales[0].quantity == Decimal(-2)


async def test_a_throttled_shop_is_waited_for_and_a_long_wait_becomes_a_retry_after(hub, world) -> None:
    await _flush_backlog(hub)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        channel = await _shop_channel(hub, world, shop)
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _adjust(hub, world, 3)
            # short: waited for in place (the bucket stays empty until the connector's first call)
            shop.bucket(maximum=20, restore_rate=10, available=0, refill_from_next_call=True)
            await _drain(hub, connectors)
            assert shop.throttled >= 1 and shop.available(VARIANT) == 3
            assert all(r.status == "delivered" and r.attempts == 1 for r in await _deliveries(hub, channel))
            # 20 s to refill a mutation: retry later
            shop.bucket(maximum=50, restore_rate=0.5, available=0, refill_from_next_call=True)
            before = datetime.now(UTC)
            await _adjust(hub, world, 2)
            await _drain(hub, connectors, rounds=1)
            [waiting] = [r for r in await _deliveries(hub, channel) if r.status == "pending"]
            assert "THROTTLED" in (waiting.last_error or "") or "budget" in (waiting.last_error or "")
            assert waiting.next_attempt_at - before >= timedelta(seconds=8)
            shop.bucket(maximum=1000, restore_rate=100)
            await _make_due(hub)  # time passes for the delivery; and for the connector's bucket model:
            connectors.storefronts._shopify.throttle.buckets.clear()
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        assert shop.available(VARIANT) == 5


async def test_graphql_and_user_errors_are_failed_tries_with_the_platforms_message(hub, world) -> None:
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        channel = await _shop_channel(hub, world, shop, location_id=1)  # not the shop's location
        view = ChannelView(
            sku="X", external_ids=(str(VARIANT),), available=Decimal(2), credentials={"access_token": TOKEN}
        )
        event = {"type": "productsync.stock.changed", "id": "e"}
        claimed = Claimed(1, channel, [], uuid.uuid4(), event, datetime.now(UTC), 0, view)
        async with httpx.AsyncClient() as client:
            attempt = await push_shopify(ShopifyState(None), client, claimed, shop.url, timeout=2)
            assert not attempt.ok and "INVALID_LOCATION" in attempt.error
            bad = replace(claimed, view=replace(view, credentials={"access_token": "no"}))
            attempt = await push_shopify(ShopifyState(None), client, bad, shop.url, timeout=2)
            assert attempt.status_code == 401 and "Invalid API key" in attempt.error
            s = Shop(client, shop.url, TOKEN, "2026-01", Throttle(), 2)
            with pytest.raises(PlatformError, match="doesn't exist"):
                await s.run("query Q { shopNothing { id } }", {})


def _catalog_shop(shop: FakeShopifyGraphQL) -> None:
    shop.add_variant(
        11, product=1, item=101, available=5, sku="NP-RED", barcode="4006381333931", price="9.50", title="Red"
    )
    shop.add_variant(12, product=1, item=102, available=0, sku="NP-BLUE", price="9.50", title="Red")
    shop.add_variant(
        21, product=2, item=201, available=None, sku="SE-BALL", price="20.00", title="Ball"
    )  # not stocked here
    shop.add_variant(22, product=2, item=202, available=7, sku=None, price="18.00", title="Ball")
    shop.add_variant(31, product=3, item=301, available=1, sku="ALC-1", price="30.00", title="Gin")
    shop.products["gid://shopify/Product/2"]["descriptionHtml"] = "<p>round</p>"
    shop.variants["gid://shopify/ProductVariant/22"]["compareAtPrice"] = "20.00"


async def test_the_catalog_is_read_in_pages_or_by_bulk_operation_with_the_same_items(hub, world) -> None:
    guard = TargetGuard(hub.settings.target_policy())
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        _catalog_shop(shop)
        paged = await _shop_channel(hub, world, shop)
        bulk = replace(paged, config={"location_id": LOCATION, "bulk_threshold": 3})
        paged = replace(paged, config={"location_id": LOCATION, "page_size": 2})
        by_pages = [
            i async for i in read_shopify_catalog(paged, {"access_token": TOKEN}, guard=guard, timeout=2)
        ]
        assert len(shop.ops("productVariants")) == 3 and not shop.bulk
        by_bulk = [
            i async for i in read_shopify_catalog(bulk, {"access_token": TOKEN}, guard=guard, timeout=2)
        ]
        assert len(shop.bulk) == 1 and len(shop.ops("node")) >= 2  # polled until COMPLETED
    assert sorted(by_pages, key=lambda i: i.external_id) == sorted(by_bulk, key=lambda i: i.external_id)
    items = {i.external_id: i for i in by_pages}
    assert sorted(items) == ["11", "12", "21", "22", "31"]
    red = items["11"]
    assert (red.sku, red.barcode, red.title, red.quantity, red.price, red.compare_at_price) == (
        "NP-RED",
        "4006381333931",
        "Red",
        Decimal(5),
        Decimal("9.50"),
        None,
    )
    assert (
        red.product_ref == "gid://shopify/Product/1" and red.extra["gid"] == "gid://shopify/ProductVariant/11"
    )
    assert items["21"].quantity is None and items["12"].quantity == 0
    assert (items["22"].sku, items["22"].compare_at_price, items["22"].description) == (
        None,
        Decimal("20.00"),
        "<p>round</p>",
    )


async def test_a_catalog_with_gid_mappings_is_read_with_gids_and_bad_tokens_fail_clearly(hub, world) -> None:
    from productsync.sync.woocommerce_catalog import CatalogReadError

    guard = TargetGuard(hub.settings.target_policy())
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        _catalog_shop(shop)
        channel = await _shop_channel(hub, world, shop)
        gids = replace(channel, config={"location_id": str(LOCATION), "external_ids": "gid"})
        items = [i async for i in read_shopify_catalog(gids, {"access_token": TOKEN}, guard=guard, timeout=2)]
        assert {i.external_id for i in items} == {
            f"gid://shopify/ProductVariant/{n}" for n in (11, 12, 21, 22, 31)
        }
        with pytest.raises(CatalogReadError, match="Invalid API key") as failed:
            [i async for i in read_shopify_catalog(gids, {"access_token": "wrong"}, guard=guard, timeout=2)]
        assert failed.value.status_code == 401


async def test_an_archived_product_is_archived_at_the_shop(hub, world) -> None:
    await _flush_backlog(hub)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        await _shop_channel(hub, world, shop)
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)
            await transaction(
                hub.db,
                lambda uow: catalog.archive_product(
                    uow, world.actor_a, world.product.id, expected_version=None
                ),
            )
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        assert shop.products[f"gid://shopify/Product/{PRODUCT}"]["status"] == "ARCHIVED"


async def test_two_dispatchers_pushing_to_one_shop_under_merge_invent_no_sale(hub, world) -> None:
    """A dispatcher whose copy of the known quantity is older than another's push gets a
    STALE answer; the stored quantity shows it was a push, not a sale at the shop."""
    await _flush_backlog(hub)
    await _adjust(hub, world, 10)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        await _shop_channel(hub, world, shop, policy=ConflictPolicy.MERGE)
        first, second = Connectors(hub.settings, db=hub.db), Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, first)  # first knows 10
            await _adjust(hub, world, -1)
            await _drain(hub, second)  # second pushes 9 against the stored 10
            await _adjust(hub, world, -1)
            await _drain(hub, first)  # first still thinks 10: STALE, found 9 = stored 9
        finally:
            await first.aclose()
            await second.aclose()
        assert shop.available(VARIANT) == 8 and await _on_hand(hub, world) == 8
        sets = shop.ops("inventorySetQuantities")
        assert [s["input"]["quantities"][0]["changeFromQuantity"] for s in sets] == [0, 10, 10, 9]


@pytest.mark.parametrize("back", [1, -6])
async def test_a_push_applied_by_a_process_that_died_before_storing_it_is_no_sale_under_merge(
    hub, world, back
) -> None:
    """The shop applied a push whose answer never reached the hub, and the process that
    sent it is gone (nothing of it in memory). The next push (a new hub number, or the old
    one again) must neither take that push's effect for units returned at the shop nor
    skip the shop as already holding the hub's number: the noted push is replayed under
    its key, the shop answers from its idempotency record, and it becomes the known one."""
    await _flush_backlog(hub)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        channel = await _shop_channel(hub, world, shop, policy=ConflictPolicy.MERGE)
        dead = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, dead)  # snapshot: 0 = what the shop holds
            shop.drop_next_answer = True
            await _adjust(hub, world, 6)
            await _drain(hub, dead, rounds=1)
        finally:
            await dead.aclose()
        assert shop.available(VARIANT) == 6  # applied; the hub never heard back
        await _adjust(hub, world, back)  # 7, or back to 0
        await _make_due(hub)
        fresh = Connectors(hub.settings, db=hub.db)  # another process: no memory of the push
        try:
            await _drain(hub, fresh)
        finally:
            await fresh.aclose()
        expected = 6 + back
        assert await _on_hand(hub, world) == expected
        assert shop.available(VARIANT) == expected
        movements = await transaction(
            hub.db, lambda uow: uow.stock.movements(world.product.id, limit=500), readonly=True
        )
        assert not [m for m in movements if "without a notice" in (m.reason or "")]
        assert len([a for a in shop.adjustments]) == 2  # the lost push once, the new number once
        known = await transaction(
            hub.db,
            lambda uow: channel_quantities.known_quantity(uow, channel.id, str(VARIANT)),
            readonly=True,
        )
        assert known == expected


async def test_a_key_whose_earlier_attempt_failed_is_replaced_and_the_push_lands(hub, world) -> None:
    """``IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`` (the event's key was used by a request that
    changed nothing, e.g. one whose stale answer was followed by a crash) is not a failure
    to retry with the same key for days: the shop is re-read and a new key is used."""
    await _flush_backlog(hub)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        channel = await _shop_channel(hub, world, shop)
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)
            shop.next_key_error = "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"
            await _adjust(hub, world, 4)
            await _drain(hub, connectors)  # no time passes: a retry later would not be sent
        finally:
            await connectors.aclose()
        assert shop.available(VARIANT) == 4
        assert all(r.status == "delivered" for r in await _deliveries(hub, channel))
        [applied] = shop.ops("inventorySetQuantities")  # the refused try changed nothing
        assert applied["key"].endswith(":cas0") and applied["input"]["quantities"][0]["quantity"] == 4


async def test_an_unsettled_push_still_in_flight_at_the_shop_is_asked_about_again_later(hub, world) -> None:
    """The replay of a noted push answered IDEMPOTENCY_CONCURRENT_REQUEST (its sender may
    still be running): no verdict, so nothing is settled or counted; the delivery is tried
    again and the replay's answer then decides."""
    await _flush_backlog(hub)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        channel = await _shop_channel(hub, world, shop, policy=ConflictPolicy.MERGE)
        dead = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, dead)
            shop.drop_next_answer = True
            await _adjust(hub, world, 6)
            await _drain(hub, dead, rounds=1)
        finally:
            await dead.aclose()
        await _adjust(hub, world, 1)
        await _make_due(hub)
        fresh = Connectors(hub.settings, db=hub.db)
        try:
            shop.next_key_error = "IDEMPOTENCY_CONCURRENT_REQUEST"
            await _drain(hub, fresh)
            waiting = [r for r in await _deliveries(hub, channel) if r.status == "pending"]
            assert waiting and "IDEMPOTENCY_CONCURRENT_REQUEST" in (waiting[0].last_error or "")
            assert shop.available(VARIANT) == 6 and await _on_hand(hub, world) == 7  # nothing decided
            await _make_due(hub)
            await _drain(hub, fresh)
        finally:
            await fresh.aclose()
        assert shop.available(VARIANT) == 7 and await _on_hand(hub, world) == 7


async def test_a_dispatcher_with_an_old_copy_counts_only_the_units_sold_since_the_stored_quantity(
    hub, world
) -> None:
    """Under merge the unreported units are measured from the quantity the hub *stored*
    (another dispatcher's later push), not from an older copy a dispatcher compared with."""
    await _flush_backlog(hub)
    await _adjust(hub, world, 10)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=0)
        await _shop_channel(hub, world, shop, policy=ConflictPolicy.MERGE)
        first, second = Connectors(hub.settings, db=hub.db), Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, first)  # first knows 10
            await _adjust(hub, world, -1)
            await _drain(hub, second)  # second pushes 9: stored 9
            shop.sell(VARIANT, 1)  # 8 at the shop; the hub is not told
            await _adjust(hub, world, -1)  # hub 8, pushed by first against its old 10
            await _drain(hub, first)
        finally:
            await first.aclose()
            await second.aclose()
        assert await _on_hand(hub, world) == 7  # one unit sold at the shop, not two
        assert shop.available(VARIANT) == 7


async def test_a_first_stock_push_after_a_cached_lookup_counts_no_heard_sale_twice(hub, world) -> None:
    """With no known quantity, the compare value is what a variant lookup read, which may
    have been cached by an earlier push (price, texts, or a known row since lost) before
    sales the hub has heard of: those reports are counted from when it was read, so merge
    does not count them a second time."""
    await _flush_backlog(hub)
    await _adjust(hub, world, 10)
    with FakeShopifyGraphQL(token=TOKEN) as shop:
        shop.add_variant(VARIANT, product=PRODUCT, item=ITEM, available=10)
        channel = await _shop_channel(hub, world, shop, policy=ConflictPolicy.MERGE)
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            await _drain(hub, connectors)  # the variant's lookup (available 10) is cached
            await transaction(hub.db, lambda uow: uow.channel_quantities.forget(channel.id, str(VARIANT)))
            connectors.storefronts._shopify._known.clear()  # the hub knows no quantity any more
            shop.sell(VARIANT, 2)
            change = inbound.InboundChange(
                event_id=f"order-{uuid.uuid4()}",
                type=InboundType.SALE,
                changed_at=datetime.now(UTC),
                external_id=str(VARIANT),
                quantity=Decimal(2),
            )
            await transaction(hub.db, lambda uow: inbound.receive(uow, world.actor_a, channel.id, change))
            await _adjust(hub, world, -1)  # hub 7
            await _drain(hub, connectors)
        finally:
            await connectors.aclose()
        assert await _on_hand(hub, world) == 7 and shop.available(VARIANT) == 7
