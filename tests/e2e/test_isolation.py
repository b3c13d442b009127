"""Partner isolation as a matrix: every key x every partner's resources x read/write.

nailco and spirits-curator share catalogs with each other; peak-sports shares with
nobody. Reading what you may not see is 404 (existence does not leak); writing
what you may read but do not own is 403; the admin may do everything.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Demo, Server

KEYS = ["admin", "nailco", "spirits-curator", "peak-sports"]
OWNERS = ["nailco", "spirits-curator", "peak-sports"]
SHARED = {("nailco", "spirits-curator"), ("spirits-curator", "nailco")}
STOCK_AT = {"nailco": "WH-BERLIN", "spirits-curator": "WH-BERLIN", "peak-sports": "WH-PEAK"}


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
                assert r.headers["content-type"] == "application/problem+json"
                assert product["sku"] not in r.text or "not found" in r.json()["detail"]


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
