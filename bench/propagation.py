"""Catalog update latency: API commit → webhook receiver, under a steady change rate.

    python bench/propagation.py                 # 200 changes/s for 30 s, 3 channels
    python bench/propagation.py --rate 100 --seconds 10 --workers 1

Starts a hub on a fresh PostgreSQL database (seeded with the demo), three webhook
receivers (each its own process, on 127.0.0.1) and one webhook channel per receiver
seeing the whole catalog and the EUR list. Then, open loop at ``--rate`` per second:
80 % stock adjustments (+1/−1 alternating per product and location, so stock never runs
out) and 20 % price changes, through the HTTP API. Two runs:

1. all receivers up;
2. receiver 3 is killed 10 s in and started again 10 s later ("back→caught up": from its
   restart until it has the newest state of everything committed while it was down).

A 10 s warm-up at the same rate runs first and is not measured.

Latency is the event's time (taken in the committing transaction) to its arrival at the
receiver. After each run the hub must drain completely, and every receiver must end with
the hub's latest version of every level and price touched (no loss). Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stock_adjust import free_port, start, stop  # noqa: E402
from tests import services as test_services  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


class Receivers:
    def __init__(self, n: int) -> None:
        self.ports = [free_port() for _ in range(n)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * n

    def start(self, i: int) -> None:
        cmd = [sys.executable, str(ROOT / "bench" / "receiver_app.py"), str(self.ports[i])]
        log = os.path.join(tempfile.gettempdir(), f"productsync-bench-receiver-{i}.log")
        self.procs[i] = start(cmd, dict(os.environ), self.ports[i], "/stats", log=log)

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None:
            proc.kill()
            proc.wait()
            self.procs[i] = None

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc is not None:
                stop(proc)


DRAIN_TIMEOUT = 180.0


async def wait_drained(c: httpx.AsyncClient, channel_ids: list[str], timeout: float | None = None) -> float:
    timeout = DRAIN_TIMEOUT if timeout is None else timeout
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        statuses = [(await c.get(f"/v1/channels/{ch}/status")).json() for ch in channel_ids]
        if all(s["pending"] == 0 and s["in_flight"] == 0 for s in statuses):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    for ch in channel_ids:
        waiting = (await c.get(f"/v1/channels/{ch}/deliveries", params={"status": "pending"})).json()["items"]
        print(
            ch, [(d["attempts"], d["last_error"], d["next_attempt_at"]) for d in waiting[:3]], file=sys.stderr
        )
    raise SystemExit(f"the hub did not drain within {timeout:g} s (deliveries still waiting: see above)")


async def drive(
    base_url: str,
    headers: dict[str, str],
    rate: int,
    seconds: float,
    pairs: list[tuple[str, str]],
    priced: list[str],
    eur: str,
    on_tick: Any = None,
) -> dict[str, Any]:
    """Open loop: request i goes out at t0 + i/rate whether or not earlier ones are done.
    The client is aiohttp (httpx costs several times the CPU per request, and shares the
    2 cores with the hub). A request that meets a closing keep-alive connection is sent
    again (no Idempotency-Key: it would add three queries per change to a CPU-bound hub,
    and a repeated ±1 only moves a level by one; the loss check compares versions)."""
    n = int(rate * seconds)
    sign: dict[tuple[str, str], int] = {}
    api_ms: list[float] = []
    failures = 0
    t0 = time.monotonic()
    session = aiohttp.ClientSession(
        base_url,
        headers=headers,
        connector=aiohttp.TCPConnector(limit=64),
        timeout=aiohttp.ClientTimeout(120),
    )

    async def one(i: int) -> None:
        nonlocal failures
        started = time.monotonic()
        if i % 5 == 4:
            pid = priced[i % len(priced)]
            method, path = "PUT", f"/v1/price-lists/{eur}/prices/{pid}"
            body: dict[str, Any] = {"prices": [{"amount": f"{(1000 + i % 500) / 100:.2f}"}]}
        else:
            pair = pairs[i % len(pairs)]
            delta = sign.get(pair, 1)
            sign[pair] = -delta
            method, path = "POST", "/v1/stock/adjustments"
            body = {"product_id": pair[0], "location_id": pair[1], "delta": delta}
        status = 0
        for _ in range(3):
            try:
                async with session.request(method, path, json=body) as r:
                    status = r.status
                    await r.read()
                break
            except aiohttp.ClientError:
                continue
        api_ms.append((time.monotonic() - started) * 1000)
        if status != 200:
            failures += 1

    tasks = []
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if on_tick is not None:
            await on_tick(time.monotonic() - t0)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    await session.close()
    return {"sent": n, "elapsed": time.monotonic() - t0, "api_ms": api_ms, "failures": failures}


async def hub_versions(
    c: httpx.AsyncClient, pairs: list[tuple[str, str]], priced: list[str], eur: str, skus: dict[str, str]
) -> dict[str, int]:
    out: dict[str, int] = {}
    for pid in {p for p, _ in pairs}:
        for lv in (await c.get(f"/v1/products/{pid}/stock")).json()["locations"]:
            out[f"productsync.stock.changed|{skus[pid]}|{lv['location_id']}"] = lv["version"]
    for pid in priced:
        body = (await c.get(f"/v1/price-lists/{eur}/prices/{pid}")).json()
        out[f"productsync.price.changed|{skus[pid]}|{eur}"] = body["version"]
    return out


async def run(args: argparse.Namespace) -> None:
    url = await test_services.create_postgres_database()
    env = {
        **os.environ,
        "PRODUCTSYNC_DATABASE_URL": url,
        "PRODUCTSYNC_LOG_LEVEL": "warning",
        "PRODUCTSYNC_WEBHOOK_ALLOW_LOOPBACK": "true",
        "PRODUCTSYNC_DB_POOL_SIZE": "20",
        # Servers on PostgreSQL need the key that seals channel secrets (the same in every process).
        "PRODUCTSYNC_SECRET_KEY": os.environ.get("PRODUCTSYNC_SECRET_KEY") or Fernet.generate_key().decode(),
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "productsync", "demo"], env=env, capture_output=True, text=True, check=True
    )
    admin_key = re.search(r"^\s+admin\b.*?(psk_\S+)$", seeded.stdout, re.M).group(1)  # type: ignore[union-attr]
    receivers = Receivers(3)
    for i in range(3):
        receivers.start(i)
    port = free_port()
    hub_env = {**env, "PRODUCTSYNC_LOG_LEVEL": "info"} if args.hub_log else env
    workers: list[subprocess.Popen[bytes]] = []
    if args.dispatchers:  # the dispatcher in processes of its own, beside the API
        hub_env["PRODUCTSYNC_EMBEDDED_DISPATCHER"] = "false"
        out = open(args.hub_log, "ab") if args.hub_log else subprocess.DEVNULL  # noqa: SIM115
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "productsync", "worker"],
                env=hub_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            for _ in range(args.dispatchers)
        ]
    hub = start(
        [sys.executable, "-m", "productsync", "serve", "--port", str(port), "--workers", str(args.workers)],
        hub_env,
        port,
        "/v1/health",
        log=args.hub_log,
    )
    lines: list[str] = []
    try:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=60,
            limits=limits,
            headers={"Authorization": f"Bearer {admin_key}"},
        ) as c:
            eur = next(
                pl["id"] for pl in (await c.get("/v1/price-lists")).json() if pl["name"] == "Retail EU (EUR)"
            )
            channel_ids = []
            for i in range(3):
                r = await c.post(
                    "/v1/channels",
                    json={
                        "name": f"bench {i}",
                        "kind": "webhook",
                        "url": receivers.url(i) + "/hooks",
                        "price_list_id": eur,
                    },
                )
                channel_ids.append(r.json()["id"])
            await wait_drained(c, channel_ids)  # the snapshots
            products = (await c.get("/v1/products", params={"limit": 200})).json()["items"]
            skus = {p["id"]: p["sku"] for p in products}
            pairs = []
            for p in products:
                for lv in (await c.get(f"/v1/products/{p['id']}/stock")).json()["locations"]:
                    pairs.append((p["id"], lv["location_id"]))
            priced = [p["id"] for p in products]
            # Warm-up (not measured): pools filled, caches and query plans warm.
            await drive(
                f"http://127.0.0.1:{port}",
                {"Authorization": f"Bearer {admin_key}"},
                args.rate,
                min(10.0, args.seconds),
                pairs,
                priced,
                eur,
            )
            await wait_drained(c, channel_ids)
            for scenario in ("all receivers up", "receiver 3 down 10 s"):
                async with httpx.AsyncClient() as plain:
                    for i in range(3):
                        await plain.post(receivers.url(i) + "/reset")
                events: dict[str, float] = {}

                async def tick(t: float, scenario: str = scenario, events: dict[str, float] = events) -> None:
                    if scenario.startswith("receiver 3") and "down" not in events and t >= 10:
                        receivers.kill(2)
                        events["down"] = time.monotonic()
                    if "down" in events and "up" not in events and t >= 20:
                        await asyncio.to_thread(receivers.start, 2)
                        events["up"] = time.time()

                before = await hub_versions(c, pairs, priced, eur, skus)
                load = await drive(
                    f"http://127.0.0.1:{port}",
                    {"Authorization": f"Bearer {admin_key}"},
                    args.rate,
                    args.seconds,
                    pairs,
                    priced,
                    eur,
                    tick,
                )
                drained_after_load = await wait_drained(c, channel_ids)
                expected = await hub_versions(c, pairs, priced, eur, skus)
                async with httpx.AsyncClient(timeout=60) as plain:
                    stats = [(await plain.get(receivers.url(i) + "/stats")).json() for i in range(3)]
                # Catch-up: from the moment receiver 3 is back until it has what was committed
                # while it was down (the newest state of each thing; older ones are coalesced).
                drain = None
                if "up" in events:
                    backlog = [r["at"] for r in stats[2] if r["at"] - r["lag"] < events["up"]]
                    drain = max(backlog, default=events["up"]) - events["up"]
                touched = {k: v for k, v in expected.items() if v > before.get(k, 0)}
                lost = 0  # (receiver, level or price) pairs that did not end at the hub's version
                for recs in stats:
                    best: dict[str, int] = {}
                    for r in recs:
                        best[r["key"]] = max(best.get(r["key"], 0), r["version"])
                    lost += sum(1 for k, v in touched.items() if best.get(k, -1) < v)
                lags = [r["lag"] * 1000 for recs in stats[:2] for r in recs]
                lags_all = [r["lag"] * 1000 for recs in stats for r in recs]
                span = max((r["at"] for recs in stats for r in recs), default=0) - min(
                    (r["at"] for recs in stats for r in recs), default=0
                )
                delivered = sum(len(recs) for recs in stats)
                lines.append(
                    f"| {scenario:<22} | {load['sent'] / load['elapsed']:6.0f} | {load['failures']:4d} "
                    f"| {pct(load['api_ms'], 50):5.0f} / {pct(load['api_ms'], 99):5.0f} "
                    f"| {pct(lags_all, 50):5.0f} / {pct(lags_all, 95):5.0f} / {pct(lags_all, 99):6.0f} "
                    f"| {pct(lags, 99):6.0f} | {delivered / span if span else 0:6.0f} "
                    f"| {drained_after_load:5.1f} "
                    f"| {f'{drain:5.1f}' if drain is not None else '    -'} | {lost:4d} |"
                )
                print(lines[-1], flush=True)
    finally:
        stop(hub)
        for w in workers:
            stop(w)
        receivers.stop_all()
        await test_services.drop_postgres_database(url)
    print()
    where = f"{args.dispatchers} worker process(es)" if args.dispatchers else "embedded in the API processes"
    print(
        f"rate {args.rate}/s for {args.seconds:g} s, 3 webhook channels, "
        f"API processes: {args.workers}, dispatcher: {where}"
    )
    print(
        "| run                    | chg/s  | fail | API p50 / p99 ms | latency p50 / p95 / p99 ms "
        "| p99 up-only | deliv/s | drain s | back→caught up s | lost |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for line in lines:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=1, help="API processes (serve --workers)")
    parser.add_argument(
        "--dispatchers", type=int, default=1, help="productsync worker processes (0: embedded in serve)"
    )
    parser.add_argument("--hub-log", default=None, help="write the hub's log (at INFO) to this file")
    parser.add_argument("--drain-timeout", type=float, default=180, help="give up draining after this")
    args = parser.parse_args()
    if args.seconds < 25:
        # Receiver 3 goes down at 10 s and comes back at 20 s: a shorter run would leave it
        # down for good and wait for a drain that cannot happen.
        parser.error("--seconds must be at least 25 (receiver 3 is down from 10 s to 20 s of the run)")
    global DRAIN_TIMEOUT
    DRAIN_TIMEOUT = args.drain_timeout
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
