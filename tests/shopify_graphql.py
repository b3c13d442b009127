"""A local Shopify GraphQL Admin API on 127.0.0.1: the documented request and answer
shapes the connector and the catalog reader use, with a shop's state behind them.

- ``POST /admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token`` (401
  ``{"errors": "[API] Invalid API key or access token …"}`` otherwise); the operation is
  routed by its root field, declared variables are checked (a missing non-null variable
  is a top-level error, as Shopify's ``INVALID_VARIABLE``), inputs are type-checked.
- ``inventorySetQuantities``: ``name`` ``available``/``on_hand``, a documented ``reason``,
  ``referenceDocumentUri``, ``quantities[].changeFromQuantity`` mandatory (2026-01 on; null
  skips the check) and compared: a mismatch is the user error
  ``CHANGE_FROM_QUANTITY_STALE``; ``ignoreCompareQuantity`` is refused (gone). With
  ``@idempotent(key:)``, a repeated key with the same variables gets the first answer
  without a second change; with other variables ``IDEMPOTENCY_KEY_PARAMETER_MISMATCH``.
- ``productVariantsBulkUpdate`` (``price``/``compareAtPrice`` strings, null clears) and
  ``productUpdate`` (``title``, ``descriptionHtml``, ``status``).
- ``productVariant(id)``, ``productVariantsCount``, ``productVariants(first, after)``
  pages, ``bulkOperationRunQuery`` + ``node(id)``/``currentBulkOperation`` (RUNNING, then
  COMPLETED with a ``url`` of a JSONL file served here). A ``productVariants`` bulk query
  gives one line per variant with its product inline; a ``products { variants }`` one gives
  product lines and variant lines with ``__parentId``, grouped (each product, then its
  variants) only with ``groupObjects: true`` — the default is false from 2026-01, and this
  server then writes the variants before the products, an order Shopify may produce.
- Cost: a leaky bucket (``bucket(maximum, restore_rate, available)``); a call whose
  requested cost exceeds what is left is ``THROTTLED`` (HTTP 200,
  ``errors[].extensions.code``); every answer carries ``extensions.cost``.

Scripting: ``sell`` changes a quantity behind the hub's back (a sale at the shop);
``drop_next_answer`` applies the next mutation and closes the connection unanswered;
``next_key_error`` answers the next ``@idempotent`` mutation with that user error code
(e.g. ``IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED``) without applying it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from typing import Any

from tests.platforms import DropAnswer, RawBody, _Platform

REASONS = {
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
}
MISMATCH = "The same idempotency key cannot be used with different operation parameters."
_ROOT = re.compile(r"^\s*(query|mutation)?\s*(\w+)?\s*(\(([^)]*)\))?\s*\{\s*(\w+)", re.S)
_VAR = re.compile(r"\$(\w+)\s*:\s*([\w\[\]!]+)")


def gid(kind: str, n: int) -> str:
    return f"gid://shopify/{kind}/{n}"


class FakeShopifyGraphQL(_Platform):
    def __init__(self, token: str, *, location: int = 655441491) -> None:
        super().__init__()
        self.token = token
        self.location = gid("Location", location)
        self.products: dict[str, dict[str, Any]] = {}
        self.variants: dict[str, dict[str, Any]] = {}
        self.levels: dict[tuple[str, str], int] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (root field, variables), answered ones
        self.adjustments: list[dict[str, Any]] = []  # applied inventorySetQuantities inputs
        self.idempotency: dict[str, tuple[str, dict[str, Any]]] = {}
        self.bulk: dict[str, dict[str, Any]] = {}
        self.maximum, self.restore_rate, self._available, self._at = 2000.0, 100.0, 2000.0, time.monotonic()
        self.throttled = 0
        self.drop_next_answer = False
        self.next_key_error: str | None = None  # the next keyed mutation answers this code, unapplied
        self._dropped = threading.Event()

    # --- scripting -----------------------------------------------------------------------

    def add_variant(
        self,
        variant: int,
        *,
        product: int,
        item: int,
        available: int | None = 0,
        sku: str | None = None,
        barcode: str | None = None,
        price: str = "0.00",
        title: str = "",
    ) -> str:
        pid = gid("Product", product)
        self.products.setdefault(pid, {"id": pid, "title": title, "descriptionHtml": "", "status": "DRAFT"})
        vid = gid("ProductVariant", variant)
        self.variants[vid] = {
            "id": vid,
            "product": pid,
            "item": gid("InventoryItem", item),
            "sku": sku,
            "barcode": barcode,
            "price": price,
            "compareAtPrice": None,
        }
        if available is not None:
            self.levels[(gid("InventoryItem", item), self.location)] = available
        return vid

    def available(self, variant: int) -> int | None:
        return self.levels.get((self.variants[gid("ProductVariant", variant)]["item"], self.location))

    def sell(self, variant: int, units: int) -> None:
        """A sale at the shop the hub is not told about."""
        with self.lock:
            key = (self.variants[gid("ProductVariant", variant)]["item"], self.location)
            self.levels[key] -= units

    def bucket(
        self,
        *,
        maximum: float,
        restore_rate: float,
        available: float | None = None,
        refill_from_next_call: bool = False,
    ) -> None:
        """Set the cost bucket. With ``refill_from_next_call`` the bucket holds ``available``
        until the next call arrives (no refill while the test is still getting there), so a
        test of throttling does not depend on how fast the machine reaches that call."""
        with self.lock:
            self.maximum, self.restore_rate = maximum, restore_rate
            self._available = maximum if available is None else available
            self._at = None if refill_from_next_call else time.monotonic()

    def ops(self, root: str) -> list[dict[str, Any]]:
        return [v for r, v in self.calls if r == root]

    # --- HTTP ----------------------------------------------------------------------------

    def route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        m = re.fullmatch(r"/bulk/(\w+)\.jsonl", path)
        if m and method == "GET" and m.group(1) in self.bulk:
            return 200, RawBody(self.bulk[m.group(1)]["jsonl"])
        if {k.lower(): v for k, v in headers.items()}.get("x-shopify-access-token") != self.token:
            return 401, {
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
            }
        if method != "POST" or not re.fullmatch(r"/admin/api/\d{4}-\d{2}/graphql\.json", path):
            return 404, {"errors": "Not Found"}
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, {"errors": {"query": "Required parameter missing or invalid"}}
        return 200, self._graphql(body["query"], body.get("variables") or {})

    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        m = _ROOT.match(query)
        if not m:
            return {"errors": [{"message": "syntax error, unexpected end of file"}]}
        declared = dict(_VAR.findall(m.group(4) or ""))
        for name, kind in declared.items():
            if kind.endswith("!") and variables.get(name) is None:
                return {
                    "errors": [
                        {
                            "message": f"Variable ${name} of type {kind} was provided invalid value",
                            "extensions": {
                                "code": "INVALID_VARIABLE",
                                "problems": [{"explanation": "Expected value to not be null"}],
                            },
                        }
                    ]
                }
        root, is_mutation = m.group(5), m.group(1) == "mutation"
        handler = getattr(self, f"_op_{root}", None)
        if handler is None:
            return {"errors": [{"message": f"Field '{root}' doesn't exist on type 'QueryRoot'"}]}
        requested = self._requested_cost(root, variables, is_mutation=is_mutation)
        if requested > 1000:
            return {
                "errors": [{"message": "Query cost is too high", "extensions": {"code": "MAX_COST_EXCEEDED"}}]
            }
        now = time.monotonic()
        since = self._at if self._at is not None else now
        self._available = min(self.maximum, self._available + (now - since) * self.restore_rate)
        self._at = now
        if requested > self._available:
            self.throttled += 1
            return {
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": self._cost(requested, None),
            }
        self._available -= requested
        key = _idempotency_key(query, variables)
        if key is not None and is_mutation and self.next_key_error is not None:
            code, self.next_key_error = self.next_key_error, None
            data = {root: {"userErrors": [{"field": None, "code": code, "message": code}]}}
            return {"data": data, "extensions": self._cost(requested, requested)}
        if key is not None:
            digest = hashlib.sha256(
                json.dumps([root, variables], sort_keys=True, default=str).encode()
            ).hexdigest()
            seen = self.idempotency.get(key)
            if seen is not None:
                if seen[0] != digest:
                    data = {
                        root: {
                            "userErrors": [
                                {
                                    "field": None,
                                    "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                                    "message": MISMATCH,
                                }
                            ]
                        }
                    }
                    return {"data": data, "extensions": self._cost(requested, requested)}
                return {"data": seen[1], "extensions": self._cost(requested, requested)}
        data = handler(variables, query)
        if "errors" in data:
            return {**data, "extensions": self._cost(requested, requested)}
        if key is not None and not data.get(root, {}).get("userErrors"):
            self.idempotency[key] = (digest, data)
        self.calls.append((root, variables))
        actual = self._actual_cost(root, data, requested)
        self._available = min(self.maximum, self._available + requested - actual)
        if is_mutation and self.drop_next_answer:
            self.drop_next_answer = False
            raise DropAnswer
        return {"data": data, "extensions": self._cost(requested, actual)}

    def _requested_cost(self, root: str, variables: dict[str, Any], *, is_mutation: bool) -> float:
        if is_mutation:
            return 10
        if root == "productVariants":
            return 2 + 4 * int(variables.get("first") or 0)
        return 4 if root == "productVariant" else 1

    def _actual_cost(self, root: str, data: dict[str, Any], requested: float) -> float:
        if root == "productVariants":
            return 2 + 4 * len(data[root]["nodes"])
        return requested

    def _cost(self, requested: float, actual: float | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": self.maximum,
                    "currentlyAvailable": int(self._available),
                    "restoreRate": self.restore_rate,
                },
            }
        }

    # --- operations ----------------------------------------------------------------------

    def _level(self, item: str, location: str | None) -> dict[str, Any] | None:
        q = self.levels.get((item, location or ""))
        return None if q is None else {"quantities": [{"name": "available", "quantity": q}]}

    def _variant_node(self, v: dict[str, Any], location: str | None) -> dict[str, Any]:
        p = self.products[v["product"]]
        return {
            "id": v["id"],
            "sku": v["sku"],
            "barcode": v["barcode"],
            "price": v["price"],
            "compareAtPrice": v["compareAtPrice"],
            "product": {"id": p["id"], "title": p["title"], "descriptionHtml": p["descriptionHtml"]},
            "inventoryItem": {"id": v["item"], "inventoryLevel": self._level(v["item"], location)},
        }

    def _op_productVariant(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
        v = self.variants.get(str(variables.get("id")))
        return {"productVariant": self._variant_node(v, variables.get("locationId")) if v else None}

    def _op_productVariantsCount(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
        return {"productVariantsCount": {"count": len(self.variants), "precision": "EXACT"}}

    def _op_productVariants(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
        first, after = variables.get("first"), variables.get("after")
        if not isinstance(first, int) or not 0 < first <= 250:
            return {
                "errors": [
                    {"message": "first must be between 1 and 250", "extensions": {"code": "BAD_REQUEST"}}
                ]
            }
        start = int(base64.b64decode(after).decode()) if after else 0
        ids = sorted(self.variants, key=lambda g: int(g.rsplit("/", 1)[1]))
        chunk = ids[start : start + first]
        end = start + len(chunk)
        nodes = [self._variant_node(self.variants[i], variables.get("locationId")) for i in chunk]
        return {
            "productVariants": {
                "pageInfo": {
                    "hasNextPage": end < len(ids),
                    "endCursor": base64.b64encode(str(end).encode()).decode(),
                },
                "nodes": nodes,
            }
        }

    def _op_bulkOperationRunQuery(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
        text = str(variables.get("query"))
        grouped = bool(re.search(r"groupObjects:\s*true", query))
        if text.lstrip("{ ").startswith("productVariants"):
            return self._bulk_variants(text)
        if "products" not in text or "variants" not in text:
            return {
                "bulkOperationRunQuery": {
                    "bulkOperation": None,
                    "userErrors": [{"field": ["query"], "message": "Invalid bulk query", "code": "INVALID"}],
                }
            }
        loc = re.search(r'locationId:\s*"([^"]+)"', text)
        location = loc.group(1) if loc else None
        parents, children = [], []
        for pid, p in self.products.items():
            parents.append({"id": pid, "title": p["title"], "descriptionHtml": p["descriptionHtml"]})
            for v in self.variants.values():
                if v["product"] == pid:
                    node = self._variant_node(v, location)
                    del node["product"]
                    children.append({**node, "__parentId": pid})
        if grouped:
            lines = [
                line for p in parents for line in [p, *(c for c in children if c["__parentId"] == p["id"])]
            ]
        else:  # 2026-01 on, groupObjects defaults to false: no order promised (children first here)
            lines = children + parents
        return self._bulk_started(lines)

    def _bulk_variants(self, text: str) -> dict[str, Any]:
        """A bulk query on ``productVariants``: one line per variant, its product inline."""
        loc = re.search(r'locationId:\s*"([^"]+)"', text)
        lines = [self._variant_node(v, loc.group(1) if loc else None) for v in self.variants.values()]
        return self._bulk_started(lines)

    def _bulk_started(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        n = str(len(self.bulk) + 1)
        op_id = gid("BulkOperation", int(n))
        self.bulk[n] = {
            "id": op_id,
            "polls": 0,
            "jsonl": "".join(json.dumps(line) + "\n" for line in lines),
            "count": len(lines),
        }
        return {
            "bulkOperationRunQuery": {"bulkOperation": {"id": op_id, "status": "CREATED"}, "userErrors": []}
        }

    def _bulk_node(self, n: str) -> dict[str, Any]:
        op = self.bulk[n]
        op["polls"] += 1
        done = op["polls"] > 1  # RUNNING on the first look
        return {
            "id": op["id"],
            "status": "COMPLETED" if done else "RUNNING",
            "errorCode": None,
            "objectCount": str(op["count"]) if done else "0",
            "url": f"{self.url}/bulk/{n}.jsonl" if done else None,
            "partialDataUrl": None,
        }

    def _op_node(self, variables: dict[str, Any], query: str) -> dict[str, Any]:
        n = str(variables.get("id", "")).rsplit("/", 1)[-1]
        return {"node": self._bulk_node(n) if n in self.bulk else None}

    def _op_currentBulkOperation(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
        return {"currentBulkOperation": self._bulk_node(str(len(self.bulk))) if self.bulk else None}

    def _op_inventorySetQuantities(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
        def err(code: str, message: str, field: list[str] | None = None) -> dict[str, Any]:
            return {
                "inventorySetQuantities": {
                    "inventoryAdjustmentGroup": None,
                    "userErrors": [{"code": code, "message": message, "field": field}],
                }
            }

        data = variables.get("input")
        if not isinstance(data, dict) or "ignoreCompareQuantity" in data:
            return {
                "errors": [
                    {
                        "message": "Variable $input of type InventorySetQuantitiesInput! was provided "
                        "invalid value for ignoreCompareQuantity (Field is not defined)"
                    }
                ]
            }
        if data.get("name") not in ("available", "on_hand"):
            return err(
                "INVALID_NAME",
                "The quantity name must be either 'available' or 'on_hand'.",
                ["input", "name"],
            )
        if data.get("reason") not in REASONS:
            return err("INVALID_REASON", "The specified reason is invalid.", ["input", "reason"])
        uri = data.get("referenceDocumentUri")
        if uri is not None and not (isinstance(uri, str) and re.match(r"^[a-z][a-z0-9+.-]*://", uri)):
            return err("INVALID_REFERENCE_DOCUMENT", "The reference document URI isn't a valid URI.")
        quantities = data.get("quantities")
        if not isinstance(quantities, list) or not quantities:
            return {"errors": [{"message": "Variable $input was provided invalid value for quantities"}]}
        for i, q in enumerate(quantities):
            if not isinstance(q, dict) or "changeFromQuantity" not in q:
                return {
                    "errors": [
                        {
                            "message": f"Variable $input was provided invalid value for quantities.{i}"
                            ".changeFromQuantity (Expected value to be present)"
                        }
                    ]
                }
            if not all(_is_int(q.get(k)) for k in ("quantity",)) or not (
                q["changeFromQuantity"] is None or _is_int(q["changeFromQuantity"])
            ):
                return {
                    "errors": [
                        {
                            "message": f"Variable $input was provided invalid value for quantities.{i} "
                            "(Could not coerce value to Int)"
                        }
                    ]
                }
            if (q.get("locationId"), q.get("inventoryItemId")) and q.get("locationId") != self.location:
                return err("INVALID_LOCATION", "The specified location could not be found.")
            key = (q.get("inventoryItemId"), q.get("locationId"))
            if key not in self.levels:
                return err("INVALID_INVENTORY_ITEM", "The specified inventory item could not be found.")
            if q["quantity"] < 0:
                return err("INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative.")
            if q["changeFromQuantity"] is not None and q["changeFromQuantity"] != self.levels[key]:
                return err(
                    "CHANGE_FROM_QUANTITY_STALE",
                    "The changeFromQuantity value does not match persisted value.",
                    ["input", "quantities", str(i), "changeFromQuantity"],
                )
        for q in quantities:
            self.levels[(q["inventoryItemId"], q["locationId"])] = q["quantity"]
        self.adjustments.append(data)
        group = {
            "id": gid("InventoryAdjustmentGroup", len(self.adjustments)),
            "reason": data["reason"],
            "referenceDocumentUri": uri,
        }
        return {"inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": []}}

    def _op_productVariantsBulkUpdate(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
        def err(code: str, message: str) -> dict[str, Any]:
            return {
                "productVariantsBulkUpdate": {
                    "productVariants": None,
                    "userErrors": [{"code": code, "message": message, "field": ["variants"]}],
                }
            }

        pid = variables.get("productId")
        if pid not in self.products:
            return err("PRODUCT_DOES_NOT_EXIST", "Product does not exist")
        done = []
        for v in variables.get("variants") or []:
            known = self.variants.get(str(v.get("id")))
            if known is None or known["product"] != pid:
                return err("PRODUCT_VARIANT_DOES_NOT_EXIST", "Product variant does not exist")
            if "price" in v and not isinstance(v["price"], str):
                return {
                    "errors": [{"message": "Variable $variants was provided invalid value for price (Money)"}]
                }
            if v.get("compareAtPrice") is not None and not isinstance(v["compareAtPrice"], str):
                return {
                    "errors": [
                        {"message": "Variable $variants was provided invalid value for compareAtPrice"}
                    ]
                }
            for k in ("price", "compareAtPrice"):
                if k in v:
                    known[k] = None if v[k] is None else f"{float(v[k]):.2f}"
            done.append(
                {"id": known["id"], "price": known["price"], "compareAtPrice": known["compareAtPrice"]}
            )
        return {"productVariantsBulkUpdate": {"productVariants": done, "userErrors": []}}

    def _op_productUpdate(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
        p = variables.get("product") or {}
        if p.get("id") not in self.products:
            return {
                "productUpdate": {
                    "product": None,
                    "userErrors": [{"field": ["id"], "message": "Product does not exist"}],
                }
            }
        if "status" in p and p["status"] not in ("ACTIVE", "ARCHIVED", "DRAFT"):
            return {"errors": [{"message": "Variable $product was provided invalid value for status"}]}
        for k in ("title", "descriptionHtml", "status"):
            if k in p:
                self.products[p["id"]][k] = p[k]
        return {"productUpdate": {"product": {"id": p["id"]}, "userErrors": []}}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _idempotency_key(query: str, variables: dict[str, Any]) -> str | None:
    m = re.search(r'@idempotent\(\s*key:\s*(?:\$(\w+)|"([^"]*)")\s*\)', query)
    if not m:
        return None
    return str(variables.get(m.group(1))) if m.group(1) else m.group(2)
