from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from productsync.domain.errors import Forbidden, InvalidInput, NotFound
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import pricing
from productsync.store.tables import outbox
from productsync.store.uow import transaction

D = Decimal
NOW = datetime.now(UTC)


async def _list(db, actor, currency="EUR", owner=None):  # type: ignore[no-untyped-def]
    return await transaction(
        db,
        lambda uow: pricing.create_price_list(
            uow,
            actor,
            name="Retail",
            currency=currency,
            kind=PriceListKind.RETAIL,
            region="de",
            owner_partner_id=owner,
        ),
    )


async def test_tiers_and_a_promotion_resolve_and_each_put_is_one_versioned_event(database, world) -> None:
    pl = await _list(database, world.actor_a)
    assert pl.owner_partner_id == world.a.id and pl.region == "DE"
    entries = [
        PriceEntry(D(1), D("10")),
        PriceEntry(D(10), D("9.5")),
        PriceEntry(D(1), D("8"), NOW - timedelta(days=1), NOW + timedelta(days=1)),
    ]
    first = await transaction(
        database, lambda uow: pricing.put_prices(uow, world.actor_a, pl.id, world.product.id, entries)
    )
    second = await transaction(
        database, lambda uow: pricing.put_prices(uow, world.actor_a, pl.id, world.product.id, entries[:2])
    )
    assert (first.version, second.version) == (1, 2)
    _, _, now_price = await transaction(
        database,
        lambda uow: pricing.resolve_price(
            uow, world.actor_b, product_id=world.product.id, list_id=pl.id, quantity=D(12), at=NOW
        ),
    )
    assert now_price.unit_amount == D("9.50") and now_price.total == D("114.00")

    async def events(uow):  # type: ignore[no-untyped-def]
        stmt = (
            select(outbox.c.version, outbox.c.data)
            .where(outbox.c.product_id == world.product.id, outbox.c.type == "productsync.price.changed")
            .order_by(outbox.c.id)
        )
        return list(await uow.stock.conn.execute(stmt))

    rows = await transaction(database, events, readonly=True)
    assert [r.version for r in rows] == [1, 2]
    assert rows[-1].data["prices"][0]["amount"] == "10.00"


async def test_a_partner_prices_shared_products_on_its_own_list_only(database, world) -> None:
    own = await _list(database, world.actor_b, currency="USD")
    await transaction(
        database,
        lambda uow: pricing.put_prices(
            uow, world.actor_b, own.id, world.product.id, [PriceEntry(D(1), D("12.34"))]
        ),
    )
    a_list = await _list(database, world.actor_a)
    with pytest.raises(Forbidden):
        await transaction(
            database,
            lambda uow: pricing.put_prices(
                uow, world.actor_b, a_list.id, world.product.id, [PriceEntry(D(1), D("1"))]
            ),
        )
    with pytest.raises(NotFound):
        await transaction(
            database, lambda uow: pricing.get_prices(uow, world.actor_c, a_list.id, world.product.id)
        )


async def test_bad_currencies_and_amounts_are_refused(database, world) -> None:
    with pytest.raises(InvalidInput):
        await _list(database, world.actor_a, currency="EURO")
    jpy = await _list(database, world.actor_a, currency="JPY")
    with pytest.raises(InvalidInput, match="more decimals"):
        await transaction(
            database,
            lambda uow: pricing.put_prices(
                uow, world.actor_a, jpy.id, world.product.id, [PriceEntry(D(1), D("100.5"))]
            ),
        )
    stored = await transaction(
        database, lambda uow: pricing.get_prices(uow, world.actor_a, jpy.id, world.product.id)
    )
    assert stored.entries == [] and stored.version == 0
