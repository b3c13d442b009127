"""``channel_slices.slice_page`` (set-based: summed levels, range reads, bare rows) gives
exactly the items the per-product rules give (``expected_items`` over ``Product`` rows:
``read_states``, ``counted_levels``, ``projection``, ``price_in_force``) for a varied
catalog: bundles, lots under a minimum shelf life, price windows and tiers, locales,
buffers, safety stock above on hand, storefront whole units, several external ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from productsync.domain.access import Scope
from productsync.domain.catalog import Component, NewProduct, ProductKind
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.inventory import MovementKind
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.domain.quantities import BaseUnit
from productsync.services import catalog, channels, pricing, stock
from productsync.services.channel_slices import ExpectedItem, expected_items, slice_page
from productsync.store.uow import UnitOfWork, transaction
from tests.conftest import ref

D = Decimal


async def _catalog(db: Any, world: Any) -> tuple[Any, list[Any]]:
    """A's varied catalog and a price list; returns (price list, products)."""

    async def make(uow: UnitOfWork) -> tuple[Any, list[Any]]:
        sports = await uow.categories.get_by_code("sports")
        cosmetics = await uow.categories.get_by_code("cosmetics")

        async def product(**over: Any) -> Any:
            values: dict[str, Any] = dict(
                sku=ref("SE-"),
                name="Racket",
                category_id=sports.id,
                owner_partner_id=world.a.id,
                attributes={"size": "L2", "material": "carbon"},
                description="Light",
            )
            values.update(over)
            return await catalog.create_product(uow, world.admin, NewProduct(**values))

        exact_tag = await product(texts={"de-DE": {"name": "Schläger", "description": "Gut"}})
        language = await product(texts={"de": {"name": "Ball"}}, barcodes=[])
        plain = await product()
        clamp = await product()
        tiered = await product()
        by_measure = await product(base_unit=BaseUnit.MILLILITRE)
        polish = await product(
            sku=ref("COS-"),
            category_id=cosmetics.id,
            attributes={"ingredients": ["resin"], "volume_ml": 10, "pao_months": 12},
        )
        kit = await product(
            kind=ProductKind.BUNDLE, components=[Component(exact_tag.id, D(2)), Component(polish.id, D(1))]
        )
        gone = await product()
        pl = await pricing.create_price_list(
            uow,
            world.actor_a,
            name="Retail",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=None,
        )
        return pl, [exact_tag, language, plain, clamp, tiered, by_measure, polish, kit, gone]

    pl, made = await transaction(db, make)
    exact_tag, language, plain, clamp, tiered, by_measure, polish, kit, gone = made
    now = datetime.now(UTC)
    prices = [
        (
            exact_tag,
            [
                PriceEntry(D(1), D("20.00")),
                PriceEntry(D(1), D("16.00"), now - timedelta(days=1), now + timedelta(days=1)),
            ],
        ),
        (language, [PriceEntry(D(1), D("9.50"))]),
        (tiered, [PriceEntry(D(10), D("4.00"))]),  # no price for one piece
        (by_measure, [PriceEntry(D(250), D("3.10")), PriceEntry(D(1000), D("11"))]),
        (polish, [PriceEntry(D(1), D("7")), PriceEntry(D(1), D("8"), now + timedelta(days=2), None)]),
        (kit, [PriceEntry(D(1), D("30.00"))]),
        (clamp, [PriceEntry(D(1), D("1.99"), None, now - timedelta(days=1))]),  # expired window only
    ]
    for p, entries in prices:
        await transaction(
            db, lambda uow, p=p, e=entries: pricing.put_prices(uow, world.actor_a, pl.id, p.id, e)
        )
    levels = [
        (exact_tag, world.loc_a, D(7), D(1)),
        (exact_tag, world.loc_hub, D(5), D(0)),
        (language, world.loc_a, D(3), D(0)),
        (clamp, world.loc_a, D(1), D(3)),  # safety above on hand: this level counts 0, not -2
        (clamp, world.loc_hub, D(4), D(0)),
        (by_measure, world.loc_hub, D("1250.250"), D(0)),
        (gone, world.loc_a, D(9), D(0)),
    ]
    for p, loc, q, safety in levels:
        await transaction(
            db,
            lambda uow, p=p, loc=loc, q=q, s=safety: stock.set_stock(
                uow, world.admin, location_id=loc.id, product_id=p.id, quantity=q, safety_stock=s
            ),
        )
    for lot, days, q in (("OLD", 5, 4), ("SOON", 30, 2), ("LATE", 90, 3)):
        await transaction(
            db,
            lambda uow, lot=lot, days=days, q=q: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=polish.id,
                delta=D(q),
                kind=MovementKind.RECEIPT,
                lot_number=lot,
                expires_on=date.today() + timedelta(days=days),
            ),
        )
    await transaction(db, lambda uow: catalog.archive_product(uow, world.admin, gone.id))
    return pl, made


async def _channel(db: Any, world: Any, pl: Any, made: list[Any], **over: Any) -> Any:
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    values: dict[str, Any] = dict(
        name=ref("eq-"),
        kind=ChannelKind.SSE,
        owner_partner_id=None,
        partner_ids=(world.a.id,),
        price_list_id=pl.id,
    )
    values.update(over)
    channel, _ = await transaction(
        db, lambda uow: channels.create_channel(uow, admin_a, NewChannel(**values))
    )
    mappings = [
        channels.MappingIn(external_id=ref("v-"), product_id=made[0].id),
        channels.MappingIn(external_id=ref("w-"), product_id=made[0].id),
        channels.MappingIn(external_id=ref("k-"), product_id=made[7].id),
    ]
    await transaction(db, lambda uow: channels.upsert_mappings(uow, admin_a, channel.id, mappings))
    return channel


async def _by_rules(db: Any, channel: Any) -> list[ExpectedItem]:
    async def read(uow: UnitOfWork) -> list[ExpectedItem]:
        products = await uow.exports.slice_products(
            partner_ids=channel.partner_ids, category_ids=channel.category_ids, after=None, limit=10_000
        )
        return await expected_items(uow, channel, products)

    return await transaction(db, read, readonly=True)


async def _paged(db: Any, channel: Any, limit: int) -> list[ExpectedItem]:
    out: list[ExpectedItem] = []
    token = None
    while True:
        items, token = await transaction(
            db, lambda uow, t=token: slice_page(uow, channel, after=t, limit=limit), readonly=True
        )
        out += items
        if token is None:
            return out


@pytest.mark.parametrize(
    "over",
    [
        pytest.param(
            {"locale": "de-DE", "buffer_stock": D(2), "config": {"min_shelf_life_days": 40}},
            id="locale-buffer-shelf-life",
        ),
        pytest.param(
            {"kind": ChannelKind.SHOPIFY, "url": "https://x.example"}, id="storefront-all-locations"
        ),
        pytest.param({"locale": "de", "location_ids": "loc_a"}, id="one-location-language"),
    ],
)
async def test_slice_page_is_the_per_product_rules(database, world, over) -> None:  # type: ignore[no-untyped-def]
    pl, made = await _catalog(database, world)
    if over.get("location_ids") == "loc_a":
        over = {**over, "location_ids": (world.loc_a.id,)}
    channel = await _channel(database, world, pl, made, **over)
    by_rules = await _by_rules(database, channel)
    assert [i.product_id for i in by_rules] == sorted(p.id for p in [world.product, *made[:-1]])
    for limit in (1, 3, 10_000):
        paged = await _paged(database, channel, limit)
        assert paged == by_rules
        assert [str(i.quantity.normalize()) for i in paged] == [str(i.quantity.normalize()) for i in by_rules]
    items = {i.product_id: i for i in by_rules}
    exact_tag, language, plain, clamp, tiered, by_measure, polish, kit, _ = made
    # The catalog really exercises the rules (so equality above is not trivial).
    assert items[tiered.id].price is None and items[plain.id].price is None
    assert items[by_measure.id].price == D("3.10")
    assert len(items[exact_tag.id].external_ids) == 2 and items[kit.id].external_ids
    if over.get("locale") == "de-DE":
        assert items[exact_tag.id].compare_at_price == D("20.00") and items[exact_tag.id].price == D("16.00")
        assert (items[exact_tag.id].title, items[language.id].title) == ("Schläger", "Ball")
        assert items[exact_tag.id].quantity == D(9)  # 6 + 5 - 2 buffer
        assert items[clamp.id].quantity == D(2)  # 0 + 4 - 2
        assert items[by_measure.id].quantity == D("1248.25")  # fractions kept off storefronts
        assert items[polish.id].quantity == D(1)  # only LATE has 40 days left: 3 - 2
    if over.get("kind") is ChannelKind.SHOPIFY:
        assert items[exact_tag.id].quantity == D(11) and items[by_measure.id].quantity == D(1250)
        assert items[polish.id].quantity == D(9) and items[kit.id].quantity == D(5)
