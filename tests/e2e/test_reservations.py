"""Reservations over HTTP against real servers, and the no-oversell guarantee with two
server processes on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import services
from tests.e2e.conftest import Server, _start, cli, free_port, serving


def _product(c: httpx.Client, partner: str, category: str, **over: Any) -> dict[str, Any]:
    attributes = {
        "sports": {"size": "one", "material": "steel"},
        "alcohol": {"abv": 43, "volume_ml": 700, "age_restricted": True},
    }[category]
    prefix = {"sports": "SE-", "alcohol": "ALC-"}[category]
    body = {
        "sku": f"{prefix}R{uuid.uuid4().hex[:10]}",
        "name": "Limited item",
        "category": category,
        "owner_partner_id": partner,
        "attributes": attributes,
        **over,
    }
    r = c.post("/v1/products", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _receive(c: httpx.Client, product: dict[str, Any], location: str, quantity: int) -> None:
    r = c.post(
        "/v1/stock/adjustments",
        json={"product_id": product["id"], "location_id": location, "delta": quantity, "kind": "receipt"},
    )
    assert r.status_code == 200, r.text


def _level(c: httpx.Client, product: dict[str, Any], location: str) -> dict[str, Any]:
    levels = c.get(f"/v1/products/{product['id']}/stock").json()["locations"]
    return dict(next(lv for lv in levels if lv["location_id"] == location))


def _ids(c: httpx.Client) -> tuple[dict[str, str], dict[str, str]]:
    partners = {p["code"]: p["id"] for p in c.get("/v1/partners").json()}
    locations = {loc["code"]: loc["id"] for loc in c.get("/v1/locations").json()}
    return partners, locations


def test_reserve_commit_release_extend_over_http(server: Server) -> None:
    with server.client("admin") as admin:
        partners, locations = _ids(admin)
        item = _product(admin, partners["peak-sports"], "sports")
        _receive(admin, item, locations["WH-PEAK"], 5)
    with server.client("peak-sports") as c:
        key = str(uuid.uuid4())
        body = {"lines": [{"sku": item["sku"].lower(), "quantity": 2}], "external_ref": "web-1001"}
        first = c.post("/v1/reservations", json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        held = first.json()
        assert held["status"] == "held" and held["lines"][0]["holds"][0]["quantity"] == 2
        again = c.post("/v1/reservations", json=body, headers={"Idempotency-Key": key})
        assert again.json()["id"] == held["id"]  # replayed, not held twice
        assert _level(c, item, locations["WH-PEAK"])["reserved"] == 2

        short = c.post("/v1/reservations", json={"lines": [{"product_id": item["id"], "quantity": 4}]})
        assert short.status_code == 409
        assert short.headers["content-type"].startswith("application/problem+json")
        problem = short.json()
        assert problem["code"] == "insufficient-stock"
        assert problem["short_lines"] == [
            {"line": 0, "product_id": item["id"], "sku": item["sku"], "requested": "4", "available": "3"}
        ]
        for bad in (
            {"lines": []},
            {"lines": [{"sku": item["sku"], "quantity": 1, "unit": "ml"}]},
            {"lines": [{"sku": item["sku"], "quantity": 1.5}]},
            {"lines": [{"sku": item["sku"], "quantity": 1}], "ttl_seconds": 0},
            {"lines": [{"sku": item["sku"], "quantity": -1}]},
            {"lines": [{"quantity": 1}]},
        ):
            r = c.post("/v1/reservations", json=bad)
            assert r.status_code == 422, (bad, r.text)
        assert _level(c, item, locations["WH-PEAK"])["reserved"] == 2  # refusals changed nothing

        found = c.get("/v1/reservations", params={"external_ref": "web-1001"}).json()
        assert [r["id"] for r in found] == [held["id"]]
        extended = c.post(f"/v1/reservations/{held['id']}/extend", json={"ttl_seconds": 3600})
        assert extended.status_code == 200 and extended.json()["expires_at"] > held["expires_at"]
        done = c.post(f"/v1/reservations/{held['id']}/commit")
        assert done.status_code == 200 and done.json()["status"] == "committed"
        level = _level(c, item, locations["WH-PEAK"])
        assert (level["on_hand"], level["reserved"]) == (3, 0)
        closed = c.post(f"/v1/reservations/{held['id']}/release")
        assert closed.status_code == 409 and closed.json()["code"] == "reservation-closed"
    with server.client("nailco") as other:
        assert other.get(f"/v1/reservations/{held['id']}").status_code == 404


def test_sales_beside_holds_and_cycle_count_accuracy_over_http(server: Server) -> None:
    with server.client("admin") as admin:
        partners, locations = _ids(admin)
        item = _product(admin, partners["peak-sports"], "sports")
        _receive(admin, item, locations["WH-PEAK"], 5)
    where = {"location_id": locations["WH-PEAK"]}
    with server.client("nailco") as other:
        theirs_before = other.get("/v1/inventory/accuracy").json()
    with server.client("peak-sports") as c:
        before = c.get("/v1/inventory/accuracy", params=where).json()
        assert (
            c.post("/v1/reservations", json={"lines": [{"sku": item["sku"], "quantity": 2}]}).status_code
            == 201
        )

        def sell(quantity: int) -> httpx.Response:
            return c.post(
                "/v1/stock/adjustments",
                json={"product_id": item["id"], **where, "delta": -quantity, "kind": "sale"},
            )

        assert sell(3).status_code == 200  # the free part sells beside the hold
        refused = sell(1)
        assert refused.status_code == 409 and "held by reservations" in refused.json()["detail"]
        for counted in (2, 3):  # 2 on hand: the first count matches, the second finds one more
            r = c.post("/v1/stock/set", json={"product_id": item["id"], **where, "quantity": counted})
            assert r.status_code == 200, r.text
        after = c.get("/v1/inventory/accuracy", params=where).json()
        assert (after["counts"] - before["counts"], after["matched"] - before["matched"]) == (2, 1)
        assert after["accuracy_percent"] == round(after["matched"] / after["counts"] * 100, 1)
        assert c.get("/v1/inventory/accuracy", params={"location_id": "nope"}).status_code == 422
        assert c.get("/v1/inventory/accuracy", params={"location_id": str(uuid.uuid4())}).status_code == 404
    with server.client("nailco") as other:  # another partner's counts are not in nailco's numbers
        assert other.get("/v1/inventory/accuracy").json() == theirs_before


def test_the_scheduler_releases_an_expired_hold(server: Server) -> None:
    with server.client("admin") as admin:
        partners, locations = _ids(admin)
        item = _product(admin, partners["peak-sports"], "sports")
        _receive(admin, item, locations["WH-PEAK"], 1)
    with server.client("peak-sports") as c:
        held = c.post(
            "/v1/reservations", json={"lines": [{"sku": item["sku"], "quantity": 1}], "ttl_seconds": 1}
        )
        assert held.status_code == 201
        deadline = time.monotonic() + 15
        while _level(c, item, locations["WH-PEAK"])["reserved"] != 0:
            assert time.monotonic() < deadline, "the expired hold was never released"
            time.sleep(0.2)
        after = c.post(f"/v1/reservations/{held.json()['id']}/commit")
        assert after.status_code == 409 and after.json()["code"] in {
            "reservation-expired",
            "reservation-closed",
        }
        assert c.get(f"/v1/reservations/{held.json()['id']}").json()["status"] == "expired"


def test_a_stripe_payment_commits_the_checkout_reservation(server: Server) -> None:
    from tests.e2e.test_sync import _stripe_post

    with server.client("admin") as admin:
        partners, locations = _ids(admin)
        item = _product(admin, partners["peak-sports"], "sports")
        _receive(admin, item, locations["WH-PEAK"], 3)
    order = f"order-{uuid.uuid4().hex[:8]}"
    with server.client("peak-sports") as c:
        held = c.post(
            "/v1/reservations", json={"lines": [{"sku": item["sku"], "quantity": 2}], "external_ref": order}
        ).json()
    event = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "type": "checkout.session.completed",
        "data": {
            "object": {"id": "cs_1", "object": "checkout.session", "metadata": {"reservation_ref": order}}
        },
    }
    paid = _stripe_post(server, event)
    assert paid.status_code == 200 and paid.json()["reservation_id"] == held["id"], paid.text
    assert _stripe_post(server, event).json()["replayed"] is True
    with server.client("peak-sports") as c:
        assert c.get(f"/v1/reservations/{held['id']}").json()["status"] == "committed"
        level = _level(c, item, locations["WH-PEAK"])
        assert (level["on_hand"], level["reserved"]) == (1, 0)
    unknown = {**event, "id": f"evt_{uuid.uuid4().hex[:16]}"}
    unknown["data"] = {"object": {"id": "cs_2", "metadata": {"reservation_id": str(uuid.uuid4())}}}
    assert _stripe_post(server, unknown).status_code == 404


# --- two server processes on one PostgreSQL database ----------------------------------


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A seeded PostgreSQL hub served by two `productsync serve` processes."""
    try:
        url = asyncio.run(services.create_postgres_database())
    except Exception as exc:  # noqa: BLE001
        services.unavailable("PostgreSQL", exc)
    tmp = tmp_path_factory.mktemp("two-processes")
    try:
        for first in _start(url, tmp, "postgres"):
            with serving(first.env, free_port(), Path(tmp) / "second.log") as second:
                yield first, second
    finally:
        asyncio.run(services.drop_postgres_database(url))


async def _storm(
    bases: list[str], key: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response | BaseException]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
    clients = [
        httpx.AsyncClient(base_url=b, headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits)
        for b in bases
    ]
    start = asyncio.Event()

    async def one(i: int, body: dict[str, Any]) -> httpx.Response:
        await start.wait()
        return await clients[i % len(clients)].post("/v1/reservations", json=body)

    try:
        tasks = [asyncio.create_task(one(i, b)) for i, b in enumerate(bodies)]
        await asyncio.sleep(0.2)
        start.set()
        return list(await asyncio.gather(*tasks, return_exceptions=True))
    finally:
        for c in clients:
            await c.aclose()


def test_200_clients_on_two_processes_reserve_exactly_the_10_in_stock(
    two_processes: tuple[Server, str],
) -> None:
    server, second = two_processes
    with server.client("admin") as admin:
        partners, locations = _ids(admin)
        item = _product(admin, partners["peak-sports"], "sports")
        _receive(admin, item, locations["WH-PEAK"], 10)
    bodies = [{"lines": [{"sku": item["sku"], "quantity": 1}]} for _ in range(200)]
    results = asyncio.run(_storm([server.base_url, second], server.keys["peak-sports"], bodies))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    statuses = Counter(r.status_code for r in results if isinstance(r, httpx.Response))
    assert statuses == {201: 10, 409: 190}, statuses
    with server.client("admin") as admin:
        level = _level(admin, item, locations["WH-PEAK"])
        assert (level["on_hand"], level["reserved"], level["available"]) == (10, 10, 0)
    checked = cli(server.env, "check")
    assert checked.returncode == 0, checked.stdout


def test_100_crossing_bundle_reservations_across_partners_never_deadlock_or_oversell(
    two_processes: tuple[Server, str],
) -> None:
    server, second = two_processes
    with server.client("admin") as admin:
        partners, locations = _ids(admin)
        gin = _product(admin, partners["spirits-curator"], "alcohol")
        file_ = _product(admin, partners["nailco"], "sports")
        extra = admin.post("/v1/locations", json={"code": f"WH-{uuid.uuid4().hex[:8]}", "name": "Overflow"})
        assert extra.status_code == 201, extra.text
        for product in (gin, file_):
            for loc in (locations["WH-BERLIN"], extra.json()["id"]):
                _receive(admin, product, loc, 15)
    with server.client("spirits-curator") as c:
        gift = _product(
            c,
            partners["spirits-curator"],
            "alcohol",
            kind="bundle",
            components=[{"product_id": gin["id"], "quantity": 1}, {"product_id": file_["id"], "quantity": 1}],
        )
        gift_rev = _product(
            c,
            partners["spirits-curator"],
            "alcohol",
            kind="bundle",
            components=[{"product_id": file_["id"], "quantity": 2}, {"product_id": gin["id"], "quantity": 1}],
        )
    # Crossing orders: bundles listing components in opposite orders, and plain multi-line
    # reservations naming the two components in both orders.
    bodies: list[dict[str, Any]] = []
    for i in range(100):
        match i % 4:
            case 0:
                bodies.append({"lines": [{"sku": gift["sku"], "quantity": 1}]})
            case 1:
                bodies.append({"lines": [{"sku": gift_rev["sku"], "quantity": 1}]})
            case 2:
                bodies.append(
                    {"lines": [{"sku": gin["sku"], "quantity": 1}, {"sku": file_["sku"], "quantity": 1}]}
                )
            case _:
                bodies.append(
                    {"lines": [{"sku": file_["sku"], "quantity": 1}, {"sku": gin["sku"], "quantity": 1}]}
                )
    results = asyncio.run(_storm([server.base_url, second], server.keys["spirits-curator"], bodies))
    assert not [r for r in results if isinstance(r, BaseException)]
    responses = [r for r in results if isinstance(r, httpx.Response)]
    assert {r.status_code for r in responses} <= {201, 409}, [
        r.text for r in responses if r.status_code >= 500
    ][:3]
    held: Counter[str] = Counter()
    for r in responses:
        if r.status_code == 201:
            for line in r.json()["lines"]:
                for h in line["holds"]:
                    held[h["product_id"]] += h["quantity"]
        else:
            assert r.json()["code"] == "insufficient-stock", r.text
    assert held[gin["id"]] <= 30 and held[file_["id"]] <= 30
    # Stock only went down, so a refusal means a component was short from then on.
    assert 30 - held[gin["id"]] < 1 or 30 - held[file_["id"]] < 2, "refused although every line fitted"
    with server.client("admin") as admin:
        for product in (gin, file_):
            levels = admin.get(f"/v1/products/{product['id']}/stock").json()["totals"]
            assert levels["reserved"] == held[product["id"]]
            assert levels["on_hand"] == 30
    checked = cli(server.env, "check")
    assert checked.returncode == 0, checked.stdout
