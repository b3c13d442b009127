"""What one channel is told about a product, in its own terms.

The view is computed when a delivery is sent, from the hub's current state (not the
event's): a late delivery then carries the latest truth, which is what a storefront
that overwrites values needs. Storefront payloads follow the platforms' documented
shapes (Shopify GraphQL Admin API fields, WooCommerce REST v3); see sync/storefronts.py
and domain/shopify_graphql.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from productsync.domain.catalog import Component, Product
from productsync.domain.channels import Channel
from productsync.domain.inventory import StockLevel
from productsync.domain.pricing import PriceInForce


def _pick(
    texts: dict[str, Any], name: Any, description: Any, locale: str | None
) -> tuple[Any, Any, str | None]:
    """Name, description and the tag they come from: the exact tag, then another tag of
    its language, then the default texts (tag None)."""
    if locale:
        language = locale.split("-")[0].lower()
        candidates = [locale, *(t for t in texts if t.split("-")[0].lower() == language)]
        for tag in candidates:
            text = texts.get(tag)
            if isinstance(text, dict) and text.get("name"):
                return text["name"], text.get("description", description), tag
    return name, description, None


def localized(product: Product, locale: str | None) -> tuple[str, str | None]:
    """Name and description in the channel's locale: exact tag, then its language, then the default."""
    name, description, _ = _pick(product.texts, product.name, product.description, locale)
    return name, description


def localized_product_data(data: Any, locale: str | None) -> Any:
    """A product event's data as a channel with a locale is told it: ``product.name`` and
    ``product.description`` in that locale (as ``localized``), and ``product.locale``, the
    tag they come from (null: the default texts). Other data, or no locale: unchanged."""
    product = data.get("product") if isinstance(data, dict) else None
    if not locale or not isinstance(product, dict):
        return data
    texts = product.get("texts")
    name, description, tag = _pick(
        texts if isinstance(texts, dict) else {}, product.get("name"), product.get("description"), locale
    )
    return {**data, "product": {**product, "name": name, "description": description, "locale": tag}}


def channel_available(channel: Channel, levels: list[StockLevel]) -> Decimal:
    """Available-to-sell for the channel: its locations' availability (all locations when
    it names none) minus its buffer, never below zero."""
    chosen = [lv for lv in levels if channel.counts_location(lv.location_id)]
    return channel.available_to_sell(sum((lv.available for lv in chosen), Decimal(0)))


def _at_locations(channel: Channel | None, levels: list[StockLevel]) -> Decimal:
    chosen = [
        lv
        for lv in levels
        if channel is None or channel.counts_location(lv.location_id)
    ]
    return sum((lv.available for lv in chosen), Decimal(0))


def bundle_available(
    components: Iterable[Component],
    levels: dict[uuid.UUID, list[StockLevel]],
    channel: Channel | None = None,
) -> Decimal:
    """How many whole bundles can be made: the least, over components, of what is available
    (at the channel's locations) divided by what one bundle takes; minus the channel's
    buffer. Derived, never stored."""
    counts = [
        (_at_locations(channel, levels.get(c.product_id, [])) / c.quantity).to_integral_value(ROUND_FLOOR)
        for c in components
    ]
    made = max(Decimal(0), min(counts)) if counts else Decimal(0)
    return channel.available_to_sell(made) if channel is not None else made


def bundle_components(data: Any) -> list[Component] | None:
    """The components a bundle's stock event names; None for a plain level's event."""
    bundle = data.get("bundle") if isinstance(data, dict) else None
    if not isinstance(bundle, dict):
        return None
    return [
        Component(uuid.UUID(c["product_id"]), Decimal(c["quantity"])) for c in bundle.get("components", [])
    ]


def product_available(
    product: Product, levels: dict[uuid.UUID, list[StockLevel]], channel: Channel
) -> Decimal:
    """The channel's number for a product, bundle or not (``levels`` by product id)."""
    if product.is_bundle:
        return bundle_available(product.components, levels, channel)
    return channel_available(channel, levels.get(product.id, []))


@dataclass(frozen=True)
class ChannelView:
    """Everything a connector needs besides the event: the channel's ids for the product,
    its available-to-sell, its price, texts in its locale, and platform credentials."""

    sku: str
    external_ids: tuple[str, ...]
    available: Decimal | None = None
    price: Decimal | None = None
    currency: str | None = None
    name: str | None = None
    description: str | None = None
    active: bool = True
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    price_in_force: PriceInForce | None = None  # ``price`` with its window and regular price


def whole_units(quantity: Decimal) -> int:
    """Storefronts count whole units: a fraction left is not sellable."""
    return int(quantity.to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True)
class PlatformRequest:
    method: str
    path: str
    body: dict[str, Any]


def woocommerce_requests(event_type: str, view: ChannelView, external_id: str) -> list[PlatformRequest]:
    """WooCommerce REST v3: ``PUT /wp-json/wc/v3/products/{id}`` (or
    ``products/{id}/variations/{vid}`` for an external id ``id/vid``)."""
    product_id, _, variation_id = external_id.partition("/")
    path = f"/wp-json/wc/v3/products/{product_id}"
    if variation_id:
        path += f"/variations/{variation_id}"
    if event_type.endswith("stock.changed") and view.available is not None:
        return [
            PlatformRequest(
                "PUT", path, {"manage_stock": True, "stock_quantity": whole_units(view.available)}
            )
        ]
    if event_type.endswith("price.changed") and view.price is not None:
        return [PlatformRequest("PUT", path, woocommerce_price_fields(view))]
    if ".product." in event_type:
        body: dict[str, Any] = {"sku": view.sku, "status": "publish" if view.active else "draft"}
        if not variation_id:
            body.update({"name": view.name, "description": view.description or ""})
        return [PlatformRequest("PUT", path, body)]
    return []


def _gmt(at: datetime | None) -> str:
    """WooCommerce's ``*_gmt`` date fields: ``YYYY-MM-DDTHH:MM:SS`` in UTC; "" clears one."""
    return at.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() if at else ""


def shopify_price_fields(view: ChannelView) -> dict[str, Any]:
    """Shopify shows a sale as ``price`` under a struck-through ``compareAtPrice`` (the
    GraphQL ``ProductVariantsBulkInput`` fields): the regular price while a cheaper window
    runs, null otherwise (which also ends an old one)."""
    sale = view.price_in_force if view.price_in_force and view.price_in_force.on_sale else None
    return {
        "price": str(view.price),
        "compareAtPrice": str(sale.regular_amount) if sale else None,
    }


def woocommerce_price_fields(view: ChannelView) -> dict[str, Any]:
    """WooCommerce keeps a sale beside the regular price: ``sale_price`` with its window
    (``date_on_sale_from_gmt``/``_to_gmt``) while a cheaper window runs; otherwise the
    price in force is the regular price and the sale fields are cleared with "" (the
    REST API ignores null, so null would leave an ended sale running)."""
    sale = view.price_in_force if view.price_in_force and view.price_in_force.on_sale else None
    if sale is None:
        return {
            "regular_price": str(view.price),
            "sale_price": "",
            "date_on_sale_from_gmt": "",
            "date_on_sale_to_gmt": "",
        }
    return {
        "regular_price": str(sale.regular_amount),
        "sale_price": str(sale.amount),
        "date_on_sale_from_gmt": _gmt(sale.valid_from),
        "date_on_sale_to_gmt": _gmt(sale.valid_to),
    }
