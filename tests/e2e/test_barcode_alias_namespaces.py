"""Barcode and alias namespaces over HTTP: two partners register one GTIN and one alias,
the admin's alias lookup is a 409 ``ambiguous-alias`` problem listing both, ``?partner=``
settles it, each partner's key finds its own, and an owner's own duplicate barcode is a
409 that names nobody else.

Demo cast: nailco and spirits-curator share with each other; peak-sports with nobody.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import Demo, Server

PROBLEM = "application/problem+json"


def _gtin13() -> str:
    body = f"29{int(uuid.uuid4().hex[:7], 16):010d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _product(gtin: str) -> dict[str, Any]:
    return {
        "sku": f"SE-GT{uuid.uuid4().hex[:8].upper()}",
        "name": "Rope",
        "category": "sports",
        "attributes": {"size": "M", "material": "hemp"},
        "barcodes": [gtin],
    }


def test_one_gtin_and_alias_for_two_partners(server: Server, demo: Demo) -> None:
    gtin, code = _gtin13(), f"AC-{uuid.uuid4().hex[:8]}"
    made = {}
    for key in ("peak-sports", "nailco"):
        with server.client(key) as c:
            r = c.post("/v1/products", json=_product(gtin))
            assert r.status_code == 201, r.text
            made[key] = r.json()["id"]
            r = c.put(
                f"/v1/products/{made[key]}/aliases", json={"aliases": [{"scheme": "supplier", "code": code}]}
            )
            assert r.status_code == 200, r.text
    with server.client("admin") as admin:
        r = admin.get(f"/v1/aliases/supplier/{code}")
        assert r.status_code == 409 and r.headers["content-type"] == PROBLEM, r.text
        body = r.json()
        assert body["type"] == "/problems/ambiguous-alias" and body["code"] == "ambiguous-alias"
        assert body["alias"] == f"supplier:{code}"
        assert body["candidates"] == [
            {"product_id": made[k], "partner": k, "partner_id": demo.partners[k]}
            for k in ("nailco", "peak-sports")
        ]
        ok = admin.get(f"/v1/aliases/supplier/{code}", params={"partner": "peak-sports"})
        assert ok.status_code == 200 and ok.json()["product_id"] == made["peak-sports"], ok.text
        listed = admin.get("/v1/products", params={"barcode": gtin}).json()["items"]
        assert sorted(p["id"] for p in listed) == sorted(made.values())
    for key in ("peak-sports", "nailco"):
        with server.client(key) as c:
            r = c.get(f"/v1/aliases/supplier/{code}")
            assert r.status_code == 200 and r.json()["product_id"] == made[key], r.text
    with server.client("peak-sports") as c:
        assert [p["id"] for p in c.get("/v1/products", params={"barcode": gtin}).json()["items"]] == [
            made["peak-sports"]
        ]
        again = c.post("/v1/products", json=_product(gtin))
        assert again.status_code == 409 and again.json()["code"] == "duplicate", again.text
        assert "nailco" not in again.text and demo.partners["nailco"] not in again.text
