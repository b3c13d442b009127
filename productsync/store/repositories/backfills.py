"""Channel backfills built in pages: progress rows, snapshot payloads, and the
set-based reads one page needs (prices of many products in one query)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, insert, select, text, update
from sqlalchemy.engine import Row

from productsync.domain.pricing import PriceEntry
from productsync.store.repositories.base import Repository
from productsync.store.tables import channel_backfills, price_entries, product_prices, snapshot_events

_B = channel_backfills.c
# Namespace of the per-channel advisory locks (xor-ed with the channel id's first 8 bytes).
_BACKFILL_LOCKS = 0x4241_434B_4649_4C4C


class BackfillRepository(Repository):
    async def start(self, channel_id: uuid.UUID, from_seq: int, now: datetime) -> None:
        """(Re)start a channel's backfill at outbox position ``from_seq``, first page next."""
        await self.conn.execute(delete(channel_backfills).where(_B.channel_id == channel_id))
        await self.conn.execute(
            insert(channel_backfills).values(
                channel_id=channel_id,
                from_seq=from_seq,
                after_sku=None,
                pages=0,
                events=0,
                started_at=now,
                updated_at=now,
            )
        )

    async def in_progress(self) -> bool:
        return bool((await self.conn.execute(select(exists().where(_B.channel_id.is_not(None))))).scalar())

    async def get(self, channel_id: uuid.UUID) -> Row[Any] | None:
        return (await self.conn.execute(select(channel_backfills).where(_B.channel_id == channel_id))).first()

    async def waiting(self) -> list[Row[Any]]:
        """Backfills with pages left, the one that waited longest for a page first."""
        stmt = select(channel_backfills).order_by(_B.updated_at, _B.channel_id)
        return list(await self.conn.execute(stmt))

    async def try_hold(self, channel_id: uuid.UUID) -> bool:
        """Hold the channel's backfill for this transaction, or say at once that another
        transaction does (PostgreSQL advisory lock, never waited for; SQLite's single
        writer already holds everything)."""
        if not self.is_postgres:
            return True
        key = _BACKFILL_LOCKS ^ int.from_bytes(channel_id.bytes[:8], "big", signed=True)
        return bool(
            (await self.conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})).scalar()
        )

    async def advance(self, channel_id: uuid.UUID, after_sku: str, events: int, now: datetime) -> None:
        await self.conn.execute(
            update(channel_backfills)
            .where(_B.channel_id == channel_id)
            .values(after_sku=after_sku, pages=_B.pages + 1, events=_B.events + events, updated_at=now)
        )

    async def finish(self, channel_id: uuid.UUID) -> None:
        await self.conn.execute(delete(channel_backfills).where(_B.channel_id == channel_id))

    async def add_events(self, rows: list[dict[str, Any]]) -> None:
        """Snapshot payloads, in one executemany (batched into multi-row INSERTs)."""
        if rows:
            await self.conn.execute(insert(snapshot_events), rows)

    async def prices(
        self, list_id: uuid.UUID, product_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[list[PriceEntry], int]]:
        """Tier sets and versions of many products on one list, in one query (products
        never priced are absent)."""
        if not product_ids:
            return {}
        pe = price_entries.c
        stmt = (
            select(
                product_prices.c.product_id,
                product_prices.c.version,
                pe.min_quantity,
                pe.amount,
                pe.valid_from,
                pe.valid_to,
            )
            .select_from(
                product_prices.outerjoin(
                    price_entries,
                    (pe.price_list_id == product_prices.c.price_list_id)
                    & (pe.product_id == product_prices.c.product_id),
                )
            )
            .where(product_prices.c.price_list_id == list_id, product_prices.c.product_id.in_(product_ids))
            .order_by(product_prices.c.product_id, pe.min_quantity, pe.id)
        )
        out: dict[uuid.UUID, tuple[list[PriceEntry], int]] = {}
        for r in await self.conn.execute(stmt):
            entries, _ = out.setdefault(r.product_id, ([], int(r.version)))
            if r.min_quantity is not None:
                entries.append(PriceEntry(r.min_quantity, r.amount, r.valid_from, r.valid_to))
        return out
