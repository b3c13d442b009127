"""Scheduled jobs (file feeds, pull feeds, reconciliations) and their runs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from productsync.api.deps import ActorDep, HubDep
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.schedules import FeedRunOut, FeedRunPage, RunNowIn, ScheduleOut, SchedulePage
from productsync.services import schedules
from productsync.store.uow import UnitOfWork, transaction
from productsync.sync.scheduler import Scheduler

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["schedules"])

_TASKS: set[asyncio.Task[Any]] = set()  # runs started here, kept until they end


@router.get("/schedules", response_model=SchedulePage)
async def list_schedules(hub: HubDep, actor: ActorDep) -> dict[str, Any]:
    """Every scheduled job (admin), or those of the caller's channels (`channels:admin`):
    interval, next run, last run and its status, and who holds it while it runs."""
    scheduler = Scheduler(hub)
    await scheduler.sync()  # a channel edited a moment ago shows its job already
    rows = await transaction(hub.db, lambda uow: schedules.list_schedules(uow, actor), readonly=True)
    return {"items": [ScheduleOut.of(s).model_dump(mode="json") for s in rows]}


@router.get("/channels/{channel_id}/feed-runs", response_model=FeedRunPage)
async def list_feed_runs(
    channel_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The channel's recent job runs, newest first: counts, rows not taken (line and
    reason) and the error of a failed run."""

    async def read(uow: UnitOfWork) -> list[Any]:
        return await schedules.list_runs(uow, actor, channel_id, limit=limit)

    rows = await transaction(hub.db, read, readonly=True)
    return {"items": [FeedRunOut.of(r).model_dump(mode="json") for r in rows]}


@router.post(
    "/channels/{channel_id}/feed-runs",
    status_code=202,
    response_model=FeedRunOut,
    responses={200: {"model": FeedRunOut, "description": "Finished (wait=true)"}},
)
async def run_now(
    channel_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    body: RunNowIn | None = None,
    wait: Annotated[bool, Query(description="Answer when the run has finished.")] = False,
) -> JSONResponse:
    """Run the channel's job now (its file feed, pull feed or reconciliation; name `kind`
    when it has several). 202 with the run; 409 while it is running elsewhere."""
    claimed, task = await Scheduler(hub).run_now(actor, channel_id, body.kind if body else None)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    if wait:
        await asyncio.shield(task)
    run = await transaction(hub.db, lambda uow: uow.schedules.get_run(claimed.run_id), readonly=True)
    assert run is not None
    return JSONResponse(
        FeedRunOut.of(run).model_dump(mode="json"),
        status_code=200 if wait else 202,
        headers={"Location": f"/v1/channels/{channel_id}/feed-runs"},
    )
