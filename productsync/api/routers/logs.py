"""Health, audit log and the change-event stream."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.exc import SQLAlchemyError

from productsync import __version__
from productsync.api.deps import ActorDep, HubDep
from productsync.api.problems import ApiProblem
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.logs import AuditOut, AuditPage, EventPage
from productsync.services import logs
from productsync.store.uow import transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


@router.get("/health", tags=["health"])
async def health(hub: HubDep) -> dict[str, Any]:
    """Liveness and database reachability; needs no key."""
    try:
        await transaction(hub.db, lambda uow: uow.ping(), readonly=True)
        database = "ok"
    except (SQLAlchemyError, OSError):
        database = "unreachable"
    return {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "backend": hub.db.dialect,
        "version": __version__,
    }


@router.get("/audit", response_model=AuditPage, tags=["audit"])
async def list_audit(
    hub: HubDep,
    actor: ActorDep,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    after = _int_cursor(cursor)
    rows = await transaction(
        hub.db,
        lambda uow: logs.list_audit(
            uow,
            actor,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            after_id=after,
            limit=limit,
        ),
        readonly=True,
    )
    items = [AuditOut.model_validate(r, from_attributes=True) for r in rows]
    return AuditPage(items=items, next_cursor=str(rows[-1].id) if len(rows) == limit else None)


@router.get("/events", response_model=EventPage, tags=["events"])
async def list_events(
    hub: HubDep,
    actor: ActorDep,
    after: Annotated[
        str | None, Query(description="Cursor from a previous page; omit to start at the beginning.")
    ] = None,
    type: Annotated[list[str] | None, Query(description="Only these event types.")] = None,  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """CloudEvents in commit order. Poll with the returned cursor to follow the hub."""
    start = _int_cursor(after)

    # A read first: the write transaction (SQLite's single writer) only when events wait.
    if await transaction(hub.db, logs.events_waiting, readonly=True):
        await transaction(hub.db, logs.sequence_events)
    rows = await transaction(
        hub.db, lambda uow: logs.list_events(uow, actor, after=start, limit=limit, types=type), readonly=True
    )
    return EventPage(items=[e for _, e in rows], next_cursor=str(rows[-1][0] if rows else start))


def _int_cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit() or len(cursor) > 18:
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out")
    return int(cursor)
