"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams.

Python HTTP clients cost more CPU per request than the server under test does,
and on a 2-core machine the client competes with the server; pre-built requests
over raw sockets keep the client's share small. Each of N connections sends one
request at a time and records its latency: as fast as answers come (closed loop), or,
with ``rate``, on a fixed schedule that together offers ``rate`` requests/s (open
loop). Open-loop latency counts from when a request was due, not when it was sent,
so a server falling behind shows in the percentiles instead of slowing the clients.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    ok: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def request_bytes(host: str, path: str, body: dict, headers: dict[str, str]) -> bytes:
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
    ] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def run(
    host: str,
    port: int,
    make_request: Callable[[random.Random], bytes],
    *,
    connections: int,
    seconds: float,
    warmup: float = 2.0,
    seed: int = 1,
    rate: float | None = None,
) -> Result:
    result = Result()
    stop_at = time.monotonic() + warmup + seconds
    measure_from = time.monotonic() + warmup

    interval = connections / rate if rate else 0.0

    async def worker(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        reader, writer = await asyncio.open_connection(host, port)
        due = time.monotonic() + interval * i / connections
        try:
            while True:
                if rate:
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                now = time.monotonic()
                if now >= stop_at:
                    return
                req = make_request(rng)
                t0 = due if rate else time.monotonic()
                writer.write(req)
                status = await _read_response(reader)
                elapsed = (time.monotonic() - t0) * 1000
                due += interval
                if now >= measure_from:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if 200 <= status < 300:
                        result.ok += 1
                        result.latencies_ms.append(elapsed)
                    else:
                        result.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    result.seconds = seconds
    return result
