"""Changes coming back from channels, and the review queue for the ones a person decides."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from productsync.api.deps import ActorDep, HubDep
from productsync.api.http import decode_cursor, encode_cursor
from productsync.api.problems import ApiProblem, problem
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.inbound import ConflictOut, ConflictPage, InboundIn, InboundOut, ResolveIn
from productsync.domain.errors import CompareFailed, ErrorCode, PreconditionFailed
from productsync.domain.instants import to_utc
from productsync.services import inbound, review
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["inbound"])

# A decision is made under row locks; if a write still finds its row moved (a tripwire
# for code paths without the lock), the whole use case runs again on fresh values.
RACE_RETRIES = 5


@router.post(
    "/channels/{channel_id}/inbound",
    response_model=InboundOut,
    responses={202: {"model": InboundOut, "description": "Queued for review"}},
)
async def receive_change(
    channel_id: uuid.UUID,
    body: InboundIn,
    request: Request,
    hub: HubDep,
    actor: ActorDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> JSONResponse:
    """One change from a channel: a sale or return (stock delta), a restock, a stock count,
    a price or a content edit. Decided by the channel's conflict policy; taken once per
    event id (a repeat gets the first answer). Answers: 200 applied or kept_hub (the
    channel then gets the hub's value pushed), 202 queued for review, 409 rejected as stale.
    A sale is never refused for want of stock: it is recorded for what the hub has and
    the rest is an open oversell (`oversold`, `oversell_id` in the answer; `GET /v1/oversells`)."""
    event_id = body.event_id or idempotency_key
    if not event_id:
        raise ApiProblem(422, "event-id-required", "give event_id in the body or an Idempotency-Key header")
    change = inbound.InboundChange(
        event_id=event_id,
        type=body.type,
        changed_at=to_utc(body.changed_at, field="changed_at") if body.changed_at else datetime.now(UTC),
        external_id=body.external_id,
        external_sku=body.external_sku,
        alias=body.alias,
        sku=body.sku,
        partner=body.partner,
        product_id=body.product_id,
        location_id=body.location_id,
        quantity=body.quantity,
        price=str(body.price) if body.price is not None else None,
        fields=body.fields,
        based_on_version=body.based_on_version,
        based_on_quantity=body.based_on_quantity,
        reason=body.reason,
        order_ref=body.order_ref,
    )

    async def use_case(uow: UnitOfWork) -> inbound.InboundResult:
        return await inbound.receive(uow, actor, channel_id, change)

    for attempt in range(RACE_RETRIES):
        try:
            result = await transaction(hub.db, use_case)
            break
        except (CompareFailed, PreconditionFailed):
            if attempt == RACE_RETRIES - 1:
                raise
    if result.status_code == 409:
        return problem(
            request,
            409,
            ErrorCode.STALE_CHANGE.value,
            "Stale change",
            f"the change was based on version {body.based_on_version}; the hub is at "
            f"{result.body.get('hub_version')}",
            **{k: v for k, v in result.body.items() if k != "reason"},
            decision=result.body.get("reason"),
        )
    return JSONResponse(result.body, status_code=result.status_code)


def _conflict(row: dict[str, Any]) -> dict[str, Any]:
    return ConflictOut.model_validate(row).model_dump(mode="json")


@router.get("/conflicts", response_model=ConflictPage)
async def list_conflicts(
    hub: HubDep,
    actor: ActorDep,
    status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = "open",
    channel_id: uuid.UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Inbound changes waiting for a person (channels with the manual_review policy, and
    unmapped external ids on channels that park them)."""
    after_raw = decode_cursor(cursor)
    try:
        after = uuid.UUID(after_raw) if after_raw else None
    except ValueError as exc:
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out") from exc

    async def read(uow: UnitOfWork) -> list[dict[str, Any]]:
        return await review.list_conflicts(
            uow, actor, status=status, channel_id=channel_id, after=after, limit=limit
        )

    rows = await transaction(hub.db, read, readonly=True)
    next_cursor = encode_cursor(str(rows[-1]["id"])) if len(rows) == limit else None
    return {"items": [_conflict(r) for r in rows], "next_cursor": next_cursor}


@router.post("/conflicts/{conflict_id}/resolve", response_model=ConflictOut)
async def resolve_conflict(
    conflict_id: uuid.UUID, body: ResolveIn, hub: HubDep, actor: ActorDep
) -> dict[str, Any]:
    """keep_hub (the channel is corrected), take_channel (apply the change as sent) or
    custom (write `value`: the stock level, the price, or the fields)."""

    async def use_case(uow: UnitOfWork) -> dict[str, Any]:
        return await review.resolve_conflict(
            uow, actor, conflict_id, body.resolution, value=body.value, product_id=body.product_id
        )

    return _conflict(await transaction(hub.db, use_case))
