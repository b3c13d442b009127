"""Nothing lost when the worker dies: kill -9 the `productsync worker` process in the
middle of a burst, start it again, and every channel ends with the hub's exact state."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import services
from tests.e2e.conftest import Server, _start
from tests.receiver import Receiver


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A PostgreSQL hub whose API does not dispatch: only the worker under test does."""
    try:
        url = asyncio.run(services.create_postgres_database())
    except Exception as exc:  # noqa: BLE001
        services.unavailable("PostgreSQL", exc)
    tmp = tmp_path_factory.mktemp("crash")
    try:
        yield from _start(url, tmp, "postgres", {"PRODUCTSYNC_EMBEDDED_DISPATCHER": "false"})
    finally:
        asyncio.run(services.drop_postgres_database(url))


def _worker(server: Server, log: Path) -> subprocess.Popen[bytes]:
    env = {**server.env, "PRODUCTSYNC_DISPATCHER_LEASE_SECONDS": "2", "PRODUCTSYNC_LOG_LEVEL": "warning"}
    # Output goes to a file: a pipe nobody reads fills up and blocks the worker.
    return subprocess.Popen(
        [sys.executable, "-m", "productsync", "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _hub_state(c: httpx.Client, products: list[dict[str, Any]], location_id: str) -> dict[str, str]:
    out = {}
    for p in products:
        levels = c.get(f"/v1/products/{p['id']}/stock").json()["locations"]
        level = next(lv for lv in levels if lv["location_id"] == location_id)
        out[p["sku"]] = str(level["on_hand"])
    return out


def _seen(receiver: Receiver, location_id: str, skus: set[str]) -> dict[str, str]:
    """What the receiver believes about the burst's products (it also got the rest of the
    catalog in its snapshot)."""
    return {
        sku: event["data"]["level"]["on_hand"]
        for key, event in receiver.latest().items()
        if key[0] == "productsync.stock.changed"
        and key[1].endswith(f"@{location_id}")
        and (sku := key[1].split("@")[0]) in skus
    }


def test_kill_9_mid_burst_then_restart_ends_with_the_hubs_exact_state(
    pg_server: Server, tmp_path: Path
) -> None:
    with pg_server.client("admin") as c:
        location = next(loc for loc in c.get("/v1/locations").json() if loc["code"] == "WH-BERLIN")["id"]
        nailco = next(p for p in c.get("/v1/partners").json() if p["code"] == "nailco")["id"]
        products = c.get("/v1/products", params={"limit": 6, "partner_id": nailco}).json()["items"]
        receivers = [Receiver(), Receiver()]
        for r in receivers:
            r.__enter__()
            made = c.post(
                "/v1/channels",
                json={
                    "name": f"crash {uuid.uuid4().hex[:6]}",
                    "kind": "webhook",
                    "url": r.url,
                    "location_ids": [location],
                },
            )
            assert made.status_code == 201, made.text
            r.secrets.append(made.json()["secret"])
        worker = _worker(pg_server, tmp_path / "worker.log")
        try:
            deadline = time.monotonic() + 30  # the new channels' snapshots: the worker is up
            while time.monotonic() < deadline and not all(r.accepted for r in receivers):
                time.sleep(0.1)
            assert all(r.accepted for r in receivers), (tmp_path / "worker.log").read_text()[-3000:]
            baseline = sum(len(r.accepted) for r in receivers)
            killed_at: int | None = None
            round_ = 0
            # The burst goes on until the worker has delivered some of it, then 10 more rounds.
            while round_ < 300 and (killed_at is None or round_ < killed_at + 10):
                for p in products:
                    body = {
                        "product_id": p["id"],
                        "location_id": location,
                        "delta": 1 if round_ % 3 else 2,
                        "kind": "adjustment",  # polish is lot-tracked: receipts need lots
                    }
                    assert c.post("/v1/stock/adjustments", json=body).status_code == 200
                if killed_at is None and sum(len(r.accepted) for r in receivers) > baseline + 20:
                    os.kill(worker.pid, signal.SIGKILL)  # mid-burst, deliveries in flight
                    worker.wait(timeout=10)
                    killed_at = round_
                round_ += 1
            killed = killed_at is not None
            assert killed, "the worker never got going before the burst ended"
            worker = _worker(pg_server, tmp_path / "worker.log")
            expected = _hub_state(c, products, location)
            channel_ids = [ch["id"] for ch in c.get("/v1/channels").json()]

            def settled() -> bool:
                if any(_seen(r, location, set(expected)) != expected for r in receivers):
                    return False
                statuses = [c.get(f"/v1/channels/{ch}/status").json() for ch in channel_ids]
                return all(s["pending"] == 0 and s["in_flight"] == 0 for s in statuses)

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not settled():
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(timeout=15)
            for r in receivers:
                r.__exit__(None, None, None)
        log = (tmp_path / "worker.log").read_text()
        for r in receivers:
            got = _seen(r, location, set(expected))
            assert got == expected, f"channel state differs from the hub's\n{log[-2000:]}"
            assert r.refused_signatures == 0
        with pg_server.client("admin") as admin:
            for ch in admin.get("/v1/channels").json():
                status = admin.get(f"/v1/channels/{ch['id']}/status").json()
                waiting = admin.get(
                    f"/v1/channels/{ch['id']}/deliveries", params={"status": "pending"}
                ).json()
                brief = [
                    {
                        k: d.get(k)
                        for k in ("event_seq", "attempts", "next_attempt_at", "last_error", "status")
                    }
                    for d in waiting["items"]
                ]
                assert status["dead"] == 0 and status["pending"] == 0, brief
