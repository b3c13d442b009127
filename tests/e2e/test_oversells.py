"""Oversells and client input that used to be a 5xx, over HTTP against a real server.

Each test sells at a location of its own (created here, empty), so the demo stock other
tests rely on is never touched."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx

from tests.e2e.conftest import STRIPE_SECRET, Demo, Server


def _location(c: httpx.Client, owner: str | None = None) -> str:
    body: dict[str, Any] = {"code": f"OV-{uuid.uuid4().hex[:8]}", "name": "Oversell test", "kind": "store"}
    if owner is not None:
        body["owner_partner_id"] = owner
    made = c.post("/v1/locations", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _channel(c: httpx.Client, location_id: str, product_id: str, policy: str = "master_wins") -> str:
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
    channel_id = str(made.json()["id"])
    mapped = c.put(
        f"/v1/channels/{channel_id}/mappings",
        json={"mappings": [{"external_id": "pos-1", "product_id": product_id}]},
    )
    assert mapped.status_code == 200, mapped.text
    return channel_id


def _level_at(c: httpx.Client, product_id: str, location_id: str) -> float:
    levels = c.get(f"/v1/products/{product_id}/stock").json()["locations"]
    return sum(float(lv["on_hand"]) for lv in levels if lv["location_id"] == location_id)


def test_a_channel_sale_beyond_stock_is_an_oversell_only_readers_of_the_product_see(
    server: Server, demo: Demo
) -> None:
    product = demo.product["nailco"]
    with server.client("nailco") as c:
        location = _location(c)
        channel = _channel(c, location, product["id"])
        sale = {"event_id": uuid.uuid4().hex, "type": "sale", "external_id": "pos-1", "quantity": 2}
        sold = c.post(f"/v1/channels/{channel}/inbound", json={**sale, "order_ref": "NC-1001"})
        assert sold.status_code == 200 and sold.json()["outcome"] == "applied", sold.text
        assert sold.json()["oversold"] == "2" and sold.json()["delta"] == "0"
        oversell_id = sold.json()["oversell_id"]
        again = c.post(f"/v1/channels/{channel}/inbound", json={**sale, "order_ref": "NC-1001"})
        assert again.json()["replayed"] is True and again.json()["oversell_id"] == oversell_id
        listed = c.get("/v1/oversells", params={"channel_id": channel}).json()["items"]
        assert [o["id"] for o in listed] == [oversell_id]
        assert listed[0]["quantity"] == 2 and listed[0]["order_ref"] == "NC-1001"
        assert listed[0]["status"] == "open" and listed[0]["source"] == f"channel:{channel}"
        assert _level_at(c, product["id"], location) == 0
        movements = c.get(f"/v1/products/{product['id']}/movements", params={"location_id": location})
        [movement] = movements.json()["items"]
        assert movement["kind"] == "sale" and oversell_id in movement["reason"]
        accuracy = c.get("/v1/inventory/accuracy", params={"location_id": location}).json()
        assert accuracy["open_oversells"] == 1 and accuracy["oversold_quantity"] == 2
    with server.client("spirits-curator") as shared:  # reads nailco's catalog, writes none of it
        assert oversell_id in {o["id"] for o in shared.get("/v1/oversells").json()["items"]}
        assert shared.get(f"/v1/oversells/{oversell_id}").status_code == 200
        refused = shared.post(f"/v1/oversells/{oversell_id}/resolve", json={"resolution": "cancel"})
        assert refused.status_code == 403, refused.text
    with server.client("peak-sports") as other:  # nothing shared: as if it did not exist
        assert oversell_id not in {o["id"] for o in other.get("/v1/oversells").json()["items"]}
        assert other.get(f"/v1/oversells/{oversell_id}").status_code == 404
        assert other.get("/v1/oversells", params={"product_id": product["id"]}).status_code == 404
        hidden = other.post(f"/v1/oversells/{oversell_id}/resolve", json={"resolution": "cancel"})
        assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
    with server.client("admin") as admin:
        assert admin.get(f"/v1/oversells/{oversell_id}").json()["channel_id"] == channel
    with server.client("nailco") as c:
        bad = c.post(f"/v1/oversells/{oversell_id}/resolve", json={"resolution": "substitute"})
        assert bad.status_code == 422
        done = c.post(
            f"/v1/oversells/{oversell_id}/resolve", json={"resolution": "cancel", "note": "refunded"}
        )
        assert done.status_code == 200 and done.json()["status"] == "resolved", done.text
        assert done.json()["movement_ids"] == [] and done.json()["note"] == "refunded"
        twice = c.post(f"/v1/oversells/{oversell_id}/resolve", json={"resolution": "cancel"})
        assert twice.status_code == 409 and twice.json()["code"] == "oversell-resolved"
        assert c.get("/v1/oversells", params={"channel_id": channel}).json()["items"] == []


def test_oversells_page_oldest_first_whatever_their_random_ids(server: Server, demo: Demo) -> None:
    product = demo.product["nailco"]
    with server.client("nailco") as c:
        location = _location(c)
        channel = _channel(c, location, product["id"])
        made = []
        for n in range(5):
            sale = {"event_id": uuid.uuid4().hex, "type": "sale", "external_id": "pos-1", "quantity": 1}
            sold = c.post(f"/v1/channels/{channel}/inbound", json={**sale, "order_ref": f"NC-{n}"})
            assert sold.status_code == 200, sold.text
            made.append(sold.json()["oversell_id"])
            time.sleep(0.002)  # the clock moves on between sales
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            params: dict[str, Any] = {"channel_id": channel, "limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            page = c.get("/v1/oversells", params=params)
            assert page.status_code == 200, page.text
            seen += [o["id"] for o in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == made
        for bad in ["not-base64!", base64.urlsafe_b64encode(str(uuid.uuid4()).encode()).decode()]:
            refused = c.get("/v1/oversells", params={"cursor": bad})
            assert refused.status_code == 400 and refused.json()["type"].endswith("invalid-cursor")


def test_a_conflict_resolved_with_a_value_that_is_no_quantity_is_422_not_500(
    server: Server, demo: Demo
) -> None:
    product = demo.product["nailco"]
    with server.client("nailco") as c:
        location = _location(c)
        channel = _channel(c, location, product["id"], "manual_review")
        queued = c.post(
            f"/v1/channels/{channel}/inbound",
            json={"event_id": uuid.uuid4().hex, "type": "stock_count", "external_id": "pos-1", "quantity": 1},
        )
        assert queued.status_code == 202, queued.text
        url = f"/v1/conflicts/{queued.json()['conflict_id']}/resolve"
        for value in ["lots", "", "NaN", "Infinity", "1e99999", "-3", {"on_hand": 3}, [3], True]:
            r = c.post(url, json={"resolution": "custom", "value": value})
            assert r.status_code == 422, (value, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        kept = c.post(url, json={"resolution": "keep_hub"})
        assert kept.status_code == 200 and kept.json()["status"] == "resolved"
        assert _level_at(c, product["id"], location) == 0


def _stripe(server: Server, payload: bytes | str, *, signature: bytes | str | None = None) -> httpx.Response:
    raw = payload.encode() if isinstance(payload, str) else payload
    if signature is None:
        t = int(time.time())
        digest = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
        signature = f"t={t},v1={digest}"
    with server.client() as c:
        return c.post(
            "/v1/webhooks/stripe",
            content=raw,
            headers={"content-type": "application/json", "stripe-signature": signature},
        )


def _paid(sku: str, **metadata: str) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": f"pi_{uuid.uuid4().hex[:16]}", "metadata": {"sku": sku, **metadata}}},
    }


def test_stripe_input_that_used_to_fail_the_server_is_a_4xx(server: Server, demo: Demo) -> None:
    sku = demo.product["spirits-curator"]["sku"]
    malformed = _paid(sku, quantity="1", location_id="not-a-uuid")
    r = _stripe(server, json.dumps(malformed))
    assert r.status_code == 422 and r.json()["field"] == "metadata.location_id", r.text
    refund = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "type": "charge.refunded",
        "data": {"object": {"id": "ch_x", "metadata": {"sku": sku, "location_id": "42"}}},
    }
    r = _stripe(server, json.dumps(refund))  # this one was a 500 (uuid.UUID on a bare string)
    assert r.status_code == 422 and r.json()["field"] == "metadata.location_id", r.text
    assert _stripe(server, b'{"id": "evt_\xff"}').status_code == 400  # not UTF-8: cannot be signed text
    assert _stripe(server, "{}", signature=b"t=1,v1=\xe9").status_code == 400  # non-ASCII signature
    r = _stripe(server, json.dumps({**malformed, "id": {"an": "object"}}))
    assert r.status_code == 422 and r.json()["field"] == "id"


def test_paid_orders_beyond_stock_from_stripe_and_shopify_are_recorded_with_oversells(
    server: Server, demo: Demo
) -> None:
    with server.client("admin") as admin:
        spirits_location = _location(admin, demo.partners["spirits-curator"])
    spirits = demo.product["spirits-curator"]
    paid = _paid(spirits["sku"], quantity="3", location_id=spirits_location)
    first = _stripe(server, json.dumps(paid))
    assert first.status_code == 200 and first.json()["oversold"] == "3", first.text
    assert _stripe(server, json.dumps(paid)).json()["replayed"] is True
    with server.client("spirits-curator") as c:
        mine = c.get("/v1/oversells", params={"product_id": spirits["id"]}).json()["items"]
        [row] = [o for o in mine if o["id"] == first.json()["oversell_id"]]
        assert row["source"] == "stripe" and row["channel_id"] is None
        assert row["order_ref"] == paid["data"]["object"]["id"] and row["quantity"] == 3
    nail = demo.product["nailco"]
    with server.client("nailco") as c:
        channel, _ = _paused_shopify_channel(c, nail["id"])
    order = json.dumps({"id": 77001, "line_items": [{"id": 1, "variant_id": 5001, "quantity": 2}]}).encode()
    digest = base64.b64encode(hmac.new(b"shh", order, hashlib.sha256).digest()).decode()
    headers = {
        "content-type": "application/json",
        "x-shopify-hmac-sha256": digest,
        "x-shopify-topic": "orders/paid",
        "x-shopify-webhook-id": uuid.uuid4().hex,
    }
    with server.client() as anon:
        sold = anon.post(f"/v1/webhooks/shopify/{channel}", content=order, headers=headers)
        assert sold.status_code == 200, sold.text
        [line] = sold.json()["lines"]
        assert line["outcome"] == "applied" and line["oversold"] == "2"
        assert anon.post(f"/v1/webhooks/shopify/{channel}", content=order, headers=headers).json()["replayed"]
    with server.client("nailco") as c:
        [row] = c.get("/v1/oversells", params={"channel_id": channel}).json()["items"]
        assert row["order_ref"] == "77001" and row["quantity"] == 2 and row["id"] == line["oversell_id"]


def _paused_shopify_channel(c: httpx.Client, product_id: str) -> tuple[str, str]:
    """A paused (so never calling out) Shopify channel at the caller's location, with
    variant 5001 mapped to ``product_id`` and webhook secret ``shh``: (channel, location)."""
    location = _location(c)
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
    channel = made.json()["id"]
    c.patch(f"/v1/channels/{channel}", json={"status": "paused"})
    mapping = {"external_id": "5001", "product_id": product_id}
    c.put(f"/v1/channels/{channel}/mappings", json={"mappings": [mapping]})
    return channel, location


def _shopify(c: httpx.Client, channel: str, body: dict[str, Any], topic: str) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {
        "content-type": "application/json",
        "x-shopify-hmac-sha256": base64.b64encode(hmac.new(b"shh", raw, hashlib.sha256).digest()).decode(),
        "x-shopify-topic": topic,
        "x-shopify-webhook-id": uuid.uuid4().hex,  # each topic is a webhook of its own
    }
    return c.post(f"/v1/webhooks/shopify/{channel}", content=raw, headers=headers)


def test_a_shopify_order_through_both_order_topics_sells_once_and_a_refund_returns_once(
    server: Server, demo: Demo
) -> None:
    nail = demo.product["nailco"]
    with server.client("nailco") as c:
        channel, location = _paused_shopify_channel(c, nail["id"])
        received = c.post(
            "/v1/stock/adjustments",
            json={"product_id": nail["id"], "location_id": location, "delta": 5},
        )
        assert received.status_code == 200, received.text
    order_id = uuid.uuid4().int % 10**15
    order = {"id": order_id, "line_items": [{"id": 11, "variant_id": 5001, "quantity": 2}]}
    refund = {
        "id": order_id + 1,
        "order_id": order_id,
        "refund_line_items": [
            {"id": 21, "quantity": 1, "restock_type": "return", "line_item": {"id": 11, "variant_id": 5001}}
        ],
    }
    with server.client() as anon:
        created = _shopify(anon, channel, order, "orders/create")
        assert created.status_code == 200 and created.json()["lines"][0]["outcome"] == "applied", created.text
        paid = _shopify(anon, channel, order, "orders/paid")
        assert paid.status_code == 200, paid.text
        assert paid.json()["lines"][0]["replayed"] is True
        assert paid.json()["lines"][0]["movement_id"] == created.json()["lines"][0]["movement_id"]
        with server.client("nailco") as c:
            assert _level_at(c, nail["id"], location) == 3
        for _ in range(2):  # a refund redelivered under a new webhook id
            assert _shopify(anon, channel, refund, "refunds/create").status_code == 200
        no_id = _shopify(anon, channel, {"line_items": order["line_items"]}, "orders/paid")
        assert no_id.status_code == 422 and no_id.headers["content-type"] == "application/problem+json"
    with server.client("nailco") as c:
        assert _level_at(c, nail["id"], location) == 4
