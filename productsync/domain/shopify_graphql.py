"""Shopify GraphQL Admin API, the pure half: documents, variables, answers, ids, throttle.

No I/O here (sync/shopify_graphql.py posts the documents). Shapes follow Shopify's
documentation for API version 2026-01:

- stock: ``inventorySetQuantities(input: {name: "available", reason, referenceDocumentUri,
  quantities: [{inventoryItemId, locationId, quantity, changeFromQuantity}]})`` with
  ``@idempotent(key:)``; ``changeFromQuantity`` is the compare-and-set value (mandatory
  from 2026-04, ``null`` opts out; we never opt out), a mismatch answers the user error
  ``CHANGE_FROM_QUANTITY_STALE``;
- prices: ``productVariantsBulkUpdate(productId, variants: [{id, price, compareAtPrice}])``;
- texts: ``productUpdate(product: {id, title, descriptionHtml, status})``;
- reads: ``productVariants(first, after)`` pages and ``bulkOperationRunQuery`` (JSONL).

Rate limits are a leaky bucket per shop whose size and refill rate every answer
reports in ``extensions.cost.throttleStatus``; nothing here assumes a plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_API_VERSION = "2026-01"
STOCK_REASON = "correction"  # one of Shopify's documented inventory change reasons
QUANTITY_NAME = "available"
STALE = "CHANGE_FROM_QUANTITY_STALE"
# Answers after which the shop is re-read and the push sent again under a new key: the
# compare value was stale, the key was used with other variables (an earlier try of the
# event, maybe applied), or the key's earlier request failed (Shopify refuses the key).
REREAD_CODES = frozenset({STALE, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"})
THROTTLED = "THROTTLED"
PAGE_SIZE = 100
BULK_THRESHOLD = 2000

_GID = re.compile(r"gid://shopify/([A-Za-z]+)/(\d+)(?:\?.*)?")


def gid(kind: str, value: Any) -> str:
    """A Shopify global id: ``gid://shopify/<kind>/<n>`` from a number or a GID of that kind."""
    text = str(value).strip()
    if text.isdigit():
        return f"gid://shopify/{kind}/{text}"
    m = _GID.fullmatch(text)
    if not m or m.group(1) != kind:
        raise ValueError(f"{text!r} is not a {kind} id (a number or gid://shopify/{kind}/<n>)")
    return f"gid://shopify/{kind}/{m.group(2)}"


def gid_number(value: str) -> str:
    """The numeric tail of a GID (or the number itself): how REST-era mappings name it."""
    m = _GID.fullmatch(value.strip())
    return m.group(2) if m else value.strip()


# --- documents -------------------------------------------------------------------------

_LEVEL = 'inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } }'

VARIANT_STATE = (
    "query VariantState($id: ID!, $locationId: ID!) { productVariant(id: $id) "
    "{ id product { id } inventoryItem { id " + _LEVEL + " } } }"
)
SET_QUANTITIES = (
    "mutation SetQuantities($input: InventorySetQuantitiesInput!, $key: String!) "
    "{ inventorySetQuantities(input: $input) @idempotent(key: $key) "
    "{ inventoryAdjustmentGroup { id reason referenceDocumentUri } userErrors { field message code } } }"
)
VARIANT_PRICES = (
    "mutation VariantPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) "
    "{ productVariantsBulkUpdate(productId: $productId, variants: $variants) "
    "{ productVariants { id price compareAtPrice } userErrors { field message code } } }"
)
PRODUCT_TEXTS = (
    "mutation ProductTexts($product: ProductUpdateInput!) { productUpdate(product: $product) "
    "{ product { id } userErrors { field message } } }"
)
VARIANTS_COUNT = "query VariantsCount { productVariantsCount(limit: null) { count precision } }"
VARIANTS_PAGE = (
    "query VariantsPage($first: Int!, $after: String, $locationId: ID!) "
    "{ productVariants(first: $first, after: $after) { pageInfo { hasNextPage endCursor } "
    "nodes { id sku barcode price compareAtPrice product { id title descriptionHtml } "
    "inventoryItem { id " + _LEVEL + " } } } }"
)
BULK_RUN = (
    "mutation BulkRun($query: String!) { bulkOperationRunQuery(query: $query) "
    "{ bulkOperation { id status } userErrors { field message code } } }"
)
BULK_STATUS = (
    "query BulkStatus($id: ID!) { node(id: $id) "
    "{ ... on BulkOperation { id status errorCode objectCount url partialDataUrl } } }"
)

# What each document is expected to cost (Shopify's calculated query cost: 1 per object,
# 10 per mutation, connections by their ``first``); only a first guess for the bucket,
# the answer's ``requestedQueryCost`` replaces it.
EXPECTED_COST = {
    VARIANT_STATE: 4,
    SET_QUANTITIES: 10,
    VARIANT_PRICES: 10,
    PRODUCT_TEXTS: 10,
    VARIANTS_COUNT: 1,
    BULK_RUN: 10,
    BULK_STATUS: 1,
}


def page_cost(first: int) -> int:
    """``productVariants(first: n)`` with a product, an inventory item and its level per
    node: about 4 per node plus the connection."""
    return 2 + 4 * first


def bulk_query(location_gid: str) -> str:
    """The catalog as one bulk query over ``productVariants``: one connection, so each
    JSONL line is one variant with its product and its level at the channel's location
    inline (objects, not connections). No line needs another: from 2026-01 a bulk query's
    output is not grouped (``groupObjects`` defaults to false), so a ``products { variants }``
    query's variant lines may come before their product's line, and joining them would
    mean holding the whole file. Bulk queries take no variables: the location id is
    written into the text."""
    level = _LEVEL.replace("$locationId", f'"{location_gid}"')
    return (
        "{ productVariants { edges { node { id sku barcode price compareAtPrice "
        "product { id title descriptionHtml } inventoryItem { id " + level + " } } } } }"
    )


# --- variables -------------------------------------------------------------------------


def set_quantities_variables(
    *, key: str, inventory_item: str, location: str, quantity: int, change_from: int | None, event_id: str
) -> dict[str, Any]:
    """One item's absolute ``available`` at one location, compared against what the hub
    last knew the channel held; the hub event is the reference document."""
    return {
        "key": key,
        "input": {
            "name": QUANTITY_NAME,
            "reason": STOCK_REASON,
            "referenceDocumentUri": f"productsync://events/{event_id}",
            "quantities": [
                {
                    "inventoryItemId": inventory_item,
                    "locationId": location,
                    "quantity": quantity,
                    "changeFromQuantity": change_from,
                }
            ],
        },
    }


def price_variables(product: str, variant: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"productId": product, "variants": [{"id": variant, **fields}]}


def text_variables(
    product: str, *, title: str | None, description: str | None, active: bool
) -> dict[str, Any]:
    return {
        "product": {
            "id": product,
            "title": title,
            "descriptionHtml": description or "",
            "status": "ACTIVE" if active else "ARCHIVED",
        }
    }


# --- answers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """``extensions.cost``: what the call cost and the shop's bucket after it."""

    requested: float
    actual: float | None
    maximum: float
    available: float
    restore_rate: float


def parse_cost(body: Any) -> Cost | None:
    extensions = body.get("extensions") if isinstance(body, dict) else None
    cost = extensions.get("cost") if isinstance(extensions, dict) else None
    if not isinstance(cost, dict) or not isinstance(cost.get("throttleStatus"), dict):
        return None
    status = cost["throttleStatus"]
    try:
        return Cost(
            requested=float(cost.get("requestedQueryCost") or 0),
            actual=float(cost["actualQueryCost"]) if cost.get("actualQueryCost") is not None else None,
            maximum=float(status["maximumAvailable"]),
            available=float(status["currentlyAvailable"]),
            restore_rate=float(status["restoreRate"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Answer:
    """A GraphQL answer split the way a connector acts on it."""

    data: dict[str, Any]
    errors: tuple[str, ...]  # top-level ``errors`` messages (with their codes)
    throttled: bool
    cost: Cost | None


def parse_answer(body: Any) -> Answer:
    if not isinstance(body, dict):
        return Answer({}, ("answer is not a JSON object",), throttled=False, cost=None)
    errors = body.get("errors")
    messages: list[str] = []
    throttled = False
    if isinstance(errors, str):  # e.g. 401 "[API] Invalid API key or access token"
        messages.append(errors)
    elif isinstance(errors, list):
        for e in errors:
            code = (e.get("extensions") or {}).get("code") if isinstance(e, dict) else None
            throttled = throttled or code == THROTTLED
            message = e.get("message", str(e)) if isinstance(e, dict) else str(e)
            messages.append(f"{message} ({code})" if code else str(message))
    data = body.get("data")
    return Answer(data if isinstance(data, dict) else {}, tuple(messages), throttled, parse_cost(body))


@dataclass(frozen=True)
class UserError:
    code: str | None
    message: str
    field: tuple[str, ...] = ()


def user_errors(data: dict[str, Any], mutation: str) -> list[UserError]:
    payload = data.get(mutation)
    raw = payload.get("userErrors") if isinstance(payload, dict) else None
    return [
        UserError(e.get("code"), str(e.get("message", "")), tuple(e.get("field") or ()))
        for e in (raw or [])
        if isinstance(e, dict)
    ]


def describe(errors: list[UserError]) -> str:
    return "; ".join(f"{e.code or 'error'}: {e.message}" for e in errors)[:300]


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def available_of(item: Any) -> int | None:
    """``inventoryItem.inventoryLevel.quantities[name=available].quantity``; None when the
    item is not stocked at the location."""
    level = item.get("inventoryLevel") if isinstance(item, dict) else None
    for q in (level or {}).get("quantities") or []:
        if isinstance(q, dict) and q.get("name") == QUANTITY_NAME and isinstance(q.get("quantity"), int):
            return int(q["quantity"])
    return None


@dataclass(frozen=True)
class VariantState:
    """What a stock push needs to know about a variant, read with one query."""

    variant: str
    product: str
    inventory_item: str
    available: int | None


def parse_variant_state(data: dict[str, Any]) -> VariantState | None:
    v = data.get("productVariant")
    if not isinstance(v, dict) or not isinstance(v.get("inventoryItem"), dict):
        return None
    return VariantState(
        str(v["id"]),
        str((v.get("product") or {}).get("id")),
        str(v["inventoryItem"]["id"]),
        available_of(v["inventoryItem"]),
    )


@dataclass(frozen=True)
class CatalogRow:
    """One variant as a catalog read sees it (plain values; the sync layer makes the
    shared ``ChannelItem`` of it)."""

    variant: str
    product: str
    sku: str | None
    barcode: str | None
    title: str | None
    description: str | None
    quantity: int | None
    price: Decimal | None
    compare_at_price: Decimal | None


def catalog_row(node: dict[str, Any], product: dict[str, Any]) -> CatalogRow:
    return CatalogRow(
        variant=str(node["id"]),
        product=str(product.get("id")),
        sku=node.get("sku") or None,
        barcode=node.get("barcode") or None,
        title=product.get("title"),
        description=product.get("descriptionHtml"),
        quantity=available_of(node.get("inventoryItem")),
        price=_decimal(node.get("price")),
        compare_at_price=_decimal(node.get("compareAtPrice")),
    )


def bulk_rows(lines: list[dict[str, Any]], products: dict[str, dict[str, Any]]) -> list[CatalogRow]:
    """JSONL lines of the bulk query: a variant line with its product inline is a row.
    (Lines of an older ``products { variants }`` query, product lines then variant lines
    with ``__parentId``, are still joined through ``products`` when grouped that way.)"""
    rows = []
    for line in lines:
        parent = line.get("__parentId")
        if isinstance(line.get("product"), dict):
            rows.append(catalog_row(line, line["product"]))
        elif parent is None:
            products[str(line.get("id"))] = line
        else:
            rows.append(catalog_row(line, products.get(str(parent), {"id": parent})))
    return rows


# --- throttle arithmetic ---------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """A shop's bucket as its last answer described it, at ``at`` (monotonic seconds)."""

    maximum: float
    available: float
    restore_rate: float
    at: float

    def now(self, at: float) -> float:
        """Points available at ``at``: the reported level plus what has leaked back since."""
        return min(self.maximum, self.available + max(0.0, at - self.at) * self.restore_rate)

    def wait_for(self, cost: float, at: float) -> float:
        """Seconds to wait before a call expected to cost ``cost`` (0: go now). A cost above
        the bucket's size waits for a full bucket, the best the shop will ever offer."""
        needed = min(cost, self.maximum) - self.now(at)
        if needed <= 0:
            return 0.0
        return needed / self.restore_rate if self.restore_rate > 0 else 1.0

    def spend(self, cost: float, at: float) -> Bucket:
        """Taken before the answer comes: concurrent calls to one shop see each other."""
        return Bucket(self.maximum, self.now(at) - cost, self.restore_rate, at)


def bucket_of(cost: Cost, at: float) -> Bucket:
    return Bucket(cost.maximum, cost.available, cost.restore_rate, at)


def throttled_wait(cost: Cost | None, requested: float) -> float:
    """How long a THROTTLED call waits before its retry: the points it lacked over the
    shop's restore rate (one second when the answer says nothing)."""
    if cost is None or cost.restore_rate <= 0:
        return 1.0
    lacking = max(cost.requested or requested, 1.0) - cost.available
    return max(lacking / cost.restore_rate, 0.05)
