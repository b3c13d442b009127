"""Scheduled prices through a real `productsync serve`: a promotion written a few seconds
ahead reaches a WooCommerce-shaped store and a webhook receiver (both on 127.0.0.1) when
its window opens and again when it closes, with nobody writing anything meanwhile."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import Demo, Server
from tests.platforms import FakeWooCommerce
from tests.receiver import Receiver

PRICE_FIELDS = ("regular_price", "sale_price", "date_on_sale_from_gmt", "date_on_sale_to_gmt")


def _wait(predicate, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _gmt(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def test_a_promotion_reaches_woocommerce_and_webhooks_when_it_starts_and_when_it_ends(
    server: Server, demo: Demo
) -> None:
    product = demo.product["nailco"]
    with server.client("nailco") as c, Receiver() as receiver, FakeWooCommerce("ck_e2e", "cs_e2e") as woo:
        woo.add_product("794")
        made = c.post("/v1/price-lists", json={"name": f"promo {uuid.uuid4().hex[:6]}", "currency": "EUR"})
        assert made.status_code == 201, made.text
        list_id = made.json()["id"]
        hook = c.post(
            "/v1/channels",
            json={
                "name": f"hook {uuid.uuid4().hex[:6]}",
                "kind": "webhook",
                "url": receiver.url,
                "price_list_id": list_id,
            },
        )
        assert hook.status_code == 201, hook.text
        receiver.secrets.append(hook.json()["secret"])
        shop = c.post(
            "/v1/channels",
            json={
                "name": f"woo {uuid.uuid4().hex[:6]}",
                "kind": "woocommerce",
                "url": woo.url,
                "price_list_id": list_id,
                "credentials": {"consumer_key": "ck_e2e", "consumer_secret": "cs_e2e"},
            },
        )
        assert shop.status_code == 201, shop.text
        mapped = c.put(
            f"/v1/channels/{shop.json()['id']}/mappings",
            json={"mappings": [{"external_id": "794", "product_id": product["id"]}]},
        )
        assert mapped.status_code == 200, mapped.text

        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
        end = start + timedelta(seconds=3)
        put = c.put(
            f"/v1/price-lists/{list_id}/prices/{product['id']}",
            json={
                "prices": [
                    {"amount": "10.00"},
                    {"amount": "7.50", "valid_from": start.isoformat(), "valid_to": end.isoformat()},
                ]
            },
        )
        assert put.status_code == 200, put.text

        def prices_seen() -> list[dict[str, Any]]:
            return [
                e["event"]["data"]
                for e in receiver.accepted
                if e["event"]["type"] == "productsync.price.changed"
                and e["event"]["subject"] == product["sku"]
            ]

        def woo_price() -> tuple[Any, ...]:
            return tuple(woo.products["794"].get(k) for k in PRICE_FIELDS)

        # At write time: the regular price only, no sale.
        assert _wait(lambda: woo_price()[:2] == ("10.00", "")), woo.requests
        assert _wait(lambda: len(prices_seen()) >= 1)
        assert datetime.now(UTC) < start, "the write took too long for this test's window"
        assert prices_seen()[0]["price_in_force"]["amount"] == "10.00"

        # The window opens: the sale fields, with its window in GMT.
        assert _wait(lambda: woo_price()[1] == "7.50"), woo.requests
        opened_at = datetime.now(UTC)
        assert opened_at >= start
        assert woo_price() == ("10.00", "7.50", _gmt(start), _gmt(end))
        assert _wait(lambda: any(d["price_in_force"]["amount"] == "7.50" for d in prices_seen()))

        # The window closes: the sale is cleared, the regular price stays.
        assert _wait(lambda: woo_price()[1] == ""), woo.requests
        assert datetime.now(UTC) >= end
        assert woo_price() == ("10.00", "", None, None)
        assert _wait(
            lambda: prices_seen()[-1]["price_in_force"]["amount"] == "10.00" and len(prices_seen()) >= 3
        )

    seen = prices_seen()
    assert [d["price_in_force"]["amount"] for d in seen] == ["10.00", "7.50", "10.00"]
    assert seen[1]["price_in_force"]["regular_amount"] == "10.00"
    assert seen[1]["price_in_force"]["valid_to"] == end.isoformat()
    assert [d["version"] for d in seen] == sorted({d["version"] for d in seen})  # each a newer version
    assert all(len(d["prices"]) == 2 for d in seen)  # the full tier set rides along
    bodies = [b for m, _, b in woo.requests if m == "PUT" and isinstance(b, dict) and "sale_price" in b]
    states = [(b["regular_price"], b["sale_price"]) for b in bodies]
    collapsed = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
    assert collapsed == [("10.00", ""), ("10.00", "7.50"), ("10.00", "")]
