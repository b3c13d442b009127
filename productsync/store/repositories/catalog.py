"""Partners, shares, categories, products and locations."""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, Uuid, bindparam, delete, func, insert, literal_column, or_, select, true, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from productsync.domain.catalog import (
    Category,
    Component,
    Partner,
    Product,
    ProductKind,
    ProductStatus,
    TaxClass,
)
from productsync.domain.identifiers import gtin14
from productsync.domain.inventory import Location, LocationKind, StockLevel
from productsync.domain.quantities import BaseUnit
from productsync.domain.sku_namespaces import SkuCandidate
from productsync.store.repositories.base import Repository
from productsync.store.tables import (
    bundle_components,
    categories,
    locations,
    partner_shares,
    partners,
    product_barcodes,
    products,
    stock_levels,
)


def _partner(row: Row[Any]) -> Partner:
    return Partner(id=row.id, code=row.code, name=row.name, created_at=row.created_at)


def _category(row: Row[Any]) -> Category:
    return Category(
        id=row.id,
        code=row.code,
        name=row.name,
        sku_prefix=row.sku_prefix,
        attribute_schema=row.attribute_schema,
        lot_tracked=row.lot_tracked,
        created_at=row.created_at,
    )


def _product(row: Row[Any]) -> Product:
    return Product(
        id=row.id,
        sku=row.sku,
        name=row.name,
        description=row.description,
        category_id=row.category_id,
        owner_partner_id=row.owner_partner_id,
        base_unit=BaseUnit(row.base_unit),
        barcodes=tuple(row.barcodes),
        texts=row.texts,
        tax_class=TaxClass(row.tax_class),
        attributes=row.attributes,
        status=ProductStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        kind=ProductKind(row.kind),
        components=tuple(
            Component(uuid.UUID(c["product_id"]), Decimal(c["quantity"])) for c in row.components
        ),
        allow_backorders=row.allow_backorders,
        packs={name: Decimal(q) for name, q in row.packs.items()},
    )


class PartnerRepository(Repository):
    async def add(self, partner: Partner) -> None:
        await self.conn.execute(
            insert(partners).values(
                id=partner.id, code=partner.code, name=partner.name, created_at=partner.created_at
            )
        )

    async def get(self, partner_id: uuid.UUID) -> Partner | None:
        row = (await self.conn.execute(select(partners).where(partners.c.id == partner_id))).first()
        return _partner(row) if row else None

    async def get_by_code(self, code: str) -> Partner | None:
        row = (await self.conn.execute(select(partners).where(partners.c.code == code))).first()
        return _partner(row) if row else None

    async def find(self, only: AbstractSet[uuid.UUID] | None = None) -> list[Partner]:
        stmt = select(partners).order_by(partners.c.code)
        if only is not None:
            stmt = stmt.where(partners.c.id.in_(only))
        return [_partner(r) for r in await self.conn.execute(stmt)]

    async def add_share(self, owner: uuid.UUID, grantee: uuid.UUID, at: datetime) -> bool:
        """True when the share is new; sharing twice is not an error (idempotent)."""
        result = await self.conn.execute(
            self.insert_ignore(
                partner_shares,
                {"owner_partner_id": owner, "grantee_partner_id": grantee, "created_at": at},
            )
        )
        return bool(result.rowcount)

    async def remove_share(self, owner: uuid.UUID, grantee: uuid.UUID) -> bool:
        result = await self.conn.execute(
            delete(partner_shares).where(
                partner_shares.c.owner_partner_id == owner,
                partner_shares.c.grantee_partner_id == grantee,
            )
        )
        return bool(result.rowcount)

    async def owners_sharing_with(self, grantee: uuid.UUID) -> set[uuid.UUID]:
        stmt = select(partner_shares.c.owner_partner_id).where(partner_shares.c.grantee_partner_id == grantee)
        return {r[0] for r in await self.conn.execute(stmt)}

    async def grantees_of(self, owner: uuid.UUID) -> list[uuid.UUID]:
        stmt = select(partner_shares.c.grantee_partner_id).where(partner_shares.c.owner_partner_id == owner)
        return [r[0] for r in await self.conn.execute(stmt)]


class CategoryRepository(Repository):
    async def add(self, category: Category) -> None:
        await self.conn.execute(
            insert(categories).values(
                id=category.id,
                code=category.code,
                name=category.name,
                sku_prefix=category.sku_prefix,
                attribute_schema=category.attribute_schema,
                lot_tracked=category.lot_tracked,
                created_at=category.created_at,
            )
        )

    async def lot_tracked(self, category_ids: set[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these categories track lots. Categories never change once created, so
        a process keeps what it has read."""
        missing = category_ids - _LOT_TRACKED.keys()
        if missing:
            stmt = select(categories.c.id, categories.c.lot_tracked).where(categories.c.id.in_(missing))
            for r in await self.conn.execute(stmt):
                _LOT_TRACKED[r.id] = bool(r.lot_tracked)
        return {c for c in category_ids if _LOT_TRACKED.get(c)}

    async def get(self, category_id: uuid.UUID) -> Category | None:
        row = (await self.conn.execute(select(categories).where(categories.c.id == category_id))).first()
        return _category(row) if row else None

    async def get_by_code(self, code: str) -> Category | None:
        row = (await self.conn.execute(select(categories).where(categories.c.code == code))).first()
        return _category(row) if row else None

    async def find(self) -> list[Category]:
        return [_category(r) for r in await self.conn.execute(select(categories).order_by(categories.c.code))]


# Built once: constructing a statement and its cache key costs more than running it.
# Whether a product is some bundle's component: one probe of the component index per
# product row read, so a stock write learns for free that no bundle needs news.
_IN_BUNDLE = (
    select(bundle_components.c.component_id)
    .where(bundle_components.c.component_id == products.c.id)
    .exists()
    .label("in_bundle")
)
# Named by SKU, a line may match one product per partner using it: each comes with its
# owner's code, so the use case can choose among them (domain/sku_namespaces.py).
_FOR_LINES = (
    select(
        products,
        _IN_BUNDLE,
        partners.c.code.label("partner_code"),
        *(c.label(f"lv_{c.name}") for c in stock_levels.c if c.name != "product_id"),
    )
    .select_from(
        products.join(partners, partners.c.id == products.c.owner_partner_id).outerjoin(
            stock_levels, stock_levels.c.product_id == products.c.id
        )
    )
    .where(
        or_(
            products.c.id.in_(bindparam("b_ids", expanding=True)),
            products.c.sku.in_(bindparam("b_skus", expanding=True)),
        )
    )
)
_PRODUCT_BY_ID = select(products).where(products.c.id == bindparam("b_id"))
_PRODUCT_BY_OWNED_SKU = select(products).where(
    products.c.owner_partner_id == bindparam("b_owner"), products.c.sku == bindparam("b_sku")
)
# Every product using a SKU (one per partner at most), with its owner's code.
_SKU_CANDIDATES = (
    select(products, partners.c.code.label("partner_code"))
    .select_from(products.join(partners, partners.c.id == products.c.owner_partner_id))
    .where(products.c.sku == bindparam("b_sku"))
)
_SKU_CANDIDATES_OF = _SKU_CANDIDATES.where(
    products.c.owner_partner_id.in_(bindparam("b_owners", expanding=True))
)
_LOCATION_COLUMNS = [c.label(f"loc_{c.name}") for c in locations.c]


def _target(by: Any, found: Any) -> Any:
    """A product and a location in one round trip (the stock write path needs both).
    ``n_found`` is how many products the read matched: a SKU without an owner may match
    one per partner, and then the caller must not act on any of them."""
    return (
        select(products, _IN_BUNDLE, *_LOCATION_COLUMNS, found.label("n_found"))
        .select_from(products.join(locations, locations.c.id == bindparam("b_location")))
        .where(*by)
    )


_ONE: Any = literal_column("1")
_TARGET_BY_ID = _target([products.c.id == bindparam("b_id")], _ONE)
# A partner writing by SKU means its own product (at most one: unique (owner, sku)).
_TARGET_BY_OWNED_SKU = _target(
    [products.c.owner_partner_id == bindparam("b_owner"), products.c.sku == bindparam("b_sku")], _ONE
)
# An admin by SKU: every partner's product using it, each row counting them all.
_TARGET_BY_SKU = _target([products.c.sku == bindparam("b_sku")], func.count().over())
# The same reads for the stock repository, which folds them into its level change.
TARGET_BY_ID, TARGET_BY_OWNED_SKU, TARGET_BY_SKU = _TARGET_BY_ID, _TARGET_BY_OWNED_SKU, _TARGET_BY_SKU
# Driven from the component index: the rows touched grow with the bundles containing
# the asked products, never with the catalog. Written as ``products.id IN (subquery)``,
# PostgreSQL planned it as a scan of every product probing bundle_components per row
# whenever its statistics made products look small (1,000 products never analyzed).
_BUNDLES_CONTAINING = (
    select(products)
    .select_from(bundle_components.join(products, products.c.id == bundle_components.c.bundle_id))
    .where(
        bundle_components.c.component_id.in_(bindparam("b_ids", expanding=True)),
        products.c.status == ProductStatus.ACTIVE.value,
    )
)
# PostgreSQL chooses join order by its statistics; here a LATERAL subquery that cannot
# be flattened (OFFSET 0) fixes it: component index first, then each bundle by primary
# key, whatever the planner believes about either table.
_BUNDLE_BY_ID = (
    select(products)
    .where(products.c.id == bundle_components.c.bundle_id, products.c.status == ProductStatus.ACTIVE.value)
    .offset(literal_column("0"))
    .lateral("bundle")
)
_BUNDLES_CONTAINING_PG = (
    select(_BUNDLE_BY_ID)
    .select_from(bundle_components.join(_BUNDLE_BY_ID, true()))
    .where(bundle_components.c.component_id == func.any(bindparam("b_ids", type_=ARRAY(Uuid))))
)


class ProductRepository(Repository):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(conn)
        # Products this transaction read as no bundle's component. A product becomes a
        # component only in the transaction that creates the bundle, so for this
        # transaction the answer stands and ``bundles_containing`` skips its query.
        self._in_no_bundle: set[uuid.UUID] = set()

    async def add(self, product: Product) -> None:
        await self.conn.execute(insert(products).values(**self._values(product)))
        await self._write_barcodes(product)
        if product.components:
            self._in_no_bundle -= {c.product_id for c in product.components}
            await self.conn.execute(
                insert(bundle_components),
                [
                    {"bundle_id": product.id, "component_id": c.product_id, "quantity": c.quantity}
                    for c in product.components
                ],
            )

    async def bundles_containing(self, product_ids: set[uuid.UUID]) -> list[Product]:
        """Active bundles with any of these products as a component. No query at all when
        this transaction has already read every one of them as no bundle's component (the
        common stock write); otherwise one lookup through the component index."""
        wanted = product_ids - self._in_no_bundle
        if not wanted:
            return []
        stmt = _BUNDLES_CONTAINING_PG if self.is_postgres else _BUNDLES_CONTAINING
        found = {r.id: r for r in await self.conn.execute(stmt, {"b_ids": list(wanted)})}
        return [_product(r) for r in found.values()]  # a bundle of two asked parts: once

    async def for_lines(
        self, ids: set[uuid.UUID], skus: set[str]
    ) -> tuple[
        dict[uuid.UUID, Product],
        dict[str, list[SkuCandidate]],
        set[uuid.UUID],
        dict[uuid.UUID, list[StockLevel]],
    ]:
        """Products named by id or SKU (every partner's product using a named SKU, as
        candidates to choose from), which of them are in a bundle (so a use case knows
        whether bundles need news) and their stock levels, all in one round trip."""
        by_id: dict[uuid.UUID, Product] = {}
        candidates: dict[uuid.UUID, SkuCandidate] = {}
        flagged: set[uuid.UUID] = set()
        levels: dict[uuid.UUID, list[StockLevel]] = {}
        for r in await self.conn.execute(_FOR_LINES, {"b_ids": list(ids), "b_skus": list(skus)}):
            if r.id not in by_id:
                by_id[r.id] = _product(r)
                candidates[r.id] = SkuCandidate(r.id, r.owner_partner_id, r.partner_code)
                levels[r.id] = []
            if r.in_bundle:
                flagged.add(r.id)
            else:
                self._in_no_bundle.add(r.id)
            if r.lv_location_id is not None:
                levels[r.id].append(
                    StockLevel(
                        product_id=r.id,
                        location_id=r.lv_location_id,
                        on_hand=r.lv_on_hand,
                        reserved=r.lv_reserved,
                        safety_stock=r.lv_safety_stock,
                        version=r.lv_version,
                        updated_at=r.lv_updated_at,
                    )
                )
        by_sku: dict[str, list[SkuCandidate]] = {}
        for p in by_id.values():
            if p.sku in skus:
                by_sku.setdefault(p.sku, []).append(candidates[p.id])
        return by_id, by_sku, flagged, levels

    async def get_many(self, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, Product]:
        if not product_ids:
            return {}
        rows = await self.conn.execute(select(products).where(products.c.id.in_(product_ids)))
        return {r.id: _product(r) for r in rows}

    async def update(self, product: Product) -> None:
        values = self._values(product)
        del values["id"], values["created_at"]
        await self.conn.execute(update(products).where(products.c.id == product.id).values(**values))
        await self.conn.execute(delete(product_barcodes).where(product_barcodes.c.product_id == product.id))
        await self._write_barcodes(product)

    async def _write_barcodes(self, product: Product) -> None:
        if product.barcodes:
            await self.conn.execute(
                insert(product_barcodes),
                [
                    {
                        "owner_partner_id": product.owner_partner_id,
                        "gtin14": gtin14(b),
                        "product_id": product.id,
                    }
                    for b in product.barcodes
                ],
            )

    async def barcode_owners(
        self, owner_partner_id: uuid.UUID, barcodes: tuple[str, ...]
    ) -> dict[str, uuid.UUID]:
        """Which of ``barcodes`` this partner's products already carry (barcodes are
        unique per owner partner: another partner's GTIN is no conflict, and never told)."""
        if not barcodes:
            return {}
        keys = {gtin14(b): b for b in barcodes}
        b = product_barcodes.c
        stmt = select(b.gtin14, b.product_id).where(
            b.owner_partner_id == owner_partner_id, b.gtin14.in_(keys)
        )
        return {keys[r.gtin14]: r.product_id for r in await self.conn.execute(stmt)}

    async def sku_taken(self, owner_partner_id: uuid.UUID, sku: str) -> bool:
        """Whether this partner already uses the SKU (others' SKUs do not matter)."""
        params = {"b_owner": owner_partner_id, "b_sku": sku}
        return (await self.conn.execute(_PRODUCT_BY_OWNED_SKU, params)).first() is not None

    async def sku_candidates(
        self, sku: str, owners: AbstractSet[uuid.UUID] | None = None
    ) -> list[tuple[Product, SkuCandidate]]:
        """Every product using ``sku`` (of ``owners`` only, when given), each with its
        candidate form: one query, for ``domain.sku_namespaces.choose``."""
        if owners is None:
            rows = await self.conn.execute(_SKU_CANDIDATES, {"b_sku": sku})
        elif not owners:
            return []
        else:
            rows = await self.conn.execute(_SKU_CANDIDATES_OF, {"b_sku": sku, "b_owners": list(owners)})
        return [(_product(r), SkuCandidate(r.id, r.owner_partner_id, r.partner_code)) for r in rows]

    async def get(self, product_id: uuid.UUID, *, for_update: bool = False) -> Product | None:
        if for_update:
            stmt = select(products).where(products.c.id == product_id).with_for_update()
            row = (await self.conn.execute(stmt)).first()
        else:
            row = (await self.conn.execute(_PRODUCT_BY_ID, {"b_id": product_id})).first()
        return _product(row) if row else None

    async def get_by_sku(self, sku: str, *, owner: uuid.UUID) -> Product | None:
        """A partner's product by its SKU (a SKU alone may name one product per partner:
        see ``sku_candidates``)."""
        row = (await self.conn.execute(_PRODUCT_BY_OWNED_SKU, {"b_owner": owner, "b_sku": sku})).first()
        return _product(row) if row else None

    async def owners_and_categories(
        self, ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]]:
        """Owner and category per product, for routing events (one query per batch)."""
        if not ids:
            return {}
        stmt = select(products.c.id, products.c.owner_partner_id, products.c.category_id).where(
            products.c.id.in_(ids)
        )
        return {r.id: (r.owner_partner_id, r.category_id) for r in await self.conn.execute(stmt)}

    async def with_location(
        self,
        location_id: uuid.UUID,
        *,
        product_id: uuid.UUID | None = None,
        sku: str | None = None,
        owner: uuid.UUID | None = None,
    ) -> tuple[Product, Location] | None:
        """Both rows when both exist; None otherwise (the caller then asks which is missing).
        By SKU, ``owner``'s product, or without an owner the one product using it (None
        when several partners do: the caller works out which one is meant)."""
        params: dict[str, Any] = {"b_location": location_id}
        if product_id is not None:
            stmt, params["b_id"] = _TARGET_BY_ID, product_id
        elif owner is not None:
            stmt, params["b_sku"], params["b_owner"] = _TARGET_BY_OWNED_SKU, sku, owner
        else:
            stmt, params["b_sku"] = _TARGET_BY_SKU, sku
        result = await self.conn.execute(stmt, params)
        rows = [result.first()] if stmt is not _TARGET_BY_SKU else result.fetchmany(2)
        return self.target_of(rows[0]) if len(rows) == 1 and rows[0] is not None else None

    def target_of(self, row: Row[Any]) -> tuple[Product, Location]:
        """The product and location of a row read by one of the ``TARGET_BY_*`` reads
        (remembering, for this transaction, whether the product is in any bundle)."""
        if not row.in_bundle:
            self._in_no_bundle.add(row.id)
        m = row._mapping
        location = Location(
            id=m["loc_id"],
            code=m["loc_code"],
            name=m["loc_name"],
            kind=LocationKind(m["loc_kind"]),
            owner_partner_id=m["loc_owner_partner_id"],
            created_at=m["loc_created_at"],
            time_zone=m["loc_time_zone"],
        )
        return _product(row), location

    async def find(
        self,
        *,
        owners: AbstractSet[uuid.UUID] | None,
        partner_id: uuid.UUID | None = None,
        category_id: uuid.UUID | None = None,
        sku_prefix: str | None = None,
        updated_since: datetime | None = None,
        barcode14: str | None = None,
        include_archived: bool = False,
        after_sku: str | None = None,
        after_id: uuid.UUID | None = None,
        limit: int = 50,
        whole_skus: bool = True,
    ) -> list[Product]:
        """Products in (SKU, id) order, after the cursor. A SKU may be used by several
        partners: with ``after_id`` the cursor is exact (the next page starts after that
        product); with ``after_sku`` alone (a cursor of SKUs, as backfill pages keep) it
        is "SKUs after this one", so with ``whole_skus`` a page that ends inside a SKU's
        group is completed with the rest of that group (and may exceed ``limit``)."""
        stmt = select(products).order_by(products.c.sku, products.c.id)
        if barcode14 is not None:
            stmt = stmt.join(product_barcodes, product_barcodes.c.product_id == products.c.id).where(
                product_barcodes.c.gtin14 == barcode14
            )
        if owners is not None:
            stmt = stmt.where(products.c.owner_partner_id.in_(owners))
        if partner_id is not None:
            stmt = stmt.where(products.c.owner_partner_id == partner_id)
        if category_id is not None:
            stmt = stmt.where(products.c.category_id == category_id)
        if sku_prefix:
            stmt = stmt.where(products.c.sku.startswith(sku_prefix, autoescape=True))
        if updated_since is not None:
            stmt = stmt.where(products.c.updated_at >= updated_since)
        if not include_archived:
            stmt = stmt.where(products.c.status == ProductStatus.ACTIVE.value)
        if after_sku is not None and after_id is not None:
            stmt = stmt.where(
                or_(products.c.sku > after_sku, (products.c.sku == after_sku) & (products.c.id > after_id))
            )
        elif after_sku is not None:
            stmt = stmt.where(products.c.sku > after_sku)
        found = [_product(r) for r in await self.conn.execute(stmt.limit(limit))]
        if whole_skus and found and len(found) == limit:
            last = found[-1]
            rest = stmt.where(products.c.sku == last.sku, products.c.id > last.id)
            found += [_product(r) for r in await self.conn.execute(rest)]
        return found

    @staticmethod
    def _values(p: Product) -> dict[str, Any]:
        return {
            "id": p.id,
            "sku": p.sku,
            "name": p.name,
            "description": p.description,
            "category_id": p.category_id,
            "owner_partner_id": p.owner_partner_id,
            "base_unit": p.base_unit.value,
            "barcodes": list(p.barcodes),
            "texts": p.texts,
            "tax_class": p.tax_class.value,
            "attributes": p.attributes,
            "status": p.status.value,
            "version": p.version,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
            "kind": p.kind.value,
            "components": [
                {"product_id": str(c.product_id), "quantity": str(c.quantity)} for c in p.components
            ],
            "allow_backorders": p.allow_backorders,
            "packs": {name: str(q) for name, q in p.packs.items()},
        }


_CODES: dict[uuid.UUID, str] = {}
_LOT_TRACKED: dict[uuid.UUID, bool] = {}


class LocationRepository(Repository):
    async def add(self, location: Location) -> None:
        await self.conn.execute(
            insert(locations).values(
                id=location.id,
                code=location.code,
                name=location.name,
                kind=location.kind.value,
                owner_partner_id=location.owner_partner_id,
                created_at=location.created_at,
                time_zone=location.time_zone,
            )
        )

    async def get(self, location_id: uuid.UUID) -> Location | None:
        row = (await self.conn.execute(select(locations).where(locations.c.id == location_id))).first()
        return _location(row) if row else None

    async def codes(self, location_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Location codes for events. Locations are never changed or deleted, so what a
        process has read once it keeps (hot paths then skip the query)."""
        missing = location_ids - _CODES.keys()
        if missing:
            stmt = select(locations.c.id, locations.c.code).where(locations.c.id.in_(missing))
            for r in await self.conn.execute(stmt):
                _CODES[r.id] = r.code
        return {loc: _CODES[loc] for loc in location_ids if loc in _CODES}

    async def get_by_code(self, code: str) -> Location | None:
        row = (await self.conn.execute(select(locations).where(locations.c.code == code))).first()
        return _location(row) if row else None

    async def find(self, owners: AbstractSet[uuid.UUID] | None) -> list[Location]:
        stmt = select(locations).order_by(locations.c.code)
        if owners is not None:
            stmt = stmt.where(
                locations.c.owner_partner_id.in_(owners) | locations.c.owner_partner_id.is_(None)
            )
        return [_location(r) for r in await self.conn.execute(stmt)]


def _location(row: Row[Any]) -> Location:
    return Location(
        id=row.id,
        code=row.code,
        name=row.name,
        kind=LocationKind(row.kind),
        owner_partner_id=row.owner_partner_id,
        created_at=row.created_at,
        time_zone=row.time_zone,
    )
