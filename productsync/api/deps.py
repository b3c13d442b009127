"""Request dependencies: the hub, the authenticated actor, request ids."""

from __future__ import annotations

import re
import time
import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from productsync.api.problems import ApiProblem
from productsync.bootstrap import Hub
from productsync.domain.access import Actor
from productsync.domain.keys import hash_key
from productsync.services.access import authenticate
from productsync.store.uow import transaction

_bearer = HTTPBearer(auto_error=False, description="An API key created with `productsync keys create`.")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


async def get_hub(request: Request) -> Hub:
    """Async on purpose: FastAPI runs plain ``def`` dependencies in a thread pool."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


class AuthCache:
    """Authenticated keys by hash for a few seconds, so the hot path skips a lookup.
    Only successes are cached; revocation reaches other processes within the TTL."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Actor]] = {}

    def get(self, digest: str) -> Actor | None:
        hit = self._entries.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, digest: str, actor: Actor) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, actor)

    def clear(self) -> None:
        self._entries.clear()


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
    ``state`` is the application's state (``hub`` and ``auth_cache``)."""
    cache: AuthCache = state.auth_cache
    digest = hash_key(token)
    actor = cache.get(digest)
    if actor is None:
        hub: Hub = state.hub

        async def _auth(uow: Any) -> Actor | None:
            return await authenticate(uow, token)

        actor = await transaction(hub.db, _auth, readonly=True)
        if actor is not None:
            cache.put(digest, actor)
    return actor


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
