"""Bundles on both databases: a kit need not fake its category's required attributes,
its stock is derived per location, and a component its owner may not use is 403."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from productsync.api.problems import status_for
from productsync.domain.catalog import Component, NewProduct, ProductKind
from productsync.domain.errors import Forbidden, InvalidInput
from productsync.domain.inventory import MovementKind
from productsync.services import catalog, reservations, stock
from productsync.services.reservations import LineRequest
from productsync.store.uow import transaction
from tests.conftest import ref

D = Decimal
POLISH = {"ingredients": ["resin"], "volume_ml": 10, "pao_months": 12}


async def _make(db, actor, owner, category, **kw):  # type: ignore[no-untyped-def]
    async def make(uow):  # type: ignore[no-untyped-def]
        cat = await uow.categories.get_by_code(category)
        return await catalog.create_product(
            uow,
            actor,
            NewProduct(
                sku=kw.pop("sku", ref(cat.sku_prefix)),
                name=kw.pop("name", "Thing"),
                category_id=cat.id,
                owner_partner_id=owner.id,
                **kw,
            ),
        )

    return await transaction(db, make)


async def _parts(db, world):  # type: ignore[no-untyped-def]
    """A's polish (shared with B) and B's gin."""
    polish = await _make(db, world.admin, world.a, "cosmetics", name="Polish", attributes=POLISH)
    gin = await _make(
        db,
        world.admin,
        world.b,
        "alcohol",
        name="Gin",
        attributes={"abv": 40, "volume_ml": 700, "age_restricted": True},
    )
    return polish, gin


async def test_a_polish_and_gin_kit_needs_no_cosmetics_attributes_but_a_polish_does(database, world) -> None:
    polish, gin = await _parts(database, world)
    parts = [Component(polish.id, D(2)), Component(gin.id, D(1))]
    kit = await _make(
        database,
        world.actor_b,
        world.b,
        "bundles",
        sku=ref("KIT-"),
        kind=ProductKind.BUNDLE,
        components=parts,
    )
    assert kit.attributes == {} and kit.sku.startswith("KIT-")
    # In a category with required attributes too: the bundle need not claim them ...
    cos_kit = await _make(
        database, world.actor_b, world.b, "cosmetics", kind=ProductKind.BUNDLE, components=parts
    )
    assert cos_kit.sku.startswith("COS-")
    # ... but what it does give must fit the schema, and the prefix still applies.
    for bad in (
        {"attributes": {"volume_ml": "lots"}},
        {"attributes": {"colour": "red"}},
        {"sku": ref("XX-")},
    ):
        with pytest.raises(InvalidInput):
            await _make(
                database,
                world.actor_b,
                world.b,
                "cosmetics",
                kind=ProductKind.BUNDLE,
                components=parts,
                **bad,
            )
    # A simple product still needs every required attribute, and the kits category takes bundles only.
    with pytest.raises(InvalidInput) as missing:
        await _make(database, world.actor_a, world.a, "cosmetics", attributes={"volume_ml": 10})
    assert missing.value.code.value == "invalid-attributes"
    with pytest.raises(InvalidInput):
        await _make(database, world.actor_a, world.a, "bundles", sku=ref("KIT-"))
    # Editing a bundle's attributes follows the same rule.
    edited = await transaction(
        database,
        lambda uow: catalog.update_product(uow, world.actor_b, cos_kit.id, {"attributes": {"vegan": True}}),
    )
    assert edited.attributes == {"vegan": True}


async def test_a_component_its_owner_may_not_use_is_forbidden_not_a_conflict(database, world) -> None:
    polish, _ = await _parts(database, world)
    with pytest.raises(Forbidden) as refused:  # C's bundle of A's polish: A shares with B only
        await _make(
            database,
            world.admin,
            world.c,
            "bundles",
            kind=ProductKind.BUNDLE,
            components=[Component(polish.id, D(1))],
        )
    assert status_for(refused.value) == 403


async def test_a_bundle_stock_shows_what_its_components_make_per_location(database, world) -> None:
    polish, gin = await _parts(database, world)
    kit = await _make(
        database,
        world.actor_b,
        world.b,
        "bundles",
        kind=ProductKind.BUNDLE,
        components=[Component(polish.id, D(2)), Component(gin.id, D(1))],
    )

    async def receive(product, location, quantity, lot=None):  # type: ignore[no-untyped-def]
        await transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow,
                world.admin,
                location_id=location.id,
                product_id=product.id,
                delta=D(quantity),
                kind=MovementKind.RECEIPT,
                lot_number=lot,
                expires_on=None if lot is None else date.today() + timedelta(days=300),
            ),
        )

    await receive(polish, world.loc_hub, 7, "P1")
    await receive(polish, world.loc_a, 4, "P2")
    await receive(gin, world.loc_hub, 2)
    await transaction(
        database,
        lambda uow: reservations.reserve(uow, world.actor_b, [LineRequest(quantity=1, product_id=gin.id)]),
    )
    got = await transaction(database, lambda uow: stock.get_stock(uow, world.actor_b, kit.id), readonly=True)
    rows = {code: (lv.on_hand, lv.reserved, lv.available) for lv, code in got.levels}
    assert rows == {world.loc_hub.code: (2, 1, 1), world.loc_a.code: (0, 0, 0)}
    # totals as a channel counts the bundle: 11 polish // 2 = 5, gin 2 on hand (1 free)
    assert (got.totals.on_hand, got.totals.reserved, got.totals.available) == (2, 1, 1)
    # Another reader of the bundle sees the same figures.
    seen = await transaction(database, lambda uow: stock.get_stock(uow, world.admin, kit.id), readonly=True)
    assert seen.totals == got.totals
