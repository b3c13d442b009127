"""Channel onboarding over HTTP against a local WooCommerce-shaped store: propose, page,
apply, and problem+json for every bad input and for a store that cannot be read."""

from __future__ import annotations

import random
import uuid

import httpx
from stdnum import ean

from tests.e2e.conftest import Demo, Server, free_port
from tests.platforms import FakeWooCommerce

KEY, SECRET = "ck_onb_e2e", "cs_onb_e2e"
COSMETICS = {"ingredients": ["water"], "volume_ml": 10, "pao_months": 12}


def _upc() -> str:
    body = "".join(random.choice("0123456789") for _ in range(11))
    return body + ean.calc_check_digit(body)


def _woo_channel(c: httpx.Client, url: str, secret: str = SECRET, kind: str = "woocommerce") -> str:
    made = c.post(
        "/v1/channels",
        json={
            "name": f"onboard {uuid.uuid4().hex[:6]}",
            "kind": kind,
            "url": url,
            "credentials": {"consumer_key": KEY, "consumer_secret": secret},
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


def test_onboarding_proposes_pages_and_applies_over_http(server: Server, demo: Demo) -> None:
    existing = demo.product["nailco"]
    upc = _upc()
    with server.client("nailco") as c, FakeWooCommerce(KEY, SECRET) as woo:
        sku = f"COS-ONB-{uuid.uuid4().hex[:8]}".upper()
        made = c.post(
            "/v1/products",
            json={
                "sku": sku,
                "name": "Onboard me",
                "category": "cosmetics",
                "barcodes": ["0" + upc],
                "attributes": COSMETICS,
            },
        )
        assert made.status_code == 201, made.text
        new_sku = f"COS-NEW-{uuid.uuid4().hex[:8]}".upper()
        woo.add_product("11", sku=existing["sku"].lower(), name="by sku")
        woo.add_product("12", name="by upc", global_unique_id=upc)
        woo.add_product("13", sku=new_sku, name="only on the store")
        channel = _woo_channel(c, woo.url)

        started = c.post(f"/v1/channels/{channel}/onboarding", json={})
        assert started.status_code == 201, started.text
        proposal = started.json()
        assert started.headers["location"] == f"/v1/channels/{channel}/onboarding/{proposal['id']}"
        assert proposal["status"] == "proposed" and proposal["items_read"] == 3
        assert proposal["counts"]["matched"] == 2 and proposal["counts"]["unmatched_channel"] == 1
        rows = {r["external_id"]: r for r in proposal["rows"] if r["external_id"]}
        assert (rows["11"]["status"], rows["11"]["rule"], rows["11"]["sku"]) == (
            "matched",
            "sku",
            existing["sku"],
        )
        assert (rows["12"]["status"], rows["12"]["rule"], rows["12"]["product_id"]) == (
            "matched",
            "gtin",
            made.json()["id"],
        )
        assert rows["13"]["status"] == "unmatched_channel" and rows["13"]["item"]["sku"] == new_sku

        base = f"/v1/channels/{channel}/onboarding/{proposal['id']}"
        first = c.get(base, params={"status": "matched", "limit": 1}).json()
        assert [r["external_id"] for r in first["rows"]] == ["11"] and first["next_cursor"]
        second = c.get(base, params={"status": "matched", "limit": 1, "cursor": first["next_cursor"]}).json()
        assert [r["external_id"] for r in second["rows"]] == ["12"] and second["next_cursor"] is None
        hub_side = c.get(base, params={"status": "unmatched_hub", "limit": 1000}).json()["rows"]
        assert hub_side and all(r["external_id"] is None and r["product_id"] for r in hub_side)

        # Bad input: problem+json, nothing applied.
        assert _problem(c.get(base, params={"status": "bogus"}), 422)["code"] == "invalid-input"
        assert _problem(c.get(base, params={"cursor": "!!"}), 400)["code"] == "invalid-cursor"
        assert (
            _problem(c.get(f"/v1/channels/{channel}/onboarding/{uuid.uuid4()}"), 404)["code"] == "not-found"
        )
        unknown = _problem(c.post(base + "/apply", json={"include": ["nope"]}), 422)
        assert unknown["code"] == "unknown-external-id" and unknown["external_ids"] == ["nope"]
        _problem(c.post(base + "/apply", json={"create_unmatched": "yes"}), 422)
        _problem(c.post(base + "/apply", json={"surprise": 1}), 422)
        _problem(c.post(base + "/apply", json={"choose": {"11": "not-a-uuid"}}), 422)
        refused = _problem(c.post(base + "/apply", json={"choose": {"11": str(uuid.uuid4())}}), 422)
        assert refused["errors"][0]["external_id"] == "11"  # 11 is matched, not ambiguous
        no_category = _problem(c.post(base + "/apply", json={"create_unmatched": True}), 422)
        assert "category" in no_category["detail"]
        assert c.get(f"/v1/channels/{channel}/mappings").json()["items"] == []

        applied = c.post(
            base + "/apply",
            json={"create_unmatched": True, "category": "cosmetics", "attributes": COSMETICS},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert applied.status_code == 200, applied.text
        out = applied.json()
        assert out["mapped"] == 3 and out["failed"] == [] and out["created"][0]["sku"] == new_sku
        mappings = {
            m["external_id"]: m["sku"] for m in c.get(f"/v1/channels/{channel}/mappings").json()["items"]
        }
        assert mappings == {"11": existing["sku"], "12": sku, "13": new_sku}
        created = c.get(f"/v1/products/{out['created'][0]['product_id']}").json()
        assert created["owner_partner_id"] == demo.partners["nailco"]
        assert _problem(c.post(base + "/apply", json={}), 409)["code"] == "duplicate"
        again = c.post(f"/v1/channels/{channel}/onboarding").json()
        assert again["counts"]["already_mapped"] == 3 and again["counts"]["matched"] == 0
        assert c.get(base).json()["status"] == "applied"
        assert c.delete(f"/v1/channels/{channel}/onboarding/{again['id']}").status_code == 204
        assert c.get(f"/v1/channels/{channel}/onboarding/{again['id']}").json()["status"] == "discarded"
    with server.client("spirits-curator") as other:
        assert _problem(other.post(f"/v1/channels/{channel}/onboarding"), 404)["code"] == "not-found"
        assert _problem(other.get(base), 404)["code"] == "not-found"


def test_a_store_that_cannot_be_read_is_a_gateway_problem_not_a_500(server: Server) -> None:
    with server.client("nailco") as c:
        with FakeWooCommerce(KEY, SECRET) as woo:
            refusing = _woo_channel(c, woo.url, secret="wrong")
            refused = _problem(c.post(f"/v1/channels/{refusing}/onboarding"), 502)
            assert refused["code"] == "channel-read-failed" and "401" in refused["detail"]
            assert refused["platform_status"] == 401 and "wrong" not in refused["detail"]
        down = _woo_channel(c, f"http://127.0.0.1:{free_port()}")
        gone = _problem(c.post(f"/v1/channels/{down}/onboarding"), 503)
        assert gone["code"] == "channel-unreachable"
        hook = _woo_channel(c, "https://storefront.example/hooks", kind="webhook")
        unreadable = _problem(c.post(f"/v1/channels/{hook}/onboarding"), 422)
        assert "webhook" in unreadable["detail"]
        assert _problem(c.post(f"/v1/channels/{uuid.uuid4()}/onboarding"), 404)["code"] == "not-found"
        assert _problem(c.post(f"/v1/channels/{down}/onboarding", json={"alias_schemes": "x"}), 422)
