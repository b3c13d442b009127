"""Channels: administration, secret rotation and SKU mappings (`channels:admin` scope)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from productsync.api.commands import Reply, execute
from productsync.api.deps import ActorDep, HubDep
from productsync.api.http import etag, parse_if_match
from productsync.api.schemas.channels import (
    ChannelCreated,
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    MappingOut,
    MappingPage,
    MappingsIn,
    RotateIn,
    RotateOut,
)
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.domain.channels import Channel, NewChannel
from productsync.domain.deliveries import DeliveryStatus
from productsync.services import channels, dispatch
from productsync.services.channels import MappingIn
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["channels"])


def _channel_reply(c: Channel, status: int = 200) -> Reply:
    return Reply(ChannelOut.model_validate(c).model_dump(mode="json"), status, {"ETag": etag(c.version)})


@router.post("/channels", status_code=201, response_model=ChannelCreated)
async def create_channel(body: ChannelIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    """Create a channel. The response carries its signing secret, shown this once."""

    async def use_case(uow: UnitOfWork) -> tuple[Channel, str]:
        return await channels.create_channel(
            uow,
            actor,
            NewChannel(
                name=body.name,
                kind=body.kind,
                owner_partner_id=body.owner_partner_id,
                url=body.url,
                config=body.config,
                partner_ids=tuple(body.partner_ids),
                category_ids=tuple(body.category_ids),
                location_ids=tuple(body.location_ids),
                price_list_id=body.price_list_id,
                locale=body.locale,
                buffer_stock=body.buffer_stock,
                conflict_policy=body.conflict_policy,
            ),
            credentials=body.credentials,
            targets=hub.settings.target_policy(),
        )

    def render(result: tuple[Channel, str]) -> Reply:
        channel, secret = result
        out = ChannelOut.model_validate(channel).model_dump(mode="json")
        return Reply(
            {**out, "secret": secret},
            201,
            {"ETag": etag(channel.version), "Location": f"/v1/channels/{channel.id}"},
            stored_body={**out, "secret": None},
        )

    return await execute(request, hub, actor, use_case, render)


@router.get("/channels", response_model=list[ChannelOut])
async def list_channels(hub: HubDep, actor: ActorDep) -> list[ChannelOut]:
    found = await transaction(hub.db, lambda uow: channels.list_channels(uow, actor), readonly=True)
    return [ChannelOut.model_validate(c) for c in found]


@router.get("/channels/{channel_id}", response_model=ChannelOut)
async def get_channel(channel_id: uuid.UUID, hub: HubDep, actor: ActorDep, response: Response) -> ChannelOut:
    c = await transaction(hub.db, lambda uow: channels.get_channel(uow, actor, channel_id), readonly=True)
    response.headers["ETag"] = etag(c.version)
    return ChannelOut.model_validate(c)


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
async def update_channel(
    channel_id: uuid.UUID,
    body: ChannelPatch,
    request: Request,
    hub: HubDep,
    actor: ActorDep,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    """Edit what the channel sees and how it syncs; `status` pauses or re-enables it."""
    changes = body.model_dump(exclude_unset=True)
    expected = parse_if_match(if_match)

    async def use_case(uow: UnitOfWork) -> Channel:
        return await channels.update_channel(
            uow, actor, channel_id, changes, expected_version=expected, targets=hub.settings.target_policy()
        )

    return await execute(request, hub, actor, use_case, _channel_reply)


@router.post("/channels/{channel_id}/secret/rotate", response_model=RotateOut)
async def rotate_secret(
    channel_id: uuid.UUID, request: Request, hub: HubDep, actor: ActorDep, body: RotateIn | None = None
) -> Response:
    """A new signing secret (shown once); the old one keeps signing during the grace period."""
    grace = timedelta(seconds=(body or RotateIn()).grace_seconds)

    async def use_case(uow: UnitOfWork) -> tuple[Channel, str, datetime | None]:
        return await channels.rotate_secret(uow, actor, channel_id, grace=grace)

    def render(result: tuple[Channel, str, datetime | None]) -> Reply:
        channel, secret, until = result
        out = RotateOut(channel_id=channel.id, secret=secret, previous_valid_until=until).model_dump(
            mode="json"
        )
        return Reply(out, 200, stored_body={**out, "secret": None})

    return await execute(request, hub, actor, use_case, render)


@router.put("/channels/{channel_id}/mappings")
async def upsert_mappings(
    channel_id: uuid.UUID, body: MappingsIn, request: Request, hub: HubDep, actor: ActorDep
) -> Response:
    """Bulk insert-or-replace of the channel's ids for hub products. All or nothing."""
    items = [MappingIn(m.external_id, m.sku, m.product_id, m.external_sku, m.partner) for m in body.mappings]

    async def use_case(uow: UnitOfWork) -> int:
        return await channels.upsert_mappings(uow, actor, channel_id, items)

    return await execute(request, hub, actor, use_case, lambda n: Reply({"upserted": n}))


@router.get("/channels/{channel_id}/mappings", response_model=MappingPage)
async def list_mappings(
    channel_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> MappingPage:
    async def read(uow: UnitOfWork) -> list[MappingOut]:
        channel = await channels.get_channel(uow, actor, channel_id)
        rows = await uow.mappings.find(channel.id, after=cursor or "", limit=limit)
        return [
            MappingOut(
                external_id=r.external_id, product_id=r.product_id, sku=r.sku, external_sku=r.external_sku
            )
            for r in rows
        ]

    items = await transaction(hub.db, read, readonly=True)
    return MappingPage(items=items, next_cursor=items[-1].external_id if len(items) == limit else None)


@router.delete("/channels/{channel_id}/mappings/{external_id:path}", status_code=204)
async def remove_mapping(channel_id: uuid.UUID, external_id: str, hub: HubDep, actor: ActorDep) -> Response:
    await transaction(hub.db, lambda uow: channels.remove_mapping(uow, actor, channel_id, external_id))
    return Response(status_code=204)


@router.get("/channels/{channel_id}/deliveries")
async def list_deliveries(
    channel_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    status: Annotated[
        DeliveryStatus | None, Query(description="e.g. `dead` for the dead-letter list")
    ] = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, object]:
    rows = await transaction(
        hub.db,
        lambda uow: dispatch.list_deliveries(
            uow, actor, channel_id, status=status.value if status else None, after_id=after, limit=limit
        ),
        readonly=True,
    )
    items = [
        {
            "id": r.id,
            "event_id": str(r.event_id),
            "event_seq": r.event_seq,
            "status": r.status,
            "attempts": r.attempts,
            "next_attempt_at": r.next_attempt_at.isoformat(),
            "last_error": r.last_error,
            "last_status_code": r.last_status_code,
            "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None,
            "latency_ms": r.latency_ms,
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.post("/deliveries/{delivery_id}/replay")
async def replay_delivery(
    delivery_id: Annotated[int, Path(ge=1, le=2**62)], request: Request, hub: HubDep, actor: ActorDep
) -> Response:
    """Queue a dead delivery again (the event carries the full state, so a late copy is safe)."""

    async def use_case(uow: UnitOfWork) -> int:
        return await dispatch.replay_delivery(uow, actor, delivery_id)

    return await execute(request, hub, actor, use_case, lambda n: Reply({"requeued": n}))


@router.post("/channels/{channel_id}/deliveries/replay")
async def replay_dead(channel_id: uuid.UUID, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    """Queue every dead delivery of the channel again."""

    async def use_case(uow: UnitOfWork) -> int:
        return await dispatch.replay_dead(uow, actor, channel_id)

    return await execute(request, hub, actor, use_case, lambda n: Reply({"requeued": n}))


@router.get("/channels/{channel_id}/status")
async def channel_status(channel_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> dict[str, object]:
    """Is the channel keeping up? Queue sizes, lag, deliveries/s, latency p50/p99 (last 5 min)."""
    h = await transaction(hub.db, lambda uow: dispatch.channel_health(uow, actor, channel_id), readonly=True)
    c = h.channel
    return {
        "channel_id": str(c.id),
        "status": c.status.value,
        "last_success_at": c.last_success_at.isoformat() if c.last_success_at else None,
        "failing_since": c.failing_since.isoformat() if c.failing_since else None,
        "pending": h.pending,
        "retrying": h.retrying,
        "in_flight": h.in_flight,
        "delivered": h.delivered,
        "superseded": h.superseded,
        "dead": h.dead,
        "lag_seconds": round(h.lag_seconds, 3),
        "deliveries_per_second": round(h.deliveries_per_second, 3),
        "latency_p50_ms": h.latency_p50_ms,
        "latency_p99_ms": h.latency_p99_ms,
    }
