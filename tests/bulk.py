"""Big catalogs fast, for backfill tests and bench/backfill.py.

One product (with its stock level, the ledger row behind it, and its price) is made
through the services, so every column holds what the hub itself writes; the rest are
copies of its rows with new ids and SKUs, inserted in multi-row statements (100,000
products in seconds, not minutes). Levels still equal their ledger (accuracy checks pass).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from productsync.domain.access import Actor
from productsync.domain.catalog import NewProduct
from productsync.domain.pricing import PriceEntry
from productsync.services import catalog, pricing, stock
from productsync.store.database import Database
from productsync.store.tables import price_entries, product_prices, products, stock_levels, stock_movements
from productsync.store.uow import UnitOfWork, transaction

CHUNK = 2000


def on_hand_of(i: int) -> Decimal:
    """The stock the i-th product of a bulk catalog starts with."""
    return Decimal(i % 97 + 1)


async def bulk_catalog(
    db: Database,
    admin: Actor,
    *,
    n: int,
    sku_prefix: str,
    owner_partner_id: uuid.UUID,
    category_id: uuid.UUID,
    location_id: uuid.UUID,
    price_list_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """``n`` products (SKUs ``{sku_prefix}{i:06d}``), each with a level at the location
    (on hand ``on_hand_of(i)``) and, given a list, one price on it. Returns their ids in
    SKU order."""

    async def template(uow: UnitOfWork) -> tuple[dict[str, Any], ...]:
        product = await catalog.create_product(
            uow,
            admin,
            NewProduct(
                sku=f"{sku_prefix}{0:06d}",
                name="Bulk item 0",
                category_id=category_id,
                owner_partner_id=owner_partner_id,
                attributes={"size": "M", "material": "steel"},
            ),
        )
        await stock.adjust_stock(
            uow, admin, location_id=location_id, product_id=product.id, delta=on_hand_of(0)
        )
        conn = uow.stock.conn
        p_row = (await conn.execute(select(products).where(products.c.id == product.id))).one()._asdict()
        level = (
            (await conn.execute(select(stock_levels).where(stock_levels.c.product_id == product.id)))
            .one()
            ._asdict()
        )
        movement = (
            (await conn.execute(select(stock_movements).where(stock_movements.c.product_id == product.id)))
            .one()
            ._asdict()
        )
        movement.pop("id")
        return p_row, level, movement, {"id": product.id}

    p_row, level, movement, first = await transaction(db, template)
    if price_list_id is not None:
        await transaction(
            db,
            lambda uow: pricing.put_prices(
                uow, admin, price_list_id, first["id"], [PriceEntry(Decimal(1), Decimal("9.90"))]
            ),
        )

    async def price_rows(uow: UnitOfWork) -> tuple[dict[str, Any], dict[str, Any]]:
        conn = uow.stock.conn
        head = (
            (await conn.execute(select(product_prices).where(product_prices.c.product_id == first["id"])))
            .one()
            ._asdict()
        )
        entry = (
            (await conn.execute(select(price_entries).where(price_entries.c.product_id == first["id"])))
            .one()
            ._asdict()
        )
        entry.pop("id")
        return head, entry

    head, entry = await transaction(db, price_rows) if price_list_id is not None else ({}, {})
    ids = [first["id"]] + [uuid.uuid4() for _ in range(n - 1)]
    for start in range(1, n, CHUNK):
        batch = list(range(start, min(n, start + CHUNK)))

        async def write(uow: UnitOfWork, batch: list[int] = batch) -> None:
            conn = uow.stock.conn
            await conn.execute(
                insert(products),
                [
                    {**p_row, "id": ids[i], "sku": f"{sku_prefix}{i:06d}", "name": f"Bulk item {i}"}
                    for i in batch
                ],
            )
            await conn.execute(
                insert(stock_levels),
                [{**level, "product_id": ids[i], "on_hand": on_hand_of(i)} for i in batch],
            )
            await conn.execute(
                insert(stock_movements),
                [
                    {
                        **movement,
                        "product_id": ids[i],
                        "quantity": on_hand_of(i),
                        "on_hand_after": on_hand_of(i),
                    }
                    for i in batch
                ],
            )
            if price_list_id is not None:
                await conn.execute(insert(product_prices), [{**head, "product_id": ids[i]} for i in batch])
                await conn.execute(
                    insert(price_entries),
                    [{**entry, "product_id": ids[i], "amount": Decimal("9.90") + i % 10} for i in batch],
                )

        await transaction(db, write)
    return ids
