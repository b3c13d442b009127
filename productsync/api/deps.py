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


async def current_actor(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    token = credentials.credentials
    cache: AuthCache = request.app.state.auth_cache
    digest = hash_key(token)
    actor = cache.get(digest)
    if actor is None:
        hub: Hub = request.app.state.hub

        async def _auth(uow: Any) -> Actor | None:
            return await authenticate(uow, token)

        actor = await transaction(hub.db, _auth, readonly=True)
        if actor is None:
            raise ApiProblem(401, "unauthorized", "the API key is unknown or revoked")
        cache.put(digest, actor)
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


MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64


def _too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Nesting deeper than any real payload: refused before the JSON parser recurses."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class JsonOnlyMiddleware:
    """Bodies of writes must be JSON of sane size and depth: a form body gets 415, an
    oversized one 413, absurd nesting 400, instead of a confusing error or a crash.
    Writes without a body need no content type."""

    _WRITES = {"POST", "PUT", "PATCH"}

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in self._WRITES:
            headers = dict(scope.get("headers", ()))
            ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            if ctype and ctype != "application/json" and not ctype.endswith("+json"):
                from productsync.api.problems import problem

                response = problem(
                    None,
                    415,
                    "unsupported-media-type",
                    "Unsupported media type",
                    f"send the body as application/json, not {ctype}",
                )
                await response(scope, receive, send)
                return
            length = headers.get(b"content-length", b"0")
            body = None
            if length.isdigit() and int(length) <= MAX_BODY_BYTES:
                body = await self._read_body(receive)
            if body is None:
                await self._reject(
                    scope,
                    receive,
                    send,
                    413,
                    "payload-too-large",
                    f"request bodies are limited to {MAX_BODY_BYTES} bytes",
                )
                return
            if _too_deep(body):
                await self._reject(
                    scope,
                    receive,
                    send,
                    400,
                    "malformed-json",
                    f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                )
                return
            receive = self._replay(body, receive)
        await self.app(scope, receive, send)

    @staticmethod
    async def _read_body(receive: Any) -> bytes | None:
        """The whole body, or None once it grows past the limit (chunked uploads too)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    @staticmethod
    def _replay(body: bytes, original: Any) -> Any:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await original())

        return receive

    @staticmethod
    async def _reject(scope: Any, receive: Any, send: Any, status: int, code: str, detail: str) -> None:
        from productsync.api.problems import problem

        await problem(None, status, code, code.replace("-", " ").capitalize(), detail)(scope, receive, send)
