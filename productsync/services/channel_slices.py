"""What the hub says one channel should hold: its slice, product by product.

Shared by the channel-view export and reconciliation, so both compare against one
truth. Nothing here restates a rule: the levels, components and prices come from
``snapshots.read_states`` (the backfill's reads), lots are counted as the channel
counts them (``lots.counted_levels``, the same call ``GET /v1/availability`` makes),
and the numbers come from ``domain/projection.py`` (available-to-sell, bundles derived,
texts in the channel's locale) and ``domain/pricing.price_in_force`` (windows included).

The slice is read in keyset pages by product id (``after`` is an opaque token), each
page a handful of set-based queries, so a slice of any size is walked in constant memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from productsync.domain.catalog import Product
from productsync.domain.channels import Channel, ChannelKind
from productsync.domain.errors import InvalidInput
from productsync.domain.pricing import price_in_force
from productsync.domain.projection import localized, product_available, whole_units
from productsync.services.lots import counted_levels
from productsync.services.snapshots import read_states
from productsync.store.uow import UnitOfWork

# Storefronts count whole units (a fraction left is not sellable there).
STOREFRONTS = frozenset({ChannelKind.SHOPIFY, ChannelKind.WOOCOMMERCE})
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class ExpectedItem:
    """What the hub says one channel should hold for one product."""

    product_id: uuid.UUID
    sku: str
    external_ids: tuple[str, ...]
    gtins: tuple[str, ...]
    quantity: Decimal  # the channel's available-to-sell (whole units for storefronts)
    price: Decimal | None  # in force now for one sellable unit on the channel's list
    compare_at_price: Decimal | None  # the regular price while a cheaper window runs
    currency: str | None
    title: str  # in the channel's locale
    description: str | None
    version: int
    owner_partner_id: uuid.UUID | None = None
    price_list_id: uuid.UUID | None = None


def _token(product_id: uuid.UUID) -> str:
    return product_id.hex


def _after(token: str | None) -> uuid.UUID | None:
    if token is None or token == "":
        return None
    try:
        return uuid.UUID(hex=token)
    except ValueError:
        raise InvalidInput("the page token is not one this hub gave out", field="after") from None


async def expected_items(uow: UnitOfWork, channel: Channel, products: list[Product]) -> list[ExpectedItem]:
    """The expected state of these products on the channel, in a few queries for all."""
    if not products:
        return []
    reads = await read_states(uow, channel, products)
    levels = await counted_levels(uow, reads.levels, channel.min_shelf_life_days)
    external = await uow.exports.external_ids(channel.id, [p.id for p in products])
    whole = channel.kind in STOREFRONTS
    out = []
    for p in products:
        quantity = product_available(p, levels, channel)
        if whole:
            quantity = Decimal(whole_units(quantity))
        in_force = None
        entries, _ = reads.prices.get(p.id, ([], 0))
        if reads.price_list is not None and entries:
            in_force = price_in_force(
                entries, uow.now, currency=reads.price_list.currency, base_unit=p.base_unit
            )
        title, description = localized(p, channel.locale)
        out.append(
            ExpectedItem(
                product_id=p.id,
                sku=p.sku,
                external_ids=external.get(p.id, ()),
                gtins=tuple(p.barcodes),
                quantity=quantity,
                price=in_force.amount if in_force else None,
                compare_at_price=in_force.regular_amount if in_force and in_force.on_sale else None,
                currency=in_force.currency if in_force else None,
                title=title,
                description=description,
                version=p.version,
                owner_partner_id=p.owner_partner_id,
                price_list_id=channel.price_list_id,
            )
        )
    return out


async def slice_page(
    uow: UnitOfWork, channel: Channel, *, after: str | None, limit: int
) -> tuple[list[ExpectedItem], str | None]:
    """One page of the channel's slice (active products of its partners and categories,
    by product id) as expected items, and the token of the next page (None: last page)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}", field="limit")
    products = await uow.exports.slice_products(
        partner_ids=channel.partner_ids, category_ids=channel.category_ids, after=_after(after), limit=limit
    )
    items = await expected_items(uow, channel, products)
    return items, (_token(products[-1].id) if len(products) == limit else None)


async def expected_for(
    uow: UnitOfWork, channel: Channel, product_ids: Collection[uuid.UUID]
) -> list[ExpectedItem]:
    """The expected items of these products, those of them in the channel's slice only."""
    if not product_ids:
        return []
    products = await uow.exports.slice_products(
        partner_ids=channel.partner_ids,
        category_ids=channel.category_ids,
        after=None,
        limit=len(product_ids),
        ids=product_ids,
    )
    return await expected_items(uow, channel, products)
