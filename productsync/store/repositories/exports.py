"""Set-based, keyset-paged reads behind exports and channel slices.

Every read takes ``after`` (the last key of the previous page) and ``limit``: pages are
walked by primary key (or another indexed key), never with OFFSET, so page N costs what
page 1 costs and memory is one page whatever the catalog's size. JSON columns are read
as their stored text (a cast), so an export copies them out without parsing and
re-serializing every row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    Text,
    case,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
)

from productsync.domain.catalog import Product, ProductStatus
from productsync.domain.events import EventType
from productsync.store.repositories.base import Repository
from productsync.store.repositories.catalog import _product
from productsync.store.tables import (
    categories,
    channels,
    locations,
    lots,
    outbox,
    partners,
    price_entries,
    price_lists,
    product_aliases,
    products,
    sku_mappings,
    stock_levels,
)

_P = products.c
_OWNER = partners.c.code.label("partner")
# In file order, then the id (the keyset): a page's rows go to the CSV writer as they are.
_PRODUCT_COLUMNS = (
    _P.sku,
    _OWNER,
    _P.name,
    categories.c.code.label("category"),
    _P.description,
    _P.base_unit,
    cast(_P.barcodes, Text).label("barcodes"),
    _P.tax_class,
    _P.status,
    cast(_P.attributes, Text).label("attributes"),
    cast(_P.texts, Text).label("texts"),
    _P.allow_backorders,
    cast(_P.packs, Text).label("packs"),
    _P.id,
)
# For CSV the two cells that are not text as stored are formatted by the database (the
# GTINs joined with "|", the flag as true/false), so no Python code touches a row.
_BARCODES_JOINED = {
    "postgresql": "array_to_string(ARRAY(SELECT json_array_elements_text(products.barcodes)), '|')",
    "sqlite": "(SELECT group_concat(value, '|') FROM json_each(products.barcodes))",
}
_FLAG_TEXT = case((_P.allow_backorders, "true"), else_="false").label("allow_backorders")
_WITH_OWNER = products.join(partners, partners.c.id == _P.owner_partner_id)

# Which events say that a thing of each kind changed (directed events, such as a
# correction pushed to one channel, change nothing and are left out).
PRODUCT_EVENTS = (EventType.PRODUCT_CREATED, EventType.PRODUCT_UPDATED, EventType.PRODUCT_ARCHIVED)
STOCK_EVENTS = (EventType.STOCK_CHANGED,)
PRICE_EVENTS = (EventType.PRICE_CHANGED,)
STATE_EVENTS = PRODUCT_EVENTS + STOCK_EVENTS + PRICE_EVENTS


def _owned(owners: AbstractSet[uuid.UUID] | None) -> Any:
    """Products whose owner is in ``owners`` (None: every partner, an admin)."""
    if owners is None:
        return true()
    return _P.owner_partner_id.in_(owners) if owners else false()


class ExportRepository(Repository):
    # --- products ---------------------------------------------------------------------

    async def product_rows(
        self,
        *,
        owners: AbstractSet[uuid.UUID] | None,
        after: uuid.UUID | None,
        limit: int,
        ids: Collection[uuid.UUID] | None = None,
        csv: bool = False,
    ) -> list[Any]:
        """Products by id: the export's columns in file order (owner's and category's
        codes, JSON as stored text), then the id. ``csv``: barcodes and the backorder flag
        as CSV text."""
        columns: list[Any] = list(_PRODUCT_COLUMNS)
        if csv:
            joined = _BARCODES_JOINED["postgresql" if self.is_postgres else "sqlite"]
            columns[6], columns[11] = literal_column(joined).label("barcodes"), _FLAG_TEXT
        stmt = (
            select(*columns)
            .select_from(_WITH_OWNER.join(categories, categories.c.id == _P.category_id))
            .where(_owned(owners))
            .order_by(_P.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(_P.id > after)
        if ids is not None:
            stmt = stmt.where(_P.id.in_(list(ids)))
        return list((await self.conn.execute(stmt)).all())

    # --- stock --------------------------------------------------------------------------

    async def level_rows(
        self,
        *,
        owners: AbstractSet[uuid.UUID] | None,
        after: tuple[uuid.UUID, uuid.UUID] | None,
        limit: int,
        keys: Collection[tuple[uuid.UUID, str]] | None = None,
    ) -> list[Any]:
        """Stock levels by (product, location) with SKU, owner code and location code, the
        quantities as stored (scaled integers: an export formats them without a Decimal
        per value); ``keys`` narrows to (product id, location code) pairs (a delta)."""
        sl = stock_levels.c
        stmt = (
            select(
                sl.product_id,
                sl.location_id,
                _P.sku,
                _OWNER,
                locations.c.code.label("location"),
                type_coerce(sl.on_hand, BigInteger).label("on_hand"),
                type_coerce(sl.safety_stock, BigInteger).label("safety_stock"),
            )
            .select_from(
                stock_levels.join(products, _P.id == sl.product_id)
                .join(partners, partners.c.id == _P.owner_partner_id)
                .join(locations, locations.c.id == sl.location_id)
            )
            .where(_owned(owners))
            .order_by(sl.product_id, sl.location_id)
            .limit(limit)
        )
        if after is not None:
            # The redundant bound on products.id lets the join start at the page instead of
            # walking products from the first one on every page.
            stmt = stmt.where(tuple_(sl.product_id, sl.location_id) > tuple_(*after), _P.id >= after[0])
        if keys is not None:
            stmt = stmt.where(tuple_(sl.product_id, locations.c.code).in_(list(keys)))
        return list((await self.conn.execute(stmt)).all())

    async def lots_of(
        self, first: uuid.UUID, last: uuid.UUID
    ) -> dict[tuple[uuid.UUID, uuid.UUID], list[tuple[Any, ...]]]:
        """Lots holding stock of the products from ``first`` to ``last`` (a page's range:
        one index range, no list of ids), per level, in expiry order; quantities scaled."""
        t = lots.c
        stmt = (
            select(
                t.product_id,
                t.location_id,
                t.lot_number,
                t.expires_on,
                type_coerce(t.quantity, BigInteger).label("quantity"),
            )
            .where(t.product_id >= first, t.product_id <= last, t.quantity > 0)
            .order_by(t.product_id, t.location_id, t.expires_on, t.lot_number)
        )
        out: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[Any, ...]]] = {}
        for r in (await self.conn.execute(stmt)).all():
            out.setdefault((r[0], r[1]), []).append(tuple(r))
        return out

    # --- prices -------------------------------------------------------------------------

    async def price_rows(
        self,
        *,
        owners: AbstractSet[uuid.UUID] | None,
        after: int | None,
        limit: int,
        pairs: Collection[tuple[uuid.UUID, uuid.UUID]] | None = None,
    ) -> list[Any]:
        """Price tiers by entry id (the import gathers a tier set from wherever its rows
        are in the file). A partner reads lists it owns, shared ones and hub-wide ones,
        for products it may read. ``pairs`` narrows to (price list, product) pairs."""
        pe = price_entries.c
        stmt = (
            select(
                pe.price_list_id,
                pe.product_id,
                pe.id,
                _P.sku,
                _OWNER,
                type_coerce(pe.amount, String).label("amount"),  # canonical decimal text as stored
                type_coerce(pe.min_quantity, BigInteger).label("min_quantity"),  # scaled
                pe.valid_from,
                pe.valid_to,
            )
            .select_from(
                price_entries.join(products, _P.id == pe.product_id)
                .join(partners, partners.c.id == _P.owner_partner_id)
                .join(price_lists, price_lists.c.id == pe.price_list_id)
            )
            .where(_owned(owners))
            .order_by(pe.id)
            .limit(limit)
        )
        if owners is not None:
            stmt = stmt.where(
                or_(price_lists.c.owner_partner_id.is_(None), price_lists.c.owner_partner_id.in_(owners))
            )
        if after is not None:
            stmt = stmt.where(pe.id > after)
        if pairs is not None:
            stmt = stmt.where(tuple_(pe.price_list_id, pe.product_id).in_(list(pairs)))
        return list((await self.conn.execute(stmt)).all())

    # --- mappings and aliases -----------------------------------------------------------

    async def mapping_rows(
        self,
        *,
        channel_owners: AbstractSet[uuid.UUID] | None,
        owners: AbstractSet[uuid.UUID] | None,
        channel_id: uuid.UUID | None,
        after: tuple[uuid.UUID, str] | None,
        limit: int,
    ) -> list[Any]:
        """SKU mappings by (channel, external id), of channels the caller administers
        (``channel_owners``; None: all) and products it may read."""
        m = sku_mappings.c
        stmt = (
            select(m.channel_id, m.external_id, _P.sku, _OWNER, m.external_sku)
            .select_from(
                sku_mappings.join(products, _P.id == m.product_id)
                .join(partners, partners.c.id == _P.owner_partner_id)
                .join(channels, channels.c.id == m.channel_id)
            )
            .where(_owned(owners))
            .order_by(m.channel_id, m.external_id)
            .limit(limit)
        )
        if channel_owners is not None:
            stmt = stmt.where(channels.c.owner_partner_id.in_(channel_owners) if channel_owners else false())
        if channel_id is not None:
            stmt = stmt.where(m.channel_id == channel_id)
        if after is not None:
            stmt = stmt.where(tuple_(m.channel_id, m.external_id) > tuple_(*after))
        return list((await self.conn.execute(stmt)).all())

    async def alias_rows(
        self, *, owners: AbstractSet[uuid.UUID] | None, after: tuple[str, str] | None, limit: int
    ) -> list[Any]:
        """Aliases by (scheme, code) of products the caller may read."""
        a = product_aliases.c
        stmt = (
            select(a.scheme, a.code, _P.sku, _OWNER)
            .select_from(product_aliases.join(_WITH_OWNER, _P.id == a.product_id))
            .where(_owned(owners))
            .order_by(a.scheme, a.code)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(tuple_(a.scheme, a.code) > tuple_(*after))
        return list((await self.conn.execute(stmt)).all())

    # --- what changed -------------------------------------------------------------------

    async def changes(
        self, *, after_seq: int, upto_seq: int, types: Sequence[EventType], limit: int
    ) -> list[Any]:
        """Public events in (after_seq, upto_seq] of these types, in seq order: their seq,
        product id, location code (stock) and price list id (prices)."""
        o = outbox.c
        stmt = (
            select(
                o.seq,
                o.product_id,
                o.data["location_code"].as_string().label("location_code"),
                o.data["price_list_id"].as_string().label("price_list_id"),
            )
            .where(
                o.seq > after_seq,
                o.seq <= upto_seq,
                o.channel_id.is_(None),
                o.product_id.is_not(None),
                o.type.in_([t.value for t in types]),
            )
            .order_by(o.seq)
            .limit(limit)
        )
        return list((await self.conn.execute(stmt)).all())

    # --- channel slices -----------------------------------------------------------------

    async def slice_products(
        self,
        *,
        partner_ids: Collection[uuid.UUID],
        category_ids: Collection[uuid.UUID],
        after: uuid.UUID | None,
        limit: int,
        ids: Collection[uuid.UUID] | None = None,
    ) -> list[Product]:
        """Active products of a channel's slice (its partners and categories; none named:
        all), by id."""
        stmt = select(products).where(_P.status == ProductStatus.ACTIVE.value).order_by(_P.id).limit(limit)
        if partner_ids:
            stmt = stmt.where(_P.owner_partner_id.in_(list(partner_ids)))
        if category_ids:
            stmt = stmt.where(_P.category_id.in_(list(category_ids)))
        if after is not None:
            stmt = stmt.where(_P.id > after)
        if ids is not None:
            stmt = stmt.where(_P.id.in_(list(ids)))
        return [_product(r) for r in await self.conn.execute(stmt)]

    async def external_ids(
        self, channel_id: uuid.UUID, product_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[str, ...]]:
        """A channel's external ids of many products (one query), in id order."""
        if not product_ids:
            return {}
        m = sku_mappings.c
        stmt = (
            select(m.product_id, m.external_id)
            .where(m.channel_id == channel_id, m.product_id.in_(list(product_ids)))
            .order_by(m.product_id, m.external_id)
        )
        out: dict[uuid.UUID, list[str]] = {}
        for r in await self.conn.execute(stmt):
            out.setdefault(r.product_id, []).append(r.external_id)
        return {pid: tuple(ids) for pid, ids in out.items()}

    # --- the slice's expected state, set-based (reconciliation's hot path) ---------------

    async def slice_rows(
        self,
        *,
        partner_ids: Collection[uuid.UUID],
        category_ids: Collection[uuid.UUID],
        after: uuid.UUID | None,
        limit: int,
    ) -> list[Any]:
        """``slice_products``' page as bare rows: only the columns an expected item needs,
        JSON as stored text (parsed only when not empty), no ``Product`` per row."""
        stmt = (
            select(
                _P.id,
                _P.sku,
                _P.name,
                _P.description,
                cast(_P.barcodes, Text).label("barcodes"),
                cast(_P.texts, Text).label("texts"),
                _P.version,
                _P.owner_partner_id,
                _P.base_unit,
                _P.kind,
            )
            .where(_P.status == ProductStatus.ACTIVE.value)
            .order_by(_P.id)
            .limit(limit)
        )
        if partner_ids:
            stmt = stmt.where(_P.owner_partner_id.in_(list(partner_ids)))
        if category_ids:
            stmt = stmt.where(_P.category_id.in_(list(category_ids)))
        if after is not None:
            stmt = stmt.where(_P.id > after)
        return list((await self.conn.execute(stmt)).all())

    async def available_sums(
        self, first: uuid.UUID, last: uuid.UUID, location_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, int]:
        """Per product from ``first`` to ``last`` (one index range): the sum over its levels
        (at these locations; none: all) of ``StockLevel.available`` (on hand less reserved
        and safety stock, never below zero per level), scaled like the column."""
        sl = stock_levels.c
        free = (
            type_coerce(sl.on_hand, BigInteger)
            - type_coerce(sl.reserved, BigInteger)
            - type_coerce(sl.safety_stock, BigInteger)
        )
        total = func.sum(case((free > 0, free), else_=0))
        stmt = (
            select(sl.product_id, type_coerce(total, BigInteger))
            .where(sl.product_id >= first, sl.product_id <= last)
            .group_by(sl.product_id)
        )
        if location_ids:
            stmt = stmt.where(sl.location_id.in_(list(location_ids)))
        return {r[0]: int(r[1]) for r in (await self.conn.execute(stmt)).all()}

    async def with_lots(self, first: uuid.UUID, last: uuid.UUID) -> set[uuid.UUID]:
        """Products from ``first`` to ``last`` with a lot holding stock (the lots
        ``lots.counted_levels`` would cap their levels with)."""
        t = lots.c
        stmt = (
            select(t.product_id).where(t.product_id >= first, t.product_id <= last, t.quantity > 0).distinct()
        )
        return {r[0] for r in (await self.conn.execute(stmt)).all()}

    async def external_ids_between(
        self, channel_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID
    ) -> dict[uuid.UUID, tuple[str, ...]]:
        """``external_ids`` of the products from ``first`` to ``last`` (one index range of
        ``ix_sku_mappings_product``, no IN list)."""
        m = sku_mappings.c
        stmt = (
            select(m.product_id, m.external_id)
            .where(m.channel_id == channel_id, m.product_id >= first, m.product_id <= last)
            .order_by(m.product_id, m.external_id)
        )
        out: dict[uuid.UUID, list[str]] = {}
        for pid, external_id in (await self.conn.execute(stmt)).all():
            out.setdefault(pid, []).append(external_id)
        return {pid: tuple(ids) for pid, ids in out.items()}

    async def price_entries_between(
        self, list_id: uuid.UUID, first: uuid.UUID, last: uuid.UUID
    ) -> dict[uuid.UUID, list[tuple[int, str, Any, Any]]]:
        """Tier rows (min quantity scaled, amount as stored text, valid from, valid to) of
        the products from ``first`` to ``last`` on one list, in ``backfills.prices``'
        order (min quantity, then entry id)."""
        pe = price_entries.c
        stmt = (
            select(
                pe.product_id,
                type_coerce(pe.min_quantity, BigInteger),
                type_coerce(pe.amount, String),
                pe.valid_from,
                pe.valid_to,
            )
            .where(pe.price_list_id == list_id, pe.product_id >= first, pe.product_id <= last)
            .order_by(pe.product_id, pe.min_quantity, pe.id)
        )
        out: dict[uuid.UUID, list[tuple[int, str, Any, Any]]] = {}
        for pid, q, amount, valid_from, valid_to in (await self.conn.execute(stmt)).all():
            out.setdefault(pid, []).append((int(q), amount, valid_from, valid_to))
        return out

    async def partner_codes(self, partner_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not partner_ids:
            return {}
        stmt = select(partners.c.id, partners.c.code).where(partners.c.id.in_(list(partner_ids)))
        return {r.id: r.code for r in await self.conn.execute(stmt)}
