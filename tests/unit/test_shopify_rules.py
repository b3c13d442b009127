"""Shopify webhook rules: the documented HMAC and what orders and refunds mean for stock."""

import base64
import hashlib
import hmac
from decimal import Decimal

import pytest

from productsync.domain.conflicts import InboundType
from productsync.domain.errors import InvalidInput
from productsync.domain.shopify import Line, stock_lines, verify_hmac

BODY = b'{"id":820982911946154508,"line_items":[{"variant_id":4001,"quantity":2}]}'
DIGEST = base64.b64encode(hmac.new(b"hush", BODY, hashlib.sha256).digest()).decode()


@pytest.mark.parametrize(
    ("secret", "body", "header", "ok"),
    [
        ("hush", BODY, DIGEST, True),
        ("hush", BODY, f" {DIGEST} ", True),
        ("other", BODY, DIGEST, False),
        ("hush", BODY + b" ", DIGEST, False),  # any change to the raw body breaks it
        ("hush", BODY, None, False),
        ("", BODY, DIGEST, False),
    ],
)
def test_hmac_is_base64_sha256_of_the_raw_body(
    secret: str, body: bytes, header: str | None, ok: bool
) -> None:
    assert verify_hmac(secret, body, header) is ok


def test_order_lines_are_sales_and_refunds_are_returns_unless_not_restocked() -> None:
    order = {
        "id": 450789469,
        "line_items": [
            {"id": 1, "variant_id": 4001, "quantity": 2},
            {"id": "2", "variant_id": "4002", "quantity": 1},
        ],
    }
    expected = [
        Line(InboundType.SALE, "4001", Decimal(2), "shopify:order:450789469:1"),
        Line(InboundType.SALE, "4002", Decimal(1), "shopify:order:450789469:2"),
    ]
    # Keyed on the order line, not the webhook: both order topics give the same keys.
    assert stock_lines("orders/create", order) == expected == stock_lines("orders/paid", order)
    refund = {
        "id": 509562969,
        "order_id": 450789469,
        "refund_line_items": [
            {"id": 7, "quantity": 1, "restock_type": "return", "line_item": {"id": 1, "variant_id": 4001}},
            {
                "id": 8,
                "quantity": 1,
                "restock_type": "no_restock",
                "line_item": {"id": 2, "variant_id": 4002},
            },
        ],
    }
    assert stock_lines("refunds/create", refund) == [
        Line(InboundType.RETURN, "4001", Decimal(1), "shopify:refund:509562969:7")
    ]
    assert stock_lines("customers/create", {}) is None


@pytest.mark.parametrize(
    "order",
    [
        {},
        {"id": 1, "line_items": []},
        {"id": 1, "line_items": ["x"]},
        {"id": 1, "line_items": [{"id": 1, "variant_id": None, "quantity": 1}]},  # a custom line item
        {"id": 1, "line_items": [{"id": 1, "variant_id": 1, "quantity": 0}]},
        {"id": 1, "line_items": [{"id": 1, "variant_id": 1, "quantity": 1.5}]},
        {"id": 1, "line_items": [{"id": 1, "variant_id": 1, "quantity": "many"}]},
        # Without the order's and the line's ids a line cannot be counted once.
        {"line_items": [{"id": 1, "variant_id": 1, "quantity": 1}]},
        {"id": True, "line_items": [{"id": 1, "variant_id": 1, "quantity": 1}]},
        {"id": 1, "line_items": [{"variant_id": 1, "quantity": 1}]},
        {"id": 1, "line_items": [{"id": {"x": 1}, "variant_id": 1, "quantity": 1}]},
        {"id": "1:2", "line_items": [{"id": 3, "variant_id": 1, "quantity": 1}]},
        {"id": "9" * 65, "line_items": [{"id": 3, "variant_id": 1, "quantity": 1}]},
        {
            "id": 1,
            "line_items": [
                {"id": 3, "variant_id": 1, "quantity": 1},
                {"id": 3, "variant_id": 2, "quantity": 1},
            ],
        },
    ],
)
def test_orders_that_cannot_be_mapped_are_refused_whole(order: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput):
        stock_lines("orders/paid", order)
