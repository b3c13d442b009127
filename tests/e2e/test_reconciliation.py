"""Reconciliation over HTTP against a webhook channel exposing ``config.state_url``
(tests/state_channel.py): 202 and polling, the report paged and filtered by kind, the
consistency history, a channel that cannot be read, and problem+json for bad input."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.e2e.conftest import Demo, Server, free_port
from tests.state_channel import StateChannel


def _channel(c: httpx.Client, demo: Demo, state_url: str, **config: Any) -> str:
    # Deliveries go to a port nothing listens on: the state seen at state_url stays as seeded.
    made = c.post(
        "/v1/channels",
        json={
            "name": f"state {uuid.uuid4().hex[:6]}",
            "kind": "webhook",
            "url": f"http://127.0.0.1:{free_port()}/hook",
            "partner_ids": [demo.partners["nailco"]],
            "config": {"state_url": state_url, **config},
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _finished(c: httpx.Client, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = c.get(url)
        assert run.status_code == 200, run.text
        if run.json()["status"] != "running":
            return dict(run.json())
        time.sleep(0.2)
    raise AssertionError(f"{url} still running")


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


def test_a_run_is_started_polled_paged_and_kept_as_history(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c, StateChannel(page_size=3) as state:
        channel = _channel(c, demo, state.state_url)
        expected = c.get("/v1/products", params={"partner_id": demo.partners["nailco"], "limit": 500}).json()
        skus = sorted(p["sku"] for p in expected["items"] if p["status"] == "active")
        assert len(skus) >= 3
        held = skus[0]
        state.items[held] = {"sku": held, "quantity": 999999}  # wrong stock
        state.items["COS-NOT-ON-HUB"] = {"sku": "COS-NOT-ON-HUB", "quantity": 1}  # extra

        started = c.post(f"/v1/channels/{channel}/reconciliations")
        assert started.status_code == 202, started.text
        run = started.json()
        assert run["status"] == "running" and run["trigger"] == "on_demand"
        location = started.headers["location"]
        assert location == f"/v1/channels/{channel}/reconciliations/{run['id']}"
        done = _finished(c, location)
        assert done["status"] == "succeeded", done
        assert done["expected"] == len(skus) and done["matched"] == 0
        assert done["counts"] == {
            "missing": len(skus) - 1,
            "extra": 1,
            "wrong_stock": 1,
            "wrong_price": 0,
            "wrong_text": 0,
        }
        assert done["consistency_rate"] == 0.0 and done["items_read"] == 2

        stock = c.get(location, params={"kind": "wrong_stock"}).json()
        assert [(f["kind"], f["sku"], f["channel_value"]) for f in stock["findings"]] == [
            ("wrong_stock", held, "999999")
        ]
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"kind": "missing", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = c.get(location, params=params).json()
            seen += [f["sku"] for f in page["findings"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == skus[1:]

        # Fix the channel's side by hand: the next run says so.
        state.items.clear()
        for p in expected["items"]:
            if p["status"] == "active":
                state.items[p["sku"]] = {"sku": p["sku"], "title": p["name"]}
        again = c.post(f"/v1/channels/{channel}/reconciliations", params={"wait": "true"})
        assert again.status_code == 200, again.text
        assert again.json()["consistency_rate"] == 1.0 and again.json()["matched"] == len(skus)

        runs = c.get(f"/v1/channels/{channel}/reconciliations").json()["runs"]
        assert [r["id"] for r in runs] == [again.json()["id"], run["id"]]
        history = c.get(f"/v1/channels/{channel}/consistency").json()
        assert history["current"] == 1.0
        assert [(h["consistency_rate"], h["expected"], h["matched"]) for h in history["history"]] == [
            (1.0, len(skus), len(skus)),
            (0.0, len(skus), 0),
        ]
        assert history["history"][1]["counts"]["extra"] == 1
        assert all("webhook-signature" in h for h in state.state_requests)


def test_a_channel_that_cannot_be_read_is_a_failed_run_not_a_500(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c:
        channel = _channel(c, demo, f"http://127.0.0.1:{free_port()}/state")
        r = c.post(f"/v1/channels/{channel}/reconciliations", params={"wait": "true"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "failed" and r.json()["error"]
        assert c.get(f"/v1/channels/{channel}/consistency").json() == {
            "channel_id": channel,
            "current": None,
            "history": [],
        }
        with StateChannel() as state:
            state.fail_state = 500
            c.patch(f"/v1/channels/{channel}", json={"config": {"state_url": state.state_url}})
            started = c.post(f"/v1/channels/{channel}/reconciliations")
            done = _finished(c, started.headers["location"])
        assert done["status"] == "failed" and "HTTP 500" in done["error"]


def test_bad_requests_are_problems(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c, StateChannel() as state:
        channel = _channel(c, demo, state.state_url)
        run = c.post(f"/v1/channels/{channel}/reconciliations", params={"wait": "true"}).json()
        url = f"/v1/channels/{channel}/reconciliations/{run['id']}"
        _problem(c.get(url, params={"kind": "sideways"}), 422)
        _problem(c.get(url, params={"cursor": "!!"}), 400)
        naive = {"before": "2026-01-01T00:00:00"}  # an instant needs its offset
        _problem(c.get(f"/v1/channels/{channel}/reconciliations", params=naive), 422)
        _problem(c.get(f"/v1/channels/{channel}/reconciliations/{uuid.uuid4()}"), 404)
        _problem(c.get(f"/v1/channels/{uuid.uuid4()}/consistency"), 404)
        plain = c.post(
            "/v1/channels",
            json={"name": "no state", "kind": "webhook", "url": f"http://127.0.0.1:{free_port()}/x"},
        ).json()
        _problem(c.post(f"/v1/channels/{plain['id']}/reconciliations"), 422)
        failed = c.get(f"/v1/channels/{plain['id']}/reconciliations").json()["runs"]
        assert [r["status"] for r in failed] == ["failed"] and "state_url" in failed[0]["error"]
        bad = c.patch(
            f"/v1/channels/{channel}",
            json={"config": {"state_url": state.state_url, "reconcile_repair": "fix"}},
        )
        assert bad.status_code == 200, bad.text
        _problem(c.post(f"/v1/channels/{channel}/reconciliations"), 422)
    with server.client("spirits-curator") as other:  # not its channel
        _problem(other.get(url), 404)
        _problem(other.post(f"/v1/channels/{channel}/reconciliations"), 404)
        _problem(other.get(f"/v1/channels/{channel}/consistency"), 404)
    with server.client() as anon:
        _problem(anon.get(f"/v1/channels/{channel}/consistency"), 401)
