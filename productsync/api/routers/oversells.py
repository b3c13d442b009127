"""Oversells: channel sales the hub had no stock for, listed for a person to resolve."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from productsync.api.deps import ActorDep, HubDep
from productsync.api.http import decode_cursor, encode_cursor
from productsync.api.problems import ApiProblem
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.oversells import (
    OversellOut,
    OversellPage,
    OversellResolvedOut,
    OversellResolveIn,
)
from productsync.domain.oversells import Oversell, OversellStatus
from productsync.services import oversells
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["stock"])


def _cursor(last: Oversell) -> str:
    """Where the next page starts: the list is ordered by (created_at, id)."""
    return encode_cursor(f"{last.created_at.isoformat()}|{last.id}")


def _after(raw: str | None) -> tuple[datetime, uuid.UUID] | None:
    if raw is None:
        return None
    try:
        at, _, last_id = raw.partition("|")
        after = datetime.fromisoformat(at), uuid.UUID(last_id)
    except ValueError as exc:
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out") from exc
    if after[0].tzinfo is None:
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out")
    return after


@router.get("/oversells", response_model=OversellPage)
async def list_oversells(
    hub: HubDep,
    actor: ActorDep,
    status: OversellStatus | None = OversellStatus.OPEN,
    channel_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OversellPage:
    """Channel sales beyond the stock the hub had (open ones by default), for the products
    your key can read, oldest first. Each names the missing quantity, the channel, the
    order and the sale's ledger row; resolve it with `POST /v1/oversells/{id}/resolve`."""
    after = _after(decode_cursor(cursor))

    async def read(uow: UnitOfWork) -> list[Oversell]:
        return await oversells.list_oversells(
            uow,
            actor,
            status=status,
            channel_id=channel_id,
            product_id=product_id,
            after=after,
            limit=limit,
        )

    rows = await transaction(hub.db, read, readonly=True)
    next_cursor = _cursor(rows[-1]) if len(rows) == limit else None
    return OversellPage(items=[OversellOut.model_validate(o) for o in rows], next_cursor=next_cursor)


@router.get("/oversells/{oversell_id}", response_model=OversellOut)
async def get_oversell(oversell_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> OversellOut:
    found = await transaction(
        hub.db, lambda uow: oversells.get_oversell(uow, actor, oversell_id), readonly=True
    )
    return OversellOut.model_validate(found)


@router.post("/oversells/{oversell_id}/resolve", response_model=OversellResolvedOut)
async def resolve_oversell(
    oversell_id: uuid.UUID, body: OversellResolveIn, hub: HubDep, actor: ActorDep
) -> OversellResolvedOut:
    """Close an open oversell, once (409 `oversell-resolved` after that). `restock`: the
    missing quantity is sold now from the oversell's location (`receive: true` records
    its arrival first, with `lot_number`/`expires_on` for lot-tracked products); 409
    `insufficient-stock` if it is not there. `cancel`: the channel cancelled or refunded
    the missing part; nothing moves. `substitute`: `substitute_product_id` went out
    instead; that much of it is sold there (422 `invalid-unit` unless it is counted in
    the oversold product's base unit). Needs `stock:write` on the product."""
    settlement = oversells.Settlement(
        resolution=body.resolution,
        note=body.note,
        substitute_product_id=body.substitute_product_id,
        receive=body.receive,
        lot_number=body.lot_number,
        expires_on=body.expires_on,
    )

    async def use_case(uow: UnitOfWork) -> oversells.Resolved:
        return await oversells.resolve_oversell(uow, actor, oversell_id, settlement)

    done = await transaction(hub.db, use_case)
    return OversellResolvedOut(
        **OversellOut.model_validate(done.oversell).model_dump(), movement_ids=done.movement_ids
    )
