"""A channel's view of a product and the storefront request shapes (pure rules)."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from productsync.domain import channels as rules
from productsync.domain import shopify_graphql as gql
from productsync.domain.catalog import Category, NewProduct, create_product
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.inventory import StockLevel
from productsync.domain.projection import (
    ChannelView,
    channel_available,
    localized,
    shopify_price_fields,
    whole_units,
    woocommerce_requests,
)

NOW = datetime(2026, 11, 23, tzinfo=UTC)
OWNER = uuid.uuid4()
CATEGORY = Category(uuid.uuid4(), "misc", "Misc", None, {}, False, NOW)
PRODUCT = create_product(
    NewProduct(
        sku="gel-1",
        name="Gel polish",
        category_id=CATEGORY.id,
        owner_partner_id=OWNER,
        description="Glossy",
        texts={"de-DE": {"name": "Gellack", "description": "Glänzend"}, "fr": {"name": "Vernis"}},
    ),
    CATEGORY,
    now=NOW,
)
L1, L2, L3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("locale", "name"),
    [
        ("de-DE", "Gellack"),
        ("de-AT", "Gellack"),
        ("fr-CA", "Vernis"),
        ("it-IT", "Gel polish"),
        (None, "Gel polish"),
    ],
)
def test_texts_follow_the_channel_locale_then_its_language_then_the_default(
    locale: str | None, name: str
) -> None:
    assert localized(PRODUCT, locale)[0] == name


def _level(location: uuid.UUID, on_hand: str, reserved: str = "0", safety: str = "0") -> StockLevel:
    return StockLevel(PRODUCT.id, location, Decimal(on_hand), Decimal(reserved), Decimal(safety), 1)


@pytest.mark.parametrize(
    ("locations", "buffer", "expected"),
    [
        ((L1, L2), "0", "12"),  # 5 + 7; L3 is not the channel's
        ((L1,), "2", "3"),
        ((L1,), "9", "0"),  # never below zero
        ((), "1", "14"),  # no locations named: all of them: 5 + 7 + (6 − 2 reserved − 1 safety) − 1
    ],
)
def test_available_to_sell_sums_the_channel_locations_minus_its_buffer(
    locations: tuple[uuid.UUID, ...], buffer: str, expected: str
) -> None:
    channel = rules.create_channel(
        NewChannel(
            name="s",
            kind=ChannelKind.SSE,
            owner_partner_id=OWNER,
            location_ids=locations,
            buffer_stock=Decimal(buffer),
        ),
        now=NOW,
    )
    levels = [_level(L1, "5"), _level(L2, "7"), _level(L3, "6", reserved="2", safety="1")]
    assert channel_available(channel, levels) == Decimal(expected)


VIEW = ChannelView(
    sku="GEL-1",
    external_ids=("1",),
    available=Decimal("7.9"),
    price=Decimal("12.50"),
    currency="EUR",
    name="Gellack",
    description="Glänzend",
)
V_GID, P_GID = "gid://shopify/ProductVariant/808950810", "gid://shopify/Product/632910392"


def test_shopify_stock_is_a_compare_and_set_of_available_in_whole_units() -> None:
    variables = gql.set_quantities_variables(
        key="e1",
        inventory_item="gid://shopify/InventoryItem/39072856",
        location="gid://shopify/Location/655441491",
        quantity=whole_units(VIEW.available or Decimal(0)),
        change_from=9,
        event_id="e1",
    )
    assert variables["input"]["quantities"] == [
        {
            "inventoryItemId": "gid://shopify/InventoryItem/39072856",
            "locationId": "gid://shopify/Location/655441491",
            "quantity": 7,
            "changeFromQuantity": 9,
        }
    ]


def test_shopify_price_and_content_go_to_the_variant_and_the_product() -> None:
    price = gql.price_variables(P_GID, V_GID, shopify_price_fields(VIEW))
    assert price == {
        "productId": P_GID,
        "variants": [{"id": V_GID, "price": "12.50", "compareAtPrice": None}],
    }
    archived = replace(VIEW, active=False)
    content = gql.text_variables(
        P_GID, title=archived.name, description=archived.description, active=archived.active
    )
    assert content["product"] == {
        "id": P_GID,
        "title": "Gellack",
        "descriptionHtml": "Glänzend",
        "status": "ARCHIVED",
    }


@pytest.mark.parametrize(
    ("external_id", "path"),
    [("794", "/wp-json/wc/v3/products/794"), ("794/801", "/wp-json/wc/v3/products/794/variations/801")],
)
def test_woocommerce_updates_products_or_variations(external_id: str, path: str) -> None:
    [stock] = woocommerce_requests("productsync.stock.changed", VIEW, external_id)
    assert (stock.method, stock.path, stock.body) == (
        "PUT",
        path,
        {"manage_stock": True, "stock_quantity": 7},
    )
    [price] = woocommerce_requests("productsync.price.changed", VIEW, external_id)
    assert price.body == {
        "regular_price": "12.50",
        "sale_price": "",
        "date_on_sale_from_gmt": "",
        "date_on_sale_to_gmt": "",
    }


def test_events_without_what_a_platform_needs_send_nothing() -> None:
    bare = ChannelView(sku="X", external_ids=("1",))
    assert woocommerce_requests("productsync.price.changed", bare, "1") == []


@pytest.mark.parametrize(("q", "units"), [("0", 0), ("0.999", 0), ("3", 3), ("3.5", 3)])
def test_storefronts_get_whole_units_rounded_down(q: str, units: int) -> None:
    assert whole_units(Decimal(q)) == units


@pytest.mark.parametrize(
    ("event_type", "sku", "key"),
    [
        ("productsync.stock.changed", "NC-GEL-001", "stock.changed.NC-GEL-001"),
        ("productsync.price.changed", "ALC-GIN-01", "price.changed.ALC-GIN-01"),
        ("productsync.product.archived", "X", "product.archived.X"),
    ],
)
def test_routing_keys_name_the_change_and_the_sku(event_type: str, sku: str, key: str) -> None:
    assert rules.routing_key(event_type, sku) == key
