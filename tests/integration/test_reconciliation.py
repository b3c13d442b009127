"""Reconciliation against channels seeded with deliberate drift, on SQLite and PostgreSQL:
a webhook channel exposing ``config.state_url`` (tests/state_channel.py), a WooCommerce
store (tests/platforms.py) and a Shopify shop (tests/shopify_graphql.py). The report must
name exactly the drifted SKUs and kinds, the rate must be exact, and ``push`` must repair."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import NotFound
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import catalog, channels, pricing, stock
from productsync.services import reconciliation as service
from productsync.store.uow import transaction
from productsync.sync.connectors import Connectors
from productsync.sync.dispatcher import dispatch_once
from productsync.sync.reconcile import reconcile, reconcile_channel
from tests.conftest import ref
from tests.integration.test_dispatch import _flush_backlog
from tests.platforms import RawBody, _Platform
from tests.state_channel import StateChannel

ATTRS = {"size": "M", "material": "mixed"}


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=3), database)


def admin_of(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def seed_products(hub, world, names: list[str], *, quantity: int = 5, price: str = "10.00"):  # type: ignore[no-untyped-def]
    """Products of partner A with stock at A's store and a price on a new EUR list."""

    async def make(uow):  # type: ignore[no-untyped-def]
        pl = await pricing.create_price_list(
            uow,
            world.admin,
            name=ref("rc-"),
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=world.a.id,
        )
        sports = await uow.categories.get_by_code("sports")
        out = {}
        for name in names:
            p = await catalog.create_product(
                uow,
                world.actor_a,
                NewProduct(
                    sku=ref(f"SE-{name.upper()}-").upper(),
                    name=f"Racket {name}",
                    category_id=sports.id,
                    owner_partner_id=world.a.id,
                    attributes=ATTRS,
                ),
            )
            await stock.adjust_stock(
                uow, world.actor_a, location_id=world.loc_a.id, product_id=p.id, delta=Decimal(quantity)
            )
            await pricing.put_prices(
                uow, world.actor_a, pl.id, p.id, [PriceEntry(Decimal(1), Decimal(price))]
            )
            out[name] = p
        return pl, out

    return await transaction(hub.db, make)


async def deliver_all(hub) -> None:  # type: ignore[no-untyped-def]
    connectors = Connectors(hub.settings, db=hub.db)
    try:
        for _ in range(60):
            if not await dispatch_once(hub, connectors=connectors):
                break
    finally:
        await connectors.aclose()


async def findings_of(hub, world, channel_id, run_id) -> set[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    page = await transaction(
        hub.db,
        lambda uow: service.read_run(uow, admin_of(world), channel_id, run_id, limit=1000),
        readonly=True,
    )
    return {(f.kind, f.sku) for f in page.findings}


async def state_channel(hub, world, server: StateChannel, pl, **config: Any):  # type: ignore[no-untyped-def]
    channel, secret = await transaction(
        hub.db,
        lambda uow: channels.create_channel(
            uow,
            admin_of(world),
            NewChannel(
                name=ref("state-"),
                kind=ChannelKind.WEBHOOK,
                owner_partner_id=world.a.id,
                url=server.hook_url,
                partner_ids=(world.a.id,),
                location_ids=(world.loc_a.id,),
                price_list_id=pl.id,
                config={"state_url": server.state_url, **config},
            ),
            targets=hub.settings.target_policy(),
        ),
    )
    server.secrets = [secret]
    return channel


async def test_a_state_url_channel_is_reported_exactly_and_push_repairs_it(hub, world) -> None:
    await _flush_backlog(hub)
    pl, p = await seed_products(hub, world, ["ok", "missing", "stock", "price", "text"])
    with StateChannel(page_size=2) as server:
        channel = await state_channel(hub, world, server, pl, reconcile_repair="push")
        await deliver_all(hub)  # the new channel's backfill: it now holds the hub's state
        assert server.items[p["ok"].sku] == {
            "sku": p["ok"].sku,
            "title": "Racket ok",
            "description": "",
            "quantity": "5",
            "price": "10.00",
        }
        first = await reconcile(hub, admin_of(world), channel.id)
        assert (first.status, first.consistency_rate, first.expected) == ("succeeded", 1.0, 6)

        # Drift: one item gone, one extra, wrong stock, price and title.
        extra_sku = ref("SE-EXTRA-").upper()
        with server.lock:
            del server.items[p["missing"].sku]
            server.items[extra_sku] = {"sku": extra_sku, "quantity": 1, "price": "1.00"}
            server.items[p["stock"].sku]["quantity"] = 3
            server.items[p["price"].sku]["price"] = "12.50"
            server.items[p["text"].sku]["title"] = "Old racket"
        summary = await reconcile(hub, admin_of(world), channel.id)
        assert summary.status == "succeeded", summary.error
        assert (summary.expected, summary.matched, summary.items_read) == (6, 2, 6)
        assert summary.consistency_rate == pytest.approx(2 / 6)
        assert summary.counts == {
            "missing": 1,
            "extra": 1,
            "wrong_stock": 1,
            "wrong_price": 1,
            "wrong_text": 1,
        }
        assert await findings_of(hub, world, channel.id, summary.run_id) == {
            ("missing", p["missing"].sku),
            ("extra", extra_sku),
            ("wrong_stock", p["stock"].sku),
            ("wrong_price", p["price"].sku),
            ("wrong_text", p["text"].sku),
        }
        assert summary.repaired == 4  # extra is reported, never deleted
        page = await transaction(
            hub.db,
            lambda uow: service.read_run(
                uow, admin_of(world), channel.id, summary.run_id, kind="wrong_price", limit=10
            ),
            readonly=True,
        )
        assert [(f.hub_value, f.channel_value) for f in page.findings] == [("10 EUR", "12.5")]
        assert all("webhook-signature" in h for h in server.state_requests)  # signed like webhooks

        await deliver_all(hub)
        again = await reconcile(hub, admin_of(world), channel.id)
        assert (again.consistency_rate, again.matched, again.counts["extra"]) == (1.0, 6, 1)
        assert sum(again.counts.values()) == 1

    history = await transaction(
        hub.db, lambda uow: service.list_runs(uow, admin_of(world), channel.id), readonly=True
    )
    assert [r.consistency_rate for r in history] == pytest.approx([1.0, 2 / 6, 1.0])


async def test_report_only_changes_nothing_at_the_channel(hub, world) -> None:
    await _flush_backlog(hub)
    pl, p = await seed_products(hub, world, ["a"])
    with StateChannel(jsonl=True) as server:
        channel = await state_channel(hub, world, server, pl)
        await deliver_all(hub)
        with server.lock:
            server.items[p["a"].sku]["quantity"] = 0
            events = len(server.events)
        summary = await reconcile(hub, admin_of(world), channel.id)
        assert summary.counts["wrong_stock"] == 1 and summary.repaired == 0
        await deliver_all(hub)
        assert len(server.events) == events
        assert server.items[p["a"].sku]["quantity"] == 0


async def test_the_stock_tolerance_is_the_channels(hub, world) -> None:
    await _flush_backlog(hub)
    pl, p = await seed_products(hub, world, ["a"])
    with StateChannel() as server:
        channel = await state_channel(hub, world, server, pl, reconcile_stock_tolerance=2)
        await deliver_all(hub)
        with server.lock:
            server.items[p["a"].sku]["quantity"] = 3  # hub says 5: within 2
        assert (await reconcile(hub, admin_of(world), channel.id)).counts["wrong_stock"] == 0
        with server.lock:
            server.items[p["a"].sku]["quantity"] = 2
        assert (await reconcile(hub, admin_of(world), channel.id)).counts["wrong_stock"] == 1


async def test_an_unreachable_channel_is_a_failed_run_with_the_reason(hub, world) -> None:
    await _flush_backlog(hub)
    pl, _ = await seed_products(hub, world, ["a"])
    with StateChannel() as server:
        channel = await state_channel(hub, world, server, pl)
        server.fail_state = 503
        summary = await reconcile_channel(hub, channel.id, trigger="scheduled")
    assert summary.status == "failed"
    assert summary.error is not None and "HTTP 503" in summary.error
    run = await transaction(
        hub.db,
        lambda uow: service.read_run(uow, admin_of(world), channel.id, summary.run_id),
        readonly=True,
    )
    assert (run.run.status, run.run.trigger, run.run.consistency_rate) == ("failed", "scheduled", None)
    # Nothing listening at all.
    await transaction(
        hub.db,
        lambda uow: channels.update_channel(
            uow,
            admin_of(world),
            channel.id,
            {"config": {"state_url": "http://127.0.0.1:9/state"}},
            expected_version=None,
            targets=hub.settings.target_policy(),
        ),
    )
    down = await reconcile(hub, admin_of(world), channel.id)
    assert down.status == "failed" and down.error


async def test_another_partners_channel_cannot_be_reconciled_or_read(hub, world) -> None:
    pl, _ = await seed_products(hub, world, ["a"])
    with StateChannel() as server:
        channel = await state_channel(hub, world, server, pl)
        other = replace(world.actor_c, scopes=frozenset({*world.actor_c.scopes, Scope.CHANNELS_ADMIN}))
        with pytest.raises(NotFound):
            await reconcile(hub, other, channel.id)
        with pytest.raises(NotFound):
            await transaction(hub.db, lambda uow: service.list_runs(uow, other, channel.id), readonly=True)


async def test_a_malformed_state_is_a_failed_run_naming_the_item(hub, world) -> None:
    pl, p = await seed_products(hub, world, ["a", "b"])
    with StateChannel(page_size=1) as server:
        channel = await state_channel(hub, world, server, pl)
        server.items = {
            p["a"].sku: {"sku": p["a"].sku, "quantity": 5},
            p["b"].sku: {"sku": p["b"].sku, "quantity": "five"},
        }
        summary = await reconcile(hub, admin_of(world), channel.id)
    assert summary.status == "failed"
    assert summary.error == "state_url page 2 item 1: quantity must be a number"


class PullFeed(_Platform):
    """A channel's feed at a URL the hub polls (CSV text)."""

    def __init__(self, body: str) -> None:
        super().__init__()
        self.body = body

    def route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, RawBody(self.body)


async def test_a_pull_feed_is_reconciled_from_its_own_rows(hub, world) -> None:
    """A feed says a SKU's stock and its price on separate rows: they are one item."""
    pl, p = await seed_products(hub, world, ["ok", "stock", "price", "missing"])
    extra = ref("SE-FEEDONLY-").upper()
    rows = [
        "type,sku,quantity,price,title",
        f"stock_count,{p['ok'].sku},5,,Racket ok",
        f"price,{p['ok'].sku},,10.00,",
        f"stock_count,{world.product.sku},0,,",
        f"stock_count,{p['stock'].sku},3,,",
        f"price,{p['stock'].sku},,10.00,",
        f"price,{p['price'].sku},,12.50,",
        f"stock_count,{p['price'].sku},5,,",
        f"stock_count,{extra},1,,",
    ]
    with PullFeed("\n".join(rows) + "\n") as feed:
        channel, _ = await transaction(
            hub.db,
            lambda uow: channels.create_channel(
                uow,
                admin_of(world),
                NewChannel(
                    name=ref("pull-"),
                    kind=ChannelKind("pull_feed"),
                    owner_partner_id=world.a.id,
                    url=f"{feed.url}/feed.csv",
                    partner_ids=(world.a.id,),
                    location_ids=(world.loc_a.id,),
                    price_list_id=pl.id,
                    config={"pull": {"format": "csv"}},
                ),
                targets=hub.settings.target_policy(),
            ),
        )
        summary = await reconcile(hub, admin_of(world), channel.id)
    assert summary.status == "succeeded", summary.error
    assert (summary.expected, summary.matched, summary.items_read) == (5, 2, 8)
    assert summary.consistency_rate == pytest.approx(2 / 5)
    assert await findings_of(hub, world, channel.id, summary.run_id) == {
        ("missing", p["missing"].sku),
        ("extra", extra),
        ("wrong_stock", p["stock"].sku),
        ("wrong_price", p["price"].sku),
    }
