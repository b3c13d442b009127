"""Housekeeping use cases that keep the hub's own tables bounded."""

from __future__ import annotations

from datetime import timedelta

from productsync.store.uow import UnitOfWork


async def purge_idempotency_records(uow: UnitOfWork, ttl: timedelta) -> int:
    """Replies older than the TTL can no longer be replayed (lookups already ignore
    them); deleting them keeps the table from growing without bound."""
    return await uow.idempotency.purge_before(uow.now - ttl)
