"""The review queue: inbound changes a person decides (channels with the manual_review
policy, and unmapped external ids on channels that park them).

A queued change is settled once: keep the hub's value (the channel is corrected), take
the channel's change as it was sent, or write a custom value. A custom value is checked
like any client input (a stock level must be a decimal quantity, a price an amount, a
content value an object of fields), so no value a client can send makes it a 5xx.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product
from productsync.domain.channels import Channel
from productsync.domain.conflicts import INBOUND, ChangeKind, HubValue, InboundType, Resolution
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.quantities import to_quantity
from productsync.services.inbound_changes import (
    InboundChange,
    Write,
    as_channel_change,
    channel_actor,
    check_shape,
    correct,
    jsonable,
    read_target,
    write,
)
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork


async def queue(
    uow: UnitOfWork,
    channel: Channel,
    product: Product | None,
    change: InboundChange,
    hub: HubValue | None,
    reason: str,
) -> uuid.UUID:
    """Put a change in front of a person; nothing of it is applied yet."""
    conflict_id = uuid.uuid4()
    await uow.conflicts.add(
        {
            "id": conflict_id,
            "channel_id": channel.id,
            "owner_partner_id": product.owner_partner_id if product else channel.owner_partner_id,
            "product_id": product.id if product else None,
            "kind": change.type.value,
            "change": {**change.payload(), "reason_queued": reason},
            "hub_value": jsonable(hub.value) if hub else None,
            "hub_version": hub.version if hub else 0,
            "status": "open",
            "created_at": uow.now,
        }
    )
    return conflict_id


async def list_conflicts(
    uow: UnitOfWork,
    actor: Actor,
    *,
    status: str | None,
    channel_id: uuid.UUID | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[dict[str, Any]]:
    actor.require(Scope.CHANNELS_ADMIN)
    owners = None if actor.is_admin else ({actor.partner_id} if actor.partner_id else set())
    return await uow.conflicts.find(
        owners=owners, status=status, channel_id=channel_id, after=after, limit=limit
    )


def _stored_change(raw: dict[str, Any]) -> InboundChange:
    """The queued change as it was taken in (the hub wrote this JSON itself)."""
    return InboundChange(
        event_id=raw["event_id"],
        type=InboundType(raw["type"]),
        changed_at=datetime.fromisoformat(raw["changed_at"]),
        external_id=raw.get("external_id"),
        external_sku=raw.get("external_sku"),
        alias=raw.get("alias"),
        location_id=uuid.UUID(raw["location_id"]) if raw.get("location_id") else None,
        quantity=Decimal(raw["quantity"]) if raw.get("quantity") is not None else None,
        price=raw.get("price"),
        fields=raw.get("fields"),
        reason=raw.get("reason"),
        order_ref=raw.get("order_ref"),
    )


def custom_level(value: Any, product: Product) -> Decimal:
    """A custom stock value is the level to end at: a non-negative decimal quantity in the
    product's unit, given as a JSON number or a numeric string (never a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInput("a custom stock value is a quantity (a number)", field="value")
    level = to_quantity(str(value).strip(), unit=product.base_unit, field="value")
    if level < 0:
        raise InvalidInput("a stock level cannot be negative", code=ErrorCode.INVALID_QUANTITY, field="value")
    return level


async def resolve_conflict(
    uow: UnitOfWork,
    actor: Actor,
    conflict_id: uuid.UUID,
    resolution: Resolution,
    *,
    value: Any = None,
    product_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Settle a queued change: keep the hub's value (the channel is corrected), take the
    channel's change as it was sent, or write a custom value. Decided by a person, so
    the write's origin is the person's key and every channel hears of it."""
    actor.require(Scope.CHANNELS_ADMIN)
    row = await uow.conflicts.get(conflict_id, for_update=True)
    if row is None or not actor.can_write(row["owner_partner_id"]):
        raise NotFound("conflict", conflict_id)
    if row["status"] != "open":
        raise Conflict(f"conflict {conflict_id} is already {row['status']}", conflict_status=row["status"])
    channel = await uow.channels.get(row["channel_id"])
    assert channel is not None
    raw = row["change"]
    change = _stored_change(raw)
    pid = row["product_id"] or product_id
    if pid is None:
        if resolution is not Resolution.KEEP_HUB:
            raise InvalidInput(
                "this change named an unmapped external id: give product_id", field="product_id"
            )
        product = None
    else:
        product = await uow.products.get(pid)
        if product is None or not actor.can_read(product.owner_partner_id):
            raise NotFound("product", pid)
        if row["product_id"] is None and change.external_id:
            await uow.mappings.upsert(
                channel.id,
                [{"external_id": change.external_id, "product_id": product.id, "external_sku": None}],
                uow.now,
            )
    written: dict[str, Any] = {}
    if resolution is Resolution.KEEP_HUB:
        if product is not None:
            await correct(uow, channel, product)
    else:
        assert product is not None
        change = check_shape(change, product)
        writer = actor if actor.can_write(product.owner_partner_id) else channel_actor(actor, channel)
        target = await read_target(uow, channel, product, change)
        kind = INBOUND[change.type].change
        if resolution is Resolution.TAKE_CHANNEL:
            new = as_channel_change(change).value
            if kind is ChangeKind.STOCK_ABSOLUTE:
                new = new - Decimal(target.hub.value)
        else:
            if value is None:
                raise InvalidInput("a custom resolution needs a value", field="value")
            new = value
            if kind in (ChangeKind.STOCK_DELTA, ChangeKind.STOCK_ABSOLUTE):
                kind = ChangeKind.STOCK_ABSOLUTE  # a custom stock value is the level to end at
                new = custom_level(value, product) - Decimal(target.hub.value)
        written = await write(uow, kind, Write(writer, channel, product, change, target, new))
    await uow.conflicts.resolve(conflict_id, resolution.value, jsonable(value), uow.now)
    await record(
        uow,
        actor,
        action="conflict.resolved",
        entity_type="conflict",
        entity_id=conflict_id,
        owner=row["owner_partner_id"],
        before={"status": "open", "change": raw, "hub_value": row["hub_value"]},
        after={"status": "resolved", "resolution": resolution.value, "value": jsonable(value), **written},
    )
    return {**(await uow.conflicts.get(conflict_id) or {}), "written": written}
