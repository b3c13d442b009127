"""Request dependencies: the hub, the authenticated actor, request ids."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from productsync.api.problems import ApiProblem
from productsync.bootstrap import Hub
from productsync.domain.access import Actor
from productsync.domain.keys import hash_key, looks_like_key
from productsync.services.access import authenticate
from productsync.store.uow import transaction

_bearer = HTTPBearer(auto_error=False, description="An API key created with `productsync keys create`.")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


async def get_hub(request: Request) -> Hub:
    """Async on purpose: FastAPI runs plain ``def`` dependencies in a thread pool."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


MISS_SECONDS = 5.0  # how long an unknown key stays unknown to this process
MAX_MISSES = 10_000  # remembered unknown keys (oldest forgotten first)
LOOKUPS_AT_ONCE = 4  # key lookups in flight per process: the rest of the pool stays for work


class AuthCache:
    """Authenticated keys by hash for a few seconds, so the hot path skips a lookup.
    Revocation reaches other processes within the TTL.

    Made-up keys must not cost a database connection each (the pool is small and has no
    overflow; a flood of ``Bearer x`` writes would otherwise starve real requests): a
    token that cannot be a key is refused before any lookup (``authenticate_token``); a
    well-formed unknown one is remembered as a miss for ``miss_ttl`` (bounded, oldest
    evicted), concurrent lookups of one key share a single query, and at most
    ``LOOKUPS_AT_ONCE`` lookups hold a connection at a time. Only misses are remembered
    negatively, so revocation is unaffected; a key created after being tried works
    within ``miss_ttl``."""

    def __init__(
        self,
        ttl: float,
        *,
        miss_ttl: float | None = None,
        max_misses: int = MAX_MISSES,
        lookups_at_once: int = LOOKUPS_AT_ONCE,
    ) -> None:
        self.ttl = ttl
        self.miss_ttl = min(ttl, MISS_SECONDS) if miss_ttl is None else miss_ttl
        self._entries: dict[str, tuple[float, Actor]] = {}
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._max_misses = max_misses
        self._lookups_at_once = lookups_at_once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate = asyncio.Semaphore(lookups_at_once)
        self._pending: dict[str, asyncio.Task[Actor | None]] = {}

    def get(self, digest: str) -> Actor | None:
        hit = self._entries.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, digest: str, actor: Actor) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, actor)
        self._misses.pop(digest, None)

    def missed(self, digest: str) -> bool:
        """Whether ``digest`` was looked up and not found less than ``miss_ttl`` ago."""
        until = self._misses.get(digest)
        if until is None:
            return False
        if until < time.monotonic():
            del self._misses[digest]
            return False
        return True

    def miss(self, digest: str) -> None:
        if self.miss_ttl <= 0:
            return
        self._misses[digest] = time.monotonic() + self.miss_ttl
        self._misses.move_to_end(digest)
        while len(self._misses) > self._max_misses:
            self._misses.popitem(last=False)

    def clear(self) -> None:
        """Forget authenticated keys (their readable partners changed); misses stay."""
        self._entries.clear()

    async def lookup(self, digest: str, find: Callable[[], Awaitable[Actor | None]]) -> Actor | None:
        """``find()`` once for however many requests ask about ``digest`` at the same
        time, through the gate; the answer is cached (a miss negatively)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # asyncio primitives belong to one loop (test apps move)
            self._loop, self._gate, self._pending = loop, asyncio.Semaphore(self._lookups_at_once), {}
        task = self._pending.get(digest)
        if task is None:
            task = self._pending[digest] = loop.create_task(self._find(digest, find))
            task.add_done_callback(lambda done: self._settled(digest, done))
        # One caller going away (a client disconnecting) does not cancel the others' answer.
        return await asyncio.shield(task)

    def _settled(self, digest: str, task: asyncio.Task[Actor | None]) -> None:
        if self._pending.get(digest) is task:  # the next ask looks up anew (or hits the cache)
            del self._pending[digest]

    async def _find(self, digest: str, find: Callable[[], Awaitable[Actor | None]]) -> Actor | None:
        async with self._gate:
            actor = await find()
        if actor is None:
            self.miss(digest)
        else:
            self.put(digest, actor)
        return actor


def bearer_token(authorization: bytes | str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header value, or None."""
    if authorization is None:
        return None
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate_token(state: Any, token: str) -> Actor | None:
    """The actor behind ``token``: from the cache while fresh, else looked up (and cached).
    ``state`` is the application's state (``hub`` and ``auth_cache``). What cannot be a
    key, and a key found unknown moments ago, is refused without touching the database."""
    if not looks_like_key(token):
        return None
    cache: AuthCache = state.auth_cache
    digest = hash_key(token)
    actor = cache.get(digest)
    if actor is not None:
        return actor
    if cache.missed(digest):
        return None
    hub: Hub = state.hub

    async def _auth(uow: Any) -> Actor | None:
        return await authenticate(uow, token)

    return await cache.lookup(digest, lambda: transaction(hub.db, _auth, readonly=True))


async def current_actor(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Actor:
    """The caller. Writes were already authenticated by the body guard (before their body
    was read); reads are authenticated here."""
    early: Actor | None = getattr(request.state, "actor", None)
    if early is not None:
        return early
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    actor = await authenticate_token(request.app.state, credentials.credentials)
    if actor is None:
        raise ApiProblem(401, "unauthorized", "the API key is unknown or revoked")
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead): takes a sane ``X-Request-ID`` or makes one,
    and returns it on the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID_RE.match(candidate):
                    rid = candidate
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def _send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        await self.app(scope, receive, _send)


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)
