"""Shopify's inbound webhooks, as Shopify documents them: the HMAC check and what an
order or refund means for stock. Pure functions; the HTTP layer calls them.

- ``X-Shopify-Hmac-Sha256`` is base64(HMAC-SHA256(app secret, raw body)); compared in
  constant time.
- ``orders/create`` and ``orders/paid``: each ``line_items[]`` entry (``variant_id``,
  ``quantity``) is a sale of the mapped product. Choose one of the two topics per store,
  or both: each Shopify webhook id is applied once, but two topics are two webhooks.
- ``refunds/create``: each ``refund_line_items[]`` entry whose ``restock_type`` is not
  ``no_restock`` is a return of ``quantity`` of its line item's variant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from productsync.domain.conflicts import InboundType
from productsync.domain.errors import InvalidInput

SALE_TOPICS = frozenset({"orders/create", "orders/paid"})
REFUND_TOPICS = frozenset({"refunds/create"})


def verify_hmac(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(digest, header.strip())


@dataclass(frozen=True)
class Line:
    type: InboundType
    variant_id: str
    quantity: Decimal


def _quantity(raw: Any, where: str) -> Decimal:
    try:
        q = Decimal(str(raw))
    except InvalidOperation as exc:
        raise InvalidInput(f"{where}.quantity is not a number", field=f"{where}.quantity") from exc
    if not q.is_finite() or q <= 0 or q != q.to_integral_value():
        raise InvalidInput(f"{where}.quantity must be a positive whole number", field=f"{where}.quantity")
    return q


def _variant(raw: Any, where: str) -> str:
    if raw is None or isinstance(raw, bool) or str(raw).strip() == "":
        raise InvalidInput(
            f"{where}.variant_id is missing (custom line items cannot be mapped)", field=f"{where}.variant_id"
        )
    return str(raw)


def stock_lines(topic: str, payload: dict[str, Any]) -> list[Line] | None:
    """The stock meaning of a webhook; None for topics the hub does not act on."""
    if topic in SALE_TOPICS:
        items = payload.get("line_items")
        if not isinstance(items, list) or not items:
            raise InvalidInput("an order needs line_items", field="line_items")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidInput(f"line_items[{i}] is not an object", field=f"line_items[{i}]")
            where = f"line_items[{i}]"
            out.append(
                Line(
                    InboundType.SALE,
                    _variant(item.get("variant_id"), where),
                    _quantity(item.get("quantity"), where),
                )
            )
        return out
    if topic in REFUND_TOPICS:
        items = payload.get("refund_line_items")
        if not isinstance(items, list):
            raise InvalidInput("a refund needs refund_line_items", field="refund_line_items")
        out = []
        for i, item in enumerate(items):
            where = f"refund_line_items[{i}]"
            if not isinstance(item, dict):
                raise InvalidInput(f"{where} is not an object", field=where)
            if item.get("restock_type") == "no_restock":
                continue
            raw_item = item.get("line_item")
            line_item: dict[str, Any] = raw_item if isinstance(raw_item, dict) else {}
            out.append(
                Line(
                    InboundType.RETURN,
                    _variant(line_item.get("variant_id"), where),
                    _quantity(item.get("quantity"), where),
                )
            )
        return out
    return None
