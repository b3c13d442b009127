"""Server-sent events: the change stream, live, for SSE channels and dashboards."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from productsync.api.deps import ActorDep, HubDep, authenticate_token, bearer_token
from productsync.api.problems import ApiProblem
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.bootstrap import Hub
from productsync.domain.access import Actor, Scope
from productsync.domain.errors import DomainError
from productsync.services import logs
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["events"])

KEEPALIVE_SECONDS = 15.0  # a comment line so proxies keep the connection open
RECHECK_FLOOR_SECONDS = 1.0  # the key is looked at again at least this often, at most every cache TTL



def _position(last_event_id: str | None, after: str | None) -> int | None:
    raw = last_event_id if last_event_id not in (None, "") else after
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ApiProblem(400, "invalid-cursor", "Last-Event-ID / after must be an id this stream sent")
    return int(raw)


def _frame(seq: int, event: dict[str, Any]) -> str:
    return f"id: {seq}\nevent: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


async def _read(
    hub: Hub, actor: Actor, channel_id: uuid.UUID | None, cursor: int
) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
    """Events after ``cursor``, in a read-only transaction (sequencing is the
    dispatcher's job, or the event watcher's: never a write per poll)."""

    async def read(uow: UnitOfWork) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
        if channel_id is not None:
            return await logs.channel_events(uow, actor, channel_id, after=cursor)
        rows = await logs.list_events(uow, actor, after=cursor, limit=200)
        return (rows[-1][0] if rows else cursor), rows

    return await transaction(hub.db, read, readonly=True)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An endless event stream"}},
)
async def stream(
    request: Request,
    hub: HubDep,
    actor: ActorDep,
    channel_id: uuid.UUID | None = None,
    after: Annotated[str | None, Query(max_length=18)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=18)] = None,
) -> StreamingResponse:
    """Change events as `text/event-stream`, in commit order: `id` is the event's place in
    the stream, `event` its type, `data` the CloudEvent. Reconnect with `Last-Event-ID`
    (or `?after=`) to resume with nothing missed; without either the stream starts now.
    With `channel_id` (channels:admin) it carries exactly what that channel routes;
    otherwise every event the key may read. The key is checked again while the stream is
    open (every `PRODUCTSYNC_AUTH_CACHE_SECONDS`, at least every second): a revoked key's
    stream ends. An idle stream sleeps until events are sequenced; it costs no queries."""
    scope = Scope.CHANNELS_ADMIN if channel_id else Scope.CATALOG_READ
    actor.require(scope)
    start = _position(last_event_id, after)
    if start is None:
        start = await transaction(hub.db, logs.latest_seq, readonly=True)
    # Validate the channel (and the caller's right to it) before the 200 goes out.
    looked = hub.events.published
    first = await _read(hub, actor, channel_id, start)
    token = bearer_token(request.headers.get("authorization"))
    recheck_every = max(hub.settings.auth_cache_seconds, RECHECK_FLOOR_SECONDS)

    async def still_allowed() -> Actor | None:
        """The key again (revoked keys end the stream), through the same cache as requests."""
        fresh = await authenticate_token(request.app.state, token) if token else None
        return fresh if fresh is not None and fresh.has(scope) else None

    async def frames() -> AsyncIterator[str]:
        reader, seen = actor, looked
        cursor, batch = first
        beat = checked = time.monotonic()
        yield ": productsync stream\n\n"
        while True:
            for seq, event in batch:
                yield _frame(seq, event)
            now = time.monotonic()
            if batch:
                beat = now
            elif now - beat > KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                beat = now
            if await request.is_disconnected():
                return
            if now - checked >= recheck_every:
                checked = now
                fresh = await still_allowed()
                if fresh is None:
                    yield ": the API key was revoked or lost its scope; the stream ends\n\n"
                    return
                reader = fresh
            if not batch:  # caught up: sleep until events are sequenced (or a timer is due)
                wake_in = min(KEEPALIVE_SECONDS - (now - beat), recheck_every - (now - checked))
                await hub.events.wait_past(max(cursor, seen), max(0.05, wake_in))
            seen = hub.events.published
            try:
                cursor, batch = await _read(hub, reader, channel_id, cursor)
            except DomainError:  # the channel went away, or the key lost access to it
                yield ": the stream's channel is no longer readable; the stream ends\n\n"
                return

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
