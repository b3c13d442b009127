"""Channel reconciliation: compare what a channel holds with what the hub says it should
hold, per SKU, and keep the consistency rate as history (`channels:admin` on the
channel's owner)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from productsync.api.deps import ActorDep, HubDep
from productsync.api.http import decode_cursor, encode_cursor
from productsync.api.problems import ApiProblem
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.reconciliations import (
    ConsistencyOut,
    ConsistencyPoint,
    FindingOut,
    RunListOut,
    RunOut,
    RunReportOut,
)
from productsync.services import reconciliation as service
from productsync.store.uow import transaction
from productsync.sync import reconcile

router = APIRouter(prefix="/v1", responses={**PROBLEM_RESPONSES}, tags=["reconciliation"])
FIRST_PAGE = 100


@router.post(
    "/channels/{channel_id}/reconciliations",
    status_code=202,
    response_model=RunOut,
    responses={200: {"model": RunOut, "description": "With `wait=true`: the finished run"}},
)
async def start_reconciliation(
    channel_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    response: Response,
    wait: Annotated[bool, Query(description="Run now and answer with the finished run")] = False,
) -> RunOut:
    """Read what the channel holds (its storefront's API, its pull feed, or the
    `config.state_url` of a webhook channel), compare it with the channel's slice (its
    available-to-sell, price and texts) and store the report: missing, extra, wrong_stock,
    wrong_price, wrong_text per SKU. With `config.reconcile_repair: push` the hub's state
    of every drifted SKU is sent to the channel. Answers 202 with the running run (poll
    its URL); a channel that cannot be read ends as a `failed` run with the reason."""
    run, plan = await reconcile.start(hub, actor, channel_id, trigger=service.ON_DEMAND)
    response.headers["Location"] = f"/v1/channels/{channel_id}/reconciliations/{run.id}"
    if wait:
        summary = await reconcile.run_started(hub, actor, run, plan)
        done = await transaction(hub.db, lambda uow: uow.reconciliations.get(summary.run_id), readonly=True)
        assert done is not None
        response.status_code = 200
        return RunOut.of(done)
    reconcile.run_in_background(hub, actor, run, plan)
    return RunOut.of(run)


@router.get("/channels/{channel_id}/reconciliations", response_model=RunListOut)
async def list_reconciliations(
    channel_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    before: Annotated[
        AwareDatetime | None, Query(description="Only runs started before this instant (with offset)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = FIRST_PAGE,
) -> RunListOut:
    """The channel's runs, newest first."""
    runs = await transaction(
        hub.db,
        lambda uow: service.list_runs(uow, actor, channel_id, before=before, limit=limit),
        readonly=True,
    )
    return RunListOut(runs=[RunOut.of(r) for r in runs])


def _after(cursor: str | None) -> int:
    value = decode_cursor(cursor)
    if value is None:
        return 0
    if not value.isdigit():
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out")
    return int(value)


@router.get("/channels/{channel_id}/reconciliations/{run_id}", response_model=RunReportOut)
async def get_reconciliation(
    channel_id: uuid.UUID,
    run_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    kind: Annotated[str | None, Query(max_length=20, description="Only findings of this kind")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = FIRST_PAGE,
) -> RunReportOut:
    """A run and one page of its findings, optionally of one kind."""
    after = _after(cursor)
    page = await transaction(
        hub.db,
        lambda uow: service.read_run(uow, actor, channel_id, run_id, kind=kind, after=after, limit=limit),
        readonly=True,
    )
    return RunReportOut(
        **RunOut.of(page.run).model_dump(),
        findings=[FindingOut.of(f) for f in page.findings],
        next_cursor=encode_cursor(str(page.next_after)) if page.next_after is not None else None,
    )


@router.get("/channels/{channel_id}/consistency", response_model=ConsistencyOut)
async def consistency(
    channel_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = FIRST_PAGE,
) -> ConsistencyOut:
    """The channel's consistency history: one point per successful run (time, rate,
    expected and matching SKUs, findings per kind), newest first."""
    runs = await transaction(
        hub.db, lambda uow: service.list_runs(uow, actor, channel_id, limit=limit), readonly=True
    )
    points = [ConsistencyPoint(**service.history_point(r)) for r in runs if r.status == "succeeded"]
    return ConsistencyOut(
        channel_id=channel_id,
        current=points[0].consistency_rate if points else None,
        history=points,
    )
