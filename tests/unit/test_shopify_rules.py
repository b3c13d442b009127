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
    order = {"line_items": [{"variant_id": 4001, "quantity": 2}, {"variant_id": "4002", "quantity": 1}]}
    assert stock_lines("orders/create", order) == [
        Line(InboundType.SALE, "4001", Decimal(2)),
        Line(InboundType.SALE, "4002", Decimal(1)),
    ]
    refund = {
        "refund_line_items": [
            {"quantity": 1, "restock_type": "return", "line_item": {"variant_id": 4001}},
            {"quantity": 1, "restock_type": "no_restock", "line_item": {"variant_id": 4002}},
        ]
    }
    assert stock_lines("refunds/create", refund) == [Line(InboundType.RETURN, "4001", Decimal(1))]
    assert stock_lines("customers/create", {}) is None


@pytest.mark.parametrize(
    "order",
    [
        {},
        {"line_items": []},
        {"line_items": ["x"]},
        {"line_items": [{"variant_id": None, "quantity": 1}]},  # a custom line item
        {"line_items": [{"variant_id": 1, "quantity": 0}]},
        {"line_items": [{"variant_id": 1, "quantity": 1.5}]},
        {"line_items": [{"variant_id": 1, "quantity": "many"}]},
    ],
)
def test_orders_that_cannot_be_mapped_are_refused_whole(order: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput):
        stock_lines("orders/paid", order)
