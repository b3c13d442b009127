"""Issue 10, item 12 on both databases: the audit of a product includes its price
changes, adjustments take a unit like reservations and transfers, and a sale's ledger
rows say which lots it took."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from productsync.domain.catalog import NewProduct
from productsync.domain.errors import InvalidInput
from productsync.domain.inventory import MovementKind
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.domain.quantities import BaseUnit
from productsync.services import catalog, logs, pricing, stock
from productsync.store.uow import transaction
from tests.conftest import ref

D = Decimal


async def test_the_audit_of_a_product_includes_its_price_and_stock_changes(database, world) -> None:
    pl = await transaction(
        database,
        lambda uow: pricing.create_price_list(
            uow,
            world.actor_a,
            name="Retail",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region="de",
            owner_partner_id=None,
        ),
    )
    await transaction(
        database,
        lambda uow: pricing.put_prices(
            uow, world.actor_a, pl.id, world.product.id, [PriceEntry(D(1), D("12"))]
        ),
    )
    await transaction(
        database,
        lambda uow: stock.adjust_stock(
            uow, world.actor_a, location_id=world.loc_a.id, product_id=world.product.id, delta=D(3)
        ),
    )

    async def audit(actor, **kw):  # type: ignore[no-untyped-def]
        rows = await transaction(
            database, lambda uow: logs.list_audit(uow, actor, limit=500, **kw), readonly=True
        )
        return {(r.action, r.entity_type, r.entity_id) for r in rows}

    pid = str(world.product.id)
    everything = await audit(world.actor_a, entity_id=pid)
    assert ("product.created", "product", pid) in everything
    assert ("prices.replaced", "product_prices", f"{pl.id}:{pid}") in everything
    assert ("stock.adjustment", "stock_level", f"{pid}:{world.loc_a.id}") in everything
    # entity_type narrows as before; a pair id matches exactly; the price list finds its prices
    assert {t for _, t, _ in await audit(world.actor_a, entity_id=pid, entity_type="product")} == {"product"}
    assert await audit(world.actor_a, entity_id=f"{pl.id}:{pid}") == {
        ("prices.replaced", "product_prices", f"{pl.id}:{pid}")
    }
    assert ("prices.replaced", "product_prices", f"{pl.id}:{pid}") in await audit(
        world.actor_a, entity_id=str(pl.id)
    )
    assert await audit(world.actor_c, entity_id=pid) == set()  # another partner's records stay hidden


async def _product(db, world, category, unit, attributes, packs=None):  # type: ignore[no-untyped-def]
    async def make(uow):  # type: ignore[no-untyped-def]
        cat = await uow.categories.get_by_code(category)
        return await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref(cat.sku_prefix),
                name="Thing",
                category_id=cat.id,
                owner_partner_id=world.a.id,
                base_unit=unit,
                attributes=attributes,
                packs=packs or {},
            ),
        )

    return await transaction(db, make)


async def test_an_adjustment_takes_a_unit_or_pack_like_reservations_and_transfers(database, world) -> None:
    gin = await _product(
        database, world, "alcohol", BaseUnit.MILLILITRE, {"abv": 40, "volume_ml": 700, "age_restricted": True}
    )
    racket = await _product(
        database, world, "sports", BaseUnit.PIECE, {"size": "L", "material": "carbon"}, {"6-pack": 6}
    )

    async def adjust(product, delta, unit):  # type: ignore[no-untyped-def]
        return await transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow, world.actor_a, location_id=world.loc_a.id, product_id=product.id, delta=delta, unit=unit
            ),
        )

    assert (await adjust(gin, D("1.5"), "l")).level.on_hand == 1500
    assert (await adjust(gin, D(-20), "cl")).level.on_hand == 1300
    assert (await adjust(racket, D(2), "6-pack")).level.on_hand == 12
    assert (await adjust(racket, D(-1), "6-pack")).level.on_hand == 6
    assert (await adjust(racket, D(1), None)).level.on_hand == 7
    for product, unit, code in (
        (gin, "kg", "invalid-unit"),
        (racket, "l", "invalid-unit"),
        (gin, "fl_oz", "invalid-quantity"),
        (gin, "parsecs", "invalid-unit"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await adjust(product, D(1), unit)
        assert refused.value.code.value == code, (unit, refused.value.detail)


async def test_a_sale_of_a_lot_tracked_product_names_the_lots_it_took(database, world) -> None:
    polish = await _product(
        database,
        world,
        "cosmetics",
        BaseUnit.PIECE,
        {"ingredients": ["resin"], "volume_ml": 10, "pao_months": 12},
    )
    today = date.today()
    for number, days, quantity in (("LATE", 300, 5), ("SOON", 40, 2)):
        await transaction(
            database,
            lambda uow, number=number, days=days, quantity=quantity: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=polish.id,
                delta=D(quantity),
                kind=MovementKind.RECEIPT,
                lot_number=number,
                expires_on=today + timedelta(days=days),
            ),
        )
    sale = await transaction(
        database,
        lambda uow: stock.adjust_stock(
            uow,
            world.actor_a,
            location_id=world.loc_a.id,
            product_id=polish.id,
            delta=D(-3),
            kind=MovementKind.SALE,
        ),
    )
    rows = await transaction(database, lambda uow: uow.stock.movements(polish.id), readonly=True)
    sold = [(r.id, r.quantity, r.lot_number, r.lot_id is not None) for r in rows if r.kind == "sale"]
    assert sold[0][0] == sale.movement_id
    assert [s[1:] for s in sold] == [(D(-2), "SOON", True), (D(-1), "LATE", True)]
    # An untracked product's rows name no lot.
    plain = await transaction(database, lambda uow: uow.stock.movements(world.product.id), readonly=True)
    assert all(r.lot_number is None and r.lot_id is None for r in plain)
