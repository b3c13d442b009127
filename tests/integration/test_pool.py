"""The connection pool under steady load: connections are opened once and reused.

An overflow connection is opened for one checkout and closed at check-in whenever the
pool is full, so a load just above the pool size used to open and close connections
all the time (23-69 new PostgreSQL connections per 20 s at 32 clients against 10 + 10).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, text

from productsync.config import Settings
from productsync.store.database import Database, create_database
from productsync.store.uow import UnitOfWork, transaction

# What one API process has in flight with 32 clients over two processes, plus its
# background jobs.
LOAD = 20


async def _waves(db: Database, concurrency: int, waves: int) -> list[int]:
    """Connections opened during each wave of ``concurrency`` overlapping transactions."""
    opened = 0

    def count(*_: Any) -> None:
        nonlocal opened
        opened += 1

    event.listen(db.engine.sync_engine, "connect", count)

    async def one(uow: UnitOfWork) -> None:
        await uow.stock.conn.execute(text("SELECT 1"))
        await asyncio.sleep(0.02)  # all of the wave's transactions hold a connection at once

    per_wave = []
    try:
        for _ in range(waves):
            before = opened
            await asyncio.gather(*(transaction(db, one, readonly=True) for _ in range(concurrency)))
            per_wave.append(opened - before)
    finally:
        event.remove(db.engine.sync_engine, "connect", count)
    return per_wave


async def test_a_steady_load_reuses_the_connections_it_opened(database_url: str) -> None:
    db = create_database(database_url, pool_size=Settings().db_pool_size)
    try:
        first, *later = await _waves(db, LOAD, waves=4)
    finally:
        await db.dispose()
    assert 0 < first <= LOAD
    assert later == [0, 0, 0]  # with 10 + 10 overflow: 10 opened and closed per wave


async def test_a_load_beyond_the_pool_waits_for_a_connection_instead_of_opening_more(
    database_url: str,
) -> None:
    db = create_database(database_url, pool_size=4)
    try:
        per_wave = await _waves(db, 10, waves=3)
    finally:
        await db.dispose()
    assert sum(per_wave) <= 4
    assert per_wave[1:] == [0, 0]
