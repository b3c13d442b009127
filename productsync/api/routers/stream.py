"""Server-sent events: the change stream, live, for SSE channels and dashboards."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from productsync.api.deps import ActorDep, HubDep
from productsync.api.problems import ApiProblem
from productsync.api.schemas import PROBLEM_RESPONSES
from productsync.bootstrap import Hub
from productsync.domain.access import Actor, Scope
from productsync.services import logs
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["events"])

POLL_SECONDS = 0.1  # how often an idle stream looks for new events
KEEPALIVE_SECONDS = 15.0  # a comment line so proxies keep the connection open


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
    if await transaction(hub.db, logs.events_waiting, readonly=True):
        await transaction(hub.db, logs.sequence_events)

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
    otherwise every event the key may read."""
    actor.require(Scope.CHANNELS_ADMIN if channel_id else Scope.CATALOG_READ)
    start = _position(last_event_id, after)
    if start is None:
        start = await transaction(hub.db, logs.latest_seq, readonly=True)
    # Validate the channel (and the caller's right to it) before the 200 goes out.
    first = await _read(hub, actor, channel_id, start)

    async def frames() -> AsyncIterator[str]:
        cursor, batch = first
        beat = time.monotonic()
        yield ": productsync stream\n\n"
        while True:
            for seq, event in batch:
                yield _frame(seq, event)
            if batch:
                beat = time.monotonic()
            elif time.monotonic() - beat > KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                beat = time.monotonic()
            if await request.is_disconnected():
                return
            moved, batch = await _read(hub, actor, channel_id, cursor)
            if moved == cursor:
                await asyncio.sleep(POLL_SECONDS)
            cursor = moved

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
