"""Import of stock counts, price tier sets, channel SKU mappings and aliases.

Rows name products by SKU within their owner partner (the key's own, or the one the
row names); a SKU that owner does not have is a rejected row. Prices are staged until
the file is read, because all rows of one (list, product) are its whole tier set.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from productsync.domain.catalog import Product, ProductStatus
from productsync.domain.errors import DomainError
from productsync.domain.events import stock_changed
from productsync.domain.identifiers import normalize_alias
from productsync.domain.import_rows import AliasRow, MappingRow, PriceRow, StockRow
from productsync.domain.imports import RawRow, RowError, RowRejected, rule_error
from productsync.domain.inventory import Location, Movement, MovementKind, StockLevel, empty_level
from productsync.domain.pricing import PriceEntry, PriceList, check_entries
from productsync.domain.quantities import to_quantity
from productsync.services import import_lots
from productsync.services.bundles import announce_bundles
from productsync.services.import_batch import Batch, BatchContext
from productsync.services.import_products import IMPORT_REASON, write_price_sets
from productsync.store.repositories.stock import movement_row

_GROUPS_PER_PASS = 1000


async def _products(ctx: BatchContext, rows: list[Any]) -> dict[tuple[uuid.UUID, str], Product]:
    return await ctx.writes.products_by_sku({r.sku for r in rows})


def _found(ctx: BatchContext, found: dict[tuple[uuid.UUID, str], Product], row: Any) -> Product | None:
    product = found.get((row.owner, row.sku))
    if product is None:
        ctx.reject(
            row.line, row.source, [RowError(row.line, "sku", f"SKU {row.sku} was not found for this partner")]
        )
    return product


# --- stock ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedStock:
    line: int
    owner: uuid.UUID
    sku: str
    location: Location
    on_hand: Decimal
    safety_stock: Decimal | None
    source: Any
    lot_number: str | None = None
    expires_on: date | None = None


async def prepare_stock(ctx: BatchContext, row: StockRow, raw: RawRow) -> tuple[str, PreparedStock]:
    owner = await ctx.refs.owner(row.partner, row.line)
    location = await ctx.refs.location(row.location, row.line, owner)
    sku = row.sku.strip().upper()
    if row.lot_number is not None and len(row.lot_number) > 60:
        raise RowRejected([RowError(row.line, "lot_number", "at most 60 characters")])
    prepared = PreparedStock(
        row.line,
        owner,
        sku,
        location,
        row.on_hand,
        row.safety_stock,
        raw.source,
        row.lot_number,
        row.expires_on,
    )
    lot = f":lot:{row.lot_number}" if row.lot_number is not None else ""
    return f"{owner}:{sku}:{location.id}{lot}", prepared


class StockBatch(Batch[PreparedStock]):
    async def finish(self, ctx: BatchContext) -> None:
        await import_lots.merge_staged(ctx)

    async def merge(self, ctx: BatchContext, rows: list[PreparedStock]) -> None:
        """Absolute counts: each changed level gets a ``count`` ledger row of the difference.
        Lot rows wait for the end of the file (``import_lots``: a level is all its lots)."""
        await ctx.writes.stage([import_lots.stage_row(r) for r in rows if r.lot_number is not None])
        rows = [r for r in rows if r.lot_number is None]
        if not rows:
            return
        found = await _products(ctx, rows)
        todo: list[tuple[PreparedStock, Product, Decimal, Decimal | None]] = []
        for r in rows:
            p = _found(ctx, found, r)
            if p is None:
                continue
            problem = None
            if p.is_bundle:
                problem = ("sku", f"{p.sku} is a bundle: its stock is derived from its components")
            elif p.status is ProductStatus.ARCHIVED:
                problem = ("sku", f"product {p.sku} is archived")
            elif await ctx.refs.lot_tracked(p.category_id):
                problem = (
                    "lot_number",
                    "the product's category is lot-tracked: give lot_number and expires_on",
                )
            if problem is not None:
                ctx.reject(r.line, r.source, [RowError(r.line, *problem)])
                continue
            try:
                q = to_quantity(r.on_hand, unit=p.base_unit, field="on_hand")
                s = (
                    None
                    if r.safety_stock is None
                    else to_quantity(r.safety_stock, unit=p.base_unit, field="safety_stock")
                )
            except DomainError as exc:
                ctx.reject(r.line, r.source, [rule_error(r.line, exc)])
                continue
            todo.append((r, p, q, s))
        levels = await ctx.writes.levels({(p.id, r.location.id) for r, p, _, _ in todo})
        new: list[StockLevel] = []
        changed: list[StockLevel] = []
        movements: list[dict[str, Any]] = []
        moved: set[uuid.UUID] = set()
        for r, p, q, s in todo:
            level = levels.get((p.id, r.location.id))
            if level is not None and level.on_hand == q and (s is None or level.safety_stock == s):
                ctx.count("stock", "unchanged")
                continue
            base = level or empty_level(p.id, r.location.id)
            after, diff = base.set_to(q)
            if s is not None:
                after = StockLevel(
                    after.product_id, after.location_id, after.on_hand, after.reserved, s, after.version
                )
            (changed if level is not None else new).append(after)
            ctx.count("stock", "updated" if level is not None else "created")
            movement = Movement(
                p.id,
                r.location.id,
                MovementKind.COUNT,
                diff,
                after.on_hand,
                IMPORT_REASON,
                expected=base.on_hand,
            )
            movements.append(movement_row(movement, ctx.actor, ctx.request_id, ctx.now))
            ctx.record(
                "stock.count",
                "stock_level",
                f"{p.id}:{r.location.id}",
                p.owner_partner_id,
                base.snapshot(),
                after.snapshot(),
                stock_changed(p, after, movement, location_code=r.location.code, origin=ctx.actor.origin),
                product_id=p.id,
                scope_id=r.location.id,
            )
            moved.add(p.id)
        if not ctx.writing:
            return
        await ctx.writes.save_levels(new, changed, ctx.now)
        await ctx.writes.add_movements(movements)
        if moved:
            ctx.extra_events(await announce_bundles(ctx.uow, moved, origin=ctx.actor.origin))


# --- prices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedPrice:
    line: int
    owner: uuid.UUID
    sku: str
    price_list: PriceList
    entry: PriceEntry
    source: Any


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def prepare_price(ctx: BatchContext, row: PriceRow, raw: RawRow) -> tuple[str, PreparedPrice]:
    owner = await ctx.refs.owner(row.partner, row.line)
    pl = await ctx.refs.price_list(row.price_list, row.line)
    sku = row.sku.strip().upper()
    entry = PriceEntry(row.min_quantity, row.amount, row.valid_from, row.valid_to)
    try:
        check_entries(pl.currency, [entry])
    except DomainError as exc:
        raise RowRejected([rule_error(row.line, exc)]) from exc
    window = f"{_instant(row.valid_from)}:{_instant(row.valid_to)}"
    key = f"{pl.id}:{owner}:{sku}:{row.min_quantity.normalize()}:{window}"
    return key, PreparedPrice(row.line, owner, sku, pl, entry, raw.source)


class PriceBatch(Batch[PreparedPrice]):
    """Rows are staged; ``finish`` merges each (list, product)'s tiers as one set."""

    async def merge(self, ctx: BatchContext, rows: list[PreparedPrice]) -> None:
        await ctx.writes.stage(
            [
                (
                    f"{r.price_list.id}:{r.owner}:{r.sku}",
                    r.line,
                    json.dumps(
                        {
                            "min": str(r.entry.min_quantity),
                            "amount": str(r.entry.amount),
                            "from": _instant(r.entry.valid_from),
                            "to": _instant(r.entry.valid_to),
                            "source": r.source,
                        }
                    ),
                )
                for r in rows
            ]
        )

    async def finish(self, ctx: BatchContext) -> None:
        await ctx.writes.index_stage()
        after: tuple[str, int] | None = None
        groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        while True:
            page = await ctx.writes.staged(after, 5000)
            for grp, line, payload in page:
                groups.setdefault(grp, []).append((line, json.loads(payload)))
            if page:
                after = (page[-1][0], page[-1][1])
            done = not page
            if len(groups) > _GROUPS_PER_PASS or done:
                last = None if done else page[-1][0]
                ready = {g: v for g, v in groups.items() if g != last}
                groups = {g: v for g, v in groups.items() if g == last}
                await self._merge_groups(ctx, ready)
                await ctx.flush_journal()
            if done:
                return

    async def _merge_groups(
        self, ctx: BatchContext, groups: dict[str, list[tuple[int, dict[str, Any]]]]
    ) -> None:
        if not groups:
            return
        keys = {g: g.split(":", 2) for g in groups}
        skus = {k[2] for k in keys.values()}
        found = await ctx.writes.products_by_sku(skus)
        lists: dict[str, PriceList] = {}
        sets: list[tuple[PriceList, Product, list[PriceEntry]]] = []
        for grp, rows in groups.items():
            list_id, owner, sku = keys[grp]
            pl = lists.get(list_id) or await ctx.refs.price_list(list_id, rows[0][0])
            lists[list_id] = pl
            product = found.get((uuid.UUID(owner), sku))
            first = rows[0][0]
            if product is None:
                for line, data in rows:
                    ctx.reject(
                        line,
                        data["source"],
                        [RowError(line, "sku", f"SKU {sku} was not found for this partner")],
                    )
                continue
            try:
                entries = check_entries(
                    pl.currency,
                    [
                        PriceEntry(
                            to_quantity(d["min"], unit=product.base_unit, field="min_quantity"),
                            Decimal(d["amount"]),
                            None if d["from"] is None else datetime.fromisoformat(d["from"]),
                            None if d["to"] is None else datetime.fromisoformat(d["to"]),
                        )
                        for _, d in rows
                    ],
                )
            except DomainError as exc:
                for line, data in rows:
                    ctx.reject(
                        line,
                        data["source"],
                        [
                            rule_error(line, exc, column="min_quantity")
                            if line == first
                            else RowError(line, None, f"its tier set (line {first}) was rejected")
                        ],
                    )
                continue
            sets.append((pl, product, entries))
        current = await ctx.writes.price_sets({(pl.id, p.id) for pl, p, _ in sets})
        if ctx.writing:
            await write_price_sets(ctx, [(pl, p, es, current.get((pl.id, p.id))) for pl, p, es in sets])


# --- mappings and aliases -------------------------------------------------------------


@dataclass(frozen=True)
class PreparedMapping:
    line: int
    owner: uuid.UUID
    sku: str
    channel_id: uuid.UUID
    external_id: str
    external_sku: str | None
    source: Any


async def prepare_mapping(ctx: BatchContext, row: MappingRow, raw: RawRow) -> tuple[str, PreparedMapping]:
    channel = await ctx.refs.channel(row.channel, row.line)
    owner = await ctx.refs.owner(row.partner, row.line)
    if len(row.external_id) > 200 or (row.external_sku and len(row.external_sku) > 200):
        raise RowRejected([RowError(row.line, "external_id", "at most 200 characters")])
    prepared = PreparedMapping(
        row.line, owner, row.sku.strip().upper(), channel.id, row.external_id, row.external_sku, raw.source
    )
    return f"{channel.id}:{row.external_id}", prepared


class MappingBatch(Batch[PreparedMapping]):
    async def merge(self, ctx: BatchContext, rows: list[PreparedMapping]) -> None:
        found = await _products(ctx, rows)
        by_channel: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for r in rows:
            p = _found(ctx, found, r)
            if p is None:
                continue
            current = (await ctx.writes.mappings_of(r.channel_id, [r.external_id])).get(r.external_id)
            if current == (p.id, r.external_sku):
                ctx.count("mappings", "unchanged")
                continue
            ctx.count("mappings", "updated" if current else "created")
            row = {"external_id": r.external_id, "product_id": p.id, "external_sku": r.external_sku}
            by_channel.setdefault(r.channel_id, []).append(row)
            ctx.record(
                "channel.mapping_imported",
                "sku_mapping",
                f"{r.channel_id}:{r.external_id}",
                p.owner_partner_id,
                None if current is None else {"product_id": str(current[0]), "external_sku": current[1]},
                {"product_id": str(p.id), "sku": p.sku, "external_sku": r.external_sku},
            )
        if ctx.writing:
            for channel_id, items in by_channel.items():
                await ctx.uow.mappings.upsert(channel_id, items, ctx.now)


@dataclass(frozen=True)
class PreparedAlias:
    line: int
    owner: uuid.UUID
    sku: str
    scheme: str
    code: str
    source: Any


async def prepare_alias(ctx: BatchContext, row: AliasRow, raw: RawRow) -> tuple[str, PreparedAlias]:
    owner = await ctx.refs.owner(row.partner, row.line)
    try:
        scheme, code = normalize_alias(row.scheme, row.code)
    except DomainError as exc:
        raise RowRejected([rule_error(row.line, exc)]) from exc
    return f"{owner}:{scheme}:{code}", PreparedAlias(
        row.line, owner, row.sku.strip().upper(), scheme, code, raw.source
    )


class AliasBatch(Batch[PreparedAlias]):
    async def merge(self, ctx: BatchContext, rows: list[PreparedAlias]) -> None:
        """An alias names one product per owner partner: one that names another product
        of the same partner is refused (another partner's is no conflict)."""
        found = await _products(ctx, rows)
        owners = await ctx.uow.aliases.owned([(r.owner, r.scheme, r.code) for r in rows])
        new: list[tuple[uuid.UUID, str, str, uuid.UUID]] = []
        for r in rows:
            p = _found(ctx, found, r)
            if p is None:
                continue
            current = owners.get((p.owner_partner_id, r.scheme, r.code))
            if current == p.id:
                ctx.count("aliases", "unchanged")
                continue
            if current is not None:
                ctx.reject(
                    r.line,
                    r.source,
                    [
                        RowError(
                            r.line, "code", f"alias {r.scheme}:{r.code} names another product of this partner"
                        )
                    ],
                )
                continue
            ctx.count("aliases", "created")
            new.append((p.owner_partner_id, r.scheme, r.code, p.id))
            ctx.record(
                "product.alias_imported",
                "product",
                p.id,
                p.owner_partner_id,
                None,
                {"alias": {"scheme": r.scheme, "code": r.code}},
                product_id=p.id,
            )
        if ctx.writing:
            await ctx.writes.add_aliases(new, ctx.now)
