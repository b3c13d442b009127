"""Channel onboarding of a Shopify shop (GraphQL Admin API, tests/shopify_graphql.py), on
SQLite and PostgreSQL: paged and bulk reads match the same way, applied mappings name the
variants the connector then writes to."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import httpx
import pytest

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.services import channels, onboarding, stock
from productsync.store.uow import transaction
from productsync.sync.connectors import Connectors
from productsync.sync.dispatcher import dispatch_once
from productsync.sync.onboarding import ChannelUnreadable, onboard
from tests.conftest import ref
from tests.integration.test_dispatch import _flush_backlog
from tests.integration.test_onboarding import _product, _upc
from tests.shopify_graphql import FakeShopifyGraphQL

TOKEN = "shpat_onboard"
LOCATION = 655441491


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=3), database)


def _admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def _shop_channel(hub, world, url, *, token=TOKEN, **config):  # type: ignore[no-untyped-def]
    channel, _ = await transaction(
        hub.db,
        lambda uow: channels.create_channel(
            uow,
            _admin(world),
            NewChannel(
                name=ref("shop-"),
                kind=ChannelKind.SHOPIFY,
                owner_partner_id=None,
                url=url,
                location_ids=(world.loc_a.id,),
                config={"location_id": LOCATION, **config},
            ),
            credentials={"access_token": token},
            targets=hub.settings.target_policy(),
        ),
    )
    return channel


@pytest.mark.parametrize("bulk", [False, True], ids=["pages", "bulk-operation"])
async def test_a_shopify_shop_is_matched_applied_and_then_written_to(hub, world, bulk) -> None:
    await _flush_backlog(hub)
    actor = _admin(world)
    by_sku = await _product(hub, world, ref("SE-SH-").upper())
    upc = _upc()
    by_gtin = await _product(hub, world, ref("SE-SG-").upper(), barcodes=["0" + upc])
    with FakeShopifyGraphQL(TOKEN, location=LOCATION) as shop:
        shop.add_variant(1001, product=500, item=9001, sku=by_sku.sku.lower(), title="by sku")
        shop.add_variant(1002, product=500, item=9002, barcode=upc, title="by upc", available=3)
        shop.add_variant(1003, product=501, item=9003, sku=ref("SE-ONLY-"), title="shop only")
        config = {"bulk_threshold": 1} if bulk else {"page_size": 2}
        channel = await _shop_channel(hub, world, shop.url, **config)
        proposal = await onboard(hub, actor, channel.id)
        page = await transaction(
            hub.db,
            lambda uow: onboarding.read_proposal(uow, actor, channel.id, proposal.id, limit=100),
            readonly=True,
        )
        rows = {r.external_id: r for r in page.rows if r.external_id}
        assert (rows["1001"].status, rows["1001"].product_id, rows["1001"].rule) == (
            "matched",
            by_sku.id,
            "sku",
        )
        assert (rows["1002"].status, rows["1002"].product_id, rows["1002"].rule) == (
            "matched",
            by_gtin.id,
            "gtin",
        )
        assert rows["1002"].item is not None and rows["1002"].item["quantity"] == "3"
        assert rows["1003"].status == "unmatched_channel"
        assert {r.product_id for r in page.rows if r.status == "unmatched_hub"} == {world.product.id}
        assert bool(shop.ops("bulkOperationRunQuery")) is bulk

        result = await transaction(hub.db, lambda uow: onboarding.apply(uow, actor, channel.id, proposal.id))
        assert result.mapped == 2
        await transaction(
            hub.db,
            lambda uow: stock.adjust_stock(
                uow, world.actor_a, location_id=world.loc_a.id, product_id=by_gtin.id, delta=Decimal(5)
            ),
        )
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(30):
                    if not await dispatch_once(hub, client, connectors=connectors):
                        break
        finally:
            await connectors.aclose()
        assert shop.available(1002) == 5  # the variant matched by its UPC
        assert shop.products["gid://shopify/Product/500"]["title"] in {by_sku.name, by_gtin.name}
        assert shop.available(1003) == 0  # unmapped: untouched


async def test_a_shop_refusing_the_token_is_a_clear_failure(hub, world) -> None:
    with FakeShopifyGraphQL(TOKEN, location=LOCATION) as shop:
        channel = await _shop_channel(hub, world, shop.url, token="wrong")
        with pytest.raises(ChannelUnreadable) as err:
            await onboard(hub, _admin(world), channel.id)
    assert "401" in err.value.reason and not err.value.unreachable
