"""Onboarding: the channel's slice as match candidates, proposals and their rows."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Row

from productsync.domain.catalog import ProductStatus
from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.matching import HubProduct, MatchRow
from productsync.store.repositories.base import Repository
from productsync.store.tables import product_aliases, products, sku_mappings
from productsync.store.tables_onboarding import onboarding_proposals, onboarding_rows

ROWS_PER_INSERT = 1000


@dataclass(frozen=True)
class Proposal:
    id: uuid.UUID
    channel_id: uuid.UUID
    status: str
    items_read: int
    counts: dict[str, int]
    alias_schemes: list[str] | None
    created_by: str | None
    created_at: datetime
    decided_at: datetime | None
    result: dict[str, Any] | None


@dataclass(frozen=True)
class StoredRow:
    seq: int
    status: str
    external_id: str | None
    product_id: uuid.UUID | None
    rule: str | None
    candidates: tuple[uuid.UUID, ...]
    reason: str | None
    item: dict[str, Any] | None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def item_record(item: ChannelItem) -> dict[str, Any]:
    """A channel item as a row keeps it (decimals as strings, JSON-safe)."""
    return {
        "external_id": item.external_id,
        "sku": item.sku,
        "barcode": item.barcode,
        "title": item.title,
        "description": item.description,
        "quantity": _text(item.quantity),
        "price": _text(item.price),
        "compare_at_price": _text(item.compare_at_price),
        "currency": item.currency,
        "product_ref": item.product_ref,
    }


def _proposal(r: Row[Any]) -> Proposal:
    return Proposal(
        id=r.id,
        channel_id=r.channel_id,
        status=r.status,
        items_read=r.items_read,
        counts=dict(r.counts),
        alias_schemes=r.alias_schemes,
        created_by=r.created_by,
        created_at=r.created_at,
        decided_at=r.decided_at,
        result=r.result,
    )


def _row(r: Row[Any]) -> StoredRow:
    return StoredRow(
        seq=r.seq,
        status=r.status,
        external_id=r.external_id,
        product_id=r.product_id,
        rule=r.rule,
        candidates=tuple(uuid.UUID(c) for c in r.candidates),
        reason=r.reason,
        item=r.item,
    )


class OnboardingRepository(Repository):
    async def slice_candidates(
        self,
        *,
        partner_ids: Collection[uuid.UUID],
        category_ids: Collection[uuid.UUID],
        readable: Collection[uuid.UUID] | None,
    ) -> list[HubProduct]:
        """Active products of a channel's slice (its partners, none named: all; its
        categories) that its owner may read, with barcodes and aliases: two queries."""
        p = products.c
        where = [p.status == ProductStatus.ACTIVE.value]
        if partner_ids:
            where.append(p.owner_partner_id.in_(list(partner_ids)))
        if category_ids:
            where.append(p.category_id.in_(list(category_ids)))
        if readable is not None:
            where.append(p.owner_partner_id.in_(list(readable)))
        aliases: dict[uuid.UUID, list[tuple[str, str]]] = {}
        a = product_aliases.c
        alias_stmt = (
            select(a.product_id, a.scheme, a.code)
            .select_from(product_aliases.join(products, p.id == a.product_id))
            .where(*where)
        )
        for r in await self.conn.execute(alias_stmt):
            aliases.setdefault(r.product_id, []).append((r.scheme, r.code))
        stmt = select(p.id, p.sku, p.owner_partner_id, p.barcodes, p.name).where(*where).order_by(p.sku, p.id)
        return [
            HubProduct(
                id=r.id,
                sku=r.sku,
                owner_partner_id=r.owner_partner_id,
                gtins=tuple(r.barcodes or ()),
                aliases=tuple(aliases.get(r.id, ())),
                name=r.name,
            )
            for r in await self.conn.execute(stmt)
        ]

    async def mappings(self, channel_id: uuid.UUID) -> dict[str, uuid.UUID]:
        """Every mapping of the channel: external id -> product."""
        m = sku_mappings.c
        stmt = select(m.external_id, m.product_id).where(m.channel_id == channel_id)
        return {r.external_id: r.product_id for r in await self.conn.execute(stmt)}

    async def add(
        self,
        *,
        proposal_id: uuid.UUID,
        channel_id: uuid.UUID,
        items_read: int,
        counts: dict[str, int],
        alias_schemes: list[str] | None,
        created_by: str | None,
        at: datetime,
        rows: Iterable[MatchRow],
    ) -> None:
        await self.conn.execute(
            insert(onboarding_proposals).values(
                id=proposal_id,
                channel_id=channel_id,
                status="proposed",
                items_read=items_read,
                counts=counts,
                alias_schemes=alias_schemes,
                created_by=created_by,
                created_at=at,
            )
        )
        batch: list[dict[str, Any]] = []
        for seq, r in enumerate(rows, start=1):
            batch.append(
                {
                    "proposal_id": proposal_id,
                    "seq": seq,
                    "status": r.status.value,
                    "external_id": r.external_id,
                    "product_id": r.product_id,
                    "rule": r.rule.value if r.rule else None,
                    "candidates": [str(c) for c in r.candidates],
                    "reason": r.reason,
                    "item": item_record(r.item) if r.item is not None else None,
                }
            )
            if len(batch) >= ROWS_PER_INSERT:
                await self.conn.execute(insert(onboarding_rows), batch)
                batch = []
        if batch:
            await self.conn.execute(insert(onboarding_rows), batch)

    async def discard_open(self, channel_id: uuid.UUID, at: datetime) -> int:
        """A new read supersedes the channel's earlier open proposals."""
        result = await self.conn.execute(
            update(onboarding_proposals)
            .where(
                onboarding_proposals.c.channel_id == channel_id, onboarding_proposals.c.status == "proposed"
            )
            .values(status="discarded", decided_at=at)
        )
        return int(result.rowcount or 0)

    async def get(self, proposal_id: uuid.UUID, *, for_update: bool = False) -> Proposal | None:
        stmt = select(onboarding_proposals).where(onboarding_proposals.c.id == proposal_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _proposal(row) if row else None

    async def rows(
        self,
        proposal_id: uuid.UUID,
        *,
        statuses: Collection[str] | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[StoredRow]:
        """Rows in report order; ``limit`` None: all of them (applying reads them whole)."""
        o = onboarding_rows.c
        stmt = select(onboarding_rows).where(o.proposal_id == proposal_id, o.seq > after).order_by(o.seq)
        if statuses is not None:
            stmt = stmt.where(o.status.in_(list(statuses)))
        if limit is not None:
            stmt = stmt.limit(limit)
        return [_row(r) for r in await self.conn.execute(stmt)]

    async def count_rows(self, proposal_id: uuid.UUID, statuses: Collection[str] | None = None) -> int:
        o = onboarding_rows.c
        stmt = select(func.count()).select_from(onboarding_rows).where(o.proposal_id == proposal_id)
        if statuses is not None:
            stmt = stmt.where(o.status.in_(list(statuses)))
        return int((await self.conn.execute(stmt)).scalar_one())

    async def decide(self, proposal_id: uuid.UUID, status: str, at: datetime, result: dict[str, Any]) -> None:
        await self.conn.execute(
            update(onboarding_proposals)
            .where(onboarding_proposals.c.id == proposal_id)
            .values(status=status, decided_at=at, result=result)
        )
