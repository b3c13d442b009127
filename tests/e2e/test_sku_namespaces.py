"""SKU namespaces over HTTP: two partners create one SKU, the admin's write by that SKU is
a 409 ``ambiguous-sku`` problem listing both candidates, ``partner`` settles it, and an
owner's own duplicate is a 409 that names nobody else.

Demo cast: nailco and spirits-curator share with each other; peak-sports with nobody.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import Demo, Server

PROBLEM = "application/problem+json"


def _product(sku: str) -> dict[str, Any]:
    return {"sku": sku, "name": "Rope", "category": "sports", "attributes": {"size": "M", "material": "hemp"}}


def test_a_shared_sku_is_a_409_listing_its_candidates_until_the_partner_is_named(
    server: Server, demo: Demo
) -> None:
    sku = f"SE-NS{uuid.uuid4().hex[:8].upper()}"
    made = {}
    for key in ("peak-sports", "nailco"):  # the second must not learn that the first has it
        with server.client(key) as c:
            r = c.post("/v1/products", json=_product(sku))
            assert r.status_code == 201, r.text
            made[key] = r.json()
    assert made["peak-sports"]["id"] != made["nailco"]["id"]
    with server.client("admin") as admin:
        r = admin.post(
            "/v1/stock/adjustments",
            json={"sku": sku.lower(), "location_id": demo.locations["WH-PEAK"], "delta": 2},
        )
        assert r.status_code == 409 and r.headers["content-type"] == PROBLEM, r.text
        body = r.json()
        assert body["type"] == "/problems/ambiguous-sku" and body["code"] == "ambiguous-sku"
        assert body["status"] == 409 and body["title"] and body["sku"] == sku
        assert body["instance"] == "/v1/stock/adjustments" and "partner" in body["detail"]
        assert sorted(body["candidates"], key=lambda c: c["partner"]) == [
            {"product_id": made[k]["id"], "partner": k, "partner_id": demo.partners[k]}
            for k in ("nailco", "peak-sports")
        ]
        ok = admin.post(
            "/v1/stock/adjustments",
            json={"sku": sku, "partner": "peak-sports", "location_id": demo.locations["WH-PEAK"], "delta": 2},
        )
        assert ok.status_code == 200 and ok.json()["product_id"] == made["peak-sports"]["id"], ok.text
        listed = admin.get("/v1/products", params={"sku": sku, "limit": 1})
        following = admin.get(
            "/v1/products", params={"sku": sku, "limit": 1, "cursor": listed.json()["next_cursor"]}
        )
        assert {listed.json()["items"][0]["id"], following.json()["items"][0]["id"]} == {
            made["nailco"]["id"],
            made["peak-sports"]["id"],
        }
        only = admin.get("/v1/products", params={"sku": sku, "partner": "nailco"}).json()["items"]
        assert [p["id"] for p in only] == [made["nailco"]["id"]]
    # Each partner's key writes its own product by the SKU, no ambiguity.
    with server.client("peak-sports") as c:
        mine = c.post(
            "/v1/stock/adjustments", json={"sku": sku, "location_id": demo.locations["WH-PEAK"], "delta": 1}
        )
        assert mine.status_code == 200 and mine.json()["product_id"] == made["peak-sports"]["id"], mine.text
    # spirits-curator sees nailco's (shared), not peak-sports': one candidate, no 409, no leak.
    with server.client("spirits-curator") as c:
        seen = c.get("/v1/products", params={"sku": sku}).json()["items"]
        assert [p["id"] for p in seen] == [made["nailco"]["id"]]


def test_an_owners_duplicate_sku_is_a_409_that_names_no_other_partner(server: Server, demo: Demo) -> None:
    sku = f"SE-ND{uuid.uuid4().hex[:8].upper()}"
    with server.client("peak-sports") as c:
        assert c.post("/v1/products", json=_product(sku)).status_code == 201
    with server.client("nailco") as c:
        assert c.post("/v1/products", json=_product(sku)).status_code == 201
        again = c.post("/v1/products", json=_product(sku))
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM, again.text
    assert again.json()["code"] == "duplicate" and again.json()["sku"] == sku
    assert "peak-sports" not in again.text and demo.partners["peak-sports"] not in again.text
