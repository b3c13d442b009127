"""Small local stand-ins for the storefront platforms, on 127.0.0.1, implementing the
request and response shapes their APIs document (only what the connectors use). The
Shopify one speaks the GraphQL Admin API and lives in tests/shopify_graphql.py; this
module has the shared HTTP server and:

- WooCommerce REST v3: ``PUT /wp-json/wc/v3/products/{id}`` and
  ``…/products/{id}/variations/{vid}``; HTTP Basic with consumer key and secret
  (401 ``woocommerce_rest_cannot_edit``), 404 ``woocommerce_rest_product_invalid_id``.
  Prices are strings (``regular_price``, ``sale_price``; "" removes the sale); a sale's
  window is ``date_on_sale_from_gmt``/``date_on_sale_to_gmt`` (ISO 8601 in GMT; "" clears
  one, null is ignored, as ``isset`` does in the REST controller).

It validates types the way the platform does (``stock_quantity`` integers, prices as
strings) and can be scripted to answer with an error first (``fail_next``).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the stdlib default (5) resets connections under bursts
    daemon_threads = True


class RawBody(str):
    """An answer body sent as it is (a JSONL file), not as JSON."""


class DropAnswer(Exception):  # noqa: N818 - a signal, not an error
    """Raised by ``route``: close the connection without answering."""


class _Platform:
    def __init__(self) -> None:
        self.fail_next: deque[tuple[int, dict[str, str]]] = deque()
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length", 0) or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with platform.lock:
                    platform.requests.append((self.command, self.path, body))
                    if platform.fail_next:
                        status, headers = platform.fail_next.popleft()
                        return self._answer(status, {"errors": "scripted failure"}, headers)
                    # A route may add response headers as a third element (pagination).
                    status, payload, *extra = platform.route(
                        self.command, self.path, dict(self.headers), body
                    )
                self._answer(status, payload, extra[0] if extra else {})

            def _answer(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                raw = isinstance(payload, RawBody)
                data = payload.encode() if raw else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/jsonl" if raw else "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _handle  # noqa: N815 - http.server's naming

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeWooCommerce(_Platform):
    """Products by external id: ``"794"`` for a simple product, ``"795/801"`` for a
    variation of the variable product 795 (added with ``add_variable``). ``GET products``
    and ``GET products/{id}/variations`` page them as the REST API does (``per_page`` up
    to 100, ``page``; ``X-WP-Total`` and ``X-WP-TotalPages`` headers; ids as integers)."""

    def __init__(self, key: str, secret: str) -> None:
        super().__init__()
        self.auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
        self.products: dict[str, dict[str, Any]] = {}

    def add_product(self, external_id: str, **fields: Any) -> None:
        """A product (or, for ``id/vid``, a variation) with catalog ``fields`` (``sku``,
        ``name``, ``global_unique_id``, ``meta_data``, ``price`` ...) over the defaults."""
        self.products[external_id] = {
            "id": external_id,
            "type": "variation" if "/" in external_id else "simple",
            "sku": "",
            "name": "",
            "description": "",
            "global_unique_id": "",
            "meta_data": [],
            "price": "",
            "manage_stock": False,
            "stock_quantity": None,
            "regular_price": "",
            "sale_price": "",
            "date_on_sale_from_gmt": None,
            "date_on_sale_to_gmt": None,
            **fields,
        }

    def add_variable(self, product_id: str, **fields: Any) -> None:
        """A variable product: sold only through its variations (``add_product("id/vid")``)."""
        self.add_product(product_id, type="variable", **fields)

    def _listing(self, parent: str | None, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """One page of products (or of ``parent``'s variations) and how many there are;
        only the page's records are built, so reading a big store page by page stays linear."""
        if parent is None:
            keys = [k for k in self.products if "/" not in k]
        else:
            keys = [k for k in self.products if k.startswith(parent + "/")]
        keys.sort(key=lambda k: int(k.rsplit("/", 1)[-1]))
        chunk = keys[(page - 1) * per_page : page * per_page]
        variations: dict[str, list[int]] = {}
        if parent is None:  # one pass over the variations, not one per product
            listed = set(chunk)
            for k in self.products:
                top, _, vid = k.partition("/")
                if vid and top in listed:
                    variations.setdefault(top, []).append(int(vid))
        out = []
        for key in chunk:
            record = dict(self.products[key])
            record["id"] = int(key.rsplit("/", 1)[-1])
            if parent is not None:
                record["parent_id"] = int(parent)
            else:
                record["variations"] = variations.get(key, [])
            out.append(record)
        return out, len(keys)

    def _get(self, path: str) -> tuple[int, Any, dict[str, str]] | None:
        url = urlsplit(path)
        m = re.fullmatch(r"/wp-json/wc/v3/products(?:/(\d+)/variations)?", url.path)
        if not m:
            return None
        query = parse_qs(url.query)
        try:
            per_page = int(query.get("per_page", ["10"])[0])
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            return 400, {"code": "rest_invalid_param", "message": "Invalid parameter(s): page"}, {}
        if not 1 <= per_page <= 100 or page < 1:
            return 400, {"code": "rest_invalid_param", "message": "Invalid parameter(s): per_page"}, {}
        parent = m.group(1)
        if parent is not None and self.products.get(parent, {}).get("type") != "variable":
            return 404, {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID."}, {}
        chunk, total = self._listing(parent, page, per_page)
        pages = max(1, -(-total // per_page))
        return 200, chunk, {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}

    def route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[Any, ...]:
        if {k.lower(): v for k, v in headers.items()}.get("authorization") != self.auth:
            return 401, {
                "code": "woocommerce_rest_cannot_edit",
                "message": "Sorry, you are not allowed to edit this resource.",
                "data": {"status": 401},
            }
        if method == "GET":
            listed = self._get(path)
            if listed is not None:
                return listed
        m = re.fullmatch(r"/wp-json/wc/v3/products/(\d+)(?:/variations/(\d+))?", path)
        if not m or method != "PUT":
            return 404, {"code": "rest_no_route", "message": "No route was found.", "data": {"status": 404}}
        ident = m.group(1) + (f"/{m.group(2)}" if m.group(2) else "")
        if ident not in self.products:
            return 404, {
                "code": "woocommerce_rest_product_invalid_id",
                "message": "Invalid ID.",
                "data": {"status": 404},
            }
        if "stock_quantity" in body and not isinstance(body["stock_quantity"], int):
            return 400, {"code": "rest_invalid_param", "message": "Invalid parameter(s): stock_quantity"}
        for name in ("regular_price", "sale_price"):
            if name in body and not isinstance(body[name], str):
                return 400, {"code": "rest_invalid_param", "message": f"Invalid parameter(s): {name}"}
        body = dict(body)
        for name in ("date_on_sale_from_gmt", "date_on_sale_to_gmt"):
            if name not in body:
                continue
            value = body.pop(name)
            if value is None:  # not isset(): left as it was
                continue
            if not isinstance(value, str) or (value and not _GMT.fullmatch(value)):
                return 400, {"code": "rest_invalid_param", "message": f"Invalid parameter(s): {name}"}
            body[name] = value or None  # "" clears the date; answers show null
        self.products[ident].update(body)
        return 200, self.products[ident]


_GMT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
