"""Price lists and their per-product tier sets."""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Row

from productsync.domain.pricing import PriceEntry, PriceList, PriceListKind
from productsync.store.repositories.base import Repository
from productsync.store.tables import price_boundaries, price_entries, price_lists, product_prices


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

    async def lists(self, owners: AbstractSet[uuid.UUID] | None) -> list[PriceList]:
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

    # Window boundaries. Every writer of a (list, product)'s boundary rows holds its header
    # row first (a PUT through replace_entries, the scheduler through try_lock_header), so
    # lock order is header then boundaries everywhere and no two announce one boundary.

    async def replace_boundaries(
        self, list_id: uuid.UUID, product_id: uuid.UUID, instants: list[datetime]
    ) -> None:
        """The boundaries still ahead of a freshly written tier set replace the old set's
        (a due one not yet announced goes too: the write announces the price it brings)."""
        await self.conn.execute(
            delete(price_boundaries).where(
                price_boundaries.c.price_list_id == list_id, price_boundaries.c.product_id == product_id
            )
        )
        if instants:
            await self.conn.execute(
                insert(price_boundaries),
                [
                    {"price_list_id": list_id, "product_id": product_id, "at": at, "announced_at": None}
                    for at in instants
                ],
            )

    async def next_boundary(self) -> datetime | None:
        """The earliest boundary not yet announced, due or not (None: nothing scheduled)."""
        stmt = select(func.min(price_boundaries.c.at)).where(price_boundaries.c.announced_at.is_(None))
        at: datetime | None = (await self.conn.execute(stmt)).scalar_one_or_none()
        if at is not None and at.tzinfo is None:  # min() drops the column type on SQLite
            at = datetime.fromisoformat(str(at)).replace(tzinfo=UTC)
        return at

    async def due_pairs(self, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(list, product) pairs with a boundary due and unannounced, earliest first."""
        stmt = (
            select(price_boundaries.c.price_list_id, price_boundaries.c.product_id)
            .where(price_boundaries.c.announced_at.is_(None), price_boundaries.c.at <= now)
            .group_by(price_boundaries.c.price_list_id, price_boundaries.c.product_id)
            .order_by(func.min(price_boundaries.c.at))
            .limit(limit)
        )
        return [(r.price_list_id, r.product_id) for r in await self.conn.execute(stmt)]

    async def try_lock_header(self, list_id: uuid.UUID, product_id: uuid.UUID) -> bool:
        """Lock the (list, product) header unless someone holds it (PostgreSQL: SKIP LOCKED,
        so a scheduler never waits on a PUT or on another scheduler; SQLite's writers are
        already one at a time)."""
        stmt = select(product_prices.c.version).where(
            product_prices.c.price_list_id == list_id, product_prices.c.product_id == product_id
        )
        if self.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return (await self.conn.execute(stmt)).first() is not None

    async def mark_announced(self, list_id: uuid.UUID, product_id: uuid.UUID, now: datetime) -> int:
        """Mark the pair's due boundaries announced; how many were still unannounced (0:
        another scheduler or a PUT got there first)."""
        result = await self.conn.execute(
            update(price_boundaries)
            .where(
                price_boundaries.c.price_list_id == list_id,
                price_boundaries.c.product_id == product_id,
                price_boundaries.c.announced_at.is_(None),
                price_boundaries.c.at <= now,
            )
            .values(announced_at=now)
        )
        return int(result.rowcount or 0)

    async def bump_version(self, list_id: uuid.UUID, product_id: uuid.UUID) -> int:
        """A new version of an unchanged tier set (its price in force changed by itself), so
        receivers keeping the highest version take the announcement."""
        stmt = (
            update(product_prices)
            .where(product_prices.c.price_list_id == list_id, product_prices.c.product_id == product_id)
            .values(version=product_prices.c.version + 1)
            .returning(product_prices.c.version)
        )
        return int((await self.conn.execute(stmt)).scalar_one())
