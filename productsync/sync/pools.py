"""One HTTP client (connection pool) per origin, thrown away when its origin fails.

A receiver that restarts leaves its keep-alive connections dead in the pool; a failover
moves its name to another address. After a transport failure the connector therefore
retires that origin's client: new requests get a fresh one (new connections, a new
address lookup), and the old one is closed once the requests still using it are done.
Other origins keep their warm connections: one dead receiver never resets everyone's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar
from urllib.parse import urlsplit

C = TypeVar("C")


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"


class Lease(Generic[C]):
    """A client lent out for one request (or one delivery's requests)."""

    def __init__(self, client: C) -> None:
        self.client = client
        self.users = 0
        self.retired = False


class OriginPools(Generic[C]):
    def __init__(self, make: Callable[[], C], close: Callable[[C], Awaitable[None]]) -> None:
        self._make = make
        self._close = close
        self._live: dict[str, Lease[C]] = {}
        self.retirements = 0  # how many clients were thrown away after a failure (for tests, logs)

    @contextlib.asynccontextmanager
    async def lease(self, key: str) -> AsyncIterator[Lease[C]]:
        lease = self._live.get(key)
        if lease is None:
            lease = self._live[key] = Lease(self._make())
        lease.users += 1
        try:
            yield lease
        finally:
            lease.users -= 1
            if lease.retired and lease.users == 0:
                with contextlib.suppress(Exception):  # a broken client may fail to close; it is gone anyway
                    await self._close(lease.client)

    def retire(self, key: str, lease: Lease[C]) -> None:
        """``lease``'s client saw a transport failure: nobody new gets it."""
        if not lease.retired:
            lease.retired = True
            self.retirements += 1
        if self._live.get(key) is lease:
            del self._live[key]

    async def forget(self, key: str) -> None:
        """Retire ``key``'s client from outside a lease (closed now if nobody uses it)."""
        lease = self._live.get(key)
        if lease is None:
            return
        self.retire(key, lease)
        if lease.users == 0:
            with contextlib.suppress(Exception):
                await self._close(lease.client)

    async def aclose(self) -> None:
        live, self._live = self._live, {}
        for lease in live.values():
            lease.retired = True
            with contextlib.suppress(Exception):  # closing a broken client may fail; it is gone either way
                await self._close(lease.client)
