"""The baseline: a bare FastAPI endpoint doing one single-row UPDATE per request,
on the same engine setup productsync uses (same driver, pool, SQLite pragmas and
writer lock), so the ratio isolates what productsync adds per adjustment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from productsync.config import Settings
from productsync.store.database import create_database

ROWS = 1000


class Bump(BaseModel):
    id: int
    delta: int = 1


async def prepare(url: str) -> None:
    """Create the counter table once, before the (possibly several) server processes start."""
    db = create_database(url)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS bench_counter"))
        await conn.execute(text("CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)"))
        await conn.execute(
            text("INSERT INTO bench_counter (id, n) VALUES (:id, 0)"), [{"id": i} for i in range(ROWS)]
        )
    await db.dispose()


def factory() -> FastAPI:
    # The hub's pool setting (PRODUCTSYNC_DB_POOL_SIZE or its default): same engine setup.
    db = create_database(os.environ["BASELINE_DATABASE_URL"], pool_size=Settings().db_pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await db.dispose()

    app = FastAPI(lifespan=lifespan)
    stmt = text("UPDATE bench_counter SET n = n + :d WHERE id = :id")

    @app.post("/bump")
    async def bump(body: Bump) -> dict[str, int]:
        lock = db.write_lock()
        if lock is not None:
            await lock.acquire()
        try:
            async with db.engine.begin() as conn:
                await conn.execute(stmt, {"d": body.delta, "id": body.id})
        finally:
            if lock is not None:
                lock.release()
        return {"id": body.id}

    return app
