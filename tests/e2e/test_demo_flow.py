"""The demo, used the way a partner's backend would use it, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import Demo, Server, cli


def test_health_and_api_docs_are_served(server: Server) -> None:
    with server.client() as c:
        assert c.get("/v1/health").json()["status"] == "ok"
        spec = c.get("/openapi.json").json()
        assert "/v1/stock/adjustments" in spec["paths"]
        assert c.get("/docs").status_code == 200


def test_a_partner_sees_its_own_and_shared_catalogs_but_not_others(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c:
        owners = {p["owner_partner_id"] for p in c.get("/v1/products", params={"limit": 500}).json()["items"]}
    assert owners == {demo.partners["nailco"], demo.partners["spirits-curator"]}
    with server.client("peak-sports") as c:
        owners = {p["owner_partner_id"] for p in c.get("/v1/products", params={"limit": 500}).json()["items"]}
    assert owners == {demo.partners["peak-sports"]}


def test_selling_moves_stock_writes_the_ledger_and_emits_an_event(server: Server, demo: Demo) -> None:
    polish = demo.product["nailco"]
    with server.client("nailco") as c:
        cursor = c.get("/v1/events", params={"limit": 1000}).json()["next_cursor"]
        while True:
            page = c.get("/v1/events", params={"after": cursor, "limit": 1000}).json()
            if not page["items"]:
                break
            cursor = page["next_cursor"]
        before = c.get(f"/v1/products/{polish['id']}/stock").json()
        row = next(r for r in before["locations"] if r["location_code"] == "WH-BERLIN")
        sold = c.post(
            "/v1/stock/adjustments",
            json={
                "sku": polish["sku"].lower(),
                "location_id": row["location_id"],
                "delta": -2,
                "kind": "sale",
                "reason": "web order 1001",
            },
        )
        assert sold.status_code == 200, sold.text
        assert sold.json()["level"]["on_hand"] == row["on_hand"] - 2
        after = c.get(f"/v1/products/{polish['id']}/stock").json()
        assert after["totals"]["on_hand"] == before["totals"]["on_hand"] - 2
        ledger = c.get(
            f"/v1/products/{polish['id']}/movements", params={"location_id": row["location_id"]}
        ).json()
        assert sum(float(m["quantity"]) for m in ledger["items"]) == row["on_hand"] - 2
        events = c.get("/v1/events", params={"after": cursor}).json()["items"]
        mine = [e for e in events if e["subject"] == polish["sku"]]
        assert mine and mine[-1]["type"] == "productsync.stock.changed"
        assert mine[-1]["data"]["level"]["on_hand"] == str(row["on_hand"] - 2)
        audit = c.get(
            "/v1/audit",
            params={"entity_type": "stock_level", "entity_id": f"{polish['id']}:{row['location_id']}"},
        ).json()["items"]
        assert audit[-1]["action"] == "stock.sale" and audit[-1]["request_id"]


def test_the_running_promotion_resolves_and_ends(server: Server, demo: Demo) -> None:
    eur = demo.price_lists["Retail EU (EUR)"]
    with server.client("spirits-curator") as c:
        promo = c.get("/v1/products", params={"sku": "COS-NP-001"}).json()["items"][0]
        now = c.get(f"/v1/products/{promo['id']}/price", params={"price_list_id": eur["id"]}).json()
        assert now["promotion"] is True and now["currency"] == "EUR"
        assert float(now["unit_amount"]) < float(now["regular_unit_amount"])
        later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        after = c.get(
            f"/v1/products/{promo['id']}/price",
            params={"price_list_id": eur["id"], "at": later, "quantity": 6},
        ).json()
        assert after["promotion"] is False and after["tier_min_quantity"] == 6
        assert after["total"] == f"{float(after['unit_amount']) * 6:.2f}"


def test_keys_create_prints_the_key_alone_on_the_last_line(server: Server, demo: Demo) -> None:
    made = cli(server.env, "keys", "create", "--partner", "peak-sports", "--scopes", "catalog:read")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    with server.client() as c:
        r = c.get("/v1/products", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
        w = c.post(
            "/v1/stock/adjustments",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "sku": demo.product["peak-sports"]["sku"],
                "location_id": demo.locations["WH-PEAK"],
                "delta": 1,
            },
        )
        assert w.status_code == 403 and w.json()["code"] == "forbidden"
    bad = cli(server.env, "keys", "create", "--partner", "no-such-partner")
    assert bad.returncode != 0 and "not found" in bad.stderr
    listed = cli(server.env, "keys", "list")
    assert key.split("_")[1] in listed.stdout and key not in listed.stdout


def test_the_integrity_check_finds_no_drift(server: Server) -> None:
    checked = cli(server.env, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 levels differ" in checked.stdout


def test_a_scanned_barcode_finds_the_product_in_any_gtin_form(server: Server, demo: Demo) -> None:
    polish = demo.product["nailco"]
    gtin = polish["barcodes"][0]
    with server.client("spirits-curator") as c:
        for scanned in (gtin, gtin.zfill(14)):
            found = c.get("/v1/products", params={"barcode": scanned}).json()["items"]
            assert [p["id"] for p in found] == [polish["id"]]
        bad = c.get("/v1/products", params={"barcode": gtin[:-1] + str((int(gtin[-1]) + 1) % 10)})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid-gtin"
    with server.client("peak-sports") as c:
        assert c.get("/v1/products", params={"barcode": gtin}).json()["items"] == []
