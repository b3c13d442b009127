"""Payments against sales over HTTP: signed Stripe events to a real server, then the JSON
report and the CSV download for accounting (and the CLI over the same database)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from productsync.domain.payment_reconciliation import CSV_COLUMNS, STATUSES
from tests.e2e.conftest import Demo, Server, cli
from tests.e2e.test_sync import _stock, _stripe_post


def _payment(
    product: dict[str, Any], location_id: str, quantity: int, amount: int, **meta: str
) -> dict[str, Any]:
    payment = f"pi_{uuid.uuid4().hex[:16]}"
    return {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": payment,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "currency": "eur",
                "metadata": {
                    "sku": product["sku"],
                    "quantity": str(quantity),
                    "location_id": location_id,
                    **meta,
                },
            }
        },
    }


def _csv(response: Any) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(response.text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


@pytest.fixture(scope="module")
def priced(server: Server, demo: Demo) -> dict[str, Any]:
    """A EUR list of the spirits curator pricing its demo product at 12.50."""
    product = demo.product["spirits-curator"]
    with server.client("admin") as c:
        created = c.post(
            "/v1/price-lists",
            json={
                "name": f"stripe {uuid.uuid4().hex[:6]}",
                "currency": "EUR",
                "owner_partner_id": demo.partners["spirits-curator"],
            },
        )
        assert created.status_code == 201, created.text
        list_id = created.json()["id"]
        put = c.put(
            f"/v1/price-lists/{list_id}/prices/{product['id']}", json={"prices": [{"amount": "12.50"}]}
        )
        assert put.status_code == 200, put.text
        location_id = _stock(c, product["id"])["location_id"]
    return {"list_id": list_id, "product": product, "location_id": location_id}


def test_the_accounting_csv_names_each_payment_with_its_status(
    server: Server, priced: dict[str, Any]
) -> None:
    product, where, list_id = priced["product"], priced["location_id"], priced["list_id"]
    right = _payment(product, where, 2, 2500, price_list_id=list_id)
    wrong = _payment(product, where, 1, 1000, price_list_id=list_id)
    unknown = _payment(product, where, 1, 700, sku=f"NOPE-{uuid.uuid4().hex[:6]}")
    assert _stripe_post(server, right).status_code == 200
    assert _stripe_post(server, wrong).status_code == 200
    refused = _stripe_post(server, unknown)
    assert refused.status_code == 404, refused.text  # refused as before, and kept for accounting
    refs = {e["data"]["object"]["id"]: e for e in (right, wrong, unknown)}
    today = datetime.now(UTC).date().isoformat()
    window = {"from": today, "to": today}

    with server.client("admin") as c:
        download = c.get("/v1/payments/reconciliation.csv", params=window)
        assert download.status_code == 200, download.text
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        mine = {row["payment_ref"]: row for row in _csv(download) if row["payment_ref"] in refs}
        assert {ref: row["status"] for ref, row in mine.items()} == {
            right["data"]["object"]["id"]: "matched",
            wrong["data"]["object"]["id"]: "amount_mismatch",
            unknown["data"]["object"]["id"]: "payment_without_sale",
        }
        row = mine[wrong["data"]["object"]["id"]]
        assert (row["amount"], row["expected_amount"], row["currency"], row["sku"]) == (
            "10.00",
            "12.50",
            "EUR",
            product["sku"],
        )
        assert row["movement_ids"] and row["moved_quantity"] == "-1" and row["price_list_id"] == list_id
        assert mine[unknown["data"]["object"]["id"]]["movement_ids"] == ""

        summary = c.get("/v1/payments/reconciliation", params=window)
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert set(body["counts"]) == {s.value for s in STATUSES}
        assert body["counts"]["amount_mismatch"] >= 1 and body["discrepancies"] >= 2
        flagged = {f["payment_ref"]: f["status"] for f in body["findings"]}
        assert flagged[wrong["data"]["object"]["id"]] == "amount_mismatch"
        assert right["data"]["object"]["id"] not in flagged  # a plain match is no finding
        assert body["totals"]["EUR"]["paid"] >= 2500 + 1000 + 700

    # The product's owner sees its own payments; another partner none of them.
    with server.client("spirits-curator") as c:
        own = {row["payment_ref"] for row in _csv(c.get("/v1/payments/reconciliation.csv", params=window))}
        assert {right["data"]["object"]["id"], wrong["data"]["object"]["id"]} <= own
        assert unknown["data"]["object"]["id"] not in own  # refused before its goods were known: admins only
    with server.client("nailco") as c:
        other = {row["payment_ref"] for row in _csv(c.get("/v1/payments/reconciliation.csv", params=window))}
        assert other.isdisjoint(refs)

    # The CLI reads the same records; exit 1 since some rows need a person.
    out = cli(server.env, "payments", "reconcile", "--from", today, "--to", today)
    assert out.returncode == 1, out.stderr
    assert "amount_mismatch" in out.stdout and wrong["data"]["object"]["id"] in out.stdout


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13-01", "to": "2026-12-01"},
        {"from": "2026-11-24", "to": "2026-11-23"},
        {"from": "2026-11-23T10:00:00", "to": "2026-11-24"},  # no offset
        {"to": "2026-11-24"},
        {"from": "x" * 41, "to": "2026-11-24"},
    ],
)
def test_bad_dates_are_a_422_problem(server: Server, params: dict[str, str]) -> None:
    with server.client("admin") as c:
        for path in ("/v1/payments/reconciliation", "/v1/payments/reconciliation.csv"):
            r = c.get(path, params=params)
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")


def test_the_report_needs_a_key(server: Server) -> None:
    with server.client() as anon:
        r = anon.get("/v1/payments/reconciliation.csv", params={"from": "2026-11-01", "to": "2026-11-30"})
        assert r.status_code == 401
