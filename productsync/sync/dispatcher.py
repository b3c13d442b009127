"""The dispatcher loop: fan out, claim, send concurrently, record. Runs inside
``productsync serve`` (embedded) or alone as ``productsync worker``; several loops on one
PostgreSQL database share the work through ``SKIP LOCKED`` claims."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx

from productsync.bootstrap import Hub
from productsync.services.dispatch import Attempt, Claimed, claim, fan_out, has_work, record_attempt
from productsync.store.uow import UnitOfWork, transaction
from productsync.sync.connectors import Connectors

log = logging.getLogger("productsync.dispatcher")


async def _record(hub: Hub, results: list[tuple[Claimed, Attempt]]) -> None:
    """All of a round's outcomes in one transaction (one commit, not one per delivery)."""

    async def write(uow: UnitOfWork) -> None:
        for claimed, attempt in results:
            await record_attempt(uow, claimed, attempt)

    await transaction(hub.db, write)


async def dispatch_once(
    hub: Hub, client: httpx.AsyncClient, *, batch: int = 200, connectors: Connectors | None = None
) -> int:
    """One round; returns how many deliveries were attempted (0: nothing was due).
    Pass ``connectors`` to keep broker connections across rounds (``run`` does)."""
    if not await transaction(hub.db, has_work, readonly=True):
        return 0
    await transaction(hub.db, fan_out)
    lease = timedelta(seconds=hub.settings.dispatcher_lease_seconds)
    claimed = await transaction(hub.db, lambda uow: claim(uow, limit=batch, lease=lease))
    if claimed:
        own = connectors is None
        senders = connectors or Connectors(client, hub.settings)
        try:
            attempts = await asyncio.gather(*(senders.send(c) for c in claimed))
        finally:
            if own:
                await senders.aclose()
        await _record(hub, list(zip(claimed, attempts, strict=True)))
        log.debug("attempted %d deliveries", len(claimed))
    return len(claimed)


async def run(hub: Hub, *, idle_seconds: float = 0.2, stop: asyncio.Event | None = None) -> None:
    """Until cancelled (or ``stop`` is set): dispatch, and nap only when there was nothing to do."""
    async with httpx.AsyncClient(follow_redirects=False) as client:
        connectors = Connectors(client, hub.settings)
        try:
            while stop is None or not stop.is_set():
                try:
                    done = await dispatch_once(hub, client, connectors=connectors)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a bad round must not stop deliveries for good
                    log.exception("dispatch round failed; retrying")
                    done = 0
                if not done:
                    await asyncio.sleep(idle_seconds)
        finally:
            await connectors.aclose()
