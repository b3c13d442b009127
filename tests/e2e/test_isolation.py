"""Partner isolation as a matrix: every key x every partner's resources x read/write.

nailco and spirits-curator share catalogs with each other; peak-sports shares with
nobody. Reading what you may not see is 404 (existence does not leak); writing
what you may read but do not own is 403; the admin may do everything.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Demo, Server

KEYS = ["admin", "nailco", "spirits-curator", "peak-sports"]
OWNERS = ["nailco", "spirits-curator", "peak-sports"]
SHARED = {("nailco", "spirits-curator"), ("spirits-curator", "nailco")}
STOCK_AT = {"nailco": "WH-BERLIN", "spirits-curator": "WH-BERLIN", "peak-sports": "WH-PEAK"}


# Members of a product, its stock or its prices that a 404 must never carry.
FOREIGN_MEMBERS = {
    "sku",
    "name",
    "description",
    "barcodes",
    "attributes",
    "owner_partner_id",
    "product_id",
    "on_hand",
    "available",
    "locations",
    "totals",
    "items",
    "amount",
    "unit_amount",
    "entries",
}


def _strings(value: Any, keys: set[str] | None = None) -> set[str]:
    """Every string (and number, as text) in a JSON value, or only under ``keys``."""
    if isinstance(value, dict):
        return {s for k, v in value.items() for s in _strings(v, None if keys is None or k in keys else keys)}
    if isinstance(value, list):
        return {s for v in value for s in _strings(v, keys)}
    return {str(value)} if keys is None and value not in (None, "", True, False) else set()


def secrets_of(product: dict[str, Any], prices: dict[str, Any] | None) -> set[str]:
    """What would betray the product: its SKU, name, texts, barcodes, owner and prices.
    Its id is not among them: the caller sent it in the URL and may get it echoed."""
    found = {product["sku"], product["name"], product["owner_partner_id"], *product.get("barcodes", [])}
    if product.get("description"):
        found.add(product["description"])
    if prices is not None:
        found |= {s for s in _strings(prices) if any(ch.isdigit() for ch in s) and "." in s}
    return {s for s in found if len(s) >= 4}


def assert_nothing_leaks(r: httpx.Response, secrets: set[str]) -> None:
    """A refused read is a bare 404 problem: no member of the product, nothing it holds."""
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404 and body["code"] == "not-found" and body["type"] == "/problems/not-found"
    assert not FOREIGN_MEMBERS & set(body), body
    leaked = sorted(s for s in secrets if s in r.text)
    assert leaked == [], (leaked, r.text)


def test_the_old_assertion_could_not_fail_and_the_new_one_does() -> None:
    """The old check was ``sku not in r.text or "not found" in detail``: every 404 detail
    says "not found", so a body that spilled the whole product still passed."""
    product = {"sku": "COS-NP-001", "name": "Nail polish", "owner_partner_id": "p-1", "barcodes": []}
    leaky = httpx.Response(
        404,
        headers={"content-type": "application/problem+json"},
        json={
            "type": "/problems/not-found",
            "status": 404,
            "code": "not-found",
            "detail": "product COS-NP-001 (Nail polish) was not found",
            "sku": "COS-NP-001",
        },
    )
    old_passes = product["sku"] not in leaky.text or "not found" in leaky.json()["detail"]
    assert old_passes
    with pytest.raises(AssertionError):
        assert_nothing_leaks(leaky, secrets_of(product, None))


def expected(key: str, owner: str, *, write: bool) -> int:
    if key == "admin" or key == owner:
        return 200
    if (key, owner) in SHARED:
        return 403 if write else 200
    return 404


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("key", KEYS)
def test_reading_products_stock_and_prices(server: Server, demo: Demo, key: str, owner: str) -> None:
    product = demo.product[owner]
    eur = demo.price_lists["Retail EU (EUR)"]["id"]
    want = expected(key, owner, write=False)
    with server.client("admin") as admin:
        prices = admin.get(f"/v1/price-lists/{eur}/prices/{product['id']}")
    secrets = secrets_of(product, prices.json() if prices.status_code == 200 else None)
    with server.client(key) as c:
        for path in (
            f"/v1/products/{product['id']}",
            f"/v1/products/{product['id']}/stock",
            f"/v1/products/{product['id']}/movements",
            f"/v1/price-lists/{eur}/prices/{product['id']}",
        ):
            r = c.get(path)
            assert r.status_code == want, (path, r.text)
            if want == 404:
                assert_nothing_leaks(r, secrets)


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("key", KEYS)
def test_writing_products_and_stock(server: Server, demo: Demo, key: str, owner: str) -> None:
    product = demo.product[owner]
    want = expected(key, owner, write=True)
    with server.client(key) as c:
        before = c.get(
            f"/v1/products/{product['id']}", headers={"Authorization": f"Bearer {server.keys['admin']}"}
        )
        r = c.patch(f"/v1/products/{product['id']}", json={"description": f"edited by {key}"})
        assert r.status_code == want, r.text
        s = c.post(
            "/v1/stock/adjustments",
            json={"product_id": product["id"], "location_id": demo.locations[STOCK_AT[owner]], "delta": 1},
        )
        assert s.status_code == want, s.text
        by_sku = c.post(
            "/v1/stock/adjustments",
            json={"sku": product["sku"], "location_id": demo.locations[STOCK_AT[owner]], "delta": 1},
        )
        assert by_sku.status_code == want, by_sku.text
    if want != 200:
        with server.client("admin") as admin:
            after = admin.get(f"/v1/products/{product['id']}")
        assert after.json()["version"] == before.json()["version"]


@pytest.mark.parametrize("key", ["nailco", "spirits-curator", "peak-sports"])
def test_partners_cannot_share_for_others_or_onboard_partners(server: Server, demo: Demo, key: str) -> None:
    with server.client(key) as c:
        assert c.post("/v1/partners", json={"code": "rogue-co", "name": "Rogue"}).status_code == 403
        for owner in OWNERS:
            if owner == key:
                continue
            r = c.post(
                f"/v1/partners/{demo.partners[owner]}/shares", json={"grantee_partner_id": demo.partners[key]}
            )
            assert r.status_code == expected(key, owner, write=True), r.text


def test_a_missing_or_unknown_key_is_401(server: Server) -> None:
    with server.client() as c:
        assert c.get("/v1/products").status_code == 401
        r = c.get("/v1/products", headers={"Authorization": "Bearer psk_00000000_" + "x" * 43})
        assert r.status_code == 401 and r.json()["type"] == "/problems/unauthorized"
        assert c.get("/v1/products", headers={"Authorization": "Basic abc"}).status_code == 401
