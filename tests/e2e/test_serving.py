"""`productsync serve --workers 2` on PostgreSQL: every process has its own listening
socket (SO_REUSEPORT), so keep-alive connections spread over both; a process that dies
is started again; SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.e2e.conftest import free_port


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in found]


def _listening(port: int) -> int:
    """Listening sockets on ``port`` (each API process has its own once it is ready)."""
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            count += int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A"  # 0A: LISTEN
    return count


def _established(pid: int, port: int) -> int:
    """Connections this process has accepted on ``port`` (from /proc, no extra tools)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            local_port = int(cols[1].rsplit(":", 1)[1], 16)
            if local_port == port and cols[3] == "01" and cols[9] in inodes:  # 01: ESTABLISHED
                count += 1
    return count


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    url = asyncio.run(services.create_postgres_database())
    port = free_port()
    env = {**os.environ, "PRODUCTSYNC_DATABASE_URL": url, "PRODUCTSYNC_LOG_LEVEL": "warning"}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "productsync", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200
                if healthy and _listening(port) == 2:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=40)
        log.close()
        asyncio.run(services.drop_postgres_database(url))


def test_connections_spread_over_both_processes_and_a_dead_one_comes_back(two_processes) -> None:  # type: ignore[no-untyped-def]
    proc, port = two_processes
    workers = _children(proc.pid)
    workers = [pid for pid in workers if Path(f"/proc/{pid}/cmdline").read_bytes().find(b"spawn_main") >= 0]
    assert len(workers) == 2
    # A burst, as when a shop's clients reconnect at once: all connections are made
    # before any is served (one shared socket hands most of them to one process).
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    try:
        for conn in conns:
            conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: hub\r\n\r\n")
        for conn in conns:
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        spread = [_established(pid, port) for pid in workers]
        assert sum(spread) == 40
        assert min(spread) >= 8, f"one process took nearly every connection: {spread}"
    finally:
        for conn in conns:
            conn.close()

    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        now = [pid for pid in _children(proc.pid) if pid != workers[0]]
        live = [p for p in now if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        if len(live) == 2:
            break
        assert time.monotonic() < deadline, "the killed API process was not started again"
        time.sleep(0.2)
    answered = 0
    for _ in range(20):  # new connections reach both, the new process included
        try:
            answered += httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).status_code == 200
        except httpx.TransportError:
            time.sleep(0.5)
    assert answered >= 15

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in live)


def test_killing_the_supervisor_outright_takes_its_processes_along(two_processes) -> None:  # type: ignore[no-untyped-def]
    proc, port = two_processes
    workers = [p for p in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(workers) == 2
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in workers):
        assert time.monotonic() < deadline, "API processes outlived their supervisor"
        time.sleep(0.2)
    assert _listening(port) == 0


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
