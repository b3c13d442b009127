"""Issue 10 items 9/12 over HTTP: a location's time zone, adjustments in any unit (a bad
one is a 422 problem), and the lots a sale took in the ledger listing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import Demo, Server


def test_a_location_takes_an_iana_time_zone(server: Server) -> None:
    code = f"TZ-{uuid.uuid4().hex[:8]}"
    with server.client("nailco") as c:
        made = c.post(
            "/v1/locations", json={"code": code, "name": "Auckland", "time_zone": "Pacific/Auckland"}
        )
        assert made.status_code == 201 and made.json()["time_zone"] == "Pacific/Auckland", made.text
        listed = {loc["code"]: loc["time_zone"] for loc in c.get("/v1/locations").json()}
        assert listed[code] == "Pacific/Auckland" and listed["WH-BERLIN"] == "UTC"
        bad = c.post("/v1/locations", json={"code": code + "X", "name": "x", "time_zone": "Mars/Olympus"})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["field"] == "time_zone"


def test_an_adjustment_converts_its_unit_and_refuses_a_foreign_one(server: Server, demo: Demo) -> None:
    sku = f"ALC-{uuid.uuid4().hex[:8]}"
    with server.client("spirits-curator") as c:
        gin = c.post(
            "/v1/products",
            json={
                "sku": sku,
                "name": "Gin",
                "category": "alcohol",
                "base_unit": "ml",
                "packs": {"case": 4200},
                "attributes": {"abv": 40, "volume_ml": 700, "age_restricted": True},
            },
        )
        assert gin.status_code == 201, gin.text
        where = {"product_id": gin.json()["id"], "location_id": demo.locations["WH-BERLIN"]}
        r = c.post("/v1/stock/adjustments", json={**where, "delta": "1.5", "unit": "l"})
        assert r.status_code == 200 and r.json()["level"]["on_hand"] == 1500, r.text
        r = c.post("/v1/stock/adjustments", json={**where, "delta": 1, "unit": "case"})
        assert r.json()["level"]["on_hand"] == 5700, r.text
        for unit, code in (
            ("kg", "invalid-unit"),
            ("parsecs", "invalid-unit"),
            ("fl_oz", "invalid-quantity"),
        ):
            bad = c.post("/v1/stock/adjustments", json={**where, "delta": 1, "unit": unit})
            assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
            assert bad.json()["code"] == code, bad.text
        assert c.get(f"/v1/products/{where['product_id']}/stock").json()["totals"]["on_hand"] == 5700


def test_the_ledger_names_the_lots_a_sale_took(server: Server, demo: Demo) -> None:
    polish = demo.product["nailco"]
    where = {"product_id": polish["id"], "location_id": demo.locations["WH-BERLIN"]}
    soon = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    with server.client("nailco") as c:
        lot = f"E2E{uuid.uuid4().hex[:6]}"
        r = c.post(
            "/v1/stock/adjustments",
            json={**where, "delta": 1, "kind": "receipt", "lot_number": lot, "expires_on": soon},
        )
        assert r.status_code == 200, r.text
        sale = c.post("/v1/stock/adjustments", json={**where, "delta": -1, "kind": "sale"})
        assert sale.status_code == 200, sale.text
        ledger = c.get(
            f"/v1/products/{polish['id']}/movements", params={"after": sale.json()["movement_id"] - 1}
        )
        first = ledger.json()["items"][0]
        assert first["id"] == sale.json()["movement_id"] and first["kind"] == "sale"
        assert first["lot_number"] == lot and first["lot_id"]
