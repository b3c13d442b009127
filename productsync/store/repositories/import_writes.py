"""Bulk import writes: a batch's domain objects into their tables, one statement per
table (COPY on PostgreSQL, multi-row statements on SQLite; see ``imports.py``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from productsync.domain.catalog import Product
from productsync.domain.identifiers import gtin14
from productsync.domain.inventory import StockLevel
from productsync.domain.pricing import PriceEntry
from productsync.store.repositories.catalog import ProductRepository
from productsync.store.repositories.imports import ImportRepository, _chunks
from productsync.store.tables import (
    audit_log,
    lots,
    outbox,
    price_boundaries,
    price_entries,
    product_aliases,
    product_barcodes,
    product_prices,
    products,
    sku_mappings,
    stock_levels,
    stock_movements,
)


def entry_rows(list_id: uuid.UUID, product_id: uuid.UUID, entries: list[PriceEntry]) -> list[dict[str, Any]]:
    return [
        {
            "price_list_id": list_id,
            "product_id": product_id,
            "min_quantity": e.min_quantity,
            "amount": e.amount,
            "valid_from": e.valid_from,
            "valid_to": e.valid_to,
        }
        for e in entries
    ]


def boundary_rows(
    list_id: uuid.UUID, product_id: uuid.UUID, instants: list[datetime]
) -> list[dict[str, Any]]:
    return [
        {"price_list_id": list_id, "product_id": product_id, "at": at, "announced_at": None}
        for at in instants
    ]


class ImportWrites(ImportRepository):
    """Domain objects of a batch into their tables (the rows are built here, in store)."""

    async def add_products(self, items: list[Product]) -> None:
        await self.insert_rows(products, [ProductRepository._values(p) for p in items])

    async def update_products(self, items: list[Product]) -> None:
        rows = []
        for p in items:
            row = ProductRepository._values(p)
            del row["created_at"]
            rows.append(row)
        await self.update_rows(products, ("id",), rows)

    async def replace_barcodes(self, items: list[Product], *, replaced: list[uuid.UUID]) -> None:
        await self.delete_barcodes(replaced)
        await self.insert_rows(
            product_barcodes,
            [
                {"owner_partner_id": p.owner_partner_id, "gtin14": gtin14(b), "product_id": p.id}
                for p in items
                for b in p.barcodes
            ],
        )

    async def save_levels(self, new: list[StockLevel], changed: list[StockLevel], now: datetime) -> None:
        def row(lv: StockLevel) -> dict[str, Any]:
            return {
                "product_id": lv.product_id,
                "location_id": lv.location_id,
                "on_hand": lv.on_hand,
                "reserved": lv.reserved,
                "safety_stock": lv.safety_stock,
                "version": lv.version,
                "updated_at": now,
            }

        await self.insert_rows(stock_levels, [row(lv) for lv in new])
        await self.update_rows(stock_levels, ("product_id", "location_id"), [row(lv) for lv in changed])

    async def add_movements(self, rows: list[dict[str, Any]]) -> None:
        await self.insert_rows(stock_movements, rows)

    async def write_price_sets(
        self,
        sets: list[tuple[uuid.UUID, uuid.UUID, list[PriceEntry], int, list[datetime]]],
        *,
        existing: set[tuple[uuid.UUID, uuid.UUID]],
        now: datetime,
    ) -> None:
        """Replace the tier sets (list, product, entries, new version, boundaries ahead)."""
        if not sets:
            return
        headers = [
            {"price_list_id": lid, "product_id": pid, "version": v, "updated_at": now}
            for lid, pid, _, v, _ in sets
        ]
        await self.insert_rows(
            product_prices, [h for h in headers if (h["price_list_id"], h["product_id"]) not in existing]
        )
        await self.update_rows(
            product_prices,
            ("price_list_id", "product_id"),
            [h for h in headers if (h["price_list_id"], h["product_id"]) in existing],
        )
        await self.delete_prices([(lid, pid) for lid, pid, *_ in sets if (lid, pid) in existing])
        await self.insert_rows(
            price_entries, [r for lid, pid, es, _, _ in sets for r in entry_rows(lid, pid, es)]
        )
        await self.insert_rows(
            price_boundaries, [r for lid, pid, _, _, bs in sets for r in boundary_rows(lid, pid, bs)]
        )

    async def journal(self, audit: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        await self.insert_rows(audit_log, audit)
        await self.insert_rows(outbox, events)

    async def mappings_of(
        self, channel_id: uuid.UUID, external_ids: list[str]
    ) -> dict[str, tuple[uuid.UUID, str | None]]:
        out: dict[str, tuple[uuid.UUID, str | None]] = {}
        m = sku_mappings.c
        for part in _chunks(external_ids):
            stmt = select(m.external_id, m.product_id, m.external_sku).where(
                m.channel_id == channel_id, m.external_id.in_(part)
            )
            out.update({r.external_id: (r.product_id, r.external_sku) for r in await self.conn.execute(stmt)})
        return out

    async def add_aliases(self, rows: list[tuple[uuid.UUID, str, str, uuid.UUID]], now: datetime) -> None:
        """Rows of (owner partner, scheme, code, product id)."""
        await self.insert_rows(
            product_aliases,
            [
                {"owner_partner_id": o, "scheme": s, "code": c, "product_id": p, "created_at": now}
                for o, s, c, p in rows
            ],
        )

    async def lots_of(
        self, pairs: set[tuple[uuid.UUID, uuid.UUID]]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], list[Any]]:
        """Every lot row (empty ones too: a lot number stays taken) of these levels."""
        out: dict[tuple[uuid.UUID, uuid.UUID], list[Any]] = {}
        for part in _chunks(list({p for p, _ in pairs})):
            for r in await self.conn.execute(
                select(lots).where(lots.c.product_id.in_(part)).order_by(lots.c.id)
            ):
                if (r.product_id, r.location_id) in pairs:
                    out.setdefault((r.product_id, r.location_id), []).append(r)
        return out

    async def save_lots(self, new: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
        await self.insert_rows(lots, new)
        await self.update_rows(lots, ("id",), changed)
