"""The sync engine through a real `productsync serve`: webhooks delivered by the embedded
dispatcher, the SSE stream with resume, inbound changes and the review queue, Stripe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STRIPE_SECRET, Demo, Server
from tests.receiver import Receiver


def _stock(c: httpx.Client, product_id: str) -> dict[str, Any]:
    """The product's level with the most on hand (where the tests take from)."""
    levels = c.get(f"/v1/products/{product_id}/stock").json()["locations"]
    return max(levels, key=lambda lv: float(lv["on_hand"]))


def _adjust(c: httpx.Client, product_id: str, location_id: str, delta: int) -> dict[str, Any]:
    r = c.post(
        "/v1/stock/adjustments", json={"product_id": product_id, "location_id": location_id, "delta": delta}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _wait(predicate, seconds: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_webhook_channel_gets_its_snapshot_then_live_changes_from_the_running_hub(
    server: Server, demo: Demo
) -> None:
    product = demo.product["nailco"]
    with server.client("nailco") as c, Receiver() as receiver:
        level = _stock(c, product["id"])
        made = c.post(
            "/v1/channels",
            json={
                "name": f"hook {uuid.uuid4().hex[:6]}",
                "kind": "webhook",
                "url": receiver.url,
                "location_ids": [level["location_id"]],
            },
        )
        assert made.status_code == 201, made.text
        receiver.secrets.append(made.json()["secret"])
        key = ("productsync.stock.changed", f"{product['sku']}@{level['location_id']}")

        def on_hand() -> str | None:
            event = receiver.latest().get(key)
            return event["data"]["level"]["on_hand"] if event else None

        assert _wait(lambda: on_hand() is not None), "the snapshot never arrived"
        after = _adjust(c, product["id"], level["location_id"], -1)
        expected = str(after["level"]["on_hand"])
        assert _wait(lambda: on_hand() == expected), (on_hand(), expected)
        assert receiver.refused_signatures == 0
        status = c.get(f"/v1/channels/{made.json()['id']}/status").json()
        assert status["delivered"] >= 2 and status["dead"] == 0


class _SSE:
    """Reads an SSE response on a thread, collecting (id, event type, data)."""

    def __init__(self, client: httpx.Client, **kw: Any) -> None:
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.opened = threading.Event()
        self.status: int | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(client, kw), daemon=True)
        self._thread.start()

    def _run(self, client: httpx.Client, kw: dict[str, Any]) -> None:
        try:
            self._read(client, kw)
        except httpx.HTTPError:
            if not self._stop:  # closing the client under a blocked read ends it this way
                raise

    def _read(self, client: httpx.Client, kw: dict[str, Any]) -> None:
        with client.stream("GET", "/v1/stream", **kw) as response:
            self.status = response.status_code
            self.opened.set()
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if self._stop:
                    return
                if line == "":
                    if "data" in fields:
                        self.events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value

    def close(self) -> None:
        self._stop = True


def test_the_stream_resumes_after_the_last_event_id_with_nothing_missed(server: Server, demo: Demo) -> None:
    product = demo.product["peak-sports"]
    with server.client("peak-sports") as c:
        level = _stock(c, product["id"])
        with server.client("peak-sports") as sc:
            first = _SSE(sc)
            assert first.opened.wait(10) and first.status == 200
            time.sleep(0.3)  # the stream is at "now"
            _adjust(c, product["id"], level["location_id"], 1)
            assert _wait(lambda: any(e[2]["subject"] == product["sku"] for e in first.events))
            last_id = first.events[-1][0]
            first.close()
        # While nobody listens: two more changes.
        seen = [_adjust(c, product["id"], level["location_id"], d)["level"]["on_hand"] for d in (1, -1)]
        with server.client("peak-sports") as sc:
            resumed = _SSE(sc, headers={"Last-Event-ID": str(last_id)})
            assert _wait(lambda: sum(e[2]["subject"] == product["sku"] for e in resumed.events) >= 2)
            resumed.close()
        mine = [e for e in resumed.events if e[2]["subject"] == product["sku"]]
        assert all(e[0] > last_id for e in resumed.events)  # nothing repeated
        assert [str(e[2]["data"]["level"]["on_hand"]) for e in mine[:2]] == [str(s) for s in seen]
        # Another partner's events are not in peak-sports' stream.
        owners = {e[2]["data"].get("product", {}).get("owner_partner_id") for e in resumed.events}
        assert demo.partners["nailco"] not in owners
    with server.client("peak-sports") as c:
        bad = c.get("/v1/stream", headers={"Last-Event-ID": "abc"})
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


def _inbound_channel(c: httpx.Client, location_id: str, product_id: str, policy: str) -> str:
    made = c.post(
        "/v1/channels",
        json={
            "name": f"pos {uuid.uuid4().hex[:6]}",
            "kind": "sse",
            "location_ids": [location_id],
            "conflict_policy": policy,
        },
    )
    assert made.status_code == 201, made.text
    channel_id = made.json()["id"]
    mapped = c.put(
        f"/v1/channels/{channel_id}/mappings",
        json={"mappings": [{"external_id": "pos-1", "product_id": product_id}]},
    )
    assert mapped.status_code == 200, mapped.text
    return str(channel_id)


def test_inbound_changes_over_http(server: Server, demo: Demo) -> None:
    product = demo.product["nailco"]
    with server.client("nailco") as c:
        level = _stock(c, product["id"])
        channel_id = _inbound_channel(c, level["location_id"], product["id"], "reject_stale")
        url = f"/v1/channels/{channel_id}/inbound"
        key = {"Idempotency-Key": uuid.uuid4().hex}
        sale = c.post(url, json={"type": "sale", "external_id": "pos-1", "quantity": 1}, headers=key)
        assert sale.status_code == 200 and sale.json()["outcome"] == "applied", sale.text
        again = c.post(url, json={"type": "sale", "external_id": "pos-1", "quantity": 1}, headers=key)
        assert again.json()["replayed"] is True
        now = _stock(c, product["id"])
        assert float(now["on_hand"]) == float(level["on_hand"]) - 1
        stale = c.post(
            url,
            json={
                "event_id": uuid.uuid4().hex,
                "type": "stock_count",
                "external_id": "pos-1",
                "quantity": 3,
                "based_on_version": now["version"] - 1,
            },
        )
        assert stale.status_code == 409 and stale.headers["content-type"] == "application/problem+json"
        assert stale.json()["code"] == "stale-change" and stale.json()["hub_version"] == now["version"]
        for body, status in [
            ({"type": "sale", "external_id": "pos-1", "quantity": 1}, 422),  # no event id
            ({"event_id": "x1", "type": "sale", "external_id": "unknown", "quantity": 1}, 422),
            ({"event_id": "x2", "type": "teleport", "external_id": "pos-1"}, 422),
            ({"event_id": "x3", "type": "sale", "external_id": "pos-1", "quantity": -2}, 422),
            # A sale beyond stock is no longer refused (it is recorded with an oversell:
            # tests/e2e/test_oversells.py); a quantity no level can hold still is.
            ({"event_id": "x4", "type": "sale", "external_id": "pos-1", "quantity": 10**13}, 422),
        ]:
            r = c.post(url, json=body)
            assert r.status_code == status, (body, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        assert _stock(c, product["id"])["on_hand"] == now["on_hand"]  # none of them changed anything
        assert (
            c.post(
                f"/v1/channels/{uuid.uuid4()}/inbound", json={"event_id": "y", "type": "sale", "quantity": 1}
            ).status_code
            == 404
        )
    with server.client("spirits-curator") as other:  # not its channel
        assert (
            other.post(
                url, json={"event_id": "z", "type": "sale", "external_id": "pos-1", "quantity": 1}
            ).status_code
            == 404
        )


def test_the_review_queue_over_http(server: Server, demo: Demo) -> None:
    product = demo.product["nailco"]
    with server.client("nailco") as c:
        level = _stock(c, product["id"])
        channel_id = _inbound_channel(c, level["location_id"], product["id"], "manual_review")
        r = c.post(
            f"/v1/channels/{channel_id}/inbound",
            json={"event_id": uuid.uuid4().hex, "type": "stock_count", "external_id": "pos-1", "quantity": 1},
        )
        assert r.status_code == 202 and r.json()["outcome"] == "queued"
        conflict_id = r.json()["conflict_id"]
        listed = c.get("/v1/conflicts", params={"channel_id": channel_id}).json()["items"]
        assert [x["id"] for x in listed] == [conflict_id] and listed[0]["status"] == "open"
        assert _stock(c, product["id"])["on_hand"] == level["on_hand"]
        resolved = c.post(f"/v1/conflicts/{conflict_id}/resolve", json={"resolution": "keep_hub"})
        assert resolved.status_code == 200 and resolved.json()["resolution"] == "keep_hub"
        twice = c.post(f"/v1/conflicts/{conflict_id}/resolve", json={"resolution": "take_channel"})
        assert twice.status_code == 409
        assert c.post(f"/v1/conflicts/{conflict_id}/resolve", json={"resolution": "maybe"}).status_code == 422
    with server.client("peak-sports") as other:
        assert other.get("/v1/conflicts", params={"status": "resolved"}).json()["items"] == [] or all(
            x["id"] != conflict_id
            for x in other.get("/v1/conflicts", params={"status": "resolved"}).json()["items"]
        )
        assert (
            other.post(f"/v1/conflicts/{conflict_id}/resolve", json={"resolution": "keep_hub"}).status_code
            == 404
        )


def _stripe_post(
    server: Server, event: dict[str, Any], *, secret: str = STRIPE_SECRET, at: int | None = None
) -> httpx.Response:
    """Signed the way Stripe documents: v1 = HMAC-SHA256(secret, f"{t}.{payload}")."""
    payload = json.dumps(event)
    t = at if at is not None else int(time.time())
    signature = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    with server.client() as c:
        return c.post(
            "/v1/webhooks/stripe",
            content=payload,
            headers={"content-type": "application/json", "stripe-signature": f"t={t},v1={signature}"},
        )


def test_stripe_events_record_sales_and_refunds_once(server: Server, demo: Demo) -> None:
    product = demo.product["spirits-curator"]
    with server.client("admin") as c:
        before = _stock(c, product["id"])
    payment = f"pi_{uuid.uuid4().hex[:16]}"
    succeeded = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": payment,
                "object": "payment_intent",
                "metadata": {"sku": product["sku"], "quantity": "2", "location_id": before["location_id"]},
            }
        },
    }
    first = _stripe_post(server, succeeded)
    assert first.status_code == 200 and first.json()["outcome"] == "applied", first.text
    assert _stripe_post(server, succeeded).json()["replayed"] is True  # Stripe redelivers: applied once
    with server.client("admin") as c:
        assert float(_stock(c, product["id"])["on_hand"]) == float(before["on_hand"]) - 2
    for bad in (
        _stripe_post(server, {**succeeded, "id": "evt_forged"}, secret="whsec_wrong"),
        _stripe_post(server, {**succeeded, "id": "evt_old"}, at=int(time.time()) - 3600),
    ):
        assert bad.status_code == 400 and bad.json()["code"] == "bad-signature"
    with server.client() as anon:
        unsigned = anon.post("/v1/webhooks/stripe", json=succeeded)
        assert unsigned.status_code == 400
    refund = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": payment,
                "metadata": {"sku": product["sku"], "quantity": "2"},
            }
        },
    }
    assert _stripe_post(server, refund).json()["outcome"] == "applied"
    with server.client("admin") as c:
        assert float(_stock(c, product["id"])["on_hand"]) == float(before["on_hand"])
        movements = c.get(f"/v1/products/{product['id']}/movements").json()["items"]
        assert {m["kind"] for m in movements[-2:]} == {"sale", "return"}
    ignored = _stripe_post(
        server, {"id": f"evt_{uuid.uuid4().hex[:8]}", "type": "customer.created", "data": {"object": {}}}
    )
    assert ignored.status_code == 200 and ignored.json()["outcome"] == "ignored"


@pytest.mark.parametrize("who", [None, "nailco"])
def test_the_stripe_endpoint_needs_no_api_key_but_a_signature(server: Server, who: str | None) -> None:
    with server.client(who) as c:
        r = c.post(
            "/v1/webhooks/stripe",
            json={"id": "evt_x", "type": "payment_intent.succeeded"},
            headers={"stripe-signature": "t=1,v1=00"},
        )
        assert r.status_code == 400 and r.json()["code"] == "bad-signature"


def _shopify_post(
    server: Server, channel_id: str, body: dict[str, Any], *, secret: str, topic: str, webhook_id: str
) -> httpx.Response:
    raw = json.dumps(body).encode()
    digest = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    with server.client() as c:
        return c.post(
            f"/v1/webhooks/shopify/{channel_id}",
            content=raw,
            headers={
                "content-type": "application/json",
                "x-shopify-hmac-sha256": digest,
                "x-shopify-topic": topic,
                "x-shopify-webhook-id": webhook_id,
                "x-shopify-shop-domain": "nailco.myshopify.com",
            },
        )


def test_shopify_order_webhooks_record_sales_all_or_nothing_once(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c:
        # Two of the demo's stocked products: other tests add nailco products without stock
        # (imports, namespaces) that may page first.
        listed = c.get("/v1/products", params={"partner_id": demo.partners["nailco"], "limit": 100}).json()
        products = [
            p
            for p in listed["items"]
            if p.get("kind", "simple") == "simple"
            and c.get(f"/v1/products/{p['id']}/stock").json()["locations"]
        ][:2]
        assert len(products) == 2, "the demo has stocked nailco products"
        location = _stock(c, products[0]["id"])["location_id"]
        made = c.post(
            "/v1/channels",
            json={
                "name": f"shopify {uuid.uuid4().hex[:6]}",
                "kind": "shopify",
                "url": "https://nailco.invalid",
                "location_ids": [location],
                "credentials": {"access_token": "shpat_x", "webhook_secret": "shh"},
            },
        )
        assert made.status_code == 201, made.text
        channel = made.json()
        assert channel["has_credentials"] is True and "shpat_x" not in made.text and "shh" not in made.text
        c.patch(f"/v1/channels/{channel['id']}", json={"status": "paused"})  # no outbound in this test
        for p in products:  # both have stock at the channel's location
            _adjust(c, p["id"], location, 5)
        c.put(
            f"/v1/channels/{channel['id']}/mappings",
            json={
                "mappings": [
                    {"external_id": "4001", "product_id": products[0]["id"]},
                    {"external_id": "4002", "product_id": products[1]["id"]},
                ]
            },
        )
        before = [
            next(
                lv
                for lv in c.get(f"/v1/products/{p['id']}/stock").json()["locations"]
                if lv["location_id"] == location
            )
            for p in products
        ]
    order = {
        "id": 820982911946154508,
        "line_items": [
            {"id": 1, "variant_id": 4001, "quantity": 1, "sku": products[0]["sku"]},
            {"id": 2, "variant_id": 4002, "quantity": 1, "sku": products[1]["sku"]},
        ],
    }
    bad_line = {"id": 2, "line_items": [order["line_items"][0], {"id": 3, "variant_id": 999, "quantity": 1}]}
    refused = _shopify_post(
        server, channel["id"], bad_line, secret="shh", topic="orders/create", webhook_id="w0"
    )
    assert refused.status_code == 422 and refused.json()["code"] == "unknown-external-id"
    forged = _shopify_post(
        server, channel["id"], order, secret="nope", topic="orders/create", webhook_id="w1"
    )
    assert forged.status_code == 401
    ok = _shopify_post(server, channel["id"], order, secret="shh", topic="orders/create", webhook_id="w1")
    assert ok.status_code == 200 and [x["outcome"] for x in ok.json()["lines"]] == ["applied", "applied"], (
        ok.text
    )
    again = _shopify_post(server, channel["id"], order, secret="shh", topic="orders/create", webhook_id="w1")
    assert again.json()["replayed"] is True
    with server.client("nailco") as c:
        after = [
            next(
                lv
                for lv in c.get(f"/v1/products/{p['id']}/stock").json()["locations"]
                if lv["location_id"] == location
            )
            for p in products
        ]
    assert [float(a["on_hand"]) for a in after] == [float(b["on_hand"]) - 1 for b in before]
    ignored = _shopify_post(
        server, channel["id"], {"id": 1}, secret="shh", topic="customers/create", webhook_id="w2"
    )
    assert ignored.json()["outcome"] == "ignored"
    with server.client() as anon:
        assert anon.post(f"/v1/webhooks/shopify/{uuid.uuid4()}", json=order).status_code == 404


def test_availability_per_channel_over_http(server: Server, demo: Demo) -> None:
    product = demo.product["nailco"]
    with server.client("nailco") as c:
        level = _stock(c, product["id"])
        made = c.post(
            "/v1/channels",
            json={
                "name": f"pos {uuid.uuid4().hex[:6]}",
                "kind": "sse",
                "location_ids": [level["location_id"]],
                "buffer_stock": 1,
            },
        )
        channel_id = made.json()["id"]
        one = c.get(f"/v1/products/{product['id']}/availability", params={"channel_id": channel_id})
        assert one.status_code == 200, one.text
        assert float(one.json()["available"]) == max(0.0, float(level["available"]) - 1)
        bulk = c.get("/v1/availability", params={"channel_id": channel_id, "sku": [product["sku"]]})
        assert bulk.status_code == 200 and bulk.json()["items"][0]["available"] == one.json()["available"]
        assert c.get("/v1/availability", params={"channel_id": channel_id}).status_code == 422
    with server.client("peak-sports") as other:  # not its channel
        r = other.get(f"/v1/products/{product['id']}/availability", params={"channel_id": channel_id})
        assert r.status_code == 404


def test_aliases_over_http(server: Server, demo: Demo) -> None:
    product = demo.product["nailco"]
    code = f"AC-{uuid.uuid4().hex[:6]}"
    with server.client("nailco") as c:
        put = c.put(
            f"/v1/products/{product['id']}/aliases",
            json={"aliases": [{"scheme": "supplier-acme", "code": code}]},
        )
        assert put.status_code == 200, put.text
        assert c.get(f"/v1/products/{product['id']}/aliases").json()["aliases"] == [
            {"scheme": "supplier-acme", "code": code}
        ]
        found = c.get(f"/v1/aliases/supplier-acme/{code}")
        assert found.status_code == 200 and found.json()["product_id"] == product["id"]
        bad = c.put(
            f"/v1/products/{product['id']}/aliases", json={"aliases": [{"scheme": "9x", "code": "y"}]}
        )
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    with server.client("spirits-curator") as shared:  # nailco shares its catalog with the curator
        assert shared.get(f"/v1/aliases/supplier-acme/{code}").status_code == 200
        assert shared.put(f"/v1/products/{product['id']}/aliases", json={"aliases": []}).status_code == 403
    with server.client("peak-sports") as other:
        assert other.get(f"/v1/aliases/supplier-acme/{code}").status_code == 404
