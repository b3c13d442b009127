"""Import of products (with optional inline stock and one price), batch by batch.

A row is checked on its own first (``prepare``: the catalog rules of
``domain/catalog.py`` exactly as the API applies them); a batch is then merged with a
few statements: one read of the products it names, one of their barcodes, levels
and tier sets, and one write per table. Products merge on (owner partner, SKU). A row
that changes nothing writes nothing: no version bump, no event, no audit record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from productsync.domain import catalog as rules
from productsync.domain.catalog import Category, NewProduct, Product, ProductStatus, TaxClass
from productsync.domain.errors import DomainError
from productsync.domain.events import EventType, price_changed, product_event, stock_changed
from productsync.domain.identifiers import gtin14
from productsync.domain.import_rows import ProductRow
from productsync.domain.imports import RawRow, RowError, RowRejected, rule_error
from productsync.domain.inventory import Location, Movement, MovementKind, StockLevel, empty_level
from productsync.domain.pricing import PriceEntry, PriceList, boundaries, check_entries, price_in_force
from productsync.domain.quantities import BaseUnit, parse_unit, to_quantity
from productsync.services.bundles import announce_bundles
from productsync.services.import_batch import Batch, BatchContext
from productsync.store.repositories.stock import movement_row
from productsync.store.tables import products as products_table

# Until SKUs are unique per partner (migration 0014), a SKU another partner holds
# cannot be imported for this one.
_SKU_HUB_WIDE = bool(products_table.c.sku.unique)
IMPORT_REASON = "import"


@dataclass(frozen=True)
class PreparedProduct:
    line: int
    candidate: Product  # the product as the row describes it (a new id if it is new)
    category: Category
    status: ProductStatus | None
    location: Location | None
    on_hand: Decimal | None
    price_list: PriceList | None
    prices: list[PriceEntry] | None
    source: Any
    columns: frozenset[str]


def _enum(value: str | None, enum: Any, line: int, column: str) -> Any:
    if value is None:
        return None
    try:
        return enum(value.strip().lower())
    except ValueError as exc:
        allowed = ", ".join(e.value for e in enum)
        raise RowRejected([RowError(line, column, f"{value!r} is not one of {allowed}")]) from exc


async def prepare(ctx: BatchContext, row: ProductRow, raw: RawRow) -> tuple[str, PreparedProduct]:
    """The row checked by every rule that needs no existing product; returns its merge key."""
    owner = await ctx.refs.owner(row.partner, row.line)
    category = await ctx.refs.category(row.category, row.line)
    unit = BaseUnit.PIECE
    if row.base_unit is not None:
        try:
            unit = parse_unit(row.base_unit)
        except DomainError as exc:
            raise RowRejected([rule_error(row.line, exc, column="base_unit")]) from exc
    tax = _enum(row.tax_class, TaxClass, row.line, "tax_class") or TaxClass.STANDARD
    status = _enum(row.status, ProductStatus, row.line, "status")
    if row.texts is not None and not all(isinstance(v, dict) for v in row.texts.values()):
        raise RowRejected([RowError(row.line, "texts", "must map each locale to an object of texts")])
    try:
        candidate = ctx.create_product(
            NewProduct(
                sku=row.sku,
                name=row.name,
                category_id=category.id,
                owner_partner_id=owner,
                base_unit=unit,
                description=row.description or "",
                barcodes=row.barcodes or [],
                texts=row.texts or {},
                tax_class=tax,
                attributes=row.attributes or {},
                allow_backorders=bool(row.allow_backorders),
                packs=row.packs or {},
            ),
            category,
        )
    except DomainError as exc:
        raise RowRejected([rule_error(row.line, exc)]) from exc
    location = on_hand = price_list = prices = None
    if row.location is not None and row.on_hand is not None:
        ctx.need_scope("stock:write", row.line, "on_hand")
        location = await ctx.refs.location(row.location, row.line, owner)
        if category.lot_tracked:
            raise RowRejected(
                [
                    RowError(
                        row.line,
                        "on_hand",
                        f"category {category.code} is lot-tracked: import its stock "
                        "with the stock kind (lot_number, expires_on)",
                    )
                ]
            )
        try:
            on_hand = to_quantity(row.on_hand, unit=candidate.base_unit, field="on_hand")
        except DomainError as exc:
            raise RowRejected([rule_error(row.line, exc, column="on_hand")]) from exc
    if row.price_list is not None and row.price is not None:
        price_list = await ctx.refs.price_list(row.price_list, row.line)
        try:
            prices = check_entries(price_list.currency, [PriceEntry(Decimal(1), row.price)])
        except DomainError as exc:
            raise RowRejected([rule_error(row.line, exc, column="price")]) from exc
    key = f"{owner}:{candidate.sku}"
    return key, PreparedProduct(
        row.line,
        candidate,
        category,
        status,
        location,
        on_hand,
        price_list,
        prices,
        raw.source,
        frozenset(raw.values),
    )


def _changes(row: PreparedProduct) -> dict[str, Any]:
    """The patchable fields the file gives (a column left out of the file is left alone)."""
    c = row.candidate
    given = {
        "name": c.name,
        "description": c.description,
        "barcodes": list(c.barcodes),
        "texts": c.texts,
        "tax_class": c.tax_class.value,
        "attributes": c.attributes,
        "allow_backorders": c.allow_backorders,
        "packs": c.packs,
    }
    return {k: v for k, v in given.items() if k in row.columns}


def _same(existing: Product, changes: dict[str, Any]) -> bool:
    """Whether the normalized values of the row equal the product's (nothing would change)."""
    current = {
        "name": existing.name,
        "description": existing.description,
        "barcodes": list(existing.barcodes),
        "texts": existing.texts,
        "tax_class": existing.tax_class.value,
        "attributes": existing.attributes,
        "allow_backorders": existing.allow_backorders,
        "packs": existing.packs,
    }
    return all(current[k] == v for k, v in changes.items())


def _merge_one(ctx: BatchContext, existing: Product | None, row: PreparedProduct) -> tuple[str, Product]:
    """(created|updated|unchanged, the product after the row) or RowRejected."""
    if existing is None:
        product = row.candidate
        if row.status is ProductStatus.ARCHIVED:
            product = replace(product, status=ProductStatus.ARCHIVED)
        return "created", product
    line = row.line
    if existing.category_id != row.category.id:
        raise RowRejected([RowError(line, "category", "a product's category cannot change")])
    if "base_unit" in row.columns and existing.base_unit is not row.candidate.base_unit:
        raise RowRejected(
            [RowError(line, "base_unit", f"the base unit cannot change (it is {existing.base_unit.value})")]
        )
    if existing.is_bundle:
        raise RowRejected(
            [RowError(line, "sku", f"{existing.sku} is a bundle; edit bundles through the API")]
        )
    if existing.status is ProductStatus.ARCHIVED:
        if row.status is ProductStatus.ARCHIVED:
            return "unchanged", existing
        raise RowRejected([RowError(line, "sku", f"product {existing.sku} is archived")])
    changes = _changes(row)
    if row.status is not ProductStatus.ARCHIVED and _same(existing, changes):
        # The row was checked by every catalog rule in ``prepare`` and its values equal
        # the stored ones: nothing to patch (the common re-import).
        return "unchanged", existing
    try:
        updated = rules.patch_product(existing, changes, row.category, now=ctx.now)
    except DomainError as exc:
        raise RowRejected([rule_error(line, exc)]) from exc
    if row.status is ProductStatus.ARCHIVED:
        updated = rules.archive_product(updated, now=ctx.now)
        if updated.version == existing.version + 2:
            updated = replace(updated, version=existing.version + 1)
    if updated == replace(existing, version=updated.version, updated_at=updated.updated_at):
        return "unchanged", existing
    return "updated", updated


async def merge(ctx: BatchContext, batch: list[PreparedProduct]) -> None:
    """Merge one batch: products, then their barcodes, levels and prices."""
    existing = await ctx.writes.products_by_sku({r.candidate.sku for r in batch})
    skus_held = {sku for _, sku in existing}
    created: list[Product] = []
    updated: list[tuple[Product, Product]] = []
    kept: list[tuple[PreparedProduct, Product, Product | None]] = []
    claimed: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    merged: list[tuple[PreparedProduct, str, Product, Product | None]] = []
    for row in batch:
        c = row.candidate
        before = existing.get((c.owner_partner_id, c.sku))
        if before is None and _SKU_HUB_WIDE and c.sku in skus_held:
            ctx.reject(
                row.line, row.source, [RowError(row.line, "sku", f"SKU {c.sku} belongs to another partner")]
            )
            continue
        try:
            outcome, after = _merge_one(ctx, before, row)
        except RowRejected as exc:
            ctx.reject(row.line, row.source, exc.errors)
            continue
        merged.append((row, outcome, after, before))
    # Barcodes are unique per owner partner (GTIN-14 form): checked against the store and
    # the batch; another partner's product with the same GTIN is no conflict.
    wanted = {gtin14(b) for _, outcome, p, _ in merged if outcome != "unchanged" for b in p.barcodes}
    owners = await ctx.writes.barcode_owners(wanted) if wanted else {}
    for row, outcome, after, before in merged:
        if outcome != "unchanged":
            taken = [
                b
                for b in after.barcodes
                if owners.get(k := (after.owner_partner_id, gtin14(b)), after.id) != after.id
                or claimed.get(k, after.id) != after.id
            ]
            if taken:
                ctx.reject(
                    row.line,
                    row.source,
                    [
                        RowError(
                            row.line,
                            "barcodes",
                            f"barcode {taken[0]} already belongs to another product of this partner",
                        )
                    ],
                )
                continue
            claimed.update({(after.owner_partner_id, gtin14(b)): after.id for b in after.barcodes})
        ctx.count("products", outcome)
        if outcome == "created":
            created.append(after)
        elif outcome == "updated":
            assert before is not None
            updated.append((before, after))
        kept.append((row, after, before))
    if not ctx.writing:
        return
    await ctx.writes.add_products(created)
    await ctx.writes.update_products([a for _, a in updated])
    await ctx.writes.replace_barcodes(
        [*created, *(a for b, a in updated if a.barcodes != b.barcodes)],
        replaced=[a.id for b, a in updated if a.barcodes != b.barcodes],
    )
    for p in created:
        ctx.record(
            "product.created",
            "product",
            p.id,
            p.owner_partner_id,
            None,
            p.snapshot(),
            product_event(EventType.PRODUCT_CREATED, p, origin=ctx.actor.origin),
            product_id=p.id,
        )
    for b, a in updated:
        kind = EventType.PRODUCT_ARCHIVED if a.status != b.status else EventType.PRODUCT_UPDATED
        action = "product.archived" if kind is EventType.PRODUCT_ARCHIVED else "product.updated"
        ctx.record(
            action,
            "product",
            a.id,
            a.owner_partner_id,
            b.snapshot(),
            a.snapshot(),
            product_event(kind, a, origin=ctx.actor.origin),
            product_id=a.id,
        )
    await _stock(ctx, kept)
    await _prices(ctx, kept)


async def _stock(ctx: BatchContext, kept: list[tuple[PreparedProduct, Product, Product | None]]) -> None:
    """Inline stock: an absolute count, written as a ``count`` ledger row of the difference."""
    rows = [(r, p, b) for r, p, b in kept if r.location is not None and r.on_hand is not None]
    if not rows:
        return
    pairs = {(p.id, r.location.id) for r, p, b in rows if b is not None and r.location is not None}
    levels = await ctx.writes.levels(pairs) if pairs else {}
    new: list[StockLevel] = []
    changed: list[StockLevel] = []
    movements: list[dict[str, Any]] = []
    moved: set[uuid.UUID] = set()
    for r, p, b in rows:
        assert r.location is not None and r.on_hand is not None
        if p.status is ProductStatus.ARCHIVED:
            ctx.count("stock", "unchanged")
            continue
        level = levels.get((p.id, r.location.id))
        if level is not None and level.on_hand == r.on_hand:
            ctx.count("stock", "unchanged")
            continue
        base = level or empty_level(p.id, r.location.id)
        after, diff = base.set_to(r.on_hand)
        (changed if level is not None else new).append(after)
        ctx.count("stock", "updated" if level is not None else "created")
        movement = Movement(
            p.id, r.location.id, MovementKind.COUNT, diff, after.on_hand, IMPORT_REASON, expected=base.on_hand
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
        if b is not None:
            moved.add(p.id)
    await ctx.writes.save_levels(new, changed, ctx.now)
    await ctx.writes.add_movements(movements)
    if moved:
        ctx.extra_events(await announce_bundles(ctx.uow, moved, origin=ctx.actor.origin))


async def _prices(ctx: BatchContext, kept: list[tuple[PreparedProduct, Product, Product | None]]) -> None:
    rows = [(r, p, b) for r, p, b in kept if r.price_list is not None and r.prices is not None]
    if not rows:
        return
    pairs = {(r.price_list.id, p.id) for r, p, b in rows if b is not None and r.price_list is not None}
    current = await ctx.writes.price_sets(pairs) if pairs else {}
    await write_price_sets(
        ctx,
        [
            (r.price_list, p, r.prices, current.get((r.price_list.id, p.id)))
            for r, p, _ in rows
            if r.price_list is not None and r.prices is not None
        ],
    )


async def write_price_sets(
    ctx: BatchContext,
    sets: list[tuple[PriceList, Product, list[PriceEntry], tuple[list[PriceEntry], int] | None]],
) -> None:
    """Replace tier sets that differ from the stored ones (as PUT …/prices does)."""
    out = []
    existing: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for pl, p, entries, current in sets:
        old, version = current or ([], 0)
        if current is not None:
            existing.add((pl.id, p.id))
        if sorted(old, key=_tier) == sorted(entries, key=_tier) and current is not None:
            ctx.count("prices", "unchanged")
            continue
        ctx.count("prices", "updated" if old else "created")
        version += 1
        out.append((pl.id, p.id, entries, version, boundaries(entries, ctx.now)))
        after = [e.snapshot() for e in entries]
        in_force = price_in_force(entries, ctx.now, currency=pl.currency, base_unit=p.base_unit)
        ctx.record(
            "prices.replaced",
            "product_prices",
            f"{pl.id}:{p.id}",
            pl.owner_partner_id or p.owner_partner_id,
            {"prices": [e.snapshot() for e in old]},
            {"prices": after, "version": version},
            price_changed(
                p,
                pl.id,
                pl.currency,
                after,
                version=version,
                list_owner=pl.owner_partner_id,
                origin=ctx.actor.origin,
                in_force=in_force.snapshot() if in_force else None,
            ),
            product_id=p.id,
            scope_id=pl.id,
        )
    await ctx.writes.write_price_sets(out, existing=existing, now=ctx.now)


def _tier(e: PriceEntry) -> tuple[Any, ...]:
    return (e.min_quantity, e.amount, str(e.valid_from), str(e.valid_to))


class ProductBatch(Batch[PreparedProduct]):
    async def merge(self, ctx: BatchContext, rows: list[PreparedProduct]) -> None:
        await merge(ctx, rows)
