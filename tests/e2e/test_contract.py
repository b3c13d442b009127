"""The HTTP contract: idempotency, conditional writes, and problem+json for bad input."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Demo, Server


def _event_count(server: Server) -> int:
    with server.client("admin") as c:
        total, cursor = 0, "0"
        while True:
            page = c.get("/v1/events", params={"after": cursor, "limit": 1000}).json()
            if not page["items"]:
                return total
            total += len(page["items"])
            cursor = page["next_cursor"]


def _stock_row(server: Server, product_id: str, code: str) -> dict[str, Any]:
    with server.client("admin") as c:
        rows = c.get(f"/v1/products/{product_id}/stock").json()["locations"]
    return next(r for r in rows if r["location_code"] == code)


def test_the_same_idempotency_key_and_body_replays_without_a_second_change(
    server: Server, demo: Demo
) -> None:
    p = demo.product["nailco"]
    body = {"product_id": p["id"], "location_id": demo.locations["WH-BERLIN"], "delta": 3}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    before = _stock_row(server, p["id"], "WH-BERLIN")["on_hand"]
    with server.client("nailco") as c:
        first = c.post("/v1/stock/adjustments", json=body, headers=key)
        again = c.post("/v1/stock/adjustments", json=dict(reversed(list(body.items()))), headers=key)
        other = c.post("/v1/stock/adjustments", json={**body, "delta": 4}, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"
    assert _stock_row(server, p["id"], "WH-BERLIN")["on_hand"] == before + 3


async def test_concurrent_twins_with_one_key_change_stock_once(server: Server, demo: Demo) -> None:
    p = demo.product["spirits-curator"]
    body = {"product_id": p["id"], "location_id": demo.locations["WH-BERLIN"], "delta": 1}
    headers = {
        "Authorization": f"Bearer {server.keys['spirits-curator']}",
        "Idempotency-Key": uuid.uuid4().hex,
    }
    before = _stock_row(server, p["id"], "WH-BERLIN")["on_hand"]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as c:
        replies = await asyncio.gather(
            *(c.post("/v1/stock/adjustments", json=body, headers=headers) for _ in range(10))
        )
    assert {r.status_code for r in replies} == {200}
    assert len({r.json()["movement_id"] for r in replies}) == 1
    assert _stock_row(server, p["id"], "WH-BERLIN")["on_hand"] == before + 1


def test_if_match_guards_product_edits(server: Server, demo: Demo) -> None:
    p = demo.product["peak-sports"]
    with server.client("peak-sports") as c:
        got = c.get(f"/v1/products/{p['id']}")
        etag = got.headers["etag"]
        assert etag == f'"{got.json()["version"]}"'
        ok = c.patch(f"/v1/products/{p['id']}", json={"name": "Trail Shoe v2"}, headers={"If-Match": etag})
        assert ok.status_code == 200 and ok.headers["etag"] != etag
        stale = c.patch(f"/v1/products/{p['id']}", json={"name": "Lost update"}, headers={"If-Match": etag})
        assert stale.status_code == 412 and stale.json()["code"] == "version-mismatch"
        assert stale.json()["current_version"] == ok.json()["version"]
        junk = c.patch(f"/v1/products/{p['id']}", json={"name": "x"}, headers={"If-Match": "garbage"})
        assert junk.status_code == 412
        assert c.get(f"/v1/products/{p['id']}").json()["name"] == "Trail Shoe v2"


def _cosmetic(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": f"COS-E2E-{uuid.uuid4().hex[:8]}",
        "name": "Top coat",
        "category": "cosmetics",
        "barcodes": ["4006381333931"],
        "attributes": {"ingredients": ["butyl acetate"], "volume_ml": 12, "pao_months": 24},
    }
    body.update(over)
    return body


BAD_INPUTS = [
    # (name, method, path-template, body or raw bytes, status, code)
    ("malformed json", "POST", "/v1/stock/adjustments", b'{"delta": ', 400, "malformed-json"),
    (
        "wrong type",
        "POST",
        "/v1/stock/adjustments",
        {"sku": "COS-NP-001", "location_id": "{loc}", "delta": "lots"},
        422,
        "validation-failed",
    ),
    (
        "boolean as number",
        "POST",
        "/v1/stock/adjustments",
        {"sku": "COS-NP-001", "location_id": "{loc}", "delta": True},
        422,
        "validation-failed",
    ),
    (
        "unknown field",
        "POST",
        "/v1/stock/adjustments",
        {"sku": "COS-NP-001", "location_id": "{loc}", "delta": 1, "force": True},
        422,
        "validation-failed",
    ),
    (
        "unknown sku",
        "POST",
        "/v1/stock/adjustments",
        {"sku": "COS-NOPE-999", "location_id": "{loc}", "delta": 1},
        404,
        "not-found",
    ),
    (
        "unknown location",
        "POST",
        "/v1/stock/adjustments",
        {"sku": "COS-NP-001", "location_id": str(uuid.UUID(int=7)), "delta": 1},
        404,
        "not-found",
    ),
    (
        "negative stock",
        "POST",
        "/v1/stock/adjustments",
        {"sku": "COS-NP-001", "location_id": "{loc}", "delta": -100000},
        409,
        "insufficient-stock",
    ),
    (
        "fraction of a piece",
        "POST",
        "/v1/stock/adjustments",
        {"sku": "COS-NP-001", "location_id": "{loc}", "delta": 0.5},
        422,
        "invalid-quantity",
    ),
    (
        "negative set",
        "POST",
        "/v1/stock/set",
        {"sku": "COS-NP-001", "location_id": "{loc}", "quantity": -1},
        422,
        "invalid-quantity",
    ),
    (
        "stale compare-and-set",
        "POST",
        "/v1/stock/set",
        {"sku": "COS-NP-001", "location_id": "{loc}", "quantity": 5, "compare_quantity": 987654},
        409,
        "compare-failed",
    ),
    ("bad gtin", "POST", "/v1/products", _cosmetic(barcodes=["4006381333932"]), 422, "invalid-gtin"),
    (
        "schema-invalid attributes",
        "POST",
        "/v1/products",
        _cosmetic(attributes={"volume_ml": "big"}),
        422,
        "invalid-attributes",
    ),
    ("sku without category prefix", "POST", "/v1/products", _cosmetic(sku="NP-001"), 422, "invalid-sku"),
    ("unknown category", "POST", "/v1/products", _cosmetic(category="jewellery"), 404, "not-found"),
    (
        "unknown locale",
        "POST",
        "/v1/products",
        _cosmetic(texts={"xx-QQ": {"name": "x"}}),
        422,
        "invalid-locale",
    ),
    ("duplicate sku", "POST", "/v1/products", _cosmetic(sku="COS-NP-001", barcodes=[]), 409, "duplicate"),
    (
        "unknown currency",
        "POST",
        "/v1/price-lists",
        {"name": "x", "currency": "EUX"},
        422,
        "invalid-currency",
    ),
    (
        "naive timestamp",
        "PUT",
        "/v1/price-lists/{eur}/prices/{pid}",
        {"prices": [{"amount": "9.90", "valid_from": "2026-12-01T00:00:00"}]},
        422,
        "validation-failed",
    ),
    (
        "too many decimals for the currency",
        "PUT",
        "/v1/price-lists/{eur}/prices/{pid}",
        {"prices": [{"amount": "9.999"}]},
        422,
        "invalid-currency",
    ),
    (
        "window ends before it starts",
        "PUT",
        "/v1/price-lists/{eur}/prices/{pid}",
        {
            "prices": [
                {"amount": "9.90", "valid_from": "2026-12-02T00:00:00Z", "valid_to": "2026-12-01T00:00:00Z"}
            ]
        },
        422,
        "invalid-input",
    ),
    (
        "naive query timestamp",
        "GET",
        "/v1/products/{pid}/price?price_list_id={eur}&at=2026-12-01T00:00:00",
        None,
        422,
        "validation-failed",
    ),
    ("not a uuid", "GET", "/v1/products/not-a-uuid", None, 422, "validation-failed"),
    ("bad cursor", "GET", "/v1/products?cursor=%%%", None, 400, "invalid-cursor"),
    ("form body", "POST", "/v1/stock/adjustments", "delta=1", 415, "unsupported-media-type"),
    ("unknown route", "GET", "/v1/nothing-here", None, 404, "not-found"),
    (
        "absurdly nested json",
        "POST",
        "/v1/stock/adjustments",
        b"[" * 5000 + b"]" * 5000,
        400,
        "malformed-json",
    ),
    (
        "body over 1 MiB",
        "POST",
        "/v1/products",
        b'{"name": "' + b"x" * (1024 * 1024 + 1) + b'"}',
        413,
        "payload-too-large",
    ),
    (
        "stock beyond the storable maximum",
        "POST",
        "/v1/stock/adjustments",
        {"sku": "COS-NP-001", "location_id": "{loc}", "delta": 999999999999},
        422,
        "invalid-quantity",
    ),
    (
        "huge amount",
        "PUT",
        "/v1/price-lists/{eur}/prices/{pid}",
        {"prices": [{"amount": 3.4e264}]},
        422,
        "invalid-input",
    ),
    (
        "instant outside the calendar in UTC",
        "PUT",
        "/v1/price-lists/{eur}/prices/{pid}",
        {"prices": [{"amount": "1.00", "valid_from": "0001-01-01T00:00:00+05:00"}]},
        422,
        "invalid-input",
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "status", "code"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_every_bad_input_is_a_problem_json_4xx_that_changes_nothing(
    server: Server, demo: Demo, name: str, method: str, path: str, body: Any, status: int, code: str
) -> None:
    eur = demo.price_lists["Retail EU (EUR)"]["id"]
    pid = demo.product["nailco"]["id"]
    loc = demo.locations["WH-BERLIN"]
    path = path.replace("{eur}", eur).replace("{pid}", pid).replace("{loc}", loc)
    if isinstance(body, dict):
        body = {k: (v.replace("{loc}", loc) if isinstance(v, str) else v) for k, v in body.items()}
    events_before = _event_count(server)
    stock_before = _stock_row(server, pid, "WH-BERLIN")
    key = "admin" if path.startswith("/v1/price-lists/" + eur) else "nailco"
    with server.client(key) as c:
        if isinstance(body, bytes):
            r = c.request(method, path, content=body, headers={"Content-Type": "application/json"})
        elif isinstance(body, str):
            r = c.request(
                method, path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        else:
            r = c.request(method, path, json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == f"/problems/{code}" and problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert "Traceback" not in r.text
    assert _event_count(server) == events_before
    assert _stock_row(server, pid, "WH-BERLIN") == stock_before


async def test_fifty_concurrent_http_clients_on_one_level_end_exact(server: Server, demo: Demo) -> None:
    p = demo.product["peak-sports"]
    loc = demo.locations["WH-PEAK"]
    start = _stock_row(server, p["id"], "WH-PEAK")["on_hand"]
    deltas = [(-9 if i % 3 else 5) for i in range(50)]
    headers = {"Authorization": f"Bearer {server.keys['peak-sports']}"}
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60, headers=headers, limits=limits) as c:
        replies = await asyncio.gather(
            *(
                c.post("/v1/stock/adjustments", json={"product_id": p["id"], "location_id": loc, "delta": d})
                for d in deltas
            )
        )
    assert {r.status_code for r in replies} <= {200, 409}
    applied = sum(d for d, r in zip(deltas, replies, strict=True) if r.status_code == 200)
    assert any(r.status_code == 409 for r in replies)
    end = _stock_row(server, p["id"], "WH-PEAK")["on_hand"]
    assert end == start + applied and end >= 0
    with server.client("peak-sports") as c:
        moves, cursor = [], "0"
        while True:
            page = c.get(
                f"/v1/products/{p['id']}/movements",
                params={"location_id": loc, "after": cursor, "limit": 1000},
            ).json()
            moves += page["items"]
            if not page["next_cursor"]:
                break
            cursor = page["next_cursor"]
    assert sum(float(m["quantity"]) for m in moves) == end
