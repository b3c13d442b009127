"""Price lists and their per-product tier sets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row

from productsync.domain.pricing import PriceEntry, PriceList, PriceListKind
from productsync.store.repositories.base import Repository
from productsync.store.tables import price_entries, price_lists, product_prices


def _price_list(row: Row[Any]) -> PriceList:
    return PriceList(
        id=row.id,
        name=row.name,
        owner_partner_id=row.owner_partner_id,
        currency=row.currency,
        kind=PriceListKind(row.kind),
        region=row.region,
        created_at=row.created_at,
    )


class PriceRepository(Repository):
    async def add_list(self, pl: PriceList) -> None:
        await self.conn.execute(
            insert(price_lists).values(
                id=pl.id,
                name=pl.name,
                owner_partner_id=pl.owner_partner_id,
                currency=pl.currency,
                kind=pl.kind.value,
                region=pl.region,
                created_at=pl.created_at,
            )
        )

    async def get_list(self, list_id: uuid.UUID) -> PriceList | None:
        row = (await self.conn.execute(select(price_lists).where(price_lists.c.id == list_id))).first()
        return _price_list(row) if row else None

    async def lists(self, owners: set[uuid.UUID] | None) -> list[PriceList]:
        stmt = select(price_lists).order_by(price_lists.c.name, price_lists.c.id)
        if owners is not None:
            stmt = stmt.where(
                price_lists.c.owner_partner_id.in_(owners) | price_lists.c.owner_partner_id.is_(None)
            )
        return [_price_list(r) for r in await self.conn.execute(stmt)]

    async def replace_entries(
        self, list_id: uuid.UUID, product_id: uuid.UUID, entries: list[PriceEntry], now: datetime
    ) -> int:
        """Replace the whole tier set of one product on one list; returns its new version.

        The (list, product) header row is locked first, so two concurrent PUTs
        serialize and each bumps the version exactly once.
        """
        await self.conn.execute(
            self.insert_ignore(
                product_prices,
                {"price_list_id": list_id, "product_id": product_id, "version": 0, "updated_at": now},
            )
        )
        version = (
            await self.conn.execute(
                update(product_prices)
                .where(product_prices.c.price_list_id == list_id, product_prices.c.product_id == product_id)
                .values(version=product_prices.c.version + 1, updated_at=now)
                .returning(product_prices.c.version)
            )
        ).scalar_one()
        await self.conn.execute(
            delete(price_entries).where(
                price_entries.c.price_list_id == list_id, price_entries.c.product_id == product_id
            )
        )
        if entries:
            await self.conn.execute(
                insert(price_entries),
                [
                    {
                        "price_list_id": list_id,
                        "product_id": product_id,
                        "min_quantity": e.min_quantity,
                        "amount": e.amount,
                        "valid_from": e.valid_from,
                        "valid_to": e.valid_to,
                    }
                    for e in entries
                ],
            )
        return int(version)

    async def lock_header(self, list_id: uuid.UUID, product_id: uuid.UUID, now: datetime) -> datetime:
        """Lock the (list, product) header row, creating it at version 0 when the product was
        never priced; returns when its prices last changed. Holding it, a decision about
        the prices cannot be overtaken by a concurrent PUT."""
        await self.conn.execute(
            self.insert_ignore(
                product_prices,
                {"price_list_id": list_id, "product_id": product_id, "version": 0, "updated_at": now},
            )
        )
        stmt = select(product_prices.c.updated_at).where(
            product_prices.c.price_list_id == list_id, product_prices.c.product_id == product_id
        )
        if self.is_postgres:
            stmt = stmt.with_for_update()
        return (await self.conn.execute(stmt)).scalar_one()

    async def entries(self, list_id: uuid.UUID, product_id: uuid.UUID) -> tuple[list[PriceEntry], int]:
        """The tier set and its version (0 when never priced)."""
        head = (
            await self.conn.execute(
                select(product_prices.c.version).where(
                    product_prices.c.price_list_id == list_id, product_prices.c.product_id == product_id
                )
            )
        ).scalar_one_or_none()
        stmt = (
            select(price_entries)
            .where(price_entries.c.price_list_id == list_id, price_entries.c.product_id == product_id)
            .order_by(price_entries.c.min_quantity, price_entries.c.id)
        )
        rows = await self.conn.execute(stmt)
        entries = [PriceEntry(r.min_quantity, r.amount, r.valid_from, r.valid_to) for r in rows]
        return entries, int(head or 0)
