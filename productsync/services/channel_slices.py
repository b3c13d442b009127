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

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from productsync.domain.catalog import Product, ProductKind
from productsync.domain.channels import Channel, ChannelKind
from productsync.domain.errors import InvalidInput
from productsync.domain.pricing import PriceEntry, PriceInForce, PriceList, price_in_force
from productsync.domain.projection import localized, localized_product_data, product_available, whole_units
from productsync.domain.quantities import SCALE, BaseUnit
from productsync.services.lots import counted_levels
from productsync.services.snapshots import read_states
from productsync.store.uow import UnitOfWork

# Storefronts count whole units (a fraction left is not sellable there).
STOREFRONTS = frozenset({ChannelKind.SHOPIFY, ChannelKind.WOOCOMMERCE})
MAX_LIMIT = 10_000
_QUANTUM = 10**SCALE  # the Quantity column stores thousandths


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
    by product id) as expected items, and the token of the next page (None: last page).

    The same items ``expected_items`` makes, in a handful of set-based reads per page
    (reconciliation walks a million products through here): bare product rows, per
    product the available sum over the channel's locations computed by the database,
    external ids, price rows and the lots probe as index ranges over the page's ids. Bundles
    and products with lots (their levels are capped lot by lot, components counted)
    take ``expected_items`` itself, so every rule stays in one place."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}", field="limit")
    rows = await uow.exports.slice_rows(
        partner_ids=channel.partner_ids, category_ids=channel.category_ids, after=_after(after), limit=limit
    )
    if not rows:
        return [], None
    first, last = rows[0].id, rows[-1].id
    exact = {r.id for r in rows if r.kind == ProductKind.BUNDLE.value} | await uow.exports.with_lots(
        first, last
    )
    by_rules: dict[uuid.UUID, ExpectedItem] = {}
    if exact:
        products = await uow.exports.slice_products(
            partner_ids=channel.partner_ids,
            category_ids=channel.category_ids,
            after=None,
            limit=len(exact),
            ids=exact,
        )
        by_rules = {i.product_id: i for i in await expected_items(uow, channel, products)}
    sums = await _available_sums(uow, channel, first, last)
    external = await uow.exports.external_ids_between(channel.id, first, last)
    prices: dict[uuid.UUID, list[tuple[int, str, Any, Any]]] = {}
    price_list = None
    if channel.price_list_id is not None:
        price_list = await uow.prices.get_list(channel.price_list_id)
        if price_list is not None:
            prices = await uow.exports.price_entries_between(channel.price_list_id, first, last)
    items = []
    for r in rows:
        done = by_rules.get(r.id)
        if done is not None:
            items.append(done)
            continue
        items.append(_expected(channel, r, sums, external, prices, price_list, uow.now))
    return items, (_token(last) if len(rows) == limit else None)


async def _available_sums(
    uow: UnitOfWork, channel: Channel, first: uuid.UUID, last: uuid.UUID
) -> dict[uuid.UUID, int]:
    """Scaled available sums at the channel's locations (``Channel.counts_location``)."""
    if not channel.location_ids:
        return await uow.exports.available_sums(first, last, ())
    named = []
    for x in channel.location_ids:
        try:
            named.append(uuid.UUID(str(x)))
        except ValueError:
            continue  # counts_location compares text: an id that is no UUID matches no level
    return await uow.exports.available_sums(first, last, named) if named else {}


_NO_TEXTS = ("{}", "null", "")
_NO_GTINS = ("[]", "null", "")


def _expected(
    channel: Channel,
    r: Any,
    sums: dict[uuid.UUID, int],
    external: dict[uuid.UUID, tuple[str, ...]],
    prices: dict[uuid.UUID, list[tuple[int, str, Any, Any]]],
    price_list: PriceList | None,
    now: datetime,
) -> ExpectedItem:
    """One simple product without lots, as ``expected_items`` computes it."""
    quantity = channel.available_to_sell(Decimal(sums.get(r.id, 0)) / _QUANTUM)
    if channel.kind in STOREFRONTS:
        quantity = Decimal(whole_units(quantity))
    in_force = None
    rows = prices.get(r.id)
    if rows and price_list is not None:
        in_force = fast_price_in_force(
            rows, now, currency=price_list.currency, base_unit=BaseUnit(r.base_unit)
        )
    title, description = r.name, r.description
    if channel.locale and r.texts not in _NO_TEXTS:
        texts = json.loads(r.texts)
        if texts:
            data = localized_product_data(
                {"product": {"texts": texts, "name": title, "description": description}}, channel.locale
            )["product"]
            title, description = data["name"], data["description"]
    return ExpectedItem(
        product_id=r.id,
        sku=r.sku,
        external_ids=external.get(r.id, ()),
        gtins=() if r.barcodes in _NO_GTINS else tuple(json.loads(r.barcodes)),
        quantity=quantity,
        price=in_force.amount if in_force else None,
        compare_at_price=in_force.regular_amount if in_force and in_force.on_sale else None,
        currency=in_force.currency if in_force else None,
        title=title,
        description=description,
        version=r.version,
        owner_partner_id=r.owner_partner_id,
        price_list_id=channel.price_list_id,
    )


def fast_price_in_force(
    rows: list[tuple[int, str, Any, Any]], at: datetime, *, currency: str, base_unit: BaseUnit
) -> PriceInForce | None:
    """``pricing.price_in_force`` over tier rows as read (min quantity scaled, amount
    text, window): the common single open-ended tier without a Decimal per field and
    without the resolution machinery; anything else goes through ``price_in_force``."""
    if len(rows) == 1:
        q, amount, valid_from, valid_to = rows[0]
        if valid_from is None and valid_to is None:
            # One sellable unit is one piece (a tier above it does not apply) or, sold by
            # measure, this tier's own quantity.
            if base_unit is BaseUnit.PIECE and q > _QUANTUM:
                return None
            return PriceInForce(Decimal(amount), currency)
    entries = [PriceEntry(_quantity(q), Decimal(a), vf, vt) for q, a, vf, vt in rows]
    return price_in_force(entries, at, currency=currency, base_unit=base_unit)


def _quantity(scaled: int) -> Decimal:
    """A scaled quantity as the ``Quantity`` column type reads it."""
    return (Decimal(scaled) / _QUANTUM).normalize() if scaled else Decimal(0)


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
