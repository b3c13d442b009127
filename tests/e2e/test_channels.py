"""Channels over HTTP: secrets shown once, rotation, isolation, SKU mappings."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import Demo, Server, cli


def _webhook(demo: Demo, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": f"Shop {uuid.uuid4().hex[:6]}",
        "kind": "webhook",
        "url": "https://storefront.example/hooks/productsync",
        "location_ids": [demo.locations["WH-BERLIN"]],
        "locale": "de_DE",
        "buffer_stock": 2,
    }
    body.update(over)
    return body


def test_the_signing_secret_is_shown_once_even_to_a_replayed_request(server: Server, demo: Demo) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    with server.client("nailco") as c:
        body = _webhook(demo)
        made = c.post("/v1/channels", json=body, headers=key)
        assert made.status_code == 201, made.text
        channel = made.json()
        assert channel["secret"].startswith("whsec_") and channel["locale"] == "de-DE"
        assert channel["owner_partner_id"] == demo.partners["nailco"]
        replay = c.post("/v1/channels", json=body, headers=key)
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["secret"] is None and replay.json()["id"] == channel["id"]
        got = c.get(f"/v1/channels/{channel['id']}")
        assert "secret" not in got.json() and channel["secret"] not in got.text
        listed = c.get("/v1/channels").json()
        assert channel["id"] in {x["id"] for x in listed} and channel["secret"] not in str(listed)
        rotated = c.post(f"/v1/channels/{channel['id']}/secret/rotate", json={"grace_seconds": 600})
        assert rotated.status_code == 200 and rotated.json()["secret"] not in (None, channel["secret"])
        assert rotated.json()["previous_valid_until"] is not None
    with server.client("admin") as admin:
        audit = admin.get("/v1/audit", params={"entity_id": channel["id"]}).json()["items"]
        assert audit and channel["secret"] not in str(audit) and rotated.json()["secret"] not in str(audit)


def test_channels_are_private_to_their_partner_and_need_the_scope(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c:
        channel = c.post("/v1/channels", json=_webhook(demo)).json()
    with server.client("spirits-curator") as c:
        assert c.get(f"/v1/channels/{channel['id']}").status_code == 404
        assert c.patch(f"/v1/channels/{channel['id']}", json={"status": "paused"}).status_code == 404
        assert channel["id"] not in {x["id"] for x in c.get("/v1/channels").json()}
    scoped = ["keys", "create", "--partner", "nailco", "--scopes", "catalog:read,stock:write"]
    plain = cli(server.env, *scoped).stdout.strip().splitlines()[-1]
    full = cli(server.env, "keys", "create", "--partner", "nailco").stdout.strip().splitlines()[-1]
    with server.client() as c:
        r = c.get("/v1/channels", headers={"Authorization": f"Bearer {plain}"})
        assert r.status_code == 403 and "channels:admin" in r.json()["detail"]
        # A partner key made without --scopes has every partner scope, channels:admin included.
        assert c.get("/v1/channels", headers={"Authorization": f"Bearer {full}"}).status_code == 200
    with server.client("admin") as admin:
        assert admin.get(f"/v1/channels/{channel['id']}").status_code == 200


def test_bad_channel_input_is_refused_with_a_problem(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c:
        assert c.post("/v1/channels", json=_webhook(demo, url=None)).status_code == 422
        assert c.post("/v1/channels", json=_webhook(demo, url="https://u:p@x.example/")).status_code == 422
        assert c.post("/v1/channels", json=_webhook(demo, kind="carrier-pigeon")).status_code == 422
        assert c.post("/v1/channels", json=_webhook(demo, buffer_stock=-1)).status_code == 422
        r = c.post("/v1/channels", json=_webhook(demo, location_ids=[demo.locations["WH-PEAK"]]))
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        made = c.post("/v1/channels", json=_webhook(demo)).json()
        stale = c.patch(f"/v1/channels/{made['id']}", json={"status": "paused"}, headers={"If-Match": '"7"'})
        assert stale.status_code == 412
        ok = c.patch(f"/v1/channels/{made['id']}", json={"status": "paused"}, headers={"If-Match": '"1"'})
        assert ok.status_code == 200 and ok.json()["status"] == "paused" and ok.headers["etag"] == '"2"'


def test_sku_mappings_upsert_in_bulk_and_refuse_unknown_products_whole(server: Server, demo: Demo) -> None:
    own, shared = demo.product["nailco"], demo.product["spirits-curator"]
    with server.client("nailco") as c:
        channel = c.post("/v1/channels", json=_webhook(demo)).json()
        path = f"/v1/channels/{channel['id']}/mappings"
        bad = c.put(
            path,
            json={
                "mappings": [
                    {"external_id": "gid://shopify/Product/1", "sku": own["sku"]},
                    {"external_id": "gid://shopify/Product/2", "sku": "SE-0001"},
                ]
            },
        )
        assert bad.status_code == 422 and [e["index"] for e in bad.json()["errors"]] == [1]
        assert c.get(path).json()["items"] == []
        good = c.put(
            path,
            json={
                "mappings": [
                    {"external_id": "gid://shopify/Product/1", "sku": own["sku"], "external_sku": "NP-RED"},
                    {"external_id": "gid://shopify/Product/2", "product_id": shared["id"]},
                ]
            },
        )
        assert good.status_code == 200 and good.json() == {"upserted": 2}
        items = c.get(path).json()["items"]
        assert [(m["external_id"], m["sku"]) for m in items] == [
            ("gid://shopify/Product/1", own["sku"]),
            ("gid://shopify/Product/2", shared["sku"]),
        ]
        assert c.delete(f"{path}/gid://shopify/Product/2").status_code == 204
        assert [m["external_id"] for m in c.get(path).json()["items"]] == ["gid://shopify/Product/1"]
        assert c.delete(f"{path}/gid://shopify/Product/2").status_code == 404
