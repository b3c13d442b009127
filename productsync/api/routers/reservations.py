"""Reservations: hold stock, then commit, release or extend the hold."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from productsync.api.commands import Reply, execute
from productsync.api.deps import ActorDep, HubDep
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.reservations import CommitIn, ExtendIn, ReservationIn, ReservationOut
from productsync.domain.reservations import Reservation
from productsync.services import reservations
from productsync.services.reservations import LineRequest, expired_view
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["reservations"])


def _reply(r: Reservation, status: int = 200) -> Reply:
    return Reply(ReservationOut.model_validate(r).model_dump(mode="json"), status)


@router.post("/reservations", status_code=201, response_model=ReservationOut)
async def reserve(body: ReservationIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    """Hold every line or none: a line that cannot be held makes it a 409 naming the
    short lines and what is available. Idempotent with an `Idempotency-Key`."""
    lines = [
        LineRequest(
            quantity=line.quantity,
            product_id=line.product_id,
            sku=line.sku,
            unit=line.unit,
            location_id=line.location_id,
            partner=line.partner,
        )
        for line in body.lines
    ]

    async def use_case(uow: UnitOfWork) -> Reservation:
        return await reservations.reserve(
            uow,
            actor,
            lines,
            ttl_seconds=body.ttl_seconds,
            channel_id=body.channel_id,
            external_ref=body.external_ref,
        )

    return await execute(request, hub, actor, use_case, lambda r: _reply(r, 201))


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
async def get_reservation(reservation_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> ReservationOut:
    found = await transaction(
        hub.db, lambda uow: reservations.get_reservation(uow, actor, reservation_id), readonly=True
    )
    return ReservationOut.model_validate(expired_view(found, datetime.now(UTC)))


@router.get("/reservations", response_model=list[ReservationOut])
async def find_reservations(
    hub: HubDep, actor: ActorDep, external_ref: Annotated[str, Query(min_length=1, max_length=200)]
) -> list[ReservationOut]:
    """Reservations of the caller with this order/checkout reference, oldest first."""
    found = await transaction(
        hub.db, lambda uow: reservations.find_by_ref(uow, actor, external_ref), readonly=True
    )
    now = datetime.now(UTC)
    return [ReservationOut.model_validate(expired_view(r, now)) for r in found]


def _action(
    request: Request, hub: HubDep, actor: ActorDep, fn: Callable[[UnitOfWork], Awaitable[Reservation]]
) -> Awaitable[Response]:
    return execute(request, hub, actor, fn, _reply)


@router.post("/reservations/{reservation_id}/commit", response_model=ReservationOut)
async def commit(
    reservation_id: uuid.UUID, request: Request, hub: HubDep, actor: ActorDep, body: CommitIn | None = None
) -> Response:
    """The holds become sales. After expiry this is a 409 `reservation-expired`."""
    reason = body.reason if body else None
    return await _action(
        request, hub, actor, lambda uow: reservations.commit(uow, actor, reservation_id, reason=reason)
    )


@router.post("/reservations/{reservation_id}/release", response_model=ReservationOut)
async def release(reservation_id: uuid.UUID, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    """Give the stock back (a released or expired hold answers as it is)."""
    return await _action(request, hub, actor, lambda uow: reservations.release(uow, actor, reservation_id))


@router.post("/reservations/{reservation_id}/extend", response_model=ReservationOut)
async def extend(
    reservation_id: uuid.UUID, body: ExtendIn, request: Request, hub: HubDep, actor: ActorDep
) -> Response:
    """A live hold then lives `ttl_seconds` from now; an expired one is a 409."""
    return await _action(
        request,
        hub,
        actor,
        lambda uow: reservations.extend(uow, actor, reservation_id, ttl_seconds=body.ttl_seconds),
    )
