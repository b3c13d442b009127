"""A real ``productsync serve`` process per database, seeded with ``productsync demo``."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests import services

STRIPE_SECRET = "whsec_test_e2e_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "productsync", *args], env=env, capture_output=True, text=True, timeout=120
    )


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    backend: str
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, who: str | None = None, **kw) -> httpx.Client:  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kw)


def _start(url: str, tmp: Path, backend: str, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "PRODUCTSYNC_DATABASE_URL": url,
        "PRODUCTSYNC_PORT": str(port),
        "PRODUCTSYNC_AUTH_CACHE_SECONDS": "0",
        # Test receivers and fake platforms listen on 127.0.0.1.
        "PRODUCTSYNC_WEBHOOK_ALLOW_LOOPBACK": "true",
        "PRODUCTSYNC_WEBHOOK_TIMEOUT_SECONDS": "3",
        "PRODUCTSYNC_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
        **(extra_env or {}),
    }
    if backend == "sqlite":  # the embedded hub keeps its key file beside the database
        env.pop("PRODUCTSYNC_SECRET_KEY", None)
    seeded = cli(env, "demo")
    assert seeded.returncode == 0, seeded.stderr
    keys = dict(
        re.findall(r"^\s+(admin|nailco|spirits-curator|peak-sports)\b.*?(psk_\S+)$", seeded.stdout, re.M)
    )
    assert set(keys) == {"admin", "nailco", "spirits-curator", "peak-sports"}, seeded.stdout
    with serving(env, port, tmp / "server.log") as base:
        yield Server(base, env, backend, keys)


@contextmanager
def serving(env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """A `productsync serve` process on ``port`` until the block ends; yields its base URL."""
    env = {**env, "PRODUCTSYNC_PORT": str(port)}
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "productsync", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise RuntimeError("server did not start:\n" + log_path.read_text())
        time.sleep(0.1)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _backend_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"e2e-{request.param}")
    if request.param == "sqlite":
        yield from _start(f"sqlite:///{tmp / 'hub.db'}", tmp, "sqlite")
        return
    try:
        url = asyncio.run(services.create_postgres_database())
    except Exception as exc:  # noqa: BLE001
        services.unavailable("PostgreSQL", exc)
    try:
        yield from _start(url, tmp, "postgres")
    finally:
        asyncio.run(services.drop_postgres_database(url))


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One seeded server per backend, shared by the tests that leave the demo usable."""
    yield from _backend_server(request, tmp_path_factory)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def scratch_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server of its own, for tests (like the fuzzer) that write random data everywhere."""
    yield from _backend_server(request, tmp_path_factory)


@dataclass
class Demo:
    """Handy ids from the seeded demo, as seen by the admin."""

    partners: dict[str, str]
    product: dict[str, dict]  # owner code -> one product
    locations: dict[str, str]
    price_lists: dict[str, dict]


@pytest.fixture(scope="session")
def demo(server: Server) -> Demo:
    with server.client("admin") as c:
        partners = {p["code"]: p["id"] for p in c.get("/v1/partners").json()}
        locations = {loc["code"]: loc["id"] for loc in c.get("/v1/locations").json()}
        products: dict[str, dict] = {}
        for code, pid in partners.items():
            products[code] = c.get("/v1/products", params={"partner_id": pid, "limit": 1}).json()["items"][0]
        lists = {pl["name"]: pl for pl in c.get("/v1/price-lists").json()}
    return Demo(partners, products, locations, lists)
