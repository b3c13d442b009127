"""Feeds over real processes: two `productsync serve` processes on one PostgreSQL database
run a due file feed once (counted as the HTTP PUTs a local server on 127.0.0.1 receives),
and the schedules and feed runs over HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import services
from tests.e2e.conftest import cli, free_port, serving


class Receiver:
    """Counts the PUTs a feed makes, on 127.0.0.1."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.puts.append((self.path, body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """Two serve processes on one fresh PostgreSQL database; yields both URLs and the admin key."""
    try:
        url = asyncio.run(services.create_postgres_database())
    except Exception as exc:  # noqa: BLE001
        services.unavailable("PostgreSQL", exc)
    tmp: Path = tmp_path_factory.mktemp("e2e-feeds")
    env = {
        **os.environ,
        "PRODUCTSYNC_DATABASE_URL": url,
        "PRODUCTSYNC_AUTH_CACHE_SECONDS": "0",
        "PRODUCTSYNC_WEBHOOK_ALLOW_LOOPBACK": "true",
        "PRODUCTSYNC_WEBHOOK_TIMEOUT_SECONDS": "3",
    }
    try:
        seeded = cli(env, "demo")
        assert seeded.returncode == 0, seeded.stderr
        admin = re.search(r"^\s+admin\b.*?(psk_\S+)$", seeded.stdout, re.M)
        assert admin, seeded.stdout
        with (
            serving(env, free_port(), tmp / "one.log") as one,
            serving(env, free_port(), tmp / "two.log") as two,
        ):
            yield one, two, admin.group(1)
    finally:
        asyncio.run(services.drop_postgres_database(url))


def _wait_for(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_two_serve_processes_on_one_postgres_database_run_a_due_feed_once(two_servers) -> None:  # type: ignore[no-untyped-def]
    one, two, key = two_servers
    receiver = Receiver()
    auth = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=one, headers=auth, timeout=30) as api:
            target = f"{receiver.url}/drop/{{kind}}-{{mode}}-{{stamp}}.csv"
            made = api.post(
                "/v1/channels",
                json={
                    "name": "nightly files",
                    "kind": "file_feed",
                    "config": {"feed": {"target": target, "kinds": ["stock"], "every_minutes": 30}},
                },
            )
            assert made.status_code == 201, made.text
            channel_id = made.json()["id"]
            # Both processes bring the schedule in step within ~10 s and tick every second.
            _wait_for(lambda: len(receiver.puts) >= 1, 30)
            time.sleep(4)  # long enough for the other process to have run it too, if it could
            assert len(receiver.puts) == 1
            path, body = receiver.puts[0]
            assert path.startswith("/drop/stock-full-") and body.startswith(b"sku")
            runs = api.get(f"/v1/channels/{channel_id}/feed-runs").json()["items"]
            assert [(r["status"], r["trigger"], r["counts"]["files"]) for r in runs] == [
                ("succeeded", "scheduled", 1)
            ]
        with httpx.Client(base_url=two, headers=auth, timeout=30) as api:
            jobs = [j for j in api.get("/v1/schedules").json()["items"] if j["channel_id"] == channel_id]
            assert [(j["kind"], j["every_seconds"], j["last_status"], j["runs"]) for j in jobs] == [
                ("file_feed", 1800, "succeeded", 1)
            ]
            # Run now, on the other process, and wait for it: a delta this time.
            now = api.post(f"/v1/channels/{channel_id}/feed-runs?wait=true", json={})
            assert now.status_code == 200, now.text
            assert now.json()["trigger"] == "manual" and now.json()["counts"].get("delta") == 1
            assert len(receiver.puts) == 2 and "/drop/stock-delta-" in receiver.puts[1][0]
            bad = api.patch(f"/v1/channels/{channel_id}", json={"config": {"feed": {"target": "ftp://x/y"}}})
            assert bad.status_code == 422 and bad.headers["content-type"].startswith(
                "application/problem+json"
            )
            missing = api.post("/v1/channels/00000000-0000-0000-0000-000000000000/feed-runs", json={})
            assert missing.status_code == 404
        assert httpx.get(f"{one}/v1/schedules").status_code == 401
    finally:
        receiver.close()
