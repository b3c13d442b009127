"""The dispatcher: fan out, claim, send, record. Runs inside ``productsync serve``
(embedded) or alone as ``productsync worker``; several on one PostgreSQL database share
the work through ``SKIP LOCKED`` claims.

``run`` is a pipeline, not a sequence of rounds: deliveries are claimed while earlier
ones are still on the wire (up to ``max_in_flight``), and outcomes are written in small
batches as they come back. A slow or dead receiver therefore holds up only its own
deliveries, never the other channels'. Order per (channel, thing) still holds: a
delivery stays ``in_flight`` in the database until its outcome is recorded, and the
claim never takes the next delivery of a pair that is in flight.

Channels whose tries get no answer at all are probed (``sync/probes.py``), so a
receiver or broker that comes back is served at once, not at the end of a back-off.

``dispatch_once`` runs one whole round (claim, send all, record) and is what the tests
drive, one deterministic step at a time.

A new channel's snapshot is built in pages, each its own short transaction: ``run``
builds them in a task beside the claim loop, so a backfill of any size never delays the
live deliveries; ``dispatch_once`` builds all pages of a backfill the round starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from productsync.bootstrap import Hub
from productsync.services import snapshots
from productsync.services.dispatch import Attempt, Claimed, claim, fan_out, has_work, record_attempts
from productsync.store.uow import UnitOfWork, transaction
from productsync.sync.connectors import Connectors
from productsync.sync.guard import Resolve
from productsync.sync.probes import Prober

log = logging.getLogger("productsync.dispatcher")


async def _record(hub: Hub, results: list[tuple[Claimed, Attempt]]) -> None:
    """Outcomes in one transaction (one commit, not one per delivery)."""

    async def write(uow: UnitOfWork) -> None:
        await record_attempts(uow, results)

    await transaction(hub.db, write)


async def _claim_due(hub: Hub, limit: int, *, backfill: bool = False) -> list[Claimed]:
    """Fan new events out and take what is due; [] quickly when there is nothing to do.
    With ``backfill``, every page of the backfills waiting is built before the claim."""
    if not await transaction(hub.db, has_work, readonly=True):
        return []
    await transaction(hub.db, fan_out)
    while backfill and await transaction(hub.db, snapshots.backfill_step):
        pass
    hub.events.poke()  # events may have been sequenced: wake this process's SSE streams
    lease = timedelta(seconds=hub.settings.dispatcher_lease_seconds)
    return await transaction(hub.db, lambda uow: claim(uow, limit=limit, lease=lease))


async def dispatch_once(
    hub: Hub, client: object = None, *, batch: int = 200, connectors: Connectors | None = None
) -> int:
    """One round; returns how many deliveries were attempted (0: nothing was due).
    Pass ``connectors`` to keep connections across rounds. ``client`` is not used (the
    connectors own clients pinned to checked addresses); it is accepted for old callers."""
    del client
    claimed = await _claim_due(hub, batch, backfill=True)
    if claimed:
        own = connectors is None
        senders = connectors or Connectors(hub.settings, db=hub.db)
        try:
            attempts = await asyncio.gather(*(senders.send(c) for c in claimed))
        finally:
            if own:
                await senders.aclose()
        await _record(hub, list(zip(claimed, attempts, strict=True)))
    return len(claimed)


class _Stats:
    """Throughput and send latency, logged every ``every`` seconds at INFO when busy."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.started = time.monotonic()
        self.sent = 0
        self.failed = 0
        self.send_seconds = 0.0

    def add(self, attempt: Attempt, seconds: float) -> None:
        self.sent += 1
        self.failed += 0 if attempt.ok else 1
        self.send_seconds += seconds
        now = time.monotonic()
        if now - self.started >= self.every:
            log.info(
                "%d deliveries (%d failed) in %.0f s, %.0f ms per send on average",
                self.sent,
                self.failed,
                now - self.started,
                self.send_seconds / self.sent * 1000,
            )
            self.started, self.sent, self.failed, self.send_seconds = now, 0, 0, 0.0


async def run(
    hub: Hub,
    *,
    idle_seconds: float = 0.05,
    stop: asyncio.Event | None = None,
    max_in_flight: int = 400,
    batch: int = 200,
    resolve: Resolve | None = None,
    probe_first: float = 0.5,
    probe_longest: float = 5.0,
) -> None:
    """Until cancelled (or ``stop`` is set). ``resolve`` stands in for the system resolver
    (tests only)."""
    results: asyncio.Queue[tuple[Claimed, Attempt]] = asyncio.Queue()
    recorded = asyncio.Event()  # an outcome was written: its pair may be claimable now
    in_flight: set[asyncio.Task[None]] = set()
    stats = _Stats()

    async def send(connectors: Connectors, claimed: Claimed) -> None:
        started = time.monotonic()
        try:
            attempt = await connectors.send(claimed)
        except Exception as exc:  # noqa: BLE001 - a connector bug is a failed try, not a lost delivery
            log.exception("connector failed on delivery %s", claimed.delivery_id)
            attempt = Attempt(False, error=f"connector error: {type(exc).__name__}", unreachable=True)
        stats.add(attempt, time.monotonic() - started)
        prober.observe(claimed, attempt)
        await results.put((claimed, attempt))

    async def recorder() -> None:
        while True:
            batch_ = [await results.get()]
            await asyncio.sleep(0.005)  # let a few more land: one commit for several outcomes
            while not results.empty() and len(batch_) < 500:
                batch_.append(results.get_nowait())
            for attempt_try in range(3):
                try:
                    await _record(hub, batch_)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - unrecorded outcomes are re-sent after the lease
                    log.exception("recording %d outcomes failed (try %d)", len(batch_), attempt_try + 1)
                    await asyncio.sleep(0.5)
            recorded.set()

    async def backfiller() -> None:
        """Snapshot pages, one short transaction each, beside the claim loop."""
        while True:
            try:
                built = await transaction(
                    hub.db, snapshots.backfill_waiting, readonly=True
                ) and await transaction(hub.db, snapshots.backfill_step)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed page is built again on the next try
                log.exception("building a backfill page failed; retrying")
                built = False
            if not built:
                await asyncio.sleep(max(idle_seconds * 10, 0.2))

    connectors = Connectors(hub.settings, resolve=resolve, db=hub.db)
    prober = Prober(hub, connectors, first=probe_first, longest=probe_longest)
    writer = asyncio.create_task(recorder())
    pages = asyncio.create_task(backfiller())
    probing = asyncio.create_task(prober.run())
    try:
        while stop is None or not stop.is_set():
            room = max_in_flight - len(in_flight)
            claimed: list[Claimed] = []
            if room > 0:
                try:
                    claimed = await _claim_due(hub, min(room, batch))
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a bad round must not stop deliveries for good
                    log.exception("claiming deliveries failed; retrying")
            for c in claimed:
                task = asyncio.create_task(send(connectors, c))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if not claimed:
                recorded.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(recorded.wait(), idle_seconds)
    finally:
        for task in list(in_flight):
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        # What was sent but not yet written is written now (or re-sent after the lease).
        pending = []
        while not results.empty():
            pending.append(results.get_nowait())
        writer.cancel()
        probing.cancel()
        pages.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pages
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        with contextlib.suppress(asyncio.CancelledError):
            await probing
        if pending:
            with contextlib.suppress(Exception):
                await _record(hub, pending)
        await connectors.aclose()
