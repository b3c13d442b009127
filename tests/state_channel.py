"""A webhook channel on 127.0.0.1 that exposes its state (the ``config.state_url``
contract of productsync/sync/state_reader.py) and applies the hub's events to it.

- ``GET /state`` answers ``{"items": [...], "next": cursor|null}`` pages of ``page_size``
  (``?cursor=N``), or JSON Lines when ``jsonl`` is set; with ``secrets`` it verifies the
  Standard Webhooks signature of the request and refuses (401) an unsigned one.
- ``POST /hook`` takes the hub's CloudEvents: ``product.updated`` sets title and
  description (and adds an item it did not hold), ``stock.changed`` sets the quantity to
  the level's ``available``, ``price.changed`` the price in force.

Items are kept by SKU as plain dicts, so tests seed drift by editing them.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class _Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True


class StateChannel:
    def __init__(self, *, page_size: int = 2, jsonl: bool = False) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.page_size = page_size
        self.jsonl = jsonl
        self.secrets: list[str] = []
        self.state_requests: list[dict[str, str]] = []
        self.events: list[dict[str, Any]] = []
        self.fail_state: int | None = None  # answer GET /state with this status
        self.lock = threading.Lock()
        channel = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with channel.lock:
                    channel.state_requests.append(headers)
                    if channel.fail_state is not None:
                        return self._send(channel.fail_state, b'{"error": "down"}', "application/json")
                    if channel.secrets and not channel.verified(b"", headers):
                        return self._send(401, b'{"error": "unsigned"}', "application/json")
                    rows = [dict(v) for _, v in sorted(channel.items.items())]
                if url.path != "/state":
                    return self._send(404, b"{}", "application/json")
                if channel.jsonl:
                    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
                    return self._send(200, body, "application/jsonl")
                start = int(parse_qs(url.query).get("cursor", ["0"])[0])
                chunk = rows[start : start + channel.page_size]
                following = str(start + channel.page_size) if start + channel.page_size < len(rows) else None
                self._send(200, json.dumps({"items": chunk, "next": following}).encode(), "application/json")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if channel.secrets and not channel.verified(body, headers):
                    return self._send(401, b"", "application/json")
                channel.apply(json.loads(body))
                self._send(200, b"", "application/json")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.state_url = f"{self.url}/state"
        self.hook_url = f"{self.url}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def verified(self, body: bytes, headers: dict[str, str]) -> bool:
        if not body:  # a GET: the signature covers an empty body (``verify`` parses JSON)
            try:
                at = datetime.fromtimestamp(int(headers.get("webhook-timestamp", "")), UTC)
            except ValueError:
                return False
            if abs((datetime.now(UTC) - at).total_seconds()) > 300:
                return False
            given = set(headers.get("webhook-signature", "").split())
            return any(Webhook(s).sign(headers.get("webhook-id", ""), at, "") in given for s in self.secrets)
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    def apply(self, event: dict[str, Any]) -> None:
        kind, data = event.get("type", ""), event.get("data") or {}
        with self.lock:
            self.events.append(event)
            if kind.endswith("product.updated") or kind.endswith("product.created"):
                product = data["product"]
                item = self.items.setdefault(product["sku"], {"sku": product["sku"]})
                item["title"] = product["name"]
                item["description"] = product.get("description") or ""
            elif kind.endswith("stock.changed") and data.get("level"):
                self.items.setdefault(data["sku"], {"sku": data["sku"]})["quantity"] = data["level"][
                    "available"
                ]
            elif kind.endswith("price.changed"):
                in_force = data.get("price_in_force") or {}
                self.items.setdefault(data["sku"], {"sku": data["sku"]})["price"] = in_force.get("amount")

    def __enter__(self) -> StateChannel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
