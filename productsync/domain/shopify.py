"""Shopify's inbound webhooks, as Shopify documents them: the HMAC check and what an
order or refund means for stock. Pure functions; the HTTP layer calls them.

- ``X-Shopify-Hmac-Sha256`` is base64(HMAC-SHA256(app secret, raw body)); compared in
  constant time.
- ``orders/create`` and ``orders/paid``: each ``line_items[]`` entry (``variant_id``,
  ``quantity``) is a sale of the mapped product. A line is keyed on the order and the
  line (``shopify:order:<order id>:<line item id>``), not on the webhook: a store that
  sends both topics (two webhooks, two webhook ids, one order) sells each line once.
- ``refunds/create``: each ``refund_line_items[]`` entry whose ``restock_type`` is not
  ``no_restock`` is a return of ``quantity`` of its line item's variant, keyed on the
  refund and its refund line (``shopify:refund:<refund id>:<refund line item id>``).
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


ID_MAX = 64  # a Shopify id is a 64-bit integer; the key must fit inbound_receipts.event_id


@dataclass(frozen=True)
class Line:
    type: InboundType
    variant_id: str
    quantity: Decimal
    key: str  # the event id this line is taken once under (see the module docstring)


def _id(raw: Any, where: str) -> str:
    """A Shopify object id (an integer, sometimes sent as a string)."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidInput(f"{where} is missing or not an id", field=where)
    text = str(raw).strip()
    if not text or len(text) > ID_MAX or not text.isprintable() or ":" in text:
        raise InvalidInput(f"{where} is not a Shopify id", field=where)
    return text


def _distinct(lines: list[Line]) -> list[Line]:
    keys = [line.key for line in lines]
    if len(set(keys)) != len(keys):
        raise InvalidInput("the same line item appears twice", field="id")
    return lines


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
        order_id = _id(payload.get("id"), "id")
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
                    f"shopify:order:{order_id}:{_id(item.get('id'), f'{where}.id')}",
                )
            )
        return _distinct(out)
    if topic in REFUND_TOPICS:
        items = payload.get("refund_line_items")
        if not isinstance(items, list):
            raise InvalidInput("a refund needs refund_line_items", field="refund_line_items")
        refund_id = _id(payload.get("id"), "id")
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
                    f"shopify:refund:{refund_id}:{_id(item.get('id'), f'{where}.id')}",
                )
            )
        return _distinct(out)
    return None
