"""Engine creation for the two supported databases.

PostgreSQL runs through asyncpg. SQLite runs through aiosqlite in WAL mode, with
write transactions opened by ``BEGIN IMMEDIATE`` (Python's sqlite3 would start
the transaction only at the first write, so a read-then-write could lose an
update) and an in-process lock that queues writers instead of letting them spin
on SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from productsync.store.secrets import SecretBox

_ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``sqlite:///`` URLs and pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use postgresql:// or sqlite:///")
    return parsed.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@dataclass
class Database:
    engine: AsyncEngine
    url: str
    _write_lock: asyncio.Lock | None = field(default=None, repr=False)
    secret_box: SecretBox | None = field(default=None, repr=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def write_lock(self) -> asyncio.Lock | None:
        """SQLite allows one writer; queue ours here rather than in the busy handler."""
        if not self.is_sqlite:
            return None
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


# Connections each process keeps and reuses (Settings.db_pool_size). No overflow: an
# overflow connection is opened for one checkout and closed at check-in whenever the
# pool is full, so a load just above the pool size opened and closed connections all
# the time (23-69 new PostgreSQL connections per 20 s at 32 clients with 10 + 10).
# Beyond the pool a request waits for a connection instead (pool_timeout, 30 s).
DEFAULT_POOL_SIZE = 20


def create_database(url: str, *, pool_size: int = DEFAULT_POOL_SIZE, echo: bool = False) -> Database:
    aurl = async_url(url)
    backend = make_url(aurl).get_backend_name()
    # hide_parameters: a logged error shows the statement, never the values bound to it
    # (they may be customer data or secrets).
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    kwargs.update(pool_size=max(pool_size, 1), max_overflow=0, pool_recycle=-1)
    if backend == "postgresql":
        kwargs.update(pool_pre_ping=False)
    engine = create_async_engine(aurl, **kwargs)
    if backend == "sqlite":
        _configure_sqlite(engine)
    return Database(engine=engine, url=url)
